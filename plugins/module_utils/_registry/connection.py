# Private to the drc.registry collection: no compatibility promise for other collections.
"""RegistryConnection: one registry = its options, the ping and scheme fallback, the auth loop,
``request()`` with an optional body, bounded reads and one ``paginate()`` for every Link-paged list.

Operations (tags.py, manifests.py, blobs.py, ...) are functions on a connection; a copy holds two.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from urllib.parse import urljoin

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import (
    Authenticator, parse_challenges)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    parse_decimal_header)
from ansible_collections.drc.registry.plugins.module_utils._registry.hosts import (
    as_http, check_target, fallback_note, may_fall_back_to_http)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    MAX_ERROR_BODY, PingFailed, RegistryError, http_error, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    DEFAULT_INDEX, registry_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    ANSWER_ERRORS, Transport, describe_answer_error, read_error_body, release)

try:
    import requests
    import urllib3
    BODY_CUT_SHORT = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError,
                      urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
                      http.client.IncompleteRead)
except ImportError:  # the adapters report the missing library before a connection is made
    requests = urllib3 = None
    BODY_CUT_SHORT = ()

RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining")
DEFAULT_MAX_PAGES = 10000


@dataclass(frozen=True)
class ConnectionOptions:
    """Everything one connection needs, explicit: a copy builds one per side.

    ``credentials`` are already bound to ``registry`` (see credentials.py); nothing here decides
    which registry gets them.
    """

    registry: str = DEFAULT_INDEX
    scheme: str = "https"
    scheme_written: bool = False
    credentials: Credentials = field(default_factory=Credentials)
    validate_certs: bool = True
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    timeout: float = 30.0
    retries: int = 3
    pool_size: int = 10
    # A registry token obtained elsewhere, sent as-is to this registry only; an http(s) proxy URL,
    # which may carry a password. Neither is ever shown.
    bearer_token: str | None = field(default=None, repr=False)
    proxy: str | None = field(default=None, repr=False)

    def sharing_key(self) -> tuple:
        """Equal for options that may share one connection (and its token cache): the same
        registry, scheme and bound credentials."""
        return (self.registry, self.scheme, self.scheme_written, self.credentials.binding())

    @property
    def api_url(self) -> str:
        return registry_url({"name": self.registry, "official": self.registry == DEFAULT_INDEX,
                             "scheme": self.scheme})


def both_attempts_failed(https_error: RegistryError, http_failure: str) -> RegistryError:
    """A loopback registry tried over https, then plain http: one error naming both attempts."""
    return RegistryError("%s; then, as the registry is on loopback, over plain http: %s"
                         % (https_error, http_failure), method=https_error.method,
                         url=https_error.url)


class BodyCutShort(RegistryError):
    """The server closed or broke the connection before the whole body arrived."""


def read_bounded(response, limit: int, what: str) -> bytes:
    """Read a streamed body, refusing more than ``limit`` bytes and reporting a cut body."""
    declared = parse_decimal_header(response.headers.get("Content-Length"))
    if declared is not None and declared > limit:
        response.close()
        raise RegistryError("%s is %s bytes, more than the %d bytes allowed" % (what, declared, limit))
    chunks, total = [], 0
    try:
        for chunk in response.iter_content(65536):
            total += len(chunk)
            if total > limit:
                response.close()
                raise RegistryError("%s is more than the %d bytes allowed" % (what, limit))
            chunks.append(chunk)
    except BODY_CUT_SHORT as exc:
        response.close()
        raise BodyCutShort("%s was cut short after %d bytes (%s)" % (what, total, type(exc).__name__))
    except ANSWER_ERRORS as exc:
        response.close()
        raise RegistryError("GET %s: %s cannot be read: %s" % (redact_url(response.url), what,
                                                               describe_answer_error(exc)),
                            method="GET", url=response.url)
    return b"".join(chunks)


def challenge_headers(response) -> list:
    """Every WWW-Authenticate header of a response (registries may send several)."""
    raw_headers = getattr(response.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "getlist"):
        return raw_headers.getlist("WWW-Authenticate")
    value = response.headers.get("WWW-Authenticate")
    return [value] if value else []


class RegistryConnection:
    """One registry: pooled HTTP, authentication and the few rules every operation shares."""

    def __init__(self, options: ConnectionOptions, log=None, warn=None, retry_policy=None) -> None:
        self.options = options
        self.base_url = options.api_url
        self.log = log or (lambda msg: None)
        self.warn = warn or (lambda msg: None)
        self.retries = options.retries
        self.transport = Transport(validate_certs=options.validate_certs, ca_path=options.ca_path,
                                   client_cert=options.client_cert, client_key=options.client_key,
                                   timeout=options.timeout, retries=options.retries,
                                   pool_size=options.pool_size, log=self.log,
                                   retry_policy=retry_policy, proxy=options.proxy)
        self.auth = Authenticator(self.transport, options.credentials, log=self.log,
                                  registry_url=self.base_url, bearer_token=options.bearer_token)
        self.api_version = None
        self.rate_limit: dict = {}
        self._pinged = False
        self._ping_lock = threading.Lock()

    @property
    def registry(self) -> str:
        return self.options.registry

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "RegistryConnection":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def url(self, path: str) -> str:
        """An API path (``/v2/...``) on this registry, or an absolute URL it gave us, unchanged."""
        return self.base_url + path if path.startswith("/") else path

    # -- ping and scheme ---------------------------------------------------------------------------
    def ping(self) -> dict:
        """GET /v2/: learn how the registry wants to be authenticated (and, on loopback, the scheme)."""
        try:
            response = self._send_ping()
        except RegistryError as exc:
            if not may_fall_back_to_http(exc, self.base_url, self.options.scheme_written):
                raise
            # Docker's rule: a loopback registry without TLS is reached over plain http.
            self.log(fallback_note(self.base_url, exc))
            self.base_url = as_http(self.base_url)
            try:
                response = self._send_ping()
            except RegistryError as http_exc:
                raise both_attempts_failed(exc, str(http_exc))
            if response.status_code not in (200, 401):
                release(response)
                # not a registry over http either: both attempts are named, the https one first
                raise both_attempts_failed(exc, "GET %s answered %d %s" % (
                    self.url("/v2/"), response.status_code, response.reason))
        self.api_version = response.headers.get("Docker-Distribution-API-Version")
        status = response.status_code
        if status == 401:
            self.auth.set_challenges(parse_challenges(challenge_headers(response)),
                                     response.url, self.base_url)
        elif status != 200:
            body = read_error_body(response, MAX_ERROR_BODY)
            release(response)
            hint = "is this a Docker/OCI registry?" if not self.api_version else None
            error = http_error("GET", self.url("/v2/"), status, response.reason, body, hint=hint)
            raise PingFailed(str(error), method="GET", url=self.url("/v2/"), status=status,
                             errors=error.errors)
        release(response)
        self._pinged = True
        return {"api_version": self.api_version,
                "auth": self.auth.challenge.scheme if self.auth.challenge else None}

    def _send_ping(self):
        return self.transport.request("GET", self.url("/v2/"), stream=True)

    def ensure_pinged(self) -> None:
        if not self._pinged:
            with self._ping_lock:
                if not self._pinged:
                    self.ping()

    def hint_scopes(self, scopes: list) -> None:
        """Scopes that later requests will need: one token can then cover them all."""
        self.auth.hint_scopes(scopes)

    def prepare(self, scopes: list) -> None:
        """Ping and get the credentials for ``scopes`` now, ahead of the requests that will need
        them (as the first of those requests would: the same ping, the same token)."""
        self.ensure_pinged()
        self.auth.authorization(scopes)

    def _record_rate_limit(self, response) -> None:
        for name in RATE_LIMIT_HEADERS:
            if name in response.headers:
                self.rate_limit[name.replace("-", "_")] = response.headers[name]

    # -- requests ----------------------------------------------------------------------------------
    def request(self, method: str, path: str, scopes: list, headers: dict | None = None,
                body=None, ok: tuple = (200,), what: str | None = None):
        """An authenticated API call; returns a streamed response whose status is in ``ok``.

        ``path`` is an API path (``/v2/...``, resolved against the registry once the ping has
        settled its scheme) or an absolute URL the registry gave (a Link or Location header).
        ``body`` is bytes (re-sent on a retry or after a new token) or a file-like object / an
        iterator (sent once: such a request is never retried).
        """
        self.ensure_pinged()
        url = self.url(path)
        if not path.startswith("/"):  # a URL the registry gave: an upload Location, a Link page
            check_target(self.base_url, url, "the URL")
        headers = dict(headers or {})
        replayable = body is None or isinstance(body, (bytes, bytearray))
        refreshed = False
        while True:
            authorization = self.auth.authorization(scopes, refresh=refreshed)
            if authorization:
                headers["Authorization"] = authorization
            response = self.transport.request(method, url, headers=headers, stream=True, data=body,
                                              credential_url=self.base_url, retry=replayable)
            self._record_rate_limit(response)
            if response.status_code == 401 and not refreshed and replayable:
                retry_scopes = self.auth.on_unauthorized(
                    parse_challenges(challenge_headers(response)), scopes, response.url,
                    self.base_url)
                if retry_scopes is not None:
                    release(response)
                    scopes, refreshed = retry_scopes, True
                    continue
            if response.status_code in ok:
                return response
            raise self.error_from(method, url, response, what)

    def error_from(self, method: str, url: str, response, what: str | None = None) -> RegistryError:
        """Read (at most 64 KiB of) an unexpected answer and turn it into a RegistryError."""
        body = b"" if method == "HEAD" else read_error_body(response, MAX_ERROR_BODY)
        release(response)
        return http_error(method, url, response.status_code, response.reason, body,
                          hint=self._hint(response.status_code, what))

    def get_bounded(self, path: str, scopes: list, limit: int, what: str,
                    headers: dict | None = None) -> tuple:
        """GET a body of at most ``limit`` bytes: (bytes, response).

        A body cut short is fetched again (the GET is idempotent) up to ``retries`` times, then
        reported in one line.
        """
        attempts = max(self.retries, 0) + 1
        for attempt in range(attempts):
            response = self.request("GET", path, scopes, headers=headers, what=what)
            try:
                return read_bounded(response, limit, what), response
            except BodyCutShort as exc:
                if attempt + 1 >= attempts:
                    raise RegistryError("GET %s failed: %s, %d times" % (
                        redact_url(response.url), exc, attempts), method="GET", url=response.url)
                self.log("GET %s: %s; fetching it again" % (redact_url(response.url), exc))
        raise AssertionError("unreachable")

    def paginate(self, path: str, scopes: list, what: str, limit_per_page: int,
                 max_pages: int = DEFAULT_MAX_PAGES, max_total: int | None = None):
        """Yield the JSON object of each page of a ``Link``-paged list (tags, catalog).

        ``Link: <url>; rel="next"`` is followed exactly as given (cursors are opaque). Pages are
        bounded in size and count, and their sum by ``max_total`` bytes.
        """
        total = 0
        for _page in range(max_pages):
            body, response = self.get_bounded(path, scopes, limit_per_page, what)
            total += len(body)
            if max_total is not None and total > max_total:
                raise RegistryError("%s is more than the %d bytes allowed in all" % (what, max_total))
            try:
                data = parse_json(body)
            except (ValueError, UnicodeDecodeError):
                data = None
            if not isinstance(data, dict):
                raise RegistryError("GET %s returned %s that is not a JSON object"
                                    % (redact_url(response.url), what),
                                    method="GET", url=response.url)
            yield data
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            path = urljoin(response.url, next_url)
        raise RegistryError("%s stopped after %d pages" % (what, max_pages))

    def _hint(self, status: int, what: str | None) -> str | None:
        if status == 401 and self.auth.bearer_token:
            return "the registry %s refused the bearer_token (expired, or not valid for this)" % (
                self.registry)
        if status == 401:
            creds = self.auth.credentials
            if creds.username is None and creds.identity_token is None:
                return "authentication required: no credentials were found for %s" % self.registry
            return "authentication failed for %s with credentials from %s" % (
                self.registry, creds.source)
        if status == 403:
            return "the credentials are not allowed to do this"
        if status == 404 and what:
            return "%s not found" % what
        return None
