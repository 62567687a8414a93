"""Every option checked, with a message naming the option and the reason."""

from __future__ import annotations

import pytest

from tests.integration.ansible_runner import run_expression, run_module

TAGS = "drc.registry.registry_tags_info"
MANIFEST = "drc.registry.registry_manifest_info"
BLOB = "drc.registry.registry_blob_fetch"
REPO = "http://localhost:1/app"


@pytest.mark.parametrize("module, args, fragments", [
    (TAGS, dict(repository=REPO, page_size=0), ["page_size must be 1 or more"]),
    (TAGS, dict(repository=REPO, page_size=-5), ["page_size must be 1 or more"]),
    (TAGS, dict(repository=REPO, sort="bogus"), ["sort", "bogus", "none, semver"]),
    (TAGS, dict(repository=REPO, match="("), ["match '('", "not a valid regular expression"]),
    (TAGS, dict(repository=REPO, timeout=-1), ["timeout must be greater than 0"]),
    (TAGS, dict(repository=REPO, retries=-1), ["retries must be 0 or more"]),
    (TAGS, dict(repository=REPO, password="x"), ["password needs username"]),
    (TAGS, dict(repository=REPO, client_key="/k"), ["client_key needs client_cert"]),
    (TAGS, dict(repository=REPO, bogus=1), ["Unsupported parameters", "bogus"]),
    (MANIFEST, dict(reference=REPO + ":1", platform="linux/arm/v7/x"), ["invalid platform 'linux/arm/v7/x'"]),
    (MANIFEST, dict(reference=REPO + ":1", config="maybe"), ["config", "maybe"]),
    (MANIFEST, dict(reference="http://localhost:1/App:1"), ["'http://localhost:1/App:1'", "lowercase"]),
    (BLOB, dict(repository=REPO, digest="sha256:xyz", dest="/tmp/x"), ["invalid digest 'sha256:xyz'", "exactly 64"]),
    (BLOB, dict(repository=REPO + ":1", digest="sha256:" + "0" * 64, dest="/tmp/x"), ["must not carry a tag"]),
])
def test_module_options(module, args, fragments):
    run = run_module(module, args)
    assert run.rc != 0
    for fragment in fragments:
        assert fragment in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output


@pytest.mark.parametrize("expression, fragment", [
    ("lookup('drc.registry.registry_digest', 'a:1', platform='linux')", "invalid platform 'linux'"),
    ("lookup('drc.registry.registry_digest', 'a:1', timeout=-3)", "timeout must be greater than 0"),
    ("lookup('drc.registry.registry_digest', 'a@sha256:12')", "exactly 64"),
])
def test_lookup_options(expression, fragment):
    run = run_expression(expression)
    assert run.rc != 0 and fragment in run.result["msg"], run.output
