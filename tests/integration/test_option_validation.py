"""Every option checked, with a message naming the option and the reason.

All cases run as tasks of one playbook (one Ansible start-up, not one per case); each test reads
its own task's registered result.
"""

from __future__ import annotations

import pytest

from tests.integration.ansible_runner import run_playbook

TAGS = "drc.registry.registry_tags_info"
MANIFEST = "drc.registry.registry_manifest_info"
BLOB = "drc.registry.registry_blob_fetch"
REPO = "http://localhost:1/app"


MODULE_CASES = [
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
]

LOOKUP_CASES = [
    ("lookup('drc.registry.registry_digest', 'a:1', platform='linux')", "invalid platform 'linux'"),
    ("lookup('drc.registry.registry_digest', 'a:1', timeout=-3)", "timeout must be greater than 0"),
    ("lookup('drc.registry.registry_digest', 'a@sha256:12')", "exactly 64"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case as one task of one playbook, errors ignored: the registered results by case."""
    tasks = []
    for index, (module, args, _fragments) in enumerate(MODULE_CASES):
        tasks.append({"name": "module case %d" % index, module: args, "register": "module_%d" % index,
                      "ignore_errors": True})
    for index, (expression, _fragment) in enumerate(LOOKUP_CASES):
        tasks.append({"name": "lookup case %d" % index, "ansible.builtin.debug": {"msg": "{{ %s }}" % expression},
                      "register": "lookup_%d" % index, "ignore_errors": True})
    run = run_playbook(tasks, str(tmp_path_factory.mktemp("options")))
    assert run.results, run.output
    assert "Traceback" not in run.output, run.output
    return run.results


def assert_no_traceback(result: dict) -> None:
    for key in ("exception", "module_stderr", "module_stdout"):
        assert "Traceback" not in str(result.get(key, "")), result


@pytest.mark.parametrize("index", range(len(MODULE_CASES)))
def test_module_options(outcomes, index):
    _module, _args, fragments = MODULE_CASES[index]
    result = outcomes["module_%d" % index]
    assert result.get("failed") is True, result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    assert_no_traceback(result)


@pytest.mark.parametrize("index", range(len(LOOKUP_CASES)))
def test_lookup_options(outcomes, index):
    _expression, fragment = LOOKUP_CASES[index]
    result = outcomes["lookup_%d" % index]
    assert result.get("failed") is True and fragment in result["msg"], result
    assert_no_traceback(result)
