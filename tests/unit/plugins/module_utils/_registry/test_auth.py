"""WWW-Authenticate parsing and the token cache."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import (
    Authenticator, Challenge, parse_challenges, basic_header)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials


@pytest.mark.parametrize("headers, expected", [
    (['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
      'scope="repository:library/alpine:pull"'],
     [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                  "scope": "repository:library/alpine:pull"})]),
    (['Basic realm="Registry Realm"'], [("basic", {"realm": "Registry Realm"})]),
    (['basic realm=unquoted'], [("basic", {"realm": "unquoted"})]),
    (['Basic realm="a", Bearer realm="https://t/x",service="s"'],
     [("basic", {"realm": "a"}), ("bearer", {"realm": "https://t/x", "service": "s"})]),
    (['Basic realm="a"', 'Bearer realm="b"'], [("basic", {"realm": "a"}), ("bearer", {"realm": "b"})]),
    (['Bearer realm="https://t/x",scope="repository:a:pull,push repository:b:pull"'],
     [("bearer", {"realm": "https://t/x", "scope": "repository:a:pull,push repository:b:pull"})]),
    (['Bearer realm="quote \\" inside", service = "spaced"'],
     [("bearer", {"realm": 'quote " inside', "service": "spaced"})]),
    (['Bearer REALM="x"'], [("bearer", {"realm": "x"})]),
    (['Negotiate'], [("negotiate", {})]),
    ([''], []),
    (['=garbage'], []),
])
def test_parse_challenges(headers, expected):
    parsed = parse_challenges(headers)
    assert [(c.scheme, c.params) for c in parsed] == expected


def test_scopes_split_on_spaces():
    challenge = parse_challenges(['Bearer realm="r",scope="repository:a:pull repository:b:push"'])[0]
    assert challenge.scopes == ["repository:a:pull", "repository:b:push"]


class FakeTransport:
    """Answers token requests; records the URLs asked for."""

    def __init__(self, lifetime=300):
        self.urls = []
        self.lifetime = lifetime

    def request(self, method, url, **kwargs):
        self.urls.append((method, url, kwargs.get("headers", {})))
        return FakeResponse({"token": "tok-%d" % len(self.urls), "expires_in": self.lifetime})


class FakeResponse:
    status_code = 200
    reason = "OK"

    def __init__(self, body):
        import json
        self.content = json.dumps(body).encode()
        self.raw = FakeRaw(self.content)

    def close(self):
        pass


class FakeRaw:
    """What the token reader uses of urllib3's response: a bounded read."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, amount, decode_content=True):
        chunk, self.data = self.data[:amount], self.data[amount:]
        return chunk


def bearer_auth(transport, creds=None):
    auth = Authenticator(transport, creds or Credentials())
    auth.set_challenges([Challenge("bearer", {"realm": "https://t/token", "service": "svc"})])
    return auth


def test_token_is_cached_per_scope_set():
    transport = FakeTransport()
    auth = bearer_auth(transport)
    first = auth.authorization(["repository:a:pull"])
    assert auth.authorization(["repository:a:pull"]) == first
    assert len(transport.urls) == 1
    auth.authorization(["repository:b:pull"])
    assert len(transport.urls) == 2


def test_hinted_scopes_make_one_token_cover_many_repositories():
    transport = FakeTransport()
    auth = bearer_auth(transport)
    auth.hint_scopes(["repository:a:pull", "repository:b:pull", "repository:c:pull"])
    tokens = {auth.authorization(["repository:%s:pull" % r]) for r in "abc"}
    assert len(tokens) == 1 and len(transport.urls) == 1
    url = transport.urls[0][1]
    assert url.count("scope=") == 3 and "service=svc" in url


def test_expired_token_is_renewed():
    transport = FakeTransport(lifetime=1)
    auth = bearer_auth(transport)
    auth.authorization(["repository:a:pull"])
    for held in auth._tokens.values():
        held[:] = [(scopes, token, 0) for scopes, token, dummy in held]
    auth.authorization(["repository:a:pull"])
    assert len(transport.urls) == 2


def test_refresh_after_401_merges_new_scope_first():
    transport = FakeTransport()
    auth = bearer_auth(transport)
    auth.authorization(["repository:a:pull"])
    retry = auth.on_unauthorized(parse_challenges(
        ['Bearer realm="https://t/token",service="svc",scope="repository:a:pull,push"']),
        ["repository:a:pull"])
    assert retry == ["repository:a:pull,push", "repository:a:pull"]
    auth.authorization(retry, refresh=True)
    assert "scope=repository%3Aa%3Apull%2Cpush&scope=repository%3Aa%3Apull" in transport.urls[-1][1]


def test_basic_credentials_go_to_the_token_request():
    transport = FakeTransport()
    auth = bearer_auth(transport, Credentials("u", "p", source="options"))
    auth.authorization(["repository:a:pull"])
    method, url, headers = transport.urls[0]
    assert headers["Authorization"] == basic_header("u", "p")
    assert "account=u" in url


def test_basic_challenge_without_credentials_sends_nothing():
    auth = Authenticator(FakeTransport(), Credentials())
    auth.set_challenges([Challenge("basic", {"realm": "r"})])
    assert auth.authorization(["repository:a:pull"]) is None


def test_401_without_challenge_uses_basic_when_credentials_exist():
    auth = Authenticator(FakeTransport(), Credentials("u", "p"))
    assert auth.on_unauthorized([], ["repository:a:pull"]) == ["repository:a:pull"]
    assert auth.authorization(["repository:a:pull"]) == basic_header("u", "p")
    assert Authenticator(FakeTransport(), Credentials()).on_unauthorized([], []) is None


def test_bearer_preferred_over_basic():
    auth = Authenticator(FakeTransport(), Credentials())
    auth.set_challenges([Challenge("basic", {"realm": "r"}), Challenge("bearer", {"realm": "t"})])
    assert auth.challenge.scheme == "bearer"


class AnswerTransport(FakeTransport):
    """Answers every token request with one fixed body."""

    def __init__(self, body: bytes):
        super().__init__()
        self.body = body

    def request(self, method, url, **kwargs):
        self.urls.append((method, url, kwargs.get("headers", {})))
        response = FakeResponse({})
        response.raw = FakeRaw(self.body)
        return response


def test_a_token_answer_is_bounded():
    huge = b'{"token": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    with pytest.raises(RegistryError, match="more than the 1048576 bytes allowed"):
        bearer_auth(AnswerTransport(huge)).authorization(["repository:a:pull"])


@pytest.mark.parametrize("expires_in", ["1e999", "-5", '"soon"', "null", "99999999999999"])
def test_a_strange_token_lifetime_is_not_a_traceback(expires_in):
    body = ('{"token": "tok", "expires_in": %s}' % expires_in).encode()
    auth = bearer_auth(AnswerTransport(body))
    assert auth.authorization(["repository:a:pull"]) == "Bearer tok"
