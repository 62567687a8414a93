"""An in-process registry with the OCI 1.1 referrers API, for what no installable registry here has.

It follows the distribution spec's referrers section (spec.md, "Listing Referrers" and "Pushing
Manifests with Subject"): ``GET /v2/<name>/referrers/<digest>`` answers an OCI index of the
descriptors (``mediaType``, ``digest``, ``size``, ``artifactType`` — the config's media type when
the manifest has none — and ``annotations``) of every manifest whose ``subject`` is that digest,
never a 404 (an empty index for an unknown digest); ``?artifactType=`` filters and says so in
``OCI-Filters-Applied: artifactType``; a long list is split into pages joined by
``Link: <...>; rel="next"``; a ``PUT`` of a manifest with a ``subject`` is answered with
``OCI-Subject: <subject digest>``. Around that, the rest of a registry the client needs: blobs
(HEAD, GET, monolithic upload), manifests (HEAD, GET, PUT by tag or digest) and the tag list.

Knobs for the hostile tests: ``page_size``, ``filters`` (False: ignore ``artifactType``),
``endless_pages`` (every page links to another), ``extra`` (descriptors added to every listing),
``api`` (False: a registry without the API, 404 and no ``OCI-Subject``, as Distribution 2.8),
``lost_tags`` (a PUT to these tags is accepted and then lost, as if another writer replaced it),
``list_tags`` (False: the tag list is refused with 403, as for credentials that may pull only).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.testbed.loopback import LoopbackServer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ReferrersRegistry(LoopbackServer):
    def __init__(self, page_size: int = 2, filters: bool = True, endless_pages: bool = False,
                 api: bool = True, list_tags: bool = True) -> None:
        self.api = api
        self.list_tags = list_tags
        self.lost_tags: set = set()
        self.page_size = page_size
        self.filters = filters
        self.endless_pages = endless_pages
        self.extra: list = []
        self.blobs: dict = {}
        self.manifests: dict = {}  # (repository, digest) -> (media type, bytes)
        self.tags: dict = {}  # (repository, tag) -> digest
        self.uploads: dict = {}
        self.requests: list = []  # (method, path)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_ANY(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server.lock:
                    server.requests.append((self.command, self.path))
                    status, headers, payload = server.route(self.command, self.path, self.headers, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_ANY

        self._serve(Handler)

    # -- the API -----------------------------------------------------------------------------------
    def route(self, method: str, raw_path: str, headers, body: bytes) -> tuple:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/v2/":
            return 200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}"
        for marker, handler in (("/referrers/", self.referrers), ("/manifests/", self.manifest),
                                ("/blobs/uploads/", self.upload), ("/blobs/", self.blob),
                                ("/tags/list", self.tag_list)):
            if marker in path:
                repository, _sep, rest = path[len("/v2/"):].partition(marker)
                return handler(method, repository, rest, query, headers, body)
        return self.error(404, "NOT_FOUND")

    @staticmethod
    def error(status: int, code: str) -> tuple:
        return status, {"Content-Type": "application/json"}, json.dumps(
            {"errors": [{"code": code, "message": code.lower()}]}).encode()

    def descriptor(self, repository: str, digest: str) -> dict:
        media_type, raw = self.manifests[(repository, digest)]
        body = json.loads(raw)
        out = {"mediaType": media_type, "digest": digest, "size": len(raw),
               "artifactType": body.get("artifactType") or (body.get("config") or {}).get("mediaType")}
        if body.get("annotations"):
            out["annotations"] = body["annotations"]
        return out

    def referrers(self, method, repository, subject, query, headers, body) -> tuple:
        if not self.api:
            return self.error(404, "NOT_FOUND")
        if method != "GET":
            return self.error(405, "UNSUPPORTED")
        found = []
        for (repo, digest), (_media_type, raw) in sorted(self.manifests.items()):
            if repo == repository and (json.loads(raw).get("subject") or {}).get("digest") == subject:
                found.append(self.descriptor(repository, digest))
        found += self.extra
        answer_headers = {"Content-Type": OCI_INDEX}
        wanted = query.get("artifactType", [None])[0]
        if wanted and self.filters:
            found = [d for d in found if d.get("artifactType") == wanted]
            answer_headers["OCI-Filters-Applied"] = "artifactType"
        start = int(query.get("page", ["0"])[0])
        page = found[start:start + self.page_size]
        if self.endless_pages or start + self.page_size < len(found):
            link = "/v2/%s/referrers/%s?page=%d" % (repository, subject, start + self.page_size)
            if wanted:
                link += "&artifactType=" + wanted
            answer_headers["Link"] = '<%s>; rel="next"' % link
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": page}
        return 200, answer_headers, json.dumps(index).encode()

    def manifest(self, method, repository, reference, query, headers, body) -> tuple:
        if method == "PUT":
            digest = digest_of(body)
            if reference.startswith("sha256:") and reference != digest:
                return self.error(400, "DIGEST_INVALID")
            media_type = headers.get("Content-Type")
            if reference in self.lost_tags:
                return 201, {"Docker-Content-Digest": digest}, b""
            self.manifests[(repository, digest)] = (media_type, body)
            if not reference.startswith("sha256:"):
                self.tags[(repository, reference)] = digest
            answer = {"Docker-Content-Digest": digest, "Location": "/v2/%s/manifests/%s" % (repository, digest)}
            subject = (json.loads(body).get("subject") or {}).get("digest")
            if subject and self.api:
                answer["OCI-Subject"] = subject
            return 201, answer, b""
        if method == "DELETE":  # OCI 1.1: by digest the manifest and its tags, by tag the tag alone
            if not reference.startswith("sha256:"):
                if self.tags.pop((repository, reference), None) is None:
                    return self.error(404, "MANIFEST_UNKNOWN")
                return 202, {}, b""
            if self.manifests.pop((repository, reference), None) is None:
                return self.error(404, "MANIFEST_UNKNOWN")
            self.tags = {k: d for k, d in self.tags.items() if d != reference or k[0] != repository}
            return 202, {}, b""
        if method not in ("GET", "HEAD"):
            return self.error(405, "UNSUPPORTED")
        digest = reference if reference.startswith("sha256:") else self.tags.get((repository, reference))
        if (repository, digest) not in self.manifests:
            return self.error(404, "MANIFEST_UNKNOWN")
        media_type, raw = self.manifests[(repository, digest)]
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": digest}, raw

    def blob(self, method, repository, digest, query, headers, body) -> tuple:
        if digest not in self.blobs:
            return self.error(404, "BLOB_UNKNOWN")
        return 200, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}, self.blobs[digest]

    def upload(self, method, repository, rest, query, headers, body) -> tuple:
        if method == "POST":
            session = uuid.uuid4().hex
            self.uploads[session] = b""
            return 202, {"Location": "/v2/%s/blobs/uploads/%s" % (repository, session), "Range": "0-0"}, b""
        if rest not in self.uploads:
            return self.error(404, "BLOB_UPLOAD_UNKNOWN")
        if method == "PATCH":
            self.uploads[rest] += body
            return 202, {"Location": "/v2/%s/blobs/uploads/%s" % (repository, rest),
                         "Range": "0-%d" % (len(self.uploads[rest]) - 1)}, b""
        if method == "PUT":
            data = self.uploads.pop(rest) + body
            digest = query.get("digest", [""])[0]
            if digest_of(data) != digest:
                return self.error(400, "DIGEST_INVALID")
            self.blobs[digest] = data
            return 201, {"Docker-Content-Digest": digest, "Location": "/v2/%s/blobs/%s" % (repository, digest)}, b""
        return self.error(405, "UNSUPPORTED")

    def tag_list(self, method, repository, rest, query, headers, body) -> tuple:
        if not self.list_tags:
            return self.error(403, "DENIED")
        names = sorted(tag for (repo, tag) in self.tags if repo == repository)
        return 200, {"Content-Type": "application/json"}, json.dumps({"name": repository, "tags": names}).encode()

    # -- seeding, by the harness (not the client under test) ---------------------------------------
    def put_blob(self, data: bytes) -> dict:
        digest = digest_of(data)
        self.blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, repository: str, body: dict, tag: str | None = None) -> dict:
        return self.put_raw(repository, json.dumps(body, sort_keys=True).encode(), tag)

    def put_raw(self, repository: str, raw: bytes, tag: str | None = None) -> dict:
        body = json.loads(raw)
        digest = digest_of(raw)
        self.manifests[(repository, digest)] = (body["mediaType"], raw)
        if tag:
            self.tags[(repository, tag)] = digest
        return {"mediaType": body["mediaType"], "digest": digest, "size": len(raw)}

    def referrer_requests(self) -> list:
        return [r for r in self.requests if "/referrers/" in r[1]]
