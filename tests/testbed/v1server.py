"""A scripted Docker Registry API v1 index + registry pair, for the legacy v1 read side.

No maintained v1 registry can be installed, so this pair follows the published v1 API
documentation (the "Docker Registry API" and "Docker Hub API" pages of Docker's docs):

- the index answers ``GET /v1/_ping``, ``GET /v1/search?q=&n=&page=`` and
  ``GET /v1/repositories/<repo>/images``; given ``X-Docker-Token: true`` it issues a token
  (``X-Docker-Token: signature=...,repository="<repo>",access=read``) and names the registry in
  ``X-Docker-Endpoints``; a private repository needs HTTP Basic credentials;
- the registry (another port) wants ``Authorization: Token <token>`` or its session cookie, sets
  that cookie on the first good token, and serves ``/v1/repositories/<repo>/tags[/<tag>]``,
  ``/v1/images/<id>/ancestry``, ``/json`` (with ``X-Docker-Size``, ``X-Docker-Checksum`` and
  ``X-Docker-Checksum-Payload``) and ``/layer``;
- errors are ``{"error": "..."}`` with 401, 403 or 404.

``standalone=True`` makes the index serve the registry endpoints itself, with no endpoints
header and no token (as a standalone registry does). ``v2=True`` makes the index answer
``/v2/`` like a v2 registry (every other ``/v2/`` path is a v2 NAME_UNKNOWN 404), to show that
``auto`` never falls back to v1 when v2 exists; ``v2_status`` is what ``/v2/`` then answers
(503: a v2 registry that fails). Every request is logged with its headers.

``names=(index_name, endpoint_name)`` puts both on one server and one port, as two hosts of one
domain on 443 are: the ``Host`` header chooses the role, ``X-Docker-Endpoints`` names
``endpoint_name:port``, and a request to any other name is logged under that name. Use names
that resolve to loopback (tests/integration/public_names/sitecustomize.py).
``cookie_domain`` adds ``Domain=<it>`` to the endpoint's session cookie, and ``layer_host``
makes the endpoint answer a layer ``GET`` with a 302 to ``http://<layer_host>:<port>/storage/<id>``
(layer storage on another host, served by this same server under any name): with both, the
request after the cookie goes to another host of the cookie's domain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from tests.testbed.loopback import LoopbackServer

USERNAME = "v1user"
PASSWORD = "v1-Secret-pa55"
SEARCH_PAGE_CAP = 10  # the index gives at most this many results a page, whatever n says
SEARCH_HITS = 23  # repositories matching "tool": three pages of 10, 10 and 3


def _image_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _layer(seed: str, size: int) -> bytes:
    block = hashlib.sha512(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


class Image:
    def __init__(self, seed: str, parent: "Image | None", size: int) -> None:
        self.id = _image_id(seed)
        self.parent = parent
        self.layer = _layer(seed, size)
        self.json = {"id": self.id, "created": "2014-06-01T12:00:00Z", "os": "linux",
                     "architecture": "amd64", "Size": size * 3,
                     "config": {"Cmd": ["/bin/sh"], "Env": ["SEED=%s" % seed]}}
        if parent is not None:
            self.json["parent"] = parent.id

    @property
    def ancestry(self) -> list:
        out, image = [], self
        while image is not None:
            out.append(image.id)
            image = image.parent
        return out

    @property
    def checksum(self) -> str:
        return "sha256:" + hashlib.sha256(self.layer).hexdigest()


class Repository:
    def __init__(self, name: str, public: bool, tags: dict) -> None:
        self.name, self.public, self.tags = name, public, tags

    @property
    def image_ids(self) -> set:
        ids: set = set()
        for image in self.tags.values():
            ids.update(image.ancestry)
        return ids


class LoggedRequest:
    def __init__(self, server: str, method: str, path: str, headers: dict) -> None:
        self.server, self.method, self.path, self.headers = server, method, path, headers

    def header(self, name: str):
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def __repr__(self) -> str:
        return "%s %s %s" % (self.server, self.method, self.path)


class _Server(LoopbackServer):
    def __init__(self, pair: "V1Pair", role: str) -> None:
        self.role = role
        self._serve(pair.handler(self))


class V1Pair:
    """The index and the registry, sharing images, repositories, tokens and sessions."""

    def __init__(self, standalone: bool = False, v2: bool = False, checksums: bool = True,
                 v2_status: int = 200, names: tuple | None = None,
                 cookie_domain: str | None = None, layer_host: str | None = None) -> None:
        self.standalone = standalone
        self.names = names
        self.cookie_domain = cookie_domain
        self.layer_host = layer_host
        self.v2 = v2
        self.v2_status = v2_status
        self.checksums = checksums
        self.corrupt: set = set()  # image ids whose layer is served with one byte changed
        self.log: list = []
        self.tokens: dict = {}  # token -> repository name
        self.sessions: dict = {}  # cookie value -> set of repository names
        self.lock = threading.Lock()
        base = Image("base", None, 3 * 1024 * 1024 + 17)  # several chunks: a streamed layer
        mid = Image("mid", base, 4096)
        top = Image("top", mid, 1500)
        secret = Image("secret", base, 2048)
        self.images = {image.id: image for image in (base, mid, top, secret)}
        self.repositories = {
            "public/app": Repository("public/app", True, {"1.0": mid, "2.0": top, "latest": top}),
            "private/secret": Repository("private/secret", False, {"1.0": secret}),
        }
        self.search_index = [
            {"name": "tools/tool-%02d" % i, "description": "tool number %d" % i,
             "star_count": 100 - i, "is_official": i == 0, "is_automated": i % 2 == 1}
            for i in range(SEARCH_HITS)
        ] + [{"name": "other/thing", "description": "unrelated", "star_count": 1,
              "is_official": False, "is_automated": False}]
        self.index = _Server(self, "index")
        self.registry = self.index if standalone or names else _Server(self, "registry")

    # -- life ----------------------------------------------------------------------------------
    def start(self):
        self.index.start()
        if self.registry is not self.index:
            self.registry.start()
        return self

    def stop(self) -> None:
        self.index.stop()
        if self.registry is not self.index:
            self.registry.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def requests_to(self, role: str) -> list:
        return [entry for entry in self.log if entry.server == role]

    @property
    def endpoint(self) -> str:
        """The registry endpoint as X-Docker-Endpoints names it."""
        if self.names:
            return "%s:%d" % (self.names[1], self.index.port)
        return self.registry.host

    def role_of(self, server: _Server, headers) -> str:
        """"index", "registry", or (with ``names``) the host name a request was sent to."""
        if not self.names:
            return server.role
        name = (headers.get("Host") or "").rsplit(":", 1)[0].lower()
        return {self.names[0]: "index", self.names[1]: "registry"}.get(name, name)

    # -- the HTTP side -------------------------------------------------------------------------
    def handler(self, server: _Server):
        pair = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                role = pair.role_of(server, self.headers)
                with pair.lock:
                    pair.log.append(LoggedRequest(role, self.command, self.path,
                                                  dict(self.headers)))
                status, headers, body = pair.answer(role, self.path, self.headers)
                self.send_response(status)
                headers.setdefault("X-Docker-Registry-Version", "0.6.0")
                if isinstance(body, (dict, list, str, bool)):
                    body = json.dumps(body).encode()
                    headers.setdefault("Content-Type", "application/json")
                for name, value in headers.items():
                    if isinstance(value, list):
                        for item in value:
                            self.send_header(name, item)
                    else:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    for start in range(0, len(body), 65536):
                        self.wfile.write(body[start:start + 65536])
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_HEAD = do_GET

        return Handler

    @staticmethod
    def _error(status: int, message: str, headers: dict | None = None):
        return status, dict(headers or {}), {"error": message}

    def answer(self, role: str, raw_path: str, headers):
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        if path.startswith("/v2/") or path == "/v2":
            if role == "index" and self.v2:
                if path in ("/v2/", "/v2"):
                    if self.v2_status != 200:
                        return self.v2_status, {"Docker-Distribution-API-Version": "registry/2.0"}, {
                            "errors": [{"code": "UNAVAILABLE", "message": "service unavailable"}]}
                    return 200, {"Docker-Distribution-API-Version": "registry/2.0"}, {}
                return 404, {"Docker-Distribution-API-Version": "registry/2.0"}, {
                    "errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}
            return 404, {"Content-Type": "text/html"}, b"<h1>404 Not Found</h1>"
        if self.layer_host and path.startswith("/storage/"):
            image = self.images.get(path[len("/storage/"):])
            if image is None:
                return self._error(404, "Not found")
            return 200, {"Content-Type": "application/octet-stream"}, image.layer
        if path == "/v1/_ping":
            return 200, {"X-Docker-Registry-Standalone": "True" if self.standalone else "False"}, True
        if role == "index" and path == "/v1/search":
            return self._search(parse_qs(parts.query))
        if role == "index" and path.startswith("/v1/repositories/") and path.endswith("/images"):
            return self._images(path[len("/v1/repositories/"):-len("/images")], headers)
        if role == "registry" or self.standalone:
            return self._registry(path, headers)
        return self._error(404, "Not found")

    # index -----------------------------------------------------------------------------------
    def _search(self, query: dict):
        term = (query.get("q") or [""])[0]
        try:
            size = min(int((query.get("n") or ["25"])[0]), SEARCH_PAGE_CAP)
            page = int((query.get("page") or ["1"])[0])
        except ValueError:
            return self._error(400, "bad n or page")
        if size < 1 or page < 1:
            return self._error(400, "bad n or page")
        hits = [entry for entry in self.search_index if term in entry["name"]]
        pages = max(1, -(-len(hits) // size))
        chunk = hits[(page - 1) * size:page * size]
        return 200, {}, {"query": term, "num_results": len(hits), "num_pages": pages,
                         "page": page, "page_size": size, "results": chunk}

    def _basic_ok(self, headers) -> bool:
        value = headers.get("Authorization") or ""
        if not value.startswith("Basic "):
            return False
        try:
            user, _sep, password = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == USERNAME and password == PASSWORD

    def _images(self, name: str, headers):
        repository = self.repositories.get(name)
        if repository is None:
            return self._error(404, "Repository not found")
        if not repository.public and not self._basic_ok(headers):
            if headers.get("Authorization"):
                return self._error(403, "Access denied")
            return self._error(401, "Requires authorization",
                               {"WWW-Authenticate": 'Basic realm="v1 index"'})
        out = {}
        if not self.standalone and (headers.get("X-Docker-Token") or "").lower() == "true":
            token = "signature=%s,repository=\"%s\",access=read" % (secrets.token_hex(16), name)
            with self.lock:
                self.tokens[token] = name
            out["X-Docker-Token"] = token
            out["X-Docker-Endpoints"] = self.endpoint
        body = [{"id": image_id, "checksum": self.images[image_id].checksum}
                for image_id in sorted(repository.image_ids)]
        return 200, out, body

    # registry --------------------------------------------------------------------------------
    def _granted(self, headers, set_cookie: dict) -> set:
        """Repositories the request may read: its session's, or its token's (then a new session)."""
        if self.standalone:
            return set(name for name, repo in self.repositories.items()
                       if repo.public or self._basic_ok(headers))
        granted: set = set()
        for part in (headers.get("Cookie") or "").split(";"):
            key, _sep, value = part.strip().partition("=")
            if key == "session" and value in self.sessions:
                granted |= self.sessions[value]
        authorization = headers.get("Authorization") or ""
        if authorization.startswith("Token "):
            name = self.tokens.get(authorization[6:])
            if name is not None:
                granted.add(name)
                session = secrets.token_hex(16)
                with self.lock:
                    self.sessions[session] = set(granted)
                domain = "; Domain=%s" % self.cookie_domain if self.cookie_domain else ""
                set_cookie["Set-Cookie"] = "session=%s; Path=/%s; HttpOnly" % (session, domain)
        return granted

    def _registry(self, path: str, headers):
        extra: dict = {}
        granted = self._granted(headers, extra)
        if not granted:
            return self._error(401, "Requires authorization (a token from the index)",
                               {"WWW-Authenticate": "Token"})
        if path.startswith("/v1/repositories/"):
            rest = path[len("/v1/repositories/"):]
            name, sep, tag = rest.partition("/tags")
            repository = self.repositories.get(name)
            if not sep or repository is None:
                return self._error(404, "Repository not found", extra)
            if name not in granted:
                return self._error(403, "Access denied", extra)
            if tag in ("", "/"):
                return 200, extra, {t: image.id for t, image in repository.tags.items()}
            image = repository.tags.get(tag.lstrip("/"))
            if image is None:
                return self._error(404, "Tag not found", extra)
            return 200, extra, image.id
        if path.startswith("/v1/images/"):
            image_id, _sep, what = path[len("/v1/images/"):].partition("/")
            image = self.images.get(image_id)
            readable = set()
            for name in granted:
                readable |= self.repositories[name].image_ids
            if image is None or image_id not in readable:
                return self._error(404, "Image not found", extra)
            if what == "ancestry":
                return 200, extra, image.ancestry
            if what == "json":
                extra["X-Docker-Size"] = str(len(image.layer))
                extra["X-Docker-Checksum"] = "tarsum+sha256:" + hashlib.sha256(
                    image.id.encode()).hexdigest()
                if self.checksums:
                    extra["X-Docker-Checksum-Payload"] = image.checksum
                return 200, extra, image.json
            if what == "layer" and self.layer_host:
                extra["Location"] = "http://%s:%d/storage/%s" % (self.layer_host, self.index.port,
                                                                 image_id)
                return 302, extra, b""
            if what == "layer":
                layer = image.layer
                if image_id in self.corrupt:
                    layer = bytes([layer[0] ^ 1]) + layer[1:]
                extra["Content-Type"] = "application/octet-stream"
                return 200, extra, layer
        return self._error(404, "Not found", extra)
