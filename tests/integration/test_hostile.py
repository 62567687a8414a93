"""Answers no real registry gives, from an in-process hostile server, through Ansible itself."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.integration.ansible_runner import run_expression, run_module
from tests.testbed.hostile import HostileServer, Reply

PASSWORD = "hostile-secret-pw"
TOKEN = "hostile-secret-token"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
BLOB = b"layer bytes " * 1000
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(), "size": len(CONFIG)},
                       "layers": []}).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def registry(routes: dict, auth: str | None = None, tls_pki=None) -> HostileServer:
    """A minimal registry: ``routes`` maps (method, path) to a Reply (or a function of the request)."""
    def answer(request):
        if auth == "basic" and not request.headers.get("Authorization", "").startswith("Basic "):
            return Reply(401, {"WWW-Authenticate": 'Basic realm="hostile"'})
        if request.path == "/v2/" and ("GET", "/v2/") not in routes:
            return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
        route = routes.get((request.method, request.path.split("?")[0]))
        return route(request) if callable(route) else route
    return HostileServer(answer, tls_pki=tls_pki)


def manifest_reply(body: bytes, content_type: str = OCI_MANIFEST, header_digest: str | None = None,
                   **kwargs) -> Reply:
    headers = {"Content-Type": content_type}
    if header_digest:
        headers["Docker-Content-Digest"] = header_digest
    return Reply(200, headers, body, **kwargs)


def creds() -> dict:
    return {"username": "alice", "password": PASSWORD}


def assert_clean(run) -> None:
    assert "Traceback" not in run.output
    for secret in (PASSWORD, TOKEN, "Basic YWxpY2"):
        assert secret not in run.output


def describe(server, reference: str, **options):
    return run_module("drc.registry.registry_manifest_info",
                      dict(reference="http://%s/%s" % (server.host, reference), **options), verbosity=4)


def test_manifest_not_matching_requested_digest():
    wanted = "sha256:" + "1" * 64
    with registry({("GET", "/v2/app/manifests/" + wanted): manifest_reply(MANIFEST)}) as server:
        run = describe(server, "app@" + wanted, **creds())
    assert run.rc != 0
    assert "hashes to %s" % digest(MANIFEST) in run.result["msg"]
    assert_clean(run)


def test_wrong_docker_content_digest_for_a_tag_is_not_trusted():
    with registry({("GET", "/v2/app/manifests/1"): manifest_reply(MANIFEST, header_digest="sha256:" + "2" * 64)}) as server:
        run = describe(server, "app:1")
    assert run.rc == 0, run.output
    assert run.result["digest"] == digest(MANIFEST)
    assert "does not match the content" in run.output  # the warning


def test_manifest_over_the_size_cap():
    huge = b" " * (4 * 1024 * 1024 + 1)
    with registry({("GET", "/v2/app/manifests/1"): manifest_reply(huge)}) as server:
        run = describe(server, "app:1")
    assert run.rc != 0 and "more than the 4194304 bytes allowed" in run.result["msg"], run.output


@pytest.mark.parametrize("body, content_type, fragment", [
    (b"{not json", OCI_MANIFEST, "not valid JSON"),
    (b'{"hello": "world"}', "text/html", "not an image manifest or index"),
    (b"<html>login page</html>", "text/html", "not valid JSON"),
])
def test_unusable_manifest_bodies(body, content_type, fragment):
    with registry({("GET", "/v2/app/manifests/1"): manifest_reply(body, content_type)}) as server:
        run = describe(server, "app:1")
    assert run.rc != 0 and fragment in run.result["msg"], run.output
    assert_clean(run)


def test_error_body_of_several_mib():
    body = json.dumps({"errors": [{"code": "DENIED", "message": "x" * (5 * 1024 * 1024)}]}).encode()
    with registry({("GET", "/v2/app/manifests/1"): Reply(403, {"Content-Type": "application/json"}, body)}) as server:
        run = describe(server, "app:1")
    assert run.rc != 0
    assert run.result["msg"].startswith("GET http://%s/v2/app/manifests/1 failed: 403" % server.host)
    assert len(run.result["msg"]) < 500


def test_index_without_media_type_is_still_an_index():
    child = digest(MANIFEST)
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"digest": child, "size": len(MANIFEST), "mediaType": OCI_MANIFEST,
         "platform": {"os": "linux", "architecture": "arm64"}}]}).encode()
    with registry({("GET", "/v2/app/manifests/1"): manifest_reply(index, "application/json")}) as server:
        run = describe(server, "app:1")
    assert run.rc == 0, run.output
    assert run.result["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert run.result["platforms"][0]["platform"]["variant"] == "v8"


def test_schema1_is_reported_deprecated():
    body = json.dumps({"schemaVersion": 1, "name": "app", "tag": "1", "architecture": "amd64",
                       "fsLayers": [], "history": [], "signatures": [{}]}).encode()
    with registry({("GET", "/v2/app/manifests/1"): manifest_reply(body, DOCKER_SCHEMA1_SIGNED)}) as server:
        run = describe(server, "app:1", platform="linux/amd64")
    assert run.rc == 0, run.output
    assert run.result["deprecated"] is True and run.result["media_type"] == DOCKER_SCHEMA1_SIGNED
    assert "deprecated Docker schema 1" in run.output


def test_head_without_digest_falls_back_to_get():
    routes = {("HEAD", "/v2/app/manifests/1"): Reply(200, {"Content-Type": OCI_MANIFEST}, b""),
              ("GET", "/v2/app/manifests/1"): manifest_reply(MANIFEST)}
    with registry(routes) as server:
        run = run_expression("lookup('drc.registry.registry_digest', 'http://%s/app:1')" % server.host)
        methods = [(r.method, r.path) for r in server.requests]
    assert run.rc == 0, run.output
    assert run.result["msg"] == digest(MANIFEST)
    assert methods == [("GET", "/v2/"), ("HEAD", "/v2/app/manifests/1"), ("GET", "/v2/app/manifests/1")]


def test_cross_host_redirect_carries_no_credentials(tmp_path):
    with HostileServer(lambda request: Reply(200, {"Content-Type": "application/octet-stream"}, BLOB)) as cdn:
        location = "http://localhost:%d/blob?X-Amz-Signature=cdn-signature" % cdn.port
        routes = {("GET", "/v2/app/blobs/" + digest(BLOB)): Reply(307, {"Location": location})}
        with registry(routes, auth="basic") as server:
            run = run_module("drc.registry.registry_blob_fetch", dict(
                repository="http://%s/app" % server.host, digest=digest(BLOB), dest=str(tmp_path / "b"),
                **creds()), verbosity=4)
            registry_auth = [r.headers.get("Authorization") for r in server.requests if "/blobs/" in r.path]
        cdn_auth = [r.headers.get("Authorization") for r in cdn.requests]
    assert run.rc == 0, run.output
    assert (tmp_path / "b").read_bytes() == BLOB
    assert registry_auth and all(value and value.startswith("Basic ") for value in registry_auth)
    assert cdn_auth == [None]
    assert "cdn-signature" not in run.output
    assert_clean(run)


@pytest.mark.parametrize("scenario, fragment", [
    ("loop", "redirect loop"),
    ("endless", "more than 10 redirects"),
])
def test_redirect_loops_and_chains(tmp_path, scenario, fragment):
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        if scenario == "loop":
            target = "/a" if request.path != "/a" else "/v2/app/blobs/" + digest(BLOB)
        else:
            target = "/hop%d" % (int(request.path[4:] or 0) + 1 if request.path.startswith("/hop") else 1)
        return Reply(302, {"Location": target})
    dest = tmp_path / "b"
    dest.write_bytes(b"keep")
    with HostileServer(answer) as server:
        run = run_module("drc.registry.registry_blob_fetch", dict(
            repository="http://%s/app" % server.host, digest=digest(BLOB), dest=str(dest)))
    assert run.rc != 0 and fragment in run.result["msg"], run.output
    assert dest.read_bytes() == b"keep" and os.listdir(tmp_path) == ["b"]


def test_https_to_http_redirect_is_refused(testbed, tmp_path):
    routes = {("GET", "/v2/app/blobs/" + digest(BLOB)): Reply(302, {"Location": "http://localhost:1/blob"})}
    with registry(routes, tls_pki=testbed.pki) as server:
        run = run_module("drc.registry.registry_blob_fetch", dict(
            repository="https://%s/app" % server.host, digest=digest(BLOB), dest=str(tmp_path / "b"),
            ca_path=testbed.pki.ca_cert))
    assert run.rc != 0 and "refusing a redirect from https to http" in run.result["msg"], run.output


def test_blob_with_wrong_bytes_is_refused(tmp_path):
    claimed = digest(BLOB)
    dest = tmp_path / "b"
    dest.write_bytes(b"keep")
    with registry({("GET", "/v2/app/blobs/" + claimed): Reply(200, {}, BLOB + b"tampered")}) as server:
        run = run_module("drc.registry.registry_blob_fetch", dict(
            repository="http://%s/app" % server.host, digest=claimed, dest=str(dest)))
    assert run.rc != 0 and "refusing content that does not match its digest" in run.result["msg"]
    assert dest.read_bytes() == b"keep" and os.listdir(tmp_path) == ["b"]


def bearer_registry(token_answer, registry_accepts: bool = True):
    """A registry that wants Bearer tokens from a token server we script."""
    tokens = HostileServer(token_answer)

    def answer(request):
        challenge = 'Bearer realm="http://%s/token",service="hostile"' % tokens.host
        if request.headers.get("Authorization") == "Bearer " + TOKEN and registry_accepts:
            return manifest_reply(MANIFEST)
        return Reply(401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"},
                     b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    return tokens, HostileServer(answer)


@pytest.mark.parametrize("token_reply, registry_accepts, fragment", [
    (Reply(200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode()), True, None),
    (Reply(200, {"Content-Type": "application/json"},
           json.dumps({"access_token": TOKEN, "expires_in": 60}).encode()), True, None),
    (Reply(200, {"Content-Type": "text/html"}, b"<html>garbage</html>"), True, "returned no usable token"),
    (Reply(500, {}, b"down"), True, "token request"),
    # a token the registry rejects (expired): one refresh, then a clear failure
    (Reply(200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN, "expires_in": 1}).encode()),
     False, "401"),
], ids=["token", "access_token", "garbage", "token-server-500", "expired"])
def test_token_server_answers(token_reply, registry_accepts, fragment):
    tokens, server = bearer_registry(lambda request: token_reply, registry_accepts)
    with tokens, server:
        run = describe(server, "app:1", retries=0, **creds())
        token_requests = len(tokens.requests)
    if fragment is None:
        assert run.rc == 0, run.output
        assert run.result["digest"] == digest(MANIFEST)
        assert token_requests == 1
    else:
        assert run.rc != 0 and fragment in run.result["msg"], run.output
        if not registry_accepts:
            assert token_requests == 2  # the first token, then one refresh
    assert_clean(run)


def test_token_server_down():
    with HostileServer(lambda request: None) as gone:
        dead_realm = "http://%s/token" % gone.host

    def answer(request):
        return Reply(401, {"WWW-Authenticate": 'Bearer realm="%s",service="x"' % dead_realm})
    with HostileServer(answer) as server:
        run = describe(server, "app:1", retries=0, **creds())
    assert run.rc != 0
    assert "GET %s" % dead_realm in run.result["msg"] and "Connection refused" in run.result["msg"]
    assert_clean(run)
