# Private to the drc.registry collection: no compatibility promise for other collections.
"""HTTP transport: one pooled requests.Session, TLS, timeouts, retries and a safe redirect policy.

Knows nothing of registries or tokens: callers hand it headers and say which origin may receive
their Authorization header.
"""

from __future__ import annotations

import email.utils
import http.client
import os
import random
import re
import ssl
import threading
import time
import traceback
from urllib.parse import urljoin

from ansible_collections.drc.registry.plugins.module_utils._registry.digests import parse_decimal_header
from ansible_collections.drc.registry.plugins.module_utils._registry.version import COLLECTION_VERSION
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.proxies import proxy_name

try:
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter
    from requests.utils import DEFAULT_CA_BUNDLE_PATH
    from urllib3.util import parse_url
    from urllib3.util.ssl_ import create_urllib3_context
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
    # What a broken answer raises besides a lost connection: a URL urllib3 refuses (InvalidURL),
    # Content-Length values that disagree (InvalidHeader), a Content-Encoding over bytes that do not
    # decode (ContentDecodingError, urllib3's DecodeError when read from response.raw).
    ANSWER_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                     http.client.HTTPException)
except ImportError:  # reported by the module adapter with missing_required_lib
    requests = urllib3 = parse_url = create_urllib3_context = DEFAULT_CA_BUNDLE_PATH = None
    ANSWER_ERRORS = ()
    HTTPAdapter = object
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

USER_AGENT = "drc.registry/%s (Ansible collection)" % COLLECTION_VERSION

RETRY_STATUSES = frozenset((408, 429, 500, 502, 503, 504))
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS"))
REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 10
# A response body left unread up to this size is drained so that its connection can be reused.
DRAIN_LIMIT = 64 * 1024


def release(response) -> None:
    """Give a response's connection back to the pool; a large unread rest closes it instead.

    (requests' Response.close() closes the socket of a streamed response whose body was not
    consumed through requests, which would cost a new TCP and TLS handshake per request.)
    """
    raw = getattr(response, "raw", None)
    if raw is None or not hasattr(raw, "release_conn"):
        response.close()
        return
    try:
        if raw.read(DRAIN_LIMIT, decode_content=False) and raw.read(1, decode_content=False):
            raw.close()
        else:
            raw.release_conn()
    except (OSError, urllib3.exceptions.HTTPError, requests.exceptions.RequestException):
        raw.close()


def read_error_body(response, limit: int) -> bytes:
    """Up to ``limit`` bytes of an error answer, for its message; an unreadable one is no body."""
    try:
        return response.raw.read(limit, decode_content=True) if response.raw is not None else b""
    except (OSError, ValueError) + ANSWER_ERRORS:
        return b""


def describe_answer_error(exc: Exception) -> str:
    """A short reason for one of ANSWER_ERRORS; never its text, which may hold a signed URL."""
    if isinstance(exc, (requests.exceptions.InvalidURL, urllib3.exceptions.LocationValueError)):
        return "the URL is not one urllib3 accepts (a port outside 1..65535, a label of more than 63 characters?)"
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return "the answer's headers are malformed (Content-Length values that disagree?)"
    if isinstance(exc, (requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError)):
        return "the answer's body does not decode as its Content-Encoding says"
    return "a malformed answer (%s)" % type(exc).__name__


class RetryPolicy:
    """Which failures to retry and how long to wait: bounded, exponential, jittered."""

    def __init__(self, retries: int = 3, base_delay: float = 0.5, max_delay: float = 30.0,
                 retry_after_cap: float = 60.0) -> None:
        self.retries = max(0, int(retries))
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.retry_after_cap = retry_after_cap

    def should_retry(self, method: str, attempt: int, status: int | None = None,
                     idempotent: bool | None = None) -> bool:
        """``attempt`` counts from 0; status None means a connection error."""
        if attempt >= self.retries:
            return False
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        if not idempotent:
            return False
        return status is None or status in RETRY_STATUSES

    def delay(self, attempt: int, retry_after: str | None = None, now: float | None = None) -> float:
        waited = parse_retry_after(retry_after, now)
        if waited is not None:
            return min(waited, self.retry_after_cap)
        backoff = min(self.max_delay, self.base_delay * (2 ** attempt))
        return backoff / 2 + random.uniform(0, backoff / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    seconds = parse_decimal_header(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def origin(url: str) -> tuple:
    """(scheme, host, port) as the connection will see it.

    Parsed with urllib3's parser, the one requests opens connections with: deciding "same host"
    with another parser (urllib.parse) lets a URL such as ``http://a\\@b/`` name b to the check
    and a to the socket.
    """
    try:
        parts = parse_url(url)
    except (ValueError, urllib3.exceptions.LocationParseError):
        return ("", "", None)
    scheme = (parts.scheme or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.host or "").lower().strip("[]"), port


def same_origin(first: str, second: str) -> bool:
    return origin(first) == origin(second)


def check_url(url: str, what: str = "URL") -> None:
    """Refuse a URL that URL parsers may read differently: a backslash, userinfo, controls."""
    if "\\" in url:
        raise RegistryError("refusing %s %s: it contains a backslash, which URL parsers read "
                            "differently" % (what, redact_url(url.replace("\\", "%5C"))))
    if any(ord(char) < 0x21 or ord(char) == 0x7f for char in url):
        raise RegistryError("refusing %s with a space or control character in it" % what)
    authority = url.split("://", 1)[1] if "://" in url else ""
    authority = re.split(r"[/?#]", authority, maxsplit=1)[0]
    if "@" in authority:
        raise RegistryError("refusing %s %s: it carries user information (user@host), which "
                            "URL parsers read differently" % (what, redact_url(
                                url.split("://", 1)[0] + "://" + authority.rsplit("@", 1)[-1])))


def redirect_target(current_url: str, location: str | None) -> str:
    """Resolve a Location header; refuse to leave https for plain http, and ambiguous URLs."""
    if not location:
        raise RegistryError("%s answered a redirect without a Location header" % redact_url(current_url))
    check_url(location, "a redirect from %s to" % redact_url(current_url))
    target = urljoin(current_url, location)
    check_url(target, "a redirect from %s to" % redact_url(current_url))
    if origin(current_url)[0] == "https" and origin(target)[0] != "https":
        raise RegistryError("refusing a redirect from https to %s: %s -> %s" % (
            origin(target)[0] or "an unknown scheme", redact_url(current_url), redact_url(target)))
    return target


def describe_connection_error(exc: Exception) -> str:
    """A short, secret-free reason for a requests exception."""
    text = repr(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        detail = re.search(r"certificate verify failed: ([^'\")(]+)", text)
        return "TLS certificate verification failed%s (give the CA with ca_path, or set " \
               "validate_certs=false)" % (": " + detail.group(1).strip() if detail else "")
    if "SSLError" in text or "SSL" in type(exc).__name__:
        return "TLS handshake failed (is this an https endpoint?)"
    if requests is not None and isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    if requests is not None and isinstance(exc, requests.exceptions.ReadTimeout):
        return "timed out waiting for the answer (read timeout)"
    tunnel = re.search(r"Tunnel connection failed: ([^'\")(]+)", text)
    if tunnel:
        return "tunnel connection failed: " + tunnel.group(1).strip()
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno.group(1).strip()
    for needle in ("Connection refused", "Name or service not known", "Connection reset",
                   "RemoteDisconnected", "IncompleteRead", "Connection aborted"):
        if needle in text:
            return needle
    return type(exc).__name__


def tls_context(validate_certs: bool = True, ca_path: str | None = None,
                client_cert: str | None = None, client_key: str | None = None) -> ssl.SSLContext:
    """The one SSLContext every https connection of a Transport uses.

    Built as urllib3 builds its own (same protocol floor, options and hostname checks), trusting
    ``ca_path`` (a file or a directory) or else requests' CA bundle, as ``verify`` did. Raises
    RegistryError naming the file that cannot be loaded.
    """
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if validate_certs else ssl.CERT_NONE)
    if validate_certs:
        context.check_hostname = True
        bundle = ca_path or DEFAULT_CA_BUNDLE_PATH
        try:
            if os.path.isdir(bundle):
                context.load_verify_locations(capath=bundle)
            else:
                context.load_verify_locations(cafile=bundle)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise RegistryError("cannot load the CA certificates %s%s: %s" % (
                "of ca_path " if ca_path else "", bundle, getattr(exc, "strerror", None) or exc))
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        try:
            context.load_cert_chain(client_cert, client_key)
        except (OSError, ValueError) as exc:
            raise RegistryError("cannot load the client certificate %s%s: %s" % (
                client_cert, " with the key %s" % client_key if client_key else "",
                getattr(exc, "strerror", None) or exc))
    return context


# requests 2.32 added the hook that lets an adapter hand urllib3 its own SSLContext. On older
# requests (distribution packages: 2.25 to 2.31) the adapter would be silently bypassed, and
# ca_path, validate_certs and client_cert with it: there, every request carries them as before.
SHARED_CONTEXT = hasattr(HTTPAdapter, "build_connection_pool_key_attributes")


class SharedContextAdapter(HTTPAdapter):
    """An HTTPAdapter whose https connections all use one SSLContext, built on first use.

    requests otherwise builds a context per new connection and loads the CA bundle (certifi's, or
    ``ca_path``) and the client certificate into it each time.
    """

    def __init__(self, context_factory, **kwargs) -> None:
        self._context_factory = context_factory
        self._context = None
        self._context_lock = threading.Lock()
        super().__init__(**kwargs)

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            with self._context_lock:
                if self._context is None:
                    self._context = self._context_factory()
        return self._context

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, dummy = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") != "https":
            return host_params, {}
        context = self.ssl_context()
        # urllib3 sets the context's verify_mode from cert_reqs on every connection: keep them equal.
        return host_params, {"ssl_context": context,
                             "cert_reqs": "CERT_REQUIRED" if context.verify_mode == ssl.CERT_REQUIRED else "CERT_NONE"}

    def cert_verify(self, conn, url, verify, cert) -> None:
        """Nothing per connection: the shared context holds the CA certificates and the client's."""


class Transport:
    """One requests.Session per client: connection reuse, TLS settings, retries, redirects."""

    def __init__(self, validate_certs: bool = True, ca_path: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None,
                 timeout: float = 30.0, retries: int = 3, pool_size: int = 10, log=None,
                 retry_policy: RetryPolicy | None = None, proxy: str | None = None) -> None:
        self.timeout = timeout
        # The task's proxy, for every request (the environment and NO_PROXY are then not read).
        self.proxy = proxy
        self.policy = retry_policy or RetryPolicy(retries)
        self.log = log or (lambda msg: None)
        session = requests.Session()
        # One SSLContext for every connection (tls_context: ca_path, or requests' CA bundle; never
        # REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE from the environment, which would replace ca_path).
        pool = dict(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        self._check_tls_files = None
        if SHARED_CONTEXT:
            adapter = SharedContextAdapter(
                lambda: tls_context(validate_certs, ca_path, client_cert, client_key), **pool)
            self.verify = bool(validate_certs)
        else:
            # Passed with every request: an explicit verify wins over REQUESTS_CA_BUNDLE.
            adapter = HTTPAdapter(**pool)
            self.verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)
            if client_cert:
                session.cert = (client_cert, client_key) if client_key else client_cert
            self._check_tls_files = lambda: tls_context(validate_certs, ca_path, client_cert, client_key)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.adapter = adapter
        session.headers["User-Agent"] = USER_AGENT
        # The environment is read once per origin (proxies), not on every request; and ~/.netrc
        # never adds credentials of its own, to the registry or to a host a redirect points at.
        session.trust_env = False
        self._proxies: dict = {}
        self.session = session

    def close(self) -> None:
        self.session.close()

    def _proxies_for(self, url: str) -> dict:
        """HTTP(S)_PROXY and NO_PROXY from the environment, looked up once per origin."""
        if self.proxy:
            return {"http": self.proxy, "https": self.proxy}
        key = origin(url)
        if key not in self._proxies:
            self._proxies[key] = requests.utils.get_environ_proxies(url)
        return self._proxies[key]

    def _proxy_name(self, url: str) -> str:
        proxy = self._proxies_for(url).get(origin(url)[0])
        return proxy_name(proxy) if proxy else "(none)"

    def request(self, method: str, url: str, headers: dict | None = None,
                credential_url: str | None = None, stream: bool = False, data=None,
                idempotent: bool | None = None, retry: bool = True):
        """Send a request, following redirects and retrying what is temporary.

        ``Authorization`` in ``headers`` goes only to the origin of ``credential_url`` (default:
        ``url``). Returns the final requests.Response; the caller closes streamed ones.
        """
        if self._check_tls_files is not None and (url.lower().startswith("https:") or self.session.cert):
            self._check_tls_files()  # requests before 2.32 would raise a bare OSError for a missing file
            self._check_tls_files = None
        attempt = 0
        while True:
            try:
                response = self._follow(method, url, dict(headers or {}), credential_url or url,
                                        stream, data)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                reason = describe_connection_error(exc)
                if isinstance(exc, requests.exceptions.ProxyError):
                    reason = "through the proxy %s: %s" % (self._proxy_name(url), reason)
                permanent = isinstance(exc, requests.exceptions.SSLError)
                if retry and not permanent and self.policy.should_retry(method, attempt, None, idempotent):
                    wait = self.policy.delay(attempt)
                    self.log("%s %s: %s; retrying in %.1fs" % (method, redact_url(url), reason, wait))
                    time.sleep(wait)
                    attempt += 1
                    continue
                raise RegistryError("%s %s failed: %s" % (method, redact_url(url), reason),
                                    method=method, url=url)
            except ANSWER_ERRORS as exc:  # permanent: the same answer comes again
                raise RegistryError("%s %s failed: %s" % (method, redact_url(url), describe_answer_error(exc)),
                                    method=method, url=url)
            if retry and self.policy.should_retry(method, attempt, response.status_code, idempotent):
                wait = self.policy.delay(attempt, response.headers.get("Retry-After"))
                self.log("%s %s: %d %s; retrying in %.1fs" % (
                    method, redact_url(url), response.status_code, response.reason, wait))
                release(response)
                time.sleep(wait)
                attempt += 1
                continue
            return response

    def _follow(self, method: str, url: str, headers: dict, credential_url: str, stream: bool, data):
        # hosts.py imports this module: its rule is imported here, when a request is sent.
        from ansible_collections.drc.registry.plugins.module_utils._registry.hosts import target_refusal
        first_url = url
        trusted = origin(credential_url)
        addressed = origin(url)
        check_url(url)
        seen = set()
        for _hop in range(MAX_REDIRECTS + 1):
            if data is not None and origin(url) != addressed:
                # A request body (an OAuth2 refresh token) goes only where it was addressed.
                raise RegistryError("refusing to send the body of %s %s on to %s, where it was "
                                    "redirected: another host" % (method, redact_url(first_url),
                                                                  redact_url(url)),
                                    method=method, url=first_url)
            send = dict(headers)
            if origin(url) != trusted:
                send.pop("Authorization", None)
            response = self.session.request(method, url, headers=send, data=data, stream=stream,
                                            timeout=self.timeout, allow_redirects=False,
                                            verify=self.verify, proxies=self._proxies_for(url))
            if response.status_code not in REDIRECT_STATUSES:
                return response
            release(response)
            seen.add(url)
            target = redirect_target(url, response.headers.get("Location"))
            refusal = target_refusal(first_url, target, "the redirect target")
            if refusal:
                # The realm rule (hosts.py) for every hop: a public registry may not send us inside.
                raise RegistryError("refusing a redirect of %s %s to %s: %s" % (
                    method, redact_url(first_url), redact_url(target), refusal),
                    method=method, url=first_url)
            if target in seen:
                raise RegistryError("%s %s failed: redirect loop back to %s" % (
                    method, redact_url(url), redact_url(target)), method=method, url=url)
            if response.status_code == 303 and method != "HEAD":
                method, data = "GET", None
            url = target
        raise RegistryError("%s %s failed: more than %d redirects" % (
            method, redact_url(url), MAX_REDIRECTS), method=method, url=url)
