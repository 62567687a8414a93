"""Scripted servers for the credential-leak findings: registries, CDNs, realms and thieves.

Built on HostileServer. Every server runs on 127.0.0.1; a "thief" is a server that must never
see a credential (it records what reaches it).
"""

from __future__ import annotations

import base64
import hashlib
import json

from tests.testbed.hostile import HostileServer, Reply

USERNAME = "alice"
PASSWORD = "bound-secret-pw"
IDENTITY_TOKEN = "bound-identity-token"
TOKEN = "bound-registry-token"
BASIC = "Basic " + base64.b64encode(("%s:%s" % (USERNAME, PASSWORD)).encode()).decode()

CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(),
                                  "size": len(CONFIG)},
                       "layers": []}).encode()
BLOB = b"blob bytes " * 100
SECRETS = (PASSWORD, IDENTITY_TOKEN, TOKEN, BASIC.split()[1][:12])


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_reply() -> Reply:
    return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(MANIFEST)}, MANIFEST)


def recorder(reply: Reply | None = None) -> HostileServer:
    """A server that answers everything the same way and records it (a thief, a CDN)."""
    return HostileServer(lambda request: reply or Reply(200, {"Content-Type": "application/octet-stream"}, BLOB))


def basic_registry(routes: dict, password: str = PASSWORD, tls_pki=None) -> HostileServer:
    """A registry wanting Basic credentials; ``routes`` maps (method, path) to a Reply.

    Paths not routed answer a manifest for ``/manifests/`` and the blob for ``/blobs/``.
    """
    wanted = "Basic " + base64.b64encode(("%s:%s" % (USERNAME, password)).encode()).decode()

    def answer(request):
        if request.headers.get("Authorization") != wanted:
            return Reply(401, {"WWW-Authenticate": 'Basic realm="registry"'})
        if request.path == "/v2/":
            return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
        route = routes.get((request.method, request.path.split("?")[0]))
        if route is not None:
            return route(request) if callable(route) else route
        if "/manifests/" in request.path:
            return manifest_reply()
        if "/blobs/" in request.path:
            return Reply(200, {"Content-Type": "application/octet-stream"}, BLOB)
        return None
    return HostileServer(answer, tls_pki=tls_pki)


def asking_registry() -> HostileServer:
    """A registry that asks every client for Basic credentials (401 at /v2/) but serves its
    manifests to anyone: any credentials a client holds for it are sent, and recorded."""
    def answer(request):
        if request.path == "/v2/":
            return Reply(401, {"WWW-Authenticate": 'Basic realm="asking"'})
        if "/manifests/" in request.path:
            return manifest_reply()
        return None
    return HostileServer(answer)


def bearer_registry(realm: str, tls_pki=None) -> HostileServer:
    """A registry sending clients to ``realm`` for tokens; it accepts TOKEN."""
    def answer(request):
        if request.headers.get("Authorization") == "Bearer " + TOKEN:
            if request.path == "/v2/":
                return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
            if "/manifests/" in request.path:
                return manifest_reply()
            return None
        return Reply(401, {"WWW-Authenticate": 'Bearer realm="%s",service="registry"' % realm,
                           "Content-Type": "application/json"},
                     b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    return HostileServer(answer, tls_pki=tls_pki)


def token_reply() -> Reply:
    return Reply(200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode())


def credentials_seen(server) -> list:
    """Every Authorization header and every body that reached a server, in order."""
    seen = [r.headers.get("Authorization") for r in server.requests if r.headers.get("Authorization")]
    seen += [r.body.decode("utf-8", "replace") for r in server.requests if r.body]
    return seen
