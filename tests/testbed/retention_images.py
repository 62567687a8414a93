"""Small, distinct images pushed over plain HTTP for the prune tests: each with its own layer and
a config ``created`` time of the test's choosing, indexes of them, cosign-style ``.sig`` tags and
OCI fallback tag indexes. The harness's own client (``Testbed.raw_request``), never the one under
test."""

from __future__ import annotations

import hashlib
import json
import random
import urllib.parse
from datetime import datetime, timedelta, timezone

from tests.testbed.images import LAYER_TAR as LAYER, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST

OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class Pusher:
    """Pushes into one repository of one registry; remembers each blob's size (for GC sums)."""

    def __init__(self, testbed, registry, repository: str) -> None:
        self.testbed, self.registry, self.repository = testbed, registry, repository
        self.blob_sizes: dict = {}

    def _request(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None):
        return self.testbed.raw_request(self.registry, method, path, self.repository, data=data,
                                        headers=headers)

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = digest_of(data)
        with self._request("POST", "/v2/%s/blobs/uploads/" % self.repository, data=b"") as answer:
            location = urllib.parse.urlsplit(answer.headers["Location"])
        query = urllib.parse.parse_qsl(location.query) + [("digest", digest)]
        with self._request("PUT", location.path + "?" + urllib.parse.urlencode(query), data=data,
                           headers={"Content-Type": "application/octet-stream"}):
            pass
        self.blob_sizes[digest] = len(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def manifest(self, body: dict, tag: str | None = None) -> dict:
        raw = canonical(body)
        digest = digest_of(raw)
        with self._request("PUT", "/v2/%s/manifests/%s" % (self.repository, tag or digest), data=raw,
                           headers={"Content-Type": body["mediaType"]}):
            pass
        self.blob_sizes[digest] = len(raw)
        return {"mediaType": body["mediaType"], "digest": digest, "size": len(raw)}

    def image(self, label: str, age_days: float, tag: str | None = None, layer_size: int = 4096,
              arch: str = "amd64") -> dict:
        """An image with a layer of its own (``layer_size`` random bytes) created ``age_days`` ago."""
        layer = self.blob(random.Random(label).randbytes(layer_size), LAYER)
        created = datetime.now(timezone.utc) - timedelta(days=age_days)
        config = self.blob(canonical({
            "architecture": arch, "os": "linux", "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "config": {"Labels": {"label": label}},
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}), OCI_CONFIG)
        descriptor = self.manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                                    "layers": [layer]}, tag)
        descriptor["parts"] = [layer["digest"], config["digest"]]
        descriptor["arch"] = arch
        return descriptor

    def index(self, children: list, tag: str) -> dict:
        entries = [{"mediaType": c["mediaType"], "digest": c["digest"], "size": c["size"],
                    "platform": {"os": "linux", "architecture": c.get("arch", "amd64")}} for c in children]
        return self.manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, tag)

    def tag(self, descriptor: dict, tag: str) -> None:
        with self._request("GET", "/v2/%s/manifests/%s" % (self.repository, descriptor["digest"]),
                           headers={"Accept": descriptor["mediaType"]}) as answer:
            raw = answer.read()
        with self._request("PUT", "/v2/%s/manifests/%s" % (self.repository, tag), data=raw,
                           headers={"Content-Type": descriptor["mediaType"]}):
            pass

    def artifact(self, subject: dict, label: str, tag: str | None = None) -> dict:
        """An OCI 1.1 artifact manifest referring to ``subject`` (an SBOM, say)."""
        empty = self.blob(b"{}", OCI_EMPTY)
        layer = self.blob(("sbom of %s: %s" % (subject["digest"], label)).encode(), "text/plain")
        body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "text/spdx",
                "config": empty, "layers": [layer],
                "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"],
                            "size": subject["size"]}}
        descriptor = self.manifest(body, tag)
        descriptor["artifactType"] = "text/spdx"
        return descriptor

    def fallback_index(self, subject: dict, referrers: list) -> dict:
        """The OCI referrers fallback tag ``sha256-<hex>``: an index listing the referrers."""
        entries = [{"mediaType": r["mediaType"], "digest": r["digest"], "size": r["size"],
                    "artifactType": r.get("artifactType", "text/spdx")} for r in referrers]
        tag = subject["digest"].replace(":", "-")
        return self.manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, tag)

    def signature(self, subject: dict, label: str = "sig") -> dict:
        """A cosign-style signature manifest under ``sha256-<hex>.sig`` (unsigned payload: the
        real signed fixtures are signed_fixtures.py's)."""
        payload = canonical({"critical": {"identity": {"docker-reference": self.repository},
                                          "image": {"docker-manifest-digest": subject["digest"]},
                                          "type": "cosign container image signature"},
                             "optional": {"label": label}})
        layer = self.blob(payload, "application/vnd.dev.cosign.simplesigning.v1+json")
        layer["annotations"] = {"dev.cosignproject.cosign/signature": "MEUCIQ=="}
        config = self.blob(canonical({"architecture": "", "os": "", "config": {},
                                      "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}),
                           OCI_CONFIG)
        return self.manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                              "layers": [layer]}, subject["digest"].replace(":", "-") + ".sig")
