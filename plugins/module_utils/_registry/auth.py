# Private to the drc.registry collection: no compatibility promise for other collections.
"""WWW-Authenticate parsing, Basic and Bearer flows, the token cache and scopes."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from urllib.parse import urlencode

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, http_error)

CLIENT_ID = "drc.registry"
DEFAULT_TOKEN_LIFETIME = 60
# Renew this long before the registry's stated expiry, so a token does not die in flight.
EXPIRY_MARGIN = 5

_TOKEN_RE = re.compile(r"\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)")
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Challenge:
    """One challenge from a WWW-Authenticate header: a scheme and its parameters."""

    def __init__(self, scheme: str, params: dict) -> None:
        self.scheme = scheme.lower()
        self.params = params

    @property
    def scopes(self) -> list:
        return self.params.get("scope", "").split() if self.params.get("scope") else []

    def __repr__(self) -> str:
        return "Challenge(%r, %r)" % (self.scheme, self.params)


def parse_challenges(headers: list) -> list:
    """Parse every WWW-Authenticate header value into Challenges.

    One header may carry several challenges (``Basic realm="x", Bearer realm="y"``) and a
    parameter value may be quoted with commas inside.
    """
    out: list = []
    for header in headers:
        out.extend(_parse_one_header(header or ""))
    return out


def _parse_one_header(text: str) -> list:
    challenges: list = []
    pos = 0
    current: Challenge | None = None
    while pos < len(text):
        if text[pos] in ", \t":
            pos += 1
            continue
        match = _TOKEN_RE.match(text, pos)
        if not match:
            break  # garbage: keep what was understood
        token, end = match.group(1), match.end()
        rest = text[end:].lstrip(" \t")
        if rest.startswith("=") and current is not None:
            value_start = len(text) - len(rest) + 1
            while value_start < len(text) and text[value_start] in " \t":
                value_start += 1
            quoted = _QUOTED_RE.match(text, value_start)
            if quoted:
                value = re.sub(r"\\(.)", r"\1", quoted.group(1))
                pos = quoted.end()
            else:
                comma = text.find(",", value_start)
                comma = len(text) if comma == -1 else comma
                value = text[value_start:comma].strip()
                pos = comma
            current.params[token.lower()] = value
        else:
            current = Challenge(token, {})
            challenges.append(current)
            pos = end
    return challenges


def repository_scope(repository: str, actions: str = "pull") -> str:
    return "repository:%s:%s" % (repository, actions)


CATALOG_SCOPE = "registry:catalog:*"


def basic_header(username: str, password: str) -> str:
    raw = ("%s:%s" % (username, password)).encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _merge_scopes(first: list, rest) -> list:
    """Keep order, new scopes first, no duplicates."""
    out: list = []
    for scope in list(first) + list(rest):
        if scope and scope not in out:
            out.append(scope)
    return out


def _covers(held: frozenset, wanted: list) -> bool:
    return all(scope in held for scope in wanted)


class Authenticator:
    """Decides the Authorization header for a request, fetching and caching tokens.

    Thread-safe: concurrent callers needing the same token wait for one token request.
    """

    def __init__(self, transport, credentials, log=None) -> None:
        self.transport = transport
        self.credentials = credentials
        self.log = log or (lambda msg: None)
        self.challenge: Challenge | None = None
        self.hinted_scopes: list = []
        self.token_requests = 0
        self._tokens: dict = {}  # (realm, service) -> list of (scopes, token, expires_at)
        self._lock = threading.Lock()

    # -- what the registry asked for --------------------------------------------------------
    def set_challenges(self, challenges: list) -> None:
        """Remember the preferred challenge from a ping: Bearer over Basic."""
        for scheme in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == scheme:
                    self.challenge = challenge
                    return
        self.challenge = None

    def hint_scopes(self, scopes: list) -> None:
        """Scopes the caller will need soon: one token then covers many repositories."""
        with self._lock:
            self.hinted_scopes = _merge_scopes(self.hinted_scopes, scopes)

    # -- the header for a request ------------------------------------------------------------
    def authorization(self, scopes: list, refresh: bool = False) -> str | None:
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic()
        if challenge.scheme == "bearer":
            return "Bearer " + self._token(challenge, scopes, refresh)
        return None

    def _basic(self) -> str | None:
        creds = self.credentials
        if creds.username is not None and creds.password is not None:
            return basic_header(creds.username, creds.password)
        return None

    def on_unauthorized(self, challenges: list, scopes: list) -> list | None:
        """After a 401: adopt its challenge; return the scopes to retry with, or None to give up."""
        bearer = [c for c in challenges if c.scheme == "bearer"]
        basic = [c for c in challenges if c.scheme == "basic"]
        if bearer:
            self.challenge = bearer[0]
            return _merge_scopes(bearer[0].scopes, scopes)
        if basic or not challenges:
            # ECR style: Basic, sometimes without any challenge at all.
            if self._basic() is None:
                return None
            self.challenge = basic[0] if basic else Challenge("basic", {})
            return scopes
        return None

    def _token(self, challenge: Challenge, scopes: list, refresh: bool) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError("the registry asked for a Bearer token without saying where to get "
                                "one (no realm in its WWW-Authenticate challenge)")
        service = challenge.params.get("service", "")
        key = (realm, service)
        with self._lock:
            now = time.time()
            if not refresh:
                for held, token, expires_at in self._tokens.get(key, []):
                    if expires_at > now and _covers(held, scopes):
                        return token
            wanted = _merge_scopes(scopes, self.hinted_scopes)
            token, lifetime = self._fetch_token(realm, service, wanted)
            expires_at = time.time() + max(1, lifetime - min(EXPIRY_MARGIN, lifetime / 10.0))
            held_tokens = [t for t in self._tokens.get(key, []) if t[2] > now]
            held_tokens.insert(0, (frozenset(wanted), token, expires_at))
            self._tokens[key] = held_tokens[:64]
            return token

    def _fetch_token(self, realm: str, service: str, scopes: list) -> tuple:
        creds = self.credentials
        self.token_requests += 1
        if creds.identity_token:
            answer = self._oauth_token(realm, service, scopes)
            if answer is not None:
                return answer
        query = [("service", service)] if service else []
        query += [("scope", s) for s in scopes]
        if creds.username is not None and creds.password is not None:
            query.append(("account", creds.username))
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers = {}
        basic = self._basic()
        if basic:
            headers["Authorization"] = basic
        elif creds.identity_token:
            headers["Authorization"] = basic_header("<token>", creds.identity_token)
        self.log("requesting a token from %s for %s" % (realm, " ".join(scopes) or "no scope"))
        response = self.transport.request("GET", url, headers=headers, credential_url=realm)
        return self._read_token(response, "GET", url)

    def _oauth_token(self, realm: str, service: str, scopes: list) -> tuple | None:
        """Identity tokens are exchanged with the OAuth2 POST; None means fall back to GET."""
        form = {"grant_type": "refresh_token", "refresh_token": self.credentials.identity_token,
                "service": service, "client_id": CLIENT_ID, "scope": " ".join(scopes)}
        response = self.transport.request(
            "POST", realm, data=form, credential_url=realm, idempotent=True,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if response.status_code in (404, 405, 400):
            response.close()
            self.log("the token endpoint has no OAuth2 POST; falling back to GET")
            return None
        return self._read_token(response, "POST", realm)

    @staticmethod
    def _read_token(response, method: str, url: str) -> tuple:
        if response.status_code != 200:
            body = response.raw.read(64 * 1024, decode_content=True) if response.raw else b""
            response.close()
            hint = "check the username and password" if response.status_code in (401, 403) else None
            raise http_error(method, url.split("?", 1)[0], response.status_code, response.reason,
                             body, hint=("token request: " + hint) if hint else "token request")
        try:
            data = json.loads(response.content.decode("utf-8"))
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError, UnicodeDecodeError):
            token, data = None, {}
        if not token or not isinstance(token, str):
            raise RegistryError("%s %s returned no usable token (expected JSON with 'token' or "
                                "'access_token')" % (method, url.split("?", 1)[0]), method=method,
                                url=url.split("?", 1)[0], status=response.status_code)
        try:
            lifetime = int(data.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, max(lifetime, 1)
