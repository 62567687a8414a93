"""OCI 1.1 artifacts for the referrers tests: an SBOM whose ``subject`` is an image, and a signature
whose ``subject`` is the SBOM, pushed by the harness over plain HTTP as a referrers-aware client
(oras, cosign 2 with OCI 1.1 on) does on a registry without the referrers API: each manifest, then
its subject's fallback tag ``sha256-<hex>`` (an OCI index listing it)."""

from __future__ import annotations

import hashlib
import json
import urllib.error

from tests.testbed.signed_fixtures import _Pusher

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
SBOM_TYPE = "application/spdx+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(data: bytes, media_type: str) -> dict:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


def artifact(artifact_type: str, payload: bytes, payload_type: str, subject: dict, label: str) -> tuple:
    """(manifest bytes, {digest: blob bytes}) of an artifact manifest in the OCI 1.1 style."""
    blobs = {_digest(b"{}"): b"{}", _digest(payload): payload}
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": _blob(b"{}", EMPTY), "layers": [_blob(payload, payload_type)],
            "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"],
                        "size": subject["size"]},
            "annotations": {"org.opencontainers.image.title": label}}
    return json.dumps(body, sort_keys=True).encode(), blobs


def descriptor(raw: bytes) -> dict:
    body = json.loads(raw)
    out = {"mediaType": body["mediaType"], "digest": _digest(raw), "size": len(raw)}
    if body.get("artifactType"):
        out["artifactType"] = body["artifactType"]
    if body.get("annotations"):
        out["annotations"] = body["annotations"]
    return out


def fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


class ArtifactPusher(_Pusher):
    def manifest_bytes(self, reference: str) -> bytes | None:
        try:
            with self._request("GET", "/v2/%s/manifests/%s" % (self.repository, reference),
                               headers={"Accept": OCI_INDEX + ", " + OCI_MANIFEST}) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def push_referrer(self, raw: bytes, blobs: dict) -> dict:
        for digest, data in blobs.items():
            self.put_blob(digest, data)
        self.put_manifest(_digest(raw), OCI_MANIFEST, raw)
        subject = json.loads(raw)["subject"]["digest"]
        current = self.manifest_bytes(fallback_tag(subject))
        index = json.loads(current) if current else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        if not any(m["digest"] == _digest(raw) for m in index["manifests"]):
            index["manifests"].append(descriptor(raw))
            self.put_manifest(fallback_tag(subject), OCI_INDEX, json.dumps(index, sort_keys=True).encode())
        return descriptor(raw)


def push_sbom_and_signature(testbed, registry, repository: str, subject: dict) -> dict:
    """An SBOM of ``subject`` (a descriptor) and a signature of the SBOM; returns both descriptors."""
    pusher = ArtifactPusher(testbed, registry, repository)
    sbom_payload = json.dumps({"spdxVersion": "SPDX-2.3", "name": "drc-test",
                               "describes": subject["digest"]}, sort_keys=True).encode()
    sbom_raw, sbom_blobs = artifact(SBOM_TYPE, sbom_payload, SBOM_TYPE, subject, "sbom")
    sbom = pusher.push_referrer(sbom_raw, sbom_blobs)
    signature_raw, signature_blobs = artifact(SIGNATURE_TYPE, b"signature of " + sbom["digest"].encode(),
                                              "application/octet-stream", sbom, "signature")
    signature = pusher.push_referrer(signature_raw, signature_blobs)
    return {"sbom": sbom, "signature": signature, "manifests": {sbom["digest"]: sbom_raw,
                                                                signature["digest"]: signature_raw}}
