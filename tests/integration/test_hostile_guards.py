"""Second, independent paths for the security properties, through Ansible (modules and lookup)
against the in-process hostile server. Each test guards a mutation of tests/mutants/guards.py."""

from __future__ import annotations

import hashlib
import json
import os

from tests.integration.ansible_runner import run_expression, run_module
from tests.testbed.hostile import HostileServer, Reply
from tests.testbed.pki import Pki

PASSWORD = "guard-secret-pw"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
TAMPERED_CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "evil": True}).encode()
BLOB = b"guarded layer " * 1000


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes = CONFIG) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": digest(config), "size": len(config)},
                       "layers": []}).encode()


MANIFEST = image_manifest()


def registry(routes: dict, basic: bool = False, tls_pki=None) -> HostileServer:
    """``routes`` maps (method, path without query) to a Reply or a function of the request."""
    def answer(request):
        if basic and not request.headers.get("Authorization", "").startswith("Basic "):
            return Reply(401, {"WWW-Authenticate": 'Basic realm="guards"'})
        if request.path == "/v2/":
            return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
        route = routes.get((request.method, request.path.split("?")[0]))
        return route(request) if callable(route) else route
    return HostileServer(answer, tls_pki=tls_pki)


def creds() -> dict:
    return {"username": "alice", "password": PASSWORD}


def lookup(term: str, **options) -> str:
    args = "".join(", %s=%r" % item for item in options.items())
    return "lookup('drc.registry.registry_digest', %r%s)" % (term, args)


def assert_clean(run) -> None:
    assert "Traceback" not in run.output
    assert PASSWORD not in run.output and "Basic YWxpY2" not in run.output


# -- errors built from URLs the server chose -------------------------------------------------
def test_error_on_a_link_page_does_not_show_the_link_secrets():
    """Page 2's URL comes from a Link header with a signed query: its failure is redacted."""
    def tags(request):
        if "X-Amz-Signature" in request.path:
            return Reply(403, {"Content-Type": "application/json"},
                         b'{"errors":[{"code":"DENIED","message":"signature expired"}]}')
        return Reply(200, {"Content-Type": "application/json",
                           "Link": '</v2/app/tags/list?n=1&last=a&X-Amz-Signature=link-sig-5e4d>; rel="next"'},
                     json.dumps({"name": "app", "tags": ["a"]}).encode())
    with registry({("GET", "/v2/app/tags/list"): tags}) as server:
        run = run_module("drc.registry.registry_tags_info",
                         dict(repository="http://%s/app" % server.host, retries=0), verbosity=4)
    assert run.rc != 0
    assert "403" in run.result["msg"] and "DENIED: signature expired" in run.result["msg"], run.output
    assert "X-Amz-Signature=REDACTED" in run.result["msg"]
    assert "link-sig-5e4d" not in run.output


def test_link_to_another_origin_gets_no_credentials():
    """A Link header naming another port of the same host is another origin."""
    with HostileServer(lambda request: Reply(200, {"Content-Type": "application/json"},
                                             json.dumps({"tags": ["b"]}).encode())) as other:
        link = '<http://127.0.0.1:%d/v2/app/tags/list?n=1&last=a>; rel="next"' % other.port
        routes = {("GET", "/v2/app/tags/list"): Reply(
            200, {"Content-Type": "application/json", "Link": link}, json.dumps({"tags": ["a"]}).encode())}
        with registry(routes, basic=True) as server:
            run = run_module("drc.registry.registry_tags_info", dict(
                repository="http://%s/app" % server.host, **creds()), verbosity=4)
            own = [r.headers.get("Authorization") for r in server.requests if "/tags/" in r.path]
        foreign = [r.headers.get("Authorization") for r in other.requests]
    assert run.rc == 0, run.output
    assert run.result["tags"] == ["a", "b"]
    assert own and all(value and value.startswith("Basic ") for value in own)
    assert foreign == [None]
    assert_clean(run)


# -- credentials on redirects: an origin is scheme, host and port ------------------------------
def test_redirect_to_another_port_of_the_same_host_carries_no_credentials(tmp_path):
    with HostileServer(lambda request: Reply(200, {"Content-Type": "application/octet-stream"}, BLOB)) as cdn:
        location = "http://127.0.0.1:%d/blob/%s" % (cdn.port, digest(BLOB))
        routes = {("GET", "/v2/app/blobs/" + digest(BLOB)): Reply(307, {"Location": location})}
        with registry(routes, basic=True) as server:
            run = run_module("drc.registry.registry_blob_fetch", dict(
                repository="http://%s/app" % server.host, digest=digest(BLOB), dest=str(tmp_path / "b"),
                **creds()), verbosity=4)
            registry_auth = [r.headers.get("Authorization") for r in server.requests if "/blobs/" in r.path]
        cdn_auth = [r.headers.get("Authorization") for r in cdn.requests]
    assert run.rc == 0, run.output
    assert (tmp_path / "b").read_bytes() == BLOB
    assert registry_auth and all(value and value.startswith("Basic ") for value in registry_auth)
    assert cdn_auth == [None]
    assert_clean(run)


def test_lookup_redirected_manifest_carries_no_credentials():
    """The lookup's manifest request, redirected to another origin, loses its Authorization."""
    manifest = Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(MANIFEST)}, MANIFEST)
    with HostileServer(lambda request: manifest) as mirror:
        location = "http://127.0.0.1:%d/mirror/app/1" % mirror.port  # the same host, another port
        routes = {(method, "/v2/app/manifests/1"): Reply(307, {"Location": location})
                  for method in ("HEAD", "GET")}
        with registry(routes, basic=True) as server:
            run = run_expression(lookup("http://%s/app:1" % server.host, **creds()), verbosity=4)
            registry_auth = [r.headers.get("Authorization") for r in server.requests if "/manifests/" in r.path]
        mirror_auth = [r.headers.get("Authorization") for r in mirror.requests]
    assert run.rc == 0, run.output
    assert run.result["msg"] == digest(MANIFEST)
    assert registry_auth and all(value and value.startswith("Basic ") for value in registry_auth)
    assert mirror_auth and all(value is None for value in mirror_auth)
    assert_clean(run)


# -- digests: config blobs, child manifests, manifests by digest --------------------------------
def tampered_config_routes() -> dict:
    """The manifest names CONFIG's digest; the registry serves other bytes for it."""
    return {("GET", "/v2/app/manifests/1"): Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST),
            ("GET", "/v2/app/blobs/" + digest(CONFIG)): Reply(200, {}, TAMPERED_CONFIG)}


def test_config_not_matching_its_descriptor_is_refused_by_the_module():
    with registry(tampered_config_routes()) as server:
        run = run_module("drc.registry.registry_manifest_info", dict(
            reference="http://%s/app:1" % server.host, config=True))
    assert run.rc != 0, run.output
    assert "hashes to %s" % digest(TAMPERED_CONFIG) in run.result["msg"]
    assert "evil" not in json.dumps(run.result)


def test_config_not_matching_its_descriptor_is_refused_by_the_lookup():
    """With a platform, the lookup reads a single-platform image's config to check it."""
    with registry(tampered_config_routes()) as server:
        run = run_expression(lookup("http://%s/app:1" % server.host, platform="linux/amd64"))
    assert run.rc != 0
    assert "hashes to %s" % digest(TAMPERED_CONFIG) in run.output
    assert "Traceback" not in run.output


def index_with_tampered_child():
    """An index naming MANIFEST's digest for linux/amd64; the child served has other bytes."""
    tampered = image_manifest(TAMPERED_CONFIG)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest(MANIFEST), "size": len(MANIFEST),
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    return {("GET", "/v2/app/manifests/1"): Reply(200, {"Content-Type": OCI_INDEX}, index),
            ("GET", "/v2/app/manifests/" + digest(MANIFEST)): Reply(200, {"Content-Type": OCI_MANIFEST}, tampered)}


def test_child_manifest_not_matching_the_index_is_refused_by_the_module():
    with registry(index_with_tampered_child()) as server:
        run = run_module("drc.registry.registry_manifest_info", dict(
            reference="http://%s/app:1" % server.host, platform="linux/amd64"))
    assert run.rc != 0, run.output
    assert "refusing content that does not match its digest" in run.result["msg"]


def test_manifest_by_digest_with_wrong_bytes_is_refused_by_the_lookup():
    wanted = digest(MANIFEST)
    tampered = image_manifest(TAMPERED_CONFIG)
    routes = {("GET", "/v2/app/manifests/" + wanted): Reply(200, {"Content-Type": OCI_MANIFEST}, tampered)}
    with registry(routes) as server:
        run = run_expression(lookup("http://%s/app@%s" % (server.host, wanted), platform="linux/amd64"))
    assert run.rc != 0
    assert "refusing content that does not match its digest" in run.output
    assert "Traceback" not in run.output


def test_lookup_by_digest_does_not_trust_a_contradicting_head():
    """HEAD answers another digest than the one asked for: the bytes decide, not the header."""
    wanted = digest(MANIFEST)
    contradicting = Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "e" * 64}, b"")
    routes = {("HEAD", "/v2/app/manifests/" + wanted): contradicting,
              ("GET", "/v2/app/manifests/" + wanted): Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST)}
    with registry(routes) as server:
        run = run_expression(lookup("http://%s/app@%s" % (server.host, wanted)))
        methods = [r.method for r in server.requests if "/manifests/" in r.path]
    assert run.rc == 0, run.output
    assert run.result["msg"] == wanted
    assert methods == ["HEAD", "GET"]


def test_failed_download_leaves_no_temp_file(tmp_path):
    """A blob refused after its bytes were written: the temp file goes, the old file stays."""
    dest = tmp_path / "b"
    dest.write_bytes(b"keep")
    with registry({("GET", "/v2/app/blobs/" + digest(BLOB)): Reply(200, {}, BLOB[:-1] + b"?")}) as server:
        run = run_module("drc.registry.registry_blob_fetch", dict(
            repository="http://%s/app" % server.host, digest=digest(BLOB), dest=str(dest)))
    assert run.rc != 0 and "does not match its digest" in run.result["msg"]
    assert dest.read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["b"]


def test_netrc_adds_no_credentials(tmp_path):
    """~/.netrc (or $NETRC) naming the registry's host is not a credential source."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login mallory password netrc-secret-31\n")
    netrc.chmod(0o600)
    routes = {("GET", "/v2/app/tags/list"): Reply(200, {"Content-Type": "application/json"},
                                                  json.dumps({"tags": ["a"]}).encode())}
    with registry(routes) as server:
        run = run_module("drc.registry.registry_tags_info", dict(repository="http://%s/app" % server.host),
                         env={"NETRC": str(netrc), "HOME": str(tmp_path)})
        sent = [r.headers.get("Authorization") for r in server.requests]
    assert run.rc == 0, run.output
    assert sent and all(value is None for value in sent), sent


def test_identity_token_option_never_shown_at_vvvv():
    """The identity_token option is no_log: a failing task at -vvvv does not echo it."""
    token = "guard-identity-token-77"
    with registry({}, basic=True) as server:
        run = run_module("drc.registry.registry_tags_info", dict(
            repository="http://%s/app" % server.host, identity_token=token, retries=0), verbosity=4,
            env={"ANSIBLE_INJECT_INVOCATION": "true"})
    assert run.rc != 0
    assert run.result["invocation"]["module_args"]["identity_token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert token not in run.output


def test_certificates_are_verified_by_default(tmp_path):
    pki = Pki(str(tmp_path / "pki"))
    routes = {("GET", "/v2/app/tags/list"): Reply(200, {"Content-Type": "application/json"},
                                                  json.dumps({"tags": ["a"]}).encode())}
    with registry(routes, tls_pki=pki) as server:
        refused = run_module("drc.registry.registry_tags_info", dict(repository="https://%s/app" % server.host))
        trusted = run_module("drc.registry.registry_tags_info", dict(repository="https://%s/app" % server.host,
                                                                     ca_path=pki.ca_cert))
    assert refused.rc != 0 and "certificate verification failed" in refused.result["msg"], refused.output
    assert trusted.rc == 0 and trusted.result["tags"] == ["a"], trusted.output
