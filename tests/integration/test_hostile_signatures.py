"""Hostile signature answers through a scripted registry (what a real registry will not serve):
each a clear failure, bounded, never "verified". Every hostile payload here is validly signed by
the trusted key, so only the guard under test stands between it and a verified digest."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.ansible_runner import run_playbook
from tests.testbed.hostile import HostileServer, Reply

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
ANNOTATION = "dev.cosignproject.cosign/signature"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


IMAGE = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": digest(CONFIG), "size": len(CONFIG)},
                    "layers": []}).encode()
IMAGE_DIGEST = digest(IMAGE)
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def payload(repository: str, host: str, **over) -> bytes:
    critical = {"identity": {"docker-reference": "%s/%s:1" % (host, repository)},
                "image": {"docker-manifest-digest": IMAGE_DIGEST},
                "type": "cosign container image signature"}
    critical.update(over)
    return json.dumps({"critical": critical, "optional": None}, separators=(",", ":")).encode()


def sign(data: bytes) -> str:
    return base64.b64encode(KEY.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def layer(data: bytes, signature: str | None = None, size: int | None = None,
          layer_digest: str | None = None) -> dict:
    return {"mediaType": SIMPLESIGNING, "digest": layer_digest or digest(data),
            "size": len(data) if size is None else size,
            "annotations": {ANNOTATION: sign(data) if signature is None else signature}}


def sig_manifest(layers: list) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": digest(b"{}"), "size": 2},
                       "layers": layers}, separators=(",", ":")).encode()


def cases(host: str) -> dict:
    """repository -> (the .sig manifest, {blob digest: bytes served}, what the failure says)."""
    out = {}
    good = payload("good", host)
    out["good"] = ([layer(good)], {digest(good): good}, None)
    # a validly signed payload served for a digest that is not its own
    mismatch = payload("mismatch", host)
    other = digest(b"another blob")
    out["mismatch"] = ([layer(mismatch, layer_digest=other, signature=sign(mismatch))],
                       {other: mismatch}, "hashes to")
    # 64 KiB and more: refused by the descriptor's size, and by the bytes when the size lies
    big = payload("big", host)[:-1] + b" " * (64 * 1024) + b"}"
    out["big"] = ([layer(big)], {digest(big): big}, "more than the 65536 bytes allowed")
    lying = payload("lying", host)[:-1] + b" " * (64 * 1024) + b"}"
    out["lying"] = ([layer(lying, size=300)], {digest(lying): lying}, "more than the 65536 bytes allowed")
    many = payload("many", host)
    out["many"] = ([layer(many)] * 10000, {digest(many): many}, "10000 layers, more than the 256 allowed")
    b64 = payload("b64", host)
    out["b64"] = ([layer(b64, signature="MEUCIQ!!not-base64")], {digest(b64): b64}, "not valid base64")
    notjson = b"this is not JSON, signed all the same"
    out["notjson"] = ([layer(notjson)], {digest(notjson): notjson}, "the payload is not JSON")
    nodigest = payload("nodigest", host, image={})
    out["nodigest"] = ([layer(nodigest)], {digest(nodigest): nodigest},
                       "no critical.image docker-manifest-digest")
    # the right key and identity, but the digest of another image
    otherdigest = payload("otherdigest", host, image={"docker-manifest-digest": digest(b"another image")})
    out["otherdigest"] = ([layer(otherdigest)], {digest(otherdigest): otherdigest},
                          "a signature for another digest, " + digest(b"another image"))
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    table: dict = {}

    def answer(request):
        path = request.path.split("?")[0]
        if path == "/v2/":
            return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
        parts = path.split("/")
        if len(parts) != 5 or parts[4] == "" or parts[2] not in table:
            return None
        manifests, blobs, _reason = table[parts[2]]
        if parts[3] == "manifests" and parts[4] == "1":
            return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": IMAGE_DIGEST}, IMAGE)
        if parts[3] == "manifests" and parts[4] == "sha256-%s.sig" % IMAGE_DIGEST[7:]:
            return Reply(200, {"Content-Type": OCI_MANIFEST}, manifests)
        if parts[3] == "blobs" and parts[4] in blobs:
            return Reply(200, {"Content-Type": "application/octet-stream"}, blobs[parts[4]])
        return None

    with HostileServer(answer) as server:
        for repository, (layers, blobs, reason) in cases(server.host).items():
            table[repository] = (sig_manifest(layers), blobs, reason)
        tasks = []
        for repository in table:
            tasks.append({"drc.registry.registry_signature_verify": {
                "reference": "%s/%s:1" % (server.host, repository), "keys": [PUBLIC], "retries": 0},
                "register": "module_" + repository, "ignore_errors": True})
            tasks.append({"ansible.builtin.set_fact": {"digest": "{{ lookup('drc.registry.registry_digest', "
                                                                 "'%s/%s:1', verify_keys=[k], retries=0) }}"
                                                       % (server.host, repository)},
                          "vars": {"k": PUBLIC}, "register": "lookup_" + repository, "ignore_errors": True})
        run = run_playbook(tasks, str(tmp_path_factory.mktemp("hostile-signatures")))
        requests = list(server.requests)
    return table, run, requests


def test_the_control_verifies(hostile):
    _table, run, _requests = hostile
    assert run.results["module_good"]["digest"] == IMAGE_DIGEST
    assert run.results["lookup_good"]["ansible_facts"]["digest"] == IMAGE_DIGEST


@pytest.mark.parametrize("repository", ["mismatch", "big", "lying", "many", "b64", "notjson", "nodigest",
                                        "otherdigest"])
def test_hostile_signature_is_a_clear_failure(hostile, repository):
    table, run, _requests = hostile
    reason = table[repository][2]
    for kind in ("module_", "lookup_"):
        result = run.results[kind + repository]
        assert result.get("failed") is True, (kind, result)
        assert reason in result["msg"], (kind, result["msg"])
        assert "digest" not in result.get("ansible_facts", {})
        assert "Traceback" not in run.output
    assert run.results["module_" + repository]["msg"].startswith(
        ("no signature of", "the signature manifest")), run.results["module_" + repository]["msg"]


def test_bounded_requests(hostile):
    """The big payload whose descriptor tells its size is never fetched; the 10,000 layers cost
    no blob request."""
    _table, _run, requests = hostile
    paths = [r.path for r in requests]
    assert not [p for p in paths if p.startswith("/v2/big/blobs/")]
    assert not [p for p in paths if p.startswith("/v2/many/blobs/")]
