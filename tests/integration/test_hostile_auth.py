"""Credentials stay with their host: hostile redirects, challenges and realms (issue 10, items 1-4).

Every server is a scripted one on loopback (tests/testbed/hostile_auth.py); every scenario is
driven through a module or the lookup, as a user runs them.
"""

from __future__ import annotations

import pytest

from tests.integration.ansible_runner import run_expression, run_module
from tests.testbed.hostile import HostileServer, Reply
from tests.testbed.hostile_auth import (
    BLOB, IDENTITY_TOKEN, MANIFEST, PASSWORD, SECRETS, USERNAME, basic_registry, bearer_registry,
    credentials_seen, digest, recorder, token_reply)
from tests.testbed.pki import Pki


def creds() -> dict:
    return {"username": USERNAME, "password": PASSWORD}


def assert_clean(run) -> None:
    assert "Traceback" not in run.output
    for secret in SECRETS:
        assert secret not in run.output, "secret %r leaked" % secret[:8]


def fetch_blob(server, tmp_path, **options):
    return run_module("drc.registry.registry_blob_fetch", dict(
        repository="%s/app" % server.url, digest=digest(BLOB), dest=str(tmp_path / "blob"), **options),
        verbosity=4)


def lookup_digest(server, **options):
    extra = "".join(", %s=%r" % item for item in options.items())
    return run_expression("lookup('drc.registry.registry_digest', '%s/app:1'%s)" % (server.url, extra),
                          verbosity=4)


def run_as(how, server, tmp_path, **options):
    """The same scenario through the blob module (GET of a blob) or the lookup (HEAD of a manifest)."""
    if how == "module":
        return fetch_blob(server, tmp_path, **options)
    return lookup_digest(server, **options)


def redirected(how, reply: Reply) -> dict:
    """Routes sending what the module or the lookup asks for elsewhere with ``reply``."""
    if how == "module":
        return {("GET", "/v2/app/blobs/" + digest(BLOB)): reply}
    # the lookup HEADs the manifest, and GETs it when the HEAD fails
    return {("HEAD", "/v2/app/manifests/1"): reply, ("GET", "/v2/app/manifests/1"): reply}


# -- 1. the URL parser that decides "same host" is the one that connects ------------------------
@pytest.mark.parametrize("how", ["module", "lookup"])
def test_backslash_location_cannot_borrow_the_registrys_origin(tmp_path, how):
    """registry -> CDN -> http://<thief>\\@<registry>/...: urlsplit reads the registry, urllib3
    connects to the thief. The registry's credentials must not go there, and the URL is refused."""
    with recorder() as thief:
        holder = {}
        with HostileServer(lambda request: Reply(302, {"Location": holder["evil"]})) as cdn:
            routes = redirected(how, Reply(307, {"Location": "%s/blob" % cdn.url}))
            with basic_registry(routes) as server:
                holder["evil"] = "http://%s\\@%s/v2/app/blobs/%s" % (thief.host, server.host, digest(BLOB))
                run = run_as(how, server, tmp_path, **creds())
            cdn_seen = credentials_seen(cdn)
        thief_seen = credentials_seen(thief)
        thief_requests = len(thief.requests)
    assert thief_seen == [] and thief_requests == 0
    assert cdn_seen == []
    assert run.rc != 0, run.output
    msg = run.result["msg"]
    assert "backslash" in msg and "refusing" in msg, msg
    assert_clean(run)


@pytest.mark.parametrize("how", ["module", "lookup"])
def test_location_with_userinfo_is_refused(tmp_path, how):
    with recorder() as thief:
        location = "http://%s@%s/blob" % (USERNAME, thief.host)
        with basic_registry(redirected(how, Reply(307, {"Location": location}))) as server:
            run = run_as(how, server, tmp_path, **creds())
        thief_requests = len(thief.requests)
    assert thief_requests == 0
    assert run.rc != 0 and "user information" in run.result["msg"], run.output
    assert_clean(run)


# -- 2. a 401 from a redirect target is an error, not a new challenge ---------------------------
@pytest.mark.parametrize("how", ["module", "lookup"])
def test_401_from_a_redirect_target_does_not_change_the_challenge(tmp_path, how):
    with recorder(token_reply()) as realm:
        challenge = 'Bearer realm="%s/token",service="cdn"' % realm.url
        cdn_401 = Reply(401, {"WWW-Authenticate": challenge, "Content-Type": "text/plain"}, b"no")
        with recorder(cdn_401) as cdn:
            routes = redirected(how, Reply(307, {"Location": "%s/blob" % cdn.url}))
            with basic_registry(routes) as server:
                run = run_as(how, server, tmp_path, **creds())
            cdn_seen = credentials_seen(cdn)
        realm_requests = len(realm.requests)
    assert realm_requests == 0, "the CDN's realm was asked for a token"
    assert cdn_seen == []
    assert run.rc != 0, run.output
    msg = run.result["msg"]
    assert "answered 401 after a redirect from the registry" in msg and cdn.host in msg, msg
    assert_clean(run)


# -- 3. the token realm is checked: no https -> http --------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


@pytest.mark.parametrize("how", ["module", "lookup"])
def test_https_registry_with_a_plain_http_realm_is_refused(pki, tmp_path, how):
    with recorder(token_reply()) as realm:
        realm_url = "%s/token" % realm.url
        with bearer_registry(realm_url, tls_pki=pki) as server:
            if how == "module":
                run = run_module("drc.registry.registry_manifest_info", dict(
                    reference="%s/app:1" % server.url, ca_path=pki.ca_cert, **creds()), verbosity=4)
            else:
                run = lookup_digest(server, ca_path=pki.ca_cert, **creds())
        realm_requests = len(realm.requests)
    assert realm_requests == 0, "credentials went to a plain-http realm"
    assert run.rc != 0, run.output
    msg = run.result["msg"]
    assert "refusing the token realm %s" % realm_url in msg and "clear text" in msg, msg
    assert_clean(run)


def test_https_registry_with_an_https_realm_still_works(pki):
    """The control: the same set-up with the realm on https gets its token and the manifest."""
    with HostileServer(lambda request: token_reply(), tls_pki=pki) as realm:
        with bearer_registry("%s/token" % realm.url, tls_pki=pki) as server:
            run = run_module("drc.registry.registry_manifest_info", dict(
                reference="%s/app:1" % server.url, ca_path=pki.ca_cert, **creds()), verbosity=4)
        realm_auth = [r.headers.get("Authorization") for r in realm.requests]
    assert run.rc == 0, run.output
    assert run.result["digest"] == digest(MANIFEST)
    assert realm_auth and all(value and value.startswith("Basic ") for value in realm_auth)
    assert_clean(run)


# -- 4. the identity token's POST is never re-sent to another host ------------------------------
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_identity_token_post_does_not_follow_a_redirect_elsewhere(status):
    with recorder(token_reply()) as thief:
        moved = Reply(status, {"Location": "%s/token" % thief.url})
        with HostileServer(lambda request: moved) as realm:
            with bearer_registry("%s/token" % realm.url) as server:
                run = run_module("drc.registry.registry_manifest_info", dict(
                    reference="%s/app:1" % server.url, identity_token=IDENTITY_TOKEN, retries=0),
                    verbosity=4)
            posts = [r.body for r in realm.requests if r.method == "POST"]
        thief_seen = credentials_seen(thief)
        thief_requests = len(thief.requests)
    assert posts and IDENTITY_TOKEN.encode() in posts[0]  # it was sent where it was addressed
    assert thief_seen == [] and thief_requests == 0, thief_seen
    assert run.rc != 0, run.output
    assert "refusing to send the body of POST" in run.result["msg"], run.result["msg"]
    assert_clean(run)
