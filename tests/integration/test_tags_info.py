"""registry_tags_info against real registries in all three modes, compared with skopeo."""

from __future__ import annotations

import time

import pytest

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref
from tests.testbed.pki import Pki
from tests.testbed.proxy import PagingProxy
from tests.testbed.testbed import many_tag_names

MODULE = "drc.registry.registry_tags_info"
UNREACHABLE = "127.0.0.1:9"  # the discard port: nothing listens


@pytest.fixture(scope="module")
def answers(testbed, tmp_path_factory):
    """The cases that need no server of their own, as tasks of one playbook (one Ansible start-up,
    not one per case), run with HOME in the test bed (no credentials from the user's own files);
    each test reads its own task's registered result."""
    workdir = tmp_path_factory.mktemp("tags_info")
    basic = testbed.registries["basic"]
    cases = {}
    for mode, registry in testbed.registries.items():
        cases["unknown_" + mode] = dict(repository=ref(registry, "no/such"), **connection(testbed, registry))
    for mode in ("basic", "token"):
        registry = testbed.registries[mode]
        cases["wrong_password_" + mode] = dict(repository=ref(registry, "app/multi"),
                                               **dict(connection(testbed, registry), password="not-the-password"))
        cases["no_credentials_" + mode] = dict(repository=ref(registry, "app/multi"),
                                               **({"ca_path": testbed.pki.ca_cert} if registry.tls else {}))
    open_host = testbed.registries["open"].host
    cases["semver"] = dict(repository="http://%s/app/tags" % open_host, match=r"^t00[0-3]$", sort="semver")
    cases["check_mode"] = dict(repository="%s/app/multi" % open_host)
    cases["anonymous_public"] = dict(repository=ref(testbed.registries["token"], "public/app"))
    without_ca = {k: v for k, v in connection(testbed, basic).items() if k != "ca_path"}
    cases["untrusted"] = dict(repository="https://%s/app/multi" % basic.host, **without_ca)
    cases["validate_certs_false"] = dict(repository=ref(basic, "app/multi"), validate_certs=False, **without_ca)
    other = Pki(str(workdir / "other"), ca_name="another CA")
    cases["wrong_ca"] = dict(repository=ref(basic, "app/multi"), ca_path=other.ca_cert, **without_ca)
    cases["unreachable"] = dict(repository="http://%s/app" % UNREACHABLE, retries=1)
    cases["bad_name"] = dict(repository="Bad/Name")
    cases["tag_in_repository"] = dict(repository="alpine:3")
    tasks = [{"name": name, MODULE: args, "register": name, "ignore_errors": True} for name, args in cases.items()]
    tasks[list(cases).index("check_mode")]["check_mode"] = True
    run = run_playbook(tasks, str(workdir), env={"HOME": testbed.workdir})
    assert set(run.results) == set(cases), run.output
    assert "Traceback" not in run.output, run.output
    return run.results


def assert_no_traceback(result: dict) -> None:
    for key in ("exception", "module_stderr", "module_stdout", "msg"):
        assert "Traceback" not in str(result.get(key, "")), result


def test_lists_all_tags_like_skopeo(testbed, registry):
    """An ad-hoc command, as users run it (and the smoke test on the oldest ansible-core)."""
    run = run_module(MODULE, dict(repository=ref(registry, "app/multi"), **connection(testbed, registry)))
    assert run.rc == 0, run.output
    result = run.result
    assert sorted(result["tags"]) == sorted(testbed.skopeo_tags(registry, "app/multi")) == ["docker", "oci"]
    assert result["repository"] == "%s/app/multi" % registry.host
    assert result["registry"] == registry.url
    assert result["changed"] is False


def test_pagination_with_small_pages_matches_skopeo(testbed, registry):
    """Debian's registry (Distribution 2.8) ignores ``n``; a proxy in front of it pages the real
    list with opaque cursors in Link headers, as GHCR and Quay do."""
    proxy = PagingProxy(registry.url, ca_file=testbed.pki.ca_cert).start()
    try:
        options = dict(connection(testbed, registry))
        options.pop("ca_path", None)
        run = run_module(MODULE, dict(repository="http://%s/app/tags" % proxy.host, page_size=7,
                                      **options))
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    tags = run.result["tags"]
    assert len(tags) == len(set(tags)) == 250
    assert sorted(tags) == sorted(testbed.skopeo_tags(registry, "app/tags")) == many_tag_names()
    assert proxy.pages_served == 36  # ceil(250 / 7): every Link followed, no page twice
    cursors = [request[1] for request in proxy.requests if "cursor=" in request[1]]
    assert len(cursors) == 35


def test_without_page_size_no_n_is_sent(testbed, registry):
    mark = registry.access_log_mark()
    run = run_module(MODULE, dict(repository=ref(registry, "app/tags"), **connection(testbed, registry)))
    assert run.rc == 0, run.output
    assert sorted(run.result["tags"]) == many_tag_names()
    time.sleep(0.2)  # the access log is written after the answer
    listed = [path for method, path, status in registry.requests_since(mark) if "/tags/list" in path]
    assert listed and all("n=" not in path for path in listed), listed


def test_match_and_semver_sort(answers):
    assert answers["semver"]["tags"] == ["t000", "t001", "t002", "t003"], answers["semver"]


def test_check_mode_lists_too(answers):
    result = answers["check_mode"]
    assert result.get("failed") is not True and sorted(result["tags"]) == ["docker", "oci"], result


def test_anonymous_pull_of_public_repository_on_token_registry(answers):
    result = answers["anonymous_public"]
    assert result.get("failed") is not True, result
    assert result["tags"] == ["1.0"]


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_wrong_password_is_a_clear_failure(answers, mode):
    result = answers["wrong_password_" + mode]
    assert result["failed"] is True
    msg = result["msg"]
    assert "401" in msg and ("password" in msg or "authentication failed" in msg), msg
    assert_no_traceback(result)


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_no_credentials_on_private_repository(answers, mode):
    result = answers["no_credentials_" + mode]
    assert result["failed"] is True
    assert "401" in result["msg"] and "no credentials" in result["msg"], result["msg"]


def test_unknown_repository(registry, answers):
    """Absence is an answer (exists: false, no tags), not a failure."""
    result = answers["unknown_" + registry.mode]
    assert result.get("failed") is not True, result
    assert result["exists"] is False and result["tags"] == []


def test_untrusted_certificate(answers):
    result = answers["untrusted"]
    assert result["failed"] is True
    assert "certificate verification failed" in result["msg"], result["msg"]


def test_validate_certs_false_accepts_the_certificate(answers):
    result = answers["validate_certs_false"]
    assert result.get("failed") is not True, result
    assert sorted(result["tags"]) == ["docker", "oci"]


def test_wrong_ca_is_refused(answers):
    result = answers["wrong_ca"]
    assert result["failed"] is True and "certificate verification failed" in result["msg"], result


def test_unreachable_host(answers):
    result = answers["unreachable"]
    assert result["failed"] is True
    assert "Connection refused" in result["msg"], result["msg"]
    assert_no_traceback(result)


def test_bad_repository_name(answers):
    result = answers["bad_name"]
    assert result["failed"] is True
    assert "'Bad/Name'" in result["msg"] and "lowercase" in result["msg"]


def test_tag_in_repository_is_refused(answers):
    result = answers["tag_in_repository"]
    assert result["failed"] is True and "must not carry a tag" in result["msg"]
