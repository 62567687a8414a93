"""Platform choice and digest validation through Ansible itself, on an in-process hostile server.

No real registry lets us push an index listing ``amd64/v3`` before plain ``amd64``, a child whose
digest is ``latest``, or a ``Docker-Content-Digest: latest`` header: the hostile server serves them.
One playbook runs every case through the module and the lookup; each test reads its result.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.testbed.hostile import HostileServer, Reply

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MODULE = "drc.registry.registry_manifest_info"
LOOKUP = "drc.registry.registry_digest"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(name: str) -> bytes:
    """A distinct image manifest per child, so each child has its own digest."""
    config = json.dumps({"os": "linux", "architecture": name}).encode()
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": digest(config), "size": len(config)},
                       "layers": [], "annotations": {"child": name}}).encode()


CHILDREN = {name: image(name) for name in ("amd64-v3", "amd64", "arm64", "arm-v6", "arm-v7", "sse4",
                                           "win-17763", "win-20348")}


def entry(name: str, platform: dict, child_digest: str | None = None) -> dict:
    return {"mediaType": OCI_MANIFEST, "digest": child_digest or digest(CHILDREN[name]),
            "size": len(CHILDREN[name]), "platform": platform}


# repository -> the index it serves under tag 1
INDEXES = {
    "v3first": [entry("amd64-v3", {"os": "linux", "architecture": "amd64", "variant": "v3"}),
                entry("amd64", {"os": "linux", "architecture": "amd64"}),
                entry("arm64", {"os": "linux", "architecture": "arm64"})],
    "armv6": [entry("amd64", {"os": "linux", "architecture": "amd64"}),
              entry("arm-v6", {"os": "linux", "architecture": "arm", "variant": "v6"})],
    "arm32": [entry("arm-v7", {"os": "linux", "architecture": "arm", "variant": "v7"})],
    "features": [entry("sse4", {"os": "linux", "architecture": "amd64", "os.features": ["sse4"]}),
                 entry("amd64", {"os": "linux", "architecture": "amd64"})],
    "windows": [entry("win-17763", {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.6054"}),
                entry("win-20348", {"os": "windows", "architecture": "amd64", "os.version": "10.0.20348.2582"})],
    "badchild": [entry("amd64", {"os": "linux", "architecture": "amd64"}, child_digest="latest")],
}


def answer(request):
    path = request.path.split("?")[0]
    if path == "/v2/":
        return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
    parts = path.split("/")
    if len(parts) != 5 or parts[3] != "manifests":
        return None
    repository, reference = parts[2], parts[4]
    if repository == "badheader":   # a tag whose Docker-Content-Digest is not a digest
        return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "latest"}, CHILDREN["amd64"])
    if reference == "1" and repository in INDEXES:
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": INDEXES[repository]}).encode()
        return Reply(200, {"Content-Type": OCI_INDEX, "Docker-Content-Digest": digest(body)}, body)
    for body in CHILDREN.values():
        if reference == digest(body):
            return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": reference}, body)
    return None


def module_task(name: str, server, repository: str, **options) -> dict:
    return {"name": name, MODULE: dict(reference="http://%s/%s:1" % (server.host, repository), **options),
            "register": name, "ignore_errors": True}


def lookup_task(name: str, server, repository: str, **options) -> dict:
    args = "".join(", %s=%s" % (key, json.dumps(value)) for key, value in options.items())
    expression = "lookup('%s', 'http://%s/%s:1'%s)" % (LOOKUP, server.host, repository, args)
    return {"name": name, "ansible.builtin.set_fact": {name: "{{ %s }}" % expression},
            "register": name, "ignore_errors": True}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    with HostileServer(answer) as server:
        tasks = [
            module_task("m_amd64", server, "v3first", platform="linux/amd64"),
            module_task("m_amd64_v3", server, "v3first", platform="linux/amd64/v3"),
            module_task("m_arm_v6_only", server, "armv6", platform="linux/arm"),
            module_task("m_windows", server, "windows", platform="windows/amd64", os_version="10.0.20348.2700"),
            module_task("m_os_version_alone", server, "windows", os_version="10.0.20348.2700"),
            module_task("m_bad_child", server, "badchild"),
            lookup_task("l_amd64", server, "v3first", platform="linux/amd64"),
            lookup_task("l_x86_64", server, "v3first", platform="linux/x86_64"),
            lookup_task("l_arm64_to_arm", server, "arm32", platform="linux/arm64"),
            lookup_task("l_features", server, "features", platform="linux/amd64"),
            lookup_task("l_windows", server, "windows", platform="windows/amd64", os_version="10.0.17763.1"),
            lookup_task("l_os_version_alone", server, "windows", os_version="10.0.17763.1"),
            lookup_task("l_bad_child", server, "badchild", platform="linux/amd64"),
            lookup_task("l_bad_header", server, "badheader"),
        ]
        run = run_playbook(tasks, str(tmp_path_factory.mktemp("hostile-platforms")))
        fetched = [r.path for r in server.requests if r.method == "GET"]
    assert run.rc == 0, run.output
    assert "Traceback" not in run.output
    return run.results, fetched


def fact(results: dict, name: str):
    result = results[name]
    assert not result.get("failed"), result
    return result["ansible_facts"][name]


def test_module_plain_amd64_takes_the_v1_child_listed_after_v3(results):
    results, fetched = results
    result = results["m_amd64"]
    assert not result.get("failed"), result
    assert result["digest"] == digest(CHILDREN["amd64"])
    assert result["manifest"]["annotations"] == {"child": "amd64"}
    assert result["index_digest"] and result["index_digest"] != result["digest"]
    assert "/v2/v3first/manifests/" + digest(CHILDREN["amd64"]) in fetched
    # asked for, the v3 child is still there
    assert results["m_amd64_v3"]["digest"] == digest(CHILDREN["amd64-v3"])


def test_lookup_plain_amd64_takes_the_v1_child_listed_after_v3(results):
    results, _fetched = results
    assert fact(results, "l_amd64") == digest(CHILDREN["amd64"])
    assert fact(results, "l_x86_64") == digest(CHILDREN["amd64"])


def test_arm_fallbacks(results):
    results, _fetched = results
    assert results["m_arm_v6_only"]["digest"] == digest(CHILDREN["arm-v6"])
    assert fact(results, "l_arm64_to_arm") == digest(CHILDREN["arm-v7"])


def test_children_with_unasked_os_features_are_passed_over(results):
    results, _fetched = results
    assert fact(results, "l_features") == digest(CHILDREN["amd64"])


def test_os_version(results):
    results, _fetched = results
    assert results["m_windows"]["digest"] == digest(CHILDREN["win-20348"])
    assert fact(results, "l_windows") == digest(CHILDREN["win-17763"])
    module_alone = results["m_os_version_alone"]
    assert module_alone["failed"] and "os_version" in module_alone["msg"] and "platform" in module_alone["msg"]
    lookup_alone = results["l_os_version_alone"]
    assert lookup_alone["failed"] and "os_version needs platform" in lookup_alone["msg"]


def test_index_child_with_digest_latest_fails_clearly(results):
    results, _fetched = results
    for name in ("l_bad_child", "m_bad_child"):
        result = results[name]
        assert result["failed"], result
        assert "child 0 of the index" in result["msg"], result["msg"]
        assert "digest 'latest' is not of the form algorithm:hex" in result["msg"], result["msg"]


def test_docker_content_digest_latest_fails_clearly(results):
    results, _fetched = results
    result = results["l_bad_header"]
    assert result["failed"], result
    assert "Docker-Content-Digest header is unusable: digest 'latest'" in result["msg"], result["msg"]
