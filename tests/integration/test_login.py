"""registry_login on the real test bed: credentials checked against the htpasswd and token
registries, stored in an auth file that skopeo then reads private images with."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import connection

OTHER_ENTRY = {"auth": base64.b64encode(b"bob:other-secret").decode()}


@pytest.fixture(scope="module")
def login(testbed, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("login")
    auth_file = workdir / "containers" / "auth.json"
    check_file = workdir / "check" / "auth.json"  # its directory does not exist
    docker_config = workdir / "docker" / "config.json"
    docker_config.parent.mkdir()
    docker_config.write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": "aHViOmh1Yg=="}, "docker.io": {"auth": "aHViOmh1Yg=="},
        "docker.io/team": {"auth": "dGVhbTp0ZWFt"}}, "credsStore": "none-here"}))
    broken = workdir / "broken.json"
    broken.write_text('{"auths": {')
    basic, token = testbed.registries["basic"], testbed.registries["token"]

    def task(name, registry, config=None, wrong=False, **extra):
        args = dict(registry=registry.host, **connection(testbed, registry), **extra)
        if wrong:
            args["password"] = "wrong-" + testbed.password
        if config:
            args["config_path"] = str(config)
        return {"drc.registry.registry_login": args, "register": name, "ignore_errors": True}

    tasks = [
        task("basic_wrong", basic, auth_file, wrong=True),
        task("token_wrong", token, auth_file, wrong=True, repository="app/oci"),
        dict(task("basic_check", basic, check_file), check_mode=True, diff=True),
        {"ansible.builtin.stat": {"path": str(check_file.parent)}, "register": "after_check"},
        dict(task("basic_first", basic, auth_file), diff=True),
        task("token_first", token, auth_file, repository="app/oci"),
        dict(task("basic_again", basic, auth_file), diff=True),
        task("token_again", token, auth_file, repository="app/oci"),
        task("catalog_scope", token),
        {"drc.registry.registry_login": {"registry": "docker.io", "state": "absent",
                                         "config_path": str(docker_config)},
         "register": "hub_absent", "diff": True},
        {"drc.registry.registry_login": {"registry": "docker.io", "state": "absent",
                                         "config_path": str(docker_config)},
         "register": "hub_absent_again"},
        task("broken_file", basic, broken),
        {"drc.registry.registry_login": {"registry": basic.host, "state": "absent"},
         "register": "absent_without_path", "ignore_errors": True},
    ]
    # Another registry's entry and a key of the file's own are kept through every write.
    auth_file.parent.mkdir()
    auth_file.write_text(json.dumps({"auths": {"other.example:5000": OTHER_ENTRY}, "x-keep": 1}))
    os.chmod(auth_file, 0o644)
    run = run_playbook(tasks, str(workdir), verbosity=4)
    return run, auth_file, docker_config, broken


def test_wrong_password_fails_naming_the_registry_and_unauthorized(testbed, login):
    run, auth_file, *dummy = login
    for name, mode in (("basic_wrong", "basic"), ("token_wrong", "token")):
        result = run.results[name]
        assert result["failed"] is True, result
        assert testbed.registries[mode].host in result["msg"] and "UNAUTHORIZED" in result["msg"], result["msg"]
        assert result["http_status"] == 401


def test_check_mode_writes_nothing_and_the_diff_shows_no_secret(testbed, login):
    run, *dummy = login
    result = run.results["basic_check"]
    assert result["changed"] is True and not result.get("failed"), result
    assert run.results["after_check"]["stat"]["exists"] is False
    after = result["diff"]["after"]
    assert "********" in after and testbed.registries["basic"].host in after
    encoded = base64.b64encode(("%s:%s" % (testbed.username, testbed.password)).encode()).decode()
    for text in (json.dumps(result), run.output):
        assert encoded not in text and testbed.password not in text
        assert OTHER_ENTRY["auth"] not in text


def test_the_written_file_lets_skopeo_read_private_images(testbed, login):
    run, auth_file, *dummy = login
    assert run.results["basic_first"]["changed"] is True, run.results["basic_first"]
    assert run.results["token_first"]["changed"] is True
    assert run.results["token_first"]["auth_scheme"] == "bearer"
    assert run.results["token_first"]["scope"] == "repository:app/oci:pull"
    assert stat.S_IMODE(os.stat(auth_file).st_mode) == 0o600
    data = json.loads(auth_file.read_text())
    assert data["x-keep"] == 1 and data["auths"]["other.example:5000"] == OTHER_ENTRY
    for mode in ("basic", "token"):
        registry = testbed.registries[mode]
        image = "docker://%s/app/oci:1.0" % registry.host
        args = testbed.skopeo_args(registry, creds=False)
        without = subprocess.run(["skopeo", "inspect"] + args + [image], capture_output=True, timeout=120, check=False)
        assert without.returncode != 0  # private: the file is what lets skopeo in
        done = subprocess.run(["skopeo", "inspect", "--authfile", str(auth_file)] + args + [image],
                              capture_output=True, timeout=120, check=True)
        assert json.loads(done.stdout)["Name"] == "%s/app/oci" % registry.host


def test_a_second_run_changes_nothing(login):
    run, *dummy = login
    assert run.results["basic_again"]["changed"] is False, run.results["basic_again"]
    assert run.results["token_again"]["changed"] is False
    assert run.results["basic_again"]["diff"]["before"] == run.results["basic_again"]["diff"]["after"]


def test_without_repository_the_catalog_scope_is_asked(login):
    run, *dummy = login
    result = run.results["catalog_scope"]
    assert result["changed"] is False and result["scope"] == "registry:catalog:*", result
    assert "config_path" not in result


def test_absent_removes_every_spelling_of_the_host_and_keeps_namespaces(login):
    run, auth_file, docker_config, *dummy = login
    result = run.results["hub_absent"]
    assert result["changed"] is True
    assert sorted(result["removed_keys"]) == ["docker.io", "https://index.docker.io/v1/"]
    data = json.loads(docker_config.read_text())
    assert data == {"auths": {"docker.io/team": {"auth": "dGVhbTp0ZWFt"}}, "credsStore": "none-here"}
    assert stat.S_IMODE(os.stat(docker_config).st_mode) == 0o600
    assert "dGVhbTp0ZWFt" not in json.dumps(result["diff"])
    assert run.results["hub_absent_again"]["changed"] is False


def test_a_file_that_is_not_json_is_left_alone(login):
    run, auth_file, docker_config, broken, *dummy = login
    result = run.results["broken_file"]
    assert result["failed"] is True and "is not JSON" in result["msg"] and str(broken) in result["msg"]
    assert broken.read_text() == '{"auths": {'
    leftovers = [name for folder in ("", "containers", "docker")
                 for name in os.listdir(broken.parent / folder) if name.endswith(".drc-part")]
    assert leftovers == []
    assert "config_path" in run.results["absent_without_path"]["msg"]
    assert "Traceback" not in run.output
