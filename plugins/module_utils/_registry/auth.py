# Private to the drc.registry collection: no compatibility promise for other collections.
"""WWW-Authenticate parsing, Basic and Bearer flows, the token cache and scopes.

Also whom a challenge may come from (the registry's own origin) and which token realms may
receive the registry's credentials (see docs/security.md).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from urllib.parse import urlencode

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, http_error, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.hosts import (
    resolve_addresses, target_refusal)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    ANSWER_ERRORS, read_error_body, same_origin)

CLIENT_ID = "drc.registry"
DEFAULT_TOKEN_LIFETIME = 60
# Renew this long before the registry's stated expiry, so a token does not die in flight.
EXPIRY_MARGIN = 5
# A token answer is a small JSON object; real JWTs are a few KiB.
MAX_TOKEN_BODY = 1024 * 1024
# However long the token server says a token lives, it is asked again after a day.
MAX_TOKEN_LIFETIME = 24 * 3600

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


def realm_refusal(registry_url: str, realm: str, resolve=resolve_addresses) -> str | None:
    """Why the registry at ``registry_url`` may not send its credentials to ``realm``; None if it may
    (the rule of hosts.py for every URL a registry names)."""
    return target_refusal(registry_url, realm, "the realm", resolve)


def check_realm(registry_url: str, realm: str, resolve=resolve_addresses) -> None:
    reason = realm_refusal(registry_url, realm, resolve)
    if reason:
        raise RegistryError("refusing the token realm %s that %s named: %s" % (
            redact_url(realm), redact_url(registry_url), reason))


def check_challenge_source(challenge_url: str | None, registry_url: str | None) -> None:
    """A challenge counts only from the registry's own origin, never from a redirect target."""
    if challenge_url and registry_url and not same_origin(challenge_url, registry_url):
        raise RegistryError(
            "%s answered 401 after a redirect from the registry %s: refusing its authentication "
            "challenge, only the registry itself may ask for credentials" % (
                redact_url(challenge_url), redact_url(registry_url)),
            url=challenge_url, status=401)


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

    def __init__(self, transport, credentials, log=None, registry_url: str | None = None,
                 resolve=resolve_addresses, bearer_token: str | None = None) -> None:
        self.transport = transport
        self.credentials = credentials
        # A token obtained elsewhere (the bearer_token option): sent as-is with every request to
        # the registry, never to a realm (no token is ever requested with it).
        self.bearer_token = bearer_token
        self.log = log or (lambda msg: None)
        # The registry the challenges came from: its token realm is checked against it.
        self.registry_url = registry_url
        self.resolve = resolve
        self._realms_checked: set = set()
        self.challenge: Challenge | None = None
        self.hinted_scopes: list = []
        self._tokens: dict = {}  # (realm, service) -> list of (scopes, token, expires_at)
        self._lock = threading.Lock()

    # -- what the registry asked for --------------------------------------------------------
    def _accept_source(self, challenge_url: str | None, registry_url: str | None) -> None:
        check_challenge_source(challenge_url, registry_url)
        if registry_url:
            self.registry_url = registry_url

    def set_challenges(self, challenges: list, challenge_url: str | None = None,
                       registry_url: str | None = None) -> None:
        """Remember the preferred challenge from a ping: Bearer over Basic.

        ``challenge_url`` is where the 401 came from; it must be the registry (``registry_url``).
        """
        self._accept_source(challenge_url, registry_url)
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
        if self.bearer_token:
            return "Bearer " + self.bearer_token
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

    def on_unauthorized(self, challenges: list, scopes: list, challenge_url: str | None = None,
                        registry_url: str | None = None) -> list | None:
        """After a 401: adopt its challenge; return the scopes to retry with, or None to give up.

        A 401 from anywhere but the registry (a CDN a redirect led to) raises RegistryError.
        """
        self._accept_source(challenge_url, registry_url)
        if self.bearer_token:
            return None  # the given token was refused: there is nothing else to try
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
        if self.registry_url and (self.registry_url, realm) not in self._realms_checked:
            check_realm(self.registry_url, realm, self.resolve)
            self._realms_checked.add((self.registry_url, realm))
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
        response = self.transport.request("GET", url, headers=headers, credential_url=realm,
                                          stream=True)
        return self._read_token(response, "GET", url)

    def _oauth_token(self, realm: str, service: str, scopes: list) -> tuple | None:
        """Identity tokens are exchanged with the OAuth2 POST; None means fall back to GET."""
        form = {"grant_type": "refresh_token", "refresh_token": self.credentials.identity_token,
                "service": service, "client_id": CLIENT_ID, "scope": " ".join(scopes)}
        response = self.transport.request(
            "POST", realm, data=form, credential_url=realm, idempotent=True, stream=True,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if response.status_code in (404, 405, 400):
            response.close()
            self.log("the token endpoint has no OAuth2 POST; falling back to GET")
            return None
        return self._read_token(response, "POST", realm)

    @staticmethod
    def _read_token(response, method: str, url: str) -> tuple:
        if response.status_code != 200:
            body = read_error_body(response, 64 * 1024)
            response.close()
            hint = "check the username and password" if response.status_code in (401, 403) else None
            raise http_error(method, url.split("?", 1)[0], response.status_code, response.reason,
                             body, hint=("token request: " + hint) if hint else "token request")
        try:
            body = response.raw.read(MAX_TOKEN_BODY + 1, decode_content=True)
        except (OSError, ValueError) + ANSWER_ERRORS as exc:  # cut short, or not decodable
            response.close()
            raise RegistryError("%s %s: the token answer was cut short or cannot be decoded (%s)" % (
                method, url.split("?", 1)[0], type(exc).__name__), method=method,
                url=url.split("?", 1)[0])
        response.close()
        if len(body) > MAX_TOKEN_BODY:
            raise RegistryError("%s %s: the token answer is more than the %d bytes allowed" % (
                method, url.split("?", 1)[0], MAX_TOKEN_BODY), method=method, url=url.split("?", 1)[0])
        try:
            data = parse_json(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError, UnicodeDecodeError):
            token, data = None, {}
        if not token or not isinstance(token, str):
            raise RegistryError("%s %s returned no usable token (expected JSON with 'token' or "
                                "'access_token')" % (method, url.split("?", 1)[0]), method=method,
                                url=url.split("?", 1)[0], status=response.status_code)
        try:
            lifetime = int(data.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is infinity
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, min(max(lifetime, 1), MAX_TOKEN_LIFETIME)
