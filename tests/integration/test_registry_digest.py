"""The registry_digest lookup against real registries: digests equal skopeo's, requests counted."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.integration.ansible_runner import run_expression, run_playbook
from tests.integration.conftest import ref
from tests.integration.test_manifest_info import KINDS, PLATFORMS, skopeo_child


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def lookup_vars(testbed, registry) -> dict:
    """Credentials through the documented variables, as a playbook would carry them."""
    if registry.mode == "open":
        return {}
    out = {"drc_registry_username": testbed.username, "drc_registry_password": testbed.password}
    if registry.tls:
        out["drc_registry_ca_path"] = testbed.pki.ca_cert
    return out


def fact(name: str, expression: str) -> dict:
    return {"ansible.builtin.set_fact": {name: "{{ %s }}" % expression}, "register": name}


@pytest.fixture(scope="module")
def resolved(testbed, tmp_path_factory):
    out = {}
    for mode, registry in testbed.registries.items():
        terms = [ref(registry, image) for image in KINDS]
        quoted = ", ".join("'%s'" % t for t in terms)
        tasks = [
            fact("digests", "query('drc.registry.registry_digest', %s)" % quoted),
            fact("pinned", "query('drc.registry.registry_digest', %s, output='pinned')" % quoted),
            fact("single", "lookup('drc.registry.registry_digest', '%s')" % terms[0]),
        ]
        for j, platform in enumerate(PLATFORMS):
            tasks.append(fact("plat_%d" % j, "query('drc.registry.registry_digest', '%s', '%s', platform='%s')"
                              % (ref(registry, "app/multi:oci"), ref(registry, "app/multi:docker"), platform)))
        failures = {
            "unknown_tag": "lookup('drc.registry.registry_digest', '%s')" % ref(registry, "app/oci:nope"),
            "missing_platform": "lookup('drc.registry.registry_digest', '%s', platform='windows/amd64')"
                                % ref(registry, "app/multi:oci"),
            "bad_term": "lookup('drc.registry.registry_digest', 'UPPER:case')",
            "bad_output": "lookup('drc.registry.registry_digest', '%s', output='nope')" % terms[0],
            "bad_concurrency": "lookup('drc.registry.registry_digest', '%s', concurrency=0)" % terms[0],
        }
        for name, expression in failures.items():
            task = fact(name, expression)
            task["ignore_errors"] = True
            tasks.append(task)
        run = run_playbook(tasks, str(tmp_path_factory.mktemp(mode)), play_vars=lookup_vars(testbed, registry))
        assert run.rc == 0, run.output
        out[mode] = run.results
    return out


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
def test_digests_equal_skopeo_in_order(testbed, resolved, mode):
    registry = testbed.registries[mode]
    expected = [sha256(testbed.skopeo_raw_manifest(registry, image)) for image in KINDS]
    assert resolved[mode]["digests"]["ansible_facts"]["digests"] == expected
    assert resolved[mode]["single"]["ansible_facts"]["single"] == expected[0]
    pinned = resolved[mode]["pinned"]["ansible_facts"]["pinned"]
    assert pinned == ["%s@%s" % (ref(registry, image), digest) for image, digest in zip(KINDS, expected)]


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
def test_platform_children_equal_skopeo(testbed, resolved, mode):
    registry = testbed.registries[mode]
    for j, platform in enumerate(PLATFORMS):
        got = resolved[mode]["plat_%d" % j]["ansible_facts"]["plat_%d" % j]
        assert got == [skopeo_child(testbed, registry, "app/multi:oci", platform),
                       skopeo_child(testbed, registry, "app/multi:docker", platform)]


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
@pytest.mark.parametrize("name, fragments", [
    ("unknown_tag", ["app/oci:nope", "MANIFEST_UNKNOWN", "404"]),
    ("missing_platform", ["windows/amd64", "available: linux/amd64, linux/arm/v7, linux/arm64/v8"]),
    ("bad_term", ["UPPER:case", "lowercase"]),
    ("bad_output", ["output", "nope"]),
    ("bad_concurrency", ["concurrency must be 1 or more"]),
])
def test_failures_name_the_term(resolved, mode, name, fragments):
    result = resolved[mode][name]
    assert result["failed"] is True
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]


def test_n_tags_cost_at_most_n_plus_two_requests_on_token_registry(testbed):
    registry, tokens = testbed.registries["token"], testbed.token_server
    names = ["t%03d" % i for i in range(20)]
    terms = ", ".join("'%s'" % ref(registry, "app/tags:" + n) for n in names)
    tokens.reset_counter()
    mark = registry.access_log_mark()
    run = run_expression("query('drc.registry.registry_digest', %s)" % terms,
                         env={"DRC_REGISTRY_USERNAME": testbed.username,
                              "DRC_REGISTRY_PASSWORD": testbed.password,
                              "DRC_REGISTRY_HOST": registry.host})
    assert run.rc == 0, run.output
    time.sleep(0.3)  # the access log is written after each answer
    registry_requests = registry.requests_since(mark)
    token_requests = tokens.requests
    assert token_requests == 1
    assert [r[0] for r in registry_requests].count("HEAD") == 20
    assert len(registry_requests) + token_requests <= len(names) + 2, registry_requests
    digests = run.result["msg"]
    assert len(digests) == 20 and len(set(digests)) == 1
    assert digests[0] == sha256(testbed.skopeo_raw_manifest(registry, "app/tags:t000"))


def test_one_token_covers_many_repositories(testbed):
    registry, tokens = testbed.registries["token"], testbed.token_server
    images = ["app/oci:1.0", "app/docker:1.0", "app/multi:oci", "app/tags:t001", "public/app:1.0"]
    tokens.reset_counter()
    run = run_expression("query('drc.registry.registry_digest', %s)" % ", ".join(
        "'%s'" % ref(registry, i) for i in images),
        env={"DRC_REGISTRY_USERNAME": testbed.username, "DRC_REGISTRY_PASSWORD": testbed.password,
             "DRC_REGISTRY_HOST": registry.host})
    assert run.rc == 0, run.output
    assert tokens.requests == 1
    assert sorted(tokens.log[0]["scopes"]) == sorted("repository:%s:pull" % i.split(":", maxsplit=1)[0] for i in images)


def test_anonymous_lookup_of_public_image(testbed):
    registry = testbed.registries["token"]
    run = run_expression("lookup('drc.registry.registry_digest', '%s')" % ref(registry, "public/app:1.0"),
                         env={"HOME": testbed.workdir})
    assert run.rc == 0, run.output
    assert run.result["msg"] == sha256(testbed.skopeo_raw_manifest(registry, "public/app:1.0"))
