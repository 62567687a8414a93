"""Seed the real test-bed registries with the images upstream skopeo signed (../shared/fixtures/signatures).

Each fixture folder is an OCI image layout of one repository: the image under the tag ``1`` and each
cosign ``.sig`` manifest under its own tag (``sha256-<hex>.sig``). Every digest must be kept byte for
byte, and one case (``signed-docker``) holds a Docker schema 2 manifest that skopeo 1.9 cannot find
by tag in a layout, so every case is pushed the same way: blobs and manifests over plain HTTP with
``Testbed.raw_request`` (the harness's own client, never the one under test), children before the
index that names them, each manifest with its own bytes and media type.

API (kept stable; other test files import it):

    seed_signed_fixtures(testbed, registry, prefix="fx") -> {case: {
        "repository": "fx/<case>",          # on that registry
        "reference": "fx/<case>:1",
        "digest": "sha256:…",               # the image (or index) under tag 1
        "media_type": "…",
        "children": ["sha256:…", …],        # an index's child manifests (empty for an image)
        "sig_tags": {"sha256-<hex>.sig": "sha256:<digest of that .sig manifest>", …},
        "manifests": {digest: raw bytes},   # every manifest of the case, to compare byte for byte
    }}

It is idempotent per registry (and per prefix): a second call returns the first call's answer
without a request.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.error
import urllib.parse

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
REF_NAME = "org.opencontainers.image.ref.name"
_LOCK = threading.Lock()


def fixtures_dir() -> str:
    """Where the fixtures are: beside the repository (CI copies shared/ next to the clone), or
    beside one of its parents (a scratch copy inside the repository, as `make mutants` makes)."""
    override = os.environ.get("DRC_SIGNATURE_FIXTURES")
    first = os.path.join(os.path.dirname(REPO_ROOT), "shared", "fixtures", "signatures")
    candidates = [override] if override else [first]
    parent = os.path.dirname(REPO_ROOT)
    while not override and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
        candidates.append(os.path.join(parent, "shared", "fixtures", "signatures"))
    for path in candidates:
        if os.path.isfile(os.path.join(path, "verdicts.json")):
            return path
    raise RuntimeError(
        "signature fixtures not found at %s (expected <repository>/../shared/fixtures/signatures "
        "with verdicts.json; set DRC_SIGNATURE_FIXTURES to another copy)" % (override or first))


def verdicts() -> dict:
    with open(os.path.join(fixtures_dir(), "verdicts.json")) as handle:
        return json.load(handle)


def cases() -> list:
    return sorted(verdicts()["cases"])


class _Case:
    """One fixture folder read as a layout: blobs by digest, and the tagged entries of index.json."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(os.path.join(path, "index.json")) as handle:
            self.entries = json.load(handle)["manifests"]

    def blob(self, digest: str) -> bytes:
        algorithm, hexpart = digest.split(":", 1)
        with open(os.path.join(self.path, "blobs", algorithm, hexpart), "rb") as handle:
            data = handle.read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RuntimeError("fixture blob %s in %s does not hash to its name" % (digest, self.path))
        return data


class _Pusher:
    def __init__(self, testbed, registry, repository: str) -> None:
        self.testbed = testbed
        self.registry = registry
        self.repository = repository

    def _request(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None):
        return self.testbed.raw_request(self.registry, method, path, self.repository, data=data,
                                        headers=headers)

    def has_blob(self, digest: str) -> bool:
        try:
            with self._request("HEAD", "/v2/%s/blobs/%s" % (self.repository, digest)):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise

    def put_blob(self, digest: str, data: bytes) -> None:
        if self.has_blob(digest):
            return
        with self._request("POST", "/v2/%s/blobs/uploads/" % self.repository, data=b"") as answer:
            location = answer.headers["Location"]
        parsed = urllib.parse.urlsplit(location)
        query = urllib.parse.parse_qsl(parsed.query) + [("digest", digest)]
        path = parsed.path + "?" + urllib.parse.urlencode(query)
        with self._request("PUT", path, data=data,
                           headers={"Content-Type": "application/octet-stream"}):
            pass

    def put_manifest(self, reference: str, media_type: str, data: bytes) -> str:
        with self._request("PUT", "/v2/%s/manifests/%s" % (self.repository, reference), data=data,
                           headers={"Content-Type": media_type}) as answer:
            return answer.headers.get("Docker-Content-Digest", "")


def _push_manifest(case: _Case, pusher: _Pusher, digest: str, media_type: str, tag: str | None,
                   manifests: dict) -> dict:
    """Push one manifest (and all it names) keeping its bytes; return its parsed body."""
    raw = case.blob(digest)
    body = json.loads(raw)
    media_type = body.get("mediaType") or media_type
    if media_type in INDEX_TYPES:
        for child in body.get("manifests", []):
            _push_manifest(case, pusher, child["digest"], child.get("mediaType", ""), None, manifests)
    else:
        for descriptor in [body["config"]] + list(body.get("layers", [])):
            pusher.put_blob(descriptor["digest"], case.blob(descriptor["digest"]))
    answered = pusher.put_manifest(tag or digest, media_type, raw)
    if answered and answered != digest:
        raise RuntimeError("registry stored %s as %s, not %s" % (pusher.repository, answered, digest))
    manifests[digest] = raw
    return body


def _seed_case(testbed, registry, name: str, repository: str) -> dict:
    case = _Case(os.path.join(fixtures_dir(), name))
    pusher = _Pusher(testbed, registry, repository)
    result = {"repository": repository, "reference": repository + ":1", "digest": None,
              "media_type": None, "children": [], "sig_tags": {}, "manifests": {}}
    for entry in case.entries:
        tag = (entry.get("annotations") or {}).get(REF_NAME)
        if not tag:
            continue
        body = _push_manifest(case, pusher, entry["digest"], entry["mediaType"], tag, result["manifests"])
        if tag == "1":
            result["digest"] = entry["digest"]
            result["media_type"] = entry["mediaType"]
            result["children"] = [child["digest"] for child in body.get("manifests", [])]
        else:
            result["sig_tags"][tag] = entry["digest"]
    if result["digest"] is None:
        raise RuntimeError("fixture %s has no image under tag 1" % name)
    return result


def seed_signed_fixtures(testbed, registry, prefix: str = "fx") -> dict:
    """Push every fixture case into ``<prefix>/<case>`` on ``registry``; see the module docstring."""
    seeded = testbed.__dict__.setdefault("_signed_fixtures", {})
    key = (registry.url, prefix)
    with _LOCK:
        if key not in seeded:
            seeded[key] = {name: _seed_case(testbed, registry, name, "%s/%s" % (prefix, name))
                           for name in cases()}
        return seeded[key]
