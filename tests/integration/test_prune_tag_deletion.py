"""registry_prune's removal of a tag alone (its digest shared with a kept tag), against scripted
registries, for what the test bed's Distribution 2.8 cannot do: an OCI 1.1 registry that deletes
the tag alone, and one that wrongly deletes the whole manifest (whose kept tags are put back)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.integration.ansible_runner import run_module
from tests.testbed.hostile import HostileServer, Reply

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def manifest(label: str) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"l": label},
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                                  "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
                       "layers": []}).encode()


def digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class ScriptedRegistry:
    """Tags and manifests in memory; ``tag_delete`` is ``oci`` (the tag alone goes) or
    ``whole`` (the manifest goes, and every tag on it)."""

    PATH = re.compile(r"^/v2/app/(manifests|tags)/([^?]+)")

    def __init__(self, tag_delete: str) -> None:
        shared, other = manifest("shared"), manifest("other")
        self.blobs = {digest(shared): shared, digest(other): other}
        self.tags = {"keep": digest(shared), "drop": digest(shared), "other": digest(other)}
        self.tag_delete = tag_delete
        self.server = HostileServer(self.answer)

    def answer(self, request):
        if request.path == "/v2/":
            return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"})
        found = self.PATH.match(request.path)
        if not found:
            return None
        if found.group(1) == "tags":
            return Reply(200, {"Content-Type": "application/json"},
                         json.dumps({"name": "app", "tags": sorted(self.tags)}).encode())
        reference = found.group(2)
        key = reference if reference.startswith("sha256:") else self.tags.get(reference)
        if request.method == "PUT":
            self.blobs[digest(request.body)] = request.body
            self.tags[reference] = digest(request.body)
            return Reply(201, {"Docker-Content-Digest": digest(request.body)})
        if key not in self.blobs:
            return Reply(404, {"Content-Type": "application/json"},
                         b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
        if request.method == "DELETE":
            if self.tag_delete == "oci" and not reference.startswith("sha256:"):
                del self.tags[reference]
            else:
                del self.blobs[key]
                self.tags = {t: d for t, d in self.tags.items() if d != key}
            return Reply(202)
        return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": key}, self.blobs[key])


@pytest.fixture
def scripted(request):
    registry = ScriptedRegistry(request.param)
    registry.server.start()
    yield registry
    registry.server.stop()


ARGS = dict(keep={"match": ["^keep$", "^other$"]})


@pytest.mark.parametrize("scripted", ["oci"], indirect=True)
def test_an_oci_registry_removes_the_tag_alone(scripted):
    shared = scripted.tags["keep"]
    run = run_module("drc.registry.registry_prune", dict(ARGS, repository=scripted.server.host + "/app"))
    assert run.rc == 0, run.output
    result = run.result
    assert result["changed"] is True and result["could_not_delete"] == []
    assert result["deleted"] == [{"tag": "drop", "digest": shared, "tag_only": True,
                                  "why": "kept by no rule; its manifest is still used by the kept tag keep"}]
    assert scripted.tags == {"keep": shared, "other": scripted.tags["other"]}
    assert [r.path for r in scripted.server.requests if r.method == "DELETE"] == ["/v2/app/manifests/drop"]


@pytest.mark.parametrize("scripted", ["whole"], indirect=True)
def test_a_registry_that_deletes_the_manifest_for_a_tag_gets_the_kept_tags_back(scripted):
    shared = scripted.tags["keep"]
    run = run_module("drc.registry.registry_prune", dict(ARGS, repository=scripted.server.host + "/app"))
    assert run.rc != 0
    assert "deleted its manifest %s on this registry; it was put back under its other tags" % shared in run.result["msg"]
    assert scripted.tags["keep"] == shared and shared in scripted.blobs
    puts = [r.path for r in scripted.server.requests if r.method == "PUT"]
    assert puts == ["/v2/app/manifests/keep"]


def test_api_referrers_of_a_deleted_manifest_are_deleted_with_it():
    """The referrers API (in-process server, tests/testbed/referrers_server.py): an untagged SBOM of
    the pruned image and a signature of that SBOM go with it; the kept image's referrer stays."""
    from tests.testbed.artifacts import SBOM_TYPE, artifact
    from tests.testbed.referrers_server import ReferrersRegistry

    server = ReferrersRegistry()
    server.start()
    try:
        images = {}
        for tag in ("old", "keep"):
            layer = server.put_blob(b"layer of " + tag.encode())
            config = server.put_blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
                "type": "layers", "diff_ids": []}, "created": "2024-01-01T00:00:00Z"}).encode())
            images[tag] = server.put_manifest("app", {
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
                "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar")]}, tag=tag)

        def referrer(subject: dict, label: str) -> dict:
            raw, blobs = artifact(SBOM_TYPE, label.encode(), SBOM_TYPE, subject, label)
            for data in blobs.values():
                server.put_blob(data)
            return server.put_raw("app", raw)

        old_sbom = referrer(images["old"], "old sbom")
        old_sbom_signature = referrer(old_sbom, "signature of the old sbom")
        kept_sbom = referrer(images["keep"], "kept sbom")
        run = run_module("drc.registry.registry_prune",
                         dict(repository=server.host + "/app", keep={"match": ["^keep$"]}))
        assert run.rc == 0, run.output
        deleted = sorted(path for method, path in server.requests if method == "DELETE")
        assert deleted == sorted("/v2/app/manifests/" + d["digest"] for d in
                                 (images["old"], old_sbom, old_sbom_signature)), deleted
        assert ("app", kept_sbom["digest"]) in server.manifests
        assert ("app", images["keep"]["digest"]) in server.manifests
        assert {t for (_r, t) in server.tags} == {"keep"}
    finally:
        server.stop()
