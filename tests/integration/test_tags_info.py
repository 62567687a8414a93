"""registry_tags_info against real registries in all three modes, compared with skopeo."""

from __future__ import annotations

import time

import pytest

from tests.integration.ansible_runner import run_module
from tests.integration.conftest import connection, ref
from tests.testbed.proxy import PagingProxy
from tests.testbed.testbed import many_tag_names

MODULE = "drc.registry.registry_tags_info"


def test_lists_all_tags_like_skopeo(testbed, registry):
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


def test_match_and_semver_sort(testbed):
    registry = testbed.registries["open"]
    run = run_module(MODULE, dict(repository="http://%s/app/tags" % registry.host, match=r"^t00[0-3]$",
                                  sort="semver"))
    assert run.rc == 0, run.output
    assert run.result["tags"] == ["t000", "t001", "t002", "t003"]


def test_check_mode_lists_too(testbed):
    registry = testbed.registries["open"]
    run = run_module(MODULE, dict(repository=ref(registry, "app/multi")), check=True)
    assert run.rc == 0 and sorted(run.result["tags"]) == ["docker", "oci"], run.output


def test_anonymous_pull_of_public_repository_on_token_registry(testbed):
    registry = testbed.registries["token"]
    run = run_module(MODULE, dict(repository=ref(registry, "public/app")),
                     env={"HOME": testbed.workdir})
    assert run.rc == 0, run.output
    assert run.result["tags"] == ["1.0"]


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_wrong_password_is_a_clear_failure(testbed, mode):
    registry = testbed.registries[mode]
    options = dict(connection(testbed, registry), password="not-the-password")
    run = run_module(MODULE, dict(repository=ref(registry, "app/multi"), **options))
    assert run.rc != 0
    msg = run.result["msg"]
    assert "401" in msg and ("password" in msg or "authentication failed" in msg), msg
    assert "Traceback" not in run.output


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_no_credentials_on_private_repository(testbed, mode):
    registry = testbed.registries[mode]
    options = {"ca_path": testbed.pki.ca_cert} if registry.tls else {}
    run = run_module(MODULE, dict(repository=ref(registry, "app/multi"), **options),
                     env={"HOME": testbed.workdir})
    assert run.rc != 0
    assert "401" in run.result["msg"] and "no credentials" in run.result["msg"], run.result["msg"]


def test_unknown_repository(testbed, registry):
    """Absence is an answer (exists: false, no tags), not a failure."""
    run = run_module(MODULE, dict(repository=ref(registry, "no/such"), **connection(testbed, registry)))
    assert run.rc == 0, run.output
    assert run.result["exists"] is False and run.result["tags"] == []


def test_untrusted_certificate(testbed):
    registry = testbed.registries["basic"]
    options = dict(connection(testbed, registry))
    options.pop("ca_path")
    run = run_module(MODULE, dict(repository="https://%s/app/multi" % registry.host, **options))
    assert run.rc != 0
    assert "certificate verification failed" in run.result["msg"], run.result["msg"]


def test_validate_certs_false_accepts_the_certificate(testbed):
    registry = testbed.registries["basic"]
    options = dict(connection(testbed, registry), validate_certs=False)
    options.pop("ca_path")
    run = run_module(MODULE, dict(repository=ref(registry, "app/multi"), **options))
    assert run.rc == 0, run.output


def test_wrong_ca_is_refused(testbed, tmp_path):
    from tests.testbed.pki import Pki
    other = Pki(str(tmp_path / "other"), ca_name="another CA")
    registry = testbed.registries["basic"]
    options = dict(connection(testbed, registry), ca_path=other.ca_cert)
    run = run_module(MODULE, dict(repository=ref(registry, "app/multi"), **options))
    assert run.rc != 0 and "certificate verification failed" in run.result["msg"], run.output


def test_unreachable_host(testbed):
    from tests.testbed.registry import free_port
    run = run_module(MODULE, dict(repository="http://127.0.0.1:%d/app" % free_port(), retries=1))
    assert run.rc != 0
    assert "Connection refused" in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output


def test_bad_repository_name(testbed):
    run = run_module(MODULE, dict(repository="Bad/Name"))
    assert run.rc != 0
    assert "'Bad/Name'" in run.result["msg"] and "lowercase" in run.result["msg"]


def test_tag_in_repository_is_refused():
    run = run_module(MODULE, dict(repository="alpine:3"))
    assert run.rc != 0 and "must not carry a tag" in run.result["msg"]
