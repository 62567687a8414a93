"""The client against an in-process server, for timing decisions and auth flows no registry scripts."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import transport as transport_module
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions, RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import get_manifest
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import Transport
from tests.testbed.hostile import HostileServer, Reply

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()


@pytest.fixture
def sleeps(monkeypatch):
    recorded = []
    monkeypatch.setattr(transport_module.time, "sleep", recorded.append)
    return recorded


def client_for(server, creds=None, retry_policy=None, **options) -> RegistryConnection:
    return RegistryConnection(ConnectionOptions(registry=server.host, scheme="http",
                                                scheme_written=True,
                                                credentials=creds or Credentials(), **options),
                              retry_policy=retry_policy)


def scripted(replies: list):
    """Answer with the replies in turn (the last one forever)."""
    queue = list(replies)

    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return queue.pop(0) if len(queue) > 1 else queue[0]
    return answer


@pytest.mark.parametrize("retry_after, expected", [
    ("7", 7.0), ("600", 60.0),  # capped
])
def test_retry_after_seconds_honoured(sleeps, retry_after, expected):
    replies = [Reply(429, {"Retry-After": retry_after}), Reply(200, {"Content-Type": "x"}, MANIFEST)]
    with HostileServer(scripted(replies)) as server:
        manifest = get_manifest(client_for(server), "app", "1")
    assert manifest.size == len(MANIFEST)
    assert sleeps == [expected]


def test_retry_after_http_date_honoured(sleeps):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    replies = [Reply(503, {"Retry-After": when}), Reply(200, {}, MANIFEST)]
    with HostileServer(scripted(replies)) as server:
        get_manifest(client_for(server), "app", "1")
    assert len(sleeps) == 1 and 3 <= sleeps[0] <= 5


def test_backoff_without_retry_after_grows(sleeps):
    replies = [Reply(502), Reply(502), Reply(502), Reply(200, {}, MANIFEST)]
    with HostileServer(scripted(replies)) as server:
        get_manifest(client_for(server, retries=3), "app", "1")
    assert len(sleeps) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1 and 1 <= sleeps[2] <= 2


def test_post_is_not_retried(sleeps):
    with HostileServer(lambda request: Reply(503)) as server:
        response = Transport(retries=3).request("POST", server.url + "/v2/app/blobs/uploads/")
        assert response.status_code == 503
        assert len(server.requests) == 1 and sleeps == []


def test_scope_upgrade_refreshes_once_with_merged_scopes():
    scopes_asked = []

    def tokens(request):
        scopes_asked.append([v for k, v in (p.split("=") for p in request.path.split("?")[1].split("&")) if k == "scope"])
        return Reply(200, {}, json.dumps({"token": "tok%d" % len(scopes_asked)}).encode())

    with HostileServer(tokens) as token_server:
        realm = "http://%s/token" % token_server.host

        def registry(request):
            auth = request.headers.get("Authorization")
            if request.path == "/v2/":
                return Reply(401, {"WWW-Authenticate": 'Bearer realm="%s",service="s"' % realm})
            if auth == "Bearer tok2":
                return Reply(200, {}, MANIFEST)
            return Reply(401, {"WWW-Authenticate": 'Bearer realm="%s",service="s",scope="repository:app:pull,push"'
                                                   % realm})
        with HostileServer(registry) as server:
            get_manifest(client_for(server), "app", "1")
    assert scopes_asked == [["repository%3Aapp%3Apull"],
                            ["repository%3Aapp%3Apull%2Cpush", "repository%3Aapp%3Apull"]]


def test_identity_token_post_then_get_fallback():
    seen = []

    def tokens(request):
        seen.append((request.method, request.headers.get("Authorization", "")[:6]))
        if request.method == "POST":
            return Reply(404)
        return Reply(200, {}, json.dumps({"token": "t"}).encode())

    with HostileServer(tokens) as token_server:
        realm = "http://%s/token" % token_server.host

        def registry(request):
            if request.headers.get("Authorization") == "Bearer t":
                return Reply(200, {}, MANIFEST)
            return Reply(401, {"WWW-Authenticate": 'Bearer realm="%s",service="s"' % realm})
        with HostileServer(registry) as server:
            get_manifest(client_for(server, Credentials(identity_token="refresh-me")), "app", "1")
    assert seen == [("POST", ""), ("GET", "Basic ")]


def test_basic_without_any_challenge_ecr_style():
    def registry(request):
        if request.headers.get("Authorization", "").startswith("Basic "):
            return Reply(200, {}, MANIFEST)
        return Reply(401)  # no WWW-Authenticate at all
    with HostileServer(registry) as server:
        manifest = get_manifest(client_for(server, Credentials("AWS", "secret")), "app", "1")
    assert manifest.size == len(MANIFEST)


def test_not_a_registry_is_said_so():
    with HostileServer(lambda request: Reply(404, {}, b"<html>nginx</html>")) as server:
        with pytest.raises(RegistryError, match="404 Not Found .*is this a Docker/OCI registry"):
            client_for(server).ping()
