"""Credential sources, first found wins; helpers are run as real programs on PATH."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import (
    CredentialError, resolve)


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def home(tmp_path):
    (tmp_path / ".docker").mkdir()
    return tmp_path


def env_for(home, **extra):
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    env.update(extra)
    return env


def write_config(home, config, name=".docker/config.json"):
    path = home / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


def helper(tmp_path, name, script):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    path = bindir / ("docker-credential-" + name)
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(bindir)


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io",
                                 "registry-1.docker.io"])
def test_docker_hub_keys_all_match(home, key):
    write_config(home, {"auths": {key: {"auth": b64("hubuser:hubpass")}}})
    creds = resolve("docker.io", "library/alpine", environ=env_for(home))
    assert (creds.username, creds.password) == ("hubuser", "hubpass")


def test_task_options_win_over_everything(home):
    write_config(home, {"auths": {"reg.example.com": {"auth": b64("file:file")}}})
    creds = resolve("reg.example.com", username="opt", password="optpw",
                    environ=env_for(home, DRC_REGISTRY_USERNAME="env", DRC_REGISTRY_PASSWORD="envpw"))
    assert (creds.username, creds.password, creds.source) == ("opt", "optpw", "options")


def test_environment_wins_over_files(home):
    write_config(home, {"auths": {"reg.example.com": {"auth": b64("file:file")}}})
    creds = resolve("reg.example.com",
                    environ=env_for(home, DRC_REGISTRY_USERNAME="env", DRC_REGISTRY_PASSWORD="envpw",
                                    DRC_REGISTRY_HOST="reg.example.com"))
    assert (creds.username, creds.password) == ("env", "envpw")
    assert creds.source == "environment (DRC_REGISTRY_HOST=reg.example.com)"


@pytest.mark.parametrize("entry, expected", [
    ({"auth": b64("u:p:with:colons")}, ("u", "p:with:colons", None)),
    ({"username": "u2", "password": "p2"}, ("u2", "p2", None)),
    ({"identitytoken": "idt"}, (None, None, "idt")),
])
def test_auths_entry_forms(home, entry, expected):
    write_config(home, {"auths": {"https://reg.example.com": entry}})
    creds = resolve("reg.example.com", environ=env_for(home))
    assert (creds.username, creds.password, creds.identity_token) == expected


def test_docker_config_env_var(tmp_path, home):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"auths": {"r.io": {"auth": b64("x:y")}}}))
    creds = resolve("r.io", environ=env_for(home, DOCKER_CONFIG=str(other)))
    assert creds.username == "x"


def test_cred_helper_for_host(tmp_path, home):
    bindir = helper(tmp_path, "fake", 'read server; echo "{\\"Username\\": \\"hu-$server\\", \\"Secret\\": \\"hs\\"}"\n')
    write_config(home, {"credHelpers": {"reg.example.com": "fake"},
                        "auths": {"reg.example.com": {"auth": b64("not:used")}}})
    creds = resolve("reg.example.com", environ=env_for(home, PATH=bindir + ":" + os.environ["PATH"]))
    assert (creds.username, creds.password) == ("hu-reg.example.com", "hs")
    assert "fake" in creds.source


def test_creds_store_when_no_auths_entry(tmp_path, home):
    bindir = helper(tmp_path, "store", 'read server; echo "{\\"Username\\": \\"<token>\\", \\"Secret\\": \\"refresh\\"}"\n')
    write_config(home, {"credsStore": "store"})
    creds = resolve("r.io", environ=env_for(home, PATH=bindir + ":" + os.environ["PATH"]))
    assert creds.identity_token == "refresh" and creds.username is None


def test_creds_store_without_entry_is_anonymous(tmp_path, home):
    bindir = helper(tmp_path, "store", 'echo "credentials not found in native keychain"; exit 1\n')
    write_config(home, {"credsStore": "store"})
    creds = resolve("r.io", environ=env_for(home, PATH=bindir + ":" + os.environ["PATH"]))
    assert creds.username is None and creds.source == "none"


def test_failing_helper_is_a_clear_error(tmp_path, home):
    bindir = helper(tmp_path, "broken", "echo oops >&2; exit 3\n")
    write_config(home, {"credHelpers": {"r.io": "broken"}})
    with pytest.raises(CredentialError, match="docker-credential-broken failed for r.io"):
        resolve("r.io", environ=env_for(home, PATH=bindir + ":" + os.environ["PATH"]))


def test_missing_helper_is_a_clear_error(home):
    write_config(home, {"credHelpers": {"r.io": "absent"}})
    with pytest.raises(CredentialError, match="not on PATH"):
        resolve("r.io", environ=env_for(home, PATH="/nonexistent"))


def test_podman_auth_json_and_namespace_match(tmp_path, home):
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {
        "quay.io": {"auth": b64("host:level")},
        "quay.io/team": {"auth": b64("team:level")},
        "quay.io/other": {"auth": b64("other:level")}}}))
    environ = env_for(home, REGISTRY_AUTH_FILE=str(auth))
    assert resolve("quay.io", "team/app", environ=environ).username == "team"
    assert resolve("quay.io", "solo/app", environ=environ).username == "host"


def test_xdg_runtime_auth_json(tmp_path, home):
    runtime = tmp_path / "run"
    (runtime / "containers").mkdir(parents=True)
    (runtime / "containers" / "auth.json").write_text(json.dumps({"auths": {"r.io": {"auth": b64("xdg:pw")}}}))
    assert resolve("r.io", environ=env_for(home, XDG_RUNTIME_DIR=str(runtime))).username == "xdg"


def test_docker_config_wins_over_auth_json(tmp_path, home):
    write_config(home, {"auths": {"r.io": {"auth": b64("docker:pw")}}})
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {"r.io": {"auth": b64("podman:pw")}}}))
    assert resolve("r.io", environ=env_for(home, REGISTRY_AUTH_FILE=str(auth))).username == "docker"


def test_no_match_is_anonymous(home):
    write_config(home, {"auths": {"other.io": {"auth": b64("a:b")}}})
    creds = resolve("r.io", environ=env_for(home))
    assert creds.username is None and creds.password is None


def test_bad_json_names_the_file(home):
    path = home / ".docker" / "config.json"
    path.write_text("{not json")
    with pytest.raises(CredentialError, match=str(path)):
        resolve("r.io", environ=env_for(home))


def test_bad_auth_entry_does_not_show_it(home):
    write_config(home, {"auths": {"r.io": {"auth": b64("no-colon-secret")}}})
    with pytest.raises(CredentialError) as caught:
        resolve("r.io", environ=env_for(home))
    assert "no-colon-secret" not in str(caught.value)


def test_repr_hides_secret():
    from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
    assert "hunter2" not in repr(Credentials("u", "hunter2"))
