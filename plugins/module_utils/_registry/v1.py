# Private to the drc.registry collection: no compatibility promise for other collections.
"""The legacy Registry API v1, read side only, on its own small connection.

The flow of the v1 API (Docker's "index" and "registry" pair):

1. ``GET /v1/repositories/<repo>/images`` on the index, with ``X-Docker-Token: true`` and, when
   there are credentials, HTTP Basic. The index answers with ``X-Docker-Token`` (an opaque token)
   and ``X-Docker-Endpoints`` (the registry hosts that serve the repository's data).
2. On such an endpoint, ``Authorization: Token <token>``; the endpoint sets a session cookie,
   sent back with the later requests to that endpoint only.

Basic credentials go to the index only. An endpoint gets the token and its own cookie, nothing
else. A standalone registry (no endpoints header) is its own endpoint.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import re
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import basic_header
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    read_bounded)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    parse_decimal_header)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    MAX_ERROR_BODY, InputError, RegistryError, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.hosts import (
    as_http, fallback_note, inside_from_outside, may_fall_back_to_http, resolve_addresses)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    DOMAIN_RE, IMAGE_ID_RE)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    Transport, origin, read_error_body, release)

try:
    import requests
    import urllib3
except ImportError:  # the adapters report the missing library before a connection is made
    requests = urllib3 = None

# Same bounds as the v2 client: JSON bodies (tag maps, image JSON, ancestry, search pages) are
# read up to these sizes and refused beyond.
MAX_JSON_BODY = 16 * 1024 * 1024
MAX_PING_BODY = 64 * 1024
MAX_TOKEN_LENGTH = 8 * 1024
MAX_ENDPOINTS = 16
MAX_SEARCH_PAGES = 100
MAX_SEARCH_LIMIT = 100
LAYER_CHUNK = 1024 * 1024
DOCKER_HUB_INDEX = "https://index.docker.io"
CHECKSUM_HEADER = "X-Docker-Checksum-Payload"
SIZE_HEADER = "X-Docker-Size"
_CHECKSUM_RE = re.compile(r"sha256:[a-f0-9]{64}")  # fullmatch
_TOKEN_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]*")  # fullmatch


def validate_image_id(image_id, what: str = "image_id") -> str:
    if not isinstance(image_id, str) or not IMAGE_ID_RE.fullmatch(image_id):
        raise InputError("%s %r is not a v1 image id (64 lowercase hexadecimal characters)"
                         % (what, image_id))
    return image_id


def index_url_for(index: dict, base_url: str | None = None) -> str:
    """The v1 index of a registry: Docker Hub's is index.docker.io, any other is the host itself."""
    if index.get("official"):
        return DOCKER_HUB_INDEX
    return (base_url or "%s://%s" % (index["scheme"], index["name"])).rstrip("/")


class OriginCookiePolicy(http.cookiejar.DefaultCookiePolicy):
    """Cookies go back only to the host and port that set them (never to the rest of a
    ``Domain=``), and https ones only over https.

    Browsers' rules ignore the port, and the index and an endpoint may share a host: the
    registry's session cookie must not reach the index. Each accepted cookie is pinned to its
    port (the RFC 2965 ``Port`` attribute), which the standard policy then enforces; requests
    copies cookies with their attributes into every request's jar, so the pin survives.
    """

    def set_ok(self, cookie, request) -> bool:
        if not super().set_ok(cookie, request):
            return False
        # Host-only: a Domain= attribute would send the cookie to every host of that domain.
        cookie.domain = http.cookiejar.request_host(request)
        cookie.domain_specified = False
        cookie.domain_initial_dot = False
        cookie.port = http.cookiejar.request_port(request) or "80"
        cookie.port_specified = True
        if request.type == "https":
            cookie.secure = True
        return True

    def return_ok(self, cookie, request) -> bool:
        same_host = cookie.domain == http.cookiejar.request_host(request)
        return same_host and super().return_ok(cookie, request)


def v1_error(method: str, url: str, response, hint: str | None = None) -> RegistryError:
    """An error for an unexpected answer; v1 servers say why in ``{"error": "..."}``."""
    body = read_error_body(response, MAX_ERROR_BODY) if method != "HEAD" else b""
    release(response)
    message = ("%s %s failed: %d %s" % (method, redact_url(url), response.status_code,
                                        response.reason or "")).rstrip()
    errors = []
    try:
        data = parse_json(body.decode("utf-8", "replace"))
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"]:
        reason = data["error"][:500]
        errors.append({"code": "", "message": reason})
        message += ": " + reason
    if hint:
        message += " (%s)" % hint
    return RegistryError(message, method=method, url=url, status=response.status_code, errors=errors)


def parse_endpoints(value: str | None, scheme: str, index_host: str | None = None,
                    resolve=resolve_addresses) -> list:
    """``X-Docker-Endpoints: reg1.example, reg2.example:5000`` -> base URLs, in the index's scheme.

    An index on a public host may not send the token to an internal address (SSRF), by address
    or by a name that resolves to one: the rule of hosts.py.
    """
    if not value:
        return []
    out = []
    for item in value.split(",")[:MAX_ENDPOINTS]:
        host = item.strip()
        if not host:
            continue
        if not DOMAIN_RE.fullmatch(host):
            raise RegistryError("the index named a registry endpoint %r that is not a host with an "
                                "optional :port" % host[:200])
        hostname = urlsplit("//" + host).hostname or ""
        if index_host is not None and inside_from_outside(hostname, index_host, resolve):
            raise RegistryError("refusing the registry endpoint %s that the index %s named: an "
                                "internal address named by a public index" % (host, index_host))
        out.append("%s://%s" % (scheme, host))
    return out


def _json(body: bytes, url: str, what: str):
    try:
        return parse_json(body)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError("GET %s returned %s that is not JSON" % (redact_url(url), what),
                            method="GET", url=url)


class V1Repository:
    """What the index granted for one repository: the endpoints and the token to use there."""

    def __init__(self, name: str, endpoints: list, token: str | None) -> None:
        self.name = name
        self.endpoints = endpoints
        self.token = token


class V1Connection:
    """One v1 index (and the registry endpoints it names), read only."""

    def __init__(self, index_url: str, credentials, explicit_scheme: bool = True,
                 validate_certs: bool = True, ca_path: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None,
                 timeout: float = 30.0, retries: int = 3, log=None, warn=None,
                 proxy: str | None = None) -> None:
        self.index_url = index_url.rstrip("/")
        self.credentials = credentials
        self.explicit_scheme = explicit_scheme
        self.log = log or (lambda msg: None)
        self.warn = warn or (lambda msg: None)
        self.transport = Transport(validate_certs=validate_certs, ca_path=ca_path,
                                   client_cert=client_cert, client_key=client_key, timeout=timeout,
                                   retries=retries, pool_size=4, log=self.log, proxy=proxy)
        self.transport.session.cookies.set_policy(OriginCookiePolicy())
        self.repositories: dict = {}
        self.standalone = None
        self._pinged = False
        if getattr(credentials, "identity_token", None) and not getattr(credentials, "password", None):
            self.warn("the v1 API has no identity tokens: the request goes without credentials")

    def close(self) -> None:
        self.transport.close()

    # -- plumbing ----------------------------------------------------------------------------------
    def _basic(self) -> dict:
        creds = self.credentials
        if creds is not None and creds.username is not None and creds.password is not None:
            return {"Authorization": basic_header(creds.username, creds.password)}
        return {}

    def _get(self, url: str, headers: dict | None = None, credential_url: str | None = None,
             ok: tuple = (200,), hint=None):
        response = self.transport.request("GET", url, headers=headers, stream=True,
                                          credential_url=credential_url or url)
        if response.status_code not in ok:
            raise v1_error("GET", url, response, hint(response.status_code) if hint else None)
        return response

    def _auth_hint(self, status: int) -> str | None:
        if status == 401:
            if not self._basic():
                return "authentication required: no credentials were found for %s" % urlsplit(
                    self.index_url).netloc
            return "authentication failed for %s with credentials from %s" % (
                urlsplit(self.index_url).netloc, self.credentials.source)
        if status == 403:
            return "the credentials are not allowed to read this repository"
        return None

    # -- ping --------------------------------------------------------------------------------------
    def ping(self) -> dict:
        """GET /v1/_ping on the index; loopback hosts without a scheme fall back to http."""
        if self._pinged:
            return {"standalone": self.standalone}
        try:
            response = self._get(self.index_url + "/v1/_ping")
        except RegistryError as exc:
            if not may_fall_back_to_http(exc, self.index_url, self.explicit_scheme):
                raise
            self.log(fallback_note(self.index_url, exc))
            self.index_url = as_http(self.index_url)
            try:
                response = self._get(self.index_url + "/v1/_ping")
            except RegistryError:
                raise exc
        read_bounded(response, MAX_PING_BODY, "the v1 ping answer")
        release(response)
        self.standalone = response.headers.get("X-Docker-Registry-Standalone", "").lower() in (
            "true", "1")
        self._pinged = True
        return {"standalone": self.standalone,
                "version": response.headers.get("X-Docker-Registry-Version")}

    def has_v2(self) -> bool | None:
        """True/False when ``GET /v2/`` on the index says so (200/401 vs 404), None otherwise."""
        try:
            response = self.transport.request("GET", self.index_url + "/v2/", stream=True)
        except RegistryError:
            return None
        release(response)
        if response.status_code in (200, 401):
            return True
        return False if response.status_code == 404 else None

    # -- search ------------------------------------------------------------------------------------
    def search(self, query: str, limit: int = 25) -> list:
        """``GET /v1/search?q=&n=&page=``, page after page until ``limit`` results."""
        results: list = []
        page = 1
        with_credentials = False
        while len(results) < limit:
            if page > MAX_SEARCH_PAGES:
                raise RegistryError("search for %r stopped after %d pages" % (query, MAX_SEARCH_PAGES))
            url = "%s/v1/search?%s" % (self.index_url, urlencode(
                {"q": query, "n": min(limit, MAX_SEARCH_LIMIT), "page": page}))
            headers = self._basic() if with_credentials else {}
            try:
                response = self.transport.request("GET", url, headers=headers, stream=True)
            except RegistryError as exc:
                if page != 1 or results or not may_fall_back_to_http(exc, self.index_url,
                                                                     self.explicit_scheme):
                    raise
                self.log(fallback_note(self.index_url, exc))
                self.index_url = as_http(self.index_url)
                self.explicit_scheme = True
                continue
            if response.status_code == 401 and not with_credentials and self._basic():
                release(response)
                with_credentials = True  # anonymous first; credentials only when asked for
                continue
            if response.status_code != 200:
                raise v1_error("GET", url, response, self._auth_hint(response.status_code))
            data = _json(read_bounded(response, MAX_JSON_BODY, "a search page"), url, "a search page")
            release(response)
            items = data.get("results") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise RegistryError("GET %s returned a search page without a results list"
                                    % redact_url(url), method="GET", url=url)
            results.extend(search_entry(item) for item in items if isinstance(item, dict))
            pages = data.get("num_pages")
            if not items or (isinstance(pages, int) and page >= pages):
                break
            page += 1
        return results[:limit]

    # -- the index: token and endpoints ------------------------------------------------------------
    def open_repository(self, name: str) -> V1Repository:
        if name in self.repositories:
            return self.repositories[name]
        self.ping()
        url = "%s/v1/repositories/%s/images" % (self.index_url, quote(name, safe="/"))
        headers = {"X-Docker-Token": "true"}
        headers.update(self._basic())
        response = self._get(url, headers=headers, credential_url=self.index_url,
                             hint=lambda status: self._auth_hint(status) or (
                                 "repository %s not found" % name if status == 404 else None))
        read_bounded(response, MAX_JSON_BODY, "the image list of %s" % name)
        release(response)
        token = response.headers.get("X-Docker-Token")
        if token is not None:
            token = token.strip()
            if not token or len(token) > MAX_TOKEN_LENGTH or not _TOKEN_RE.fullmatch(token):
                raise RegistryError("the index sent an X-Docker-Token for %s that cannot be used "
                                    "(empty, too long or with control characters)" % name)
        scheme = urlsplit(self.index_url).scheme
        endpoints = parse_endpoints(response.headers.get("X-Docker-Endpoints"), scheme,
                                    urlsplit(self.index_url).hostname or "")
        if not endpoints:
            endpoints = [self.index_url]  # a standalone registry is its own endpoint
        self.log("v1 index granted %s on %s (%s)" % (
            name, ", ".join(endpoints), "with a token" if token else "without a token"))
        repository = V1Repository(name, endpoints, token)
        self.repositories[name] = repository
        return repository

    def _registry_get(self, repository: V1Repository, path: str, what: str,
                      headers: dict | None = None):
        """GET on the repository's endpoints, in order; the next one only when one is unreachable."""
        last = None
        for endpoint in repository.endpoints:
            send = dict(headers or {})
            if repository.token:
                send["Authorization"] = "Token " + repository.token
            elif origin(endpoint) == origin(self.index_url):
                send.update(self._basic())  # standalone, no token: the index's own host
            url = endpoint + path
            try:
                return self._get(url, headers=send, credential_url=endpoint,
                                 hint=lambda status: "%s not found" % what if status == 404 else (
                                     "the registry endpoint refused the index's token"
                                     if status in (401, 403) else None))
            except RegistryError as exc:
                if exc.status is not None:
                    raise
                last = exc
                self.log("registry endpoint %s unreachable (%s)" % (endpoint, exc))
        raise last

    def _registry_json(self, repository: V1Repository, path: str, what: str):
        response = self._registry_get(repository, path, what)
        data = _json(read_bounded(response, MAX_JSON_BODY, what), response.url, what)
        release(response)
        return data, response.headers

    # -- reads -------------------------------------------------------------------------------------
    def tags(self, name: str) -> dict:
        """``{tag: image id}`` of a repository."""
        repository = self.open_repository(name)
        data, _headers = self._registry_json(
            repository, "/v1/repositories/%s/tags" % quote(name, safe="/"), "repository %s" % name)
        if isinstance(data, list):  # some old registries answered a list of {"name", "layer"}
            data = {item.get("name"): item.get("layer") for item in data if isinstance(item, dict)}
        if not isinstance(data, dict):
            raise RegistryError("the tag list of %s is not a JSON object" % name)
        out = {}
        for tag, image_id in data.items():
            if isinstance(tag, str) and isinstance(image_id, str) and IMAGE_ID_RE.fullmatch(image_id):
                out[tag] = image_id
        return out

    def tag(self, name: str, tag: str) -> str:
        repository = self.open_repository(name)
        data, _headers = self._registry_json(
            repository, "/v1/repositories/%s/tags/%s" % (quote(name, safe="/"), quote(tag, safe="")),
            "tag %s:%s" % (name, tag))
        if not isinstance(data, str) or not IMAGE_ID_RE.fullmatch(data):
            raise RegistryError("the registry answered tag %s:%s with something that is not an "
                                "image id" % (name, tag))
        return data

    def ancestry(self, name: str, image_id: str) -> list:
        repository = self.open_repository(name)
        data, _headers = self._registry_json(repository, "/v1/images/%s/ancestry" % image_id,
                                             "image %s" % image_id)
        if not isinstance(data, list) or not all(
                isinstance(item, str) and IMAGE_ID_RE.fullmatch(item) for item in data):
            raise RegistryError("the ancestry of image %s is not a list of image ids" % image_id)
        return data

    def image_json(self, name: str, image_id: str) -> tuple:
        """(the image's JSON, its layer checksum or None, its layer size or None)."""
        repository = self.open_repository(name)
        data, headers = self._registry_json(repository, "/v1/images/%s/json" % image_id,
                                            "image %s" % image_id)
        if not isinstance(data, dict):
            raise RegistryError("the JSON of image %s is not a JSON object" % image_id)
        return data, layer_checksum(headers), layer_size(headers)

    def fetch_layer(self, name: str, image_id: str, out, checksum: str | None = None,
                    size: int | None = None) -> dict:
        """Stream a layer into a binary file object in constant memory; verify when we can."""
        repository = self.open_repository(name)
        response = self._registry_get(repository, "/v1/images/%s/layer" % image_id,
                                      "the layer of image %s" % image_id)
        checksum = layer_checksum(response.headers) or checksum
        limit = size if size is not None else parse_decimal_header(response.headers.get("Content-Length"))
        hasher = hashlib.sha256()
        written = 0
        try:
            for chunk in response.raw.stream(LAYER_CHUNK, decode_content=False):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise RegistryError("the layer of image %s is larger than the %d bytes declared"
                                        % (image_id, limit))
                hasher.update(chunk)
                out.write(chunk)
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as exc:
            response.close()
            raise RegistryError("GET %s failed: the download was interrupted after %d bytes (%s)" % (
                redact_url(response.url), written, type(exc).__name__), method="GET", url=response.url)
        finally:
            release(response)
        if size is not None and written != size:
            raise RegistryError("the layer of image %s is %d bytes, not the %d bytes declared"
                                % (image_id, written, size))
        actual = "sha256:" + hasher.hexdigest()
        if checksum and actual != checksum:
            raise RegistryError("the layer of image %s hashes to %s, not the %s the registry gave: "
                                "refusing it" % (image_id, actual, checksum))
        return {"checksum": actual, "size": written, "verified": bool(checksum)}


def layer_checksum(headers) -> str | None:
    """The layer's ``sha256:<hex>`` from X-Docker-Checksum-Payload (tarsums cannot be checked)."""
    for value in (headers.get(CHECKSUM_HEADER) or "").split(","):
        value = value.strip().lower()
        if _CHECKSUM_RE.fullmatch(value):
            return value
    return None


def layer_size(headers) -> int | None:
    """The stored layer's size from X-Docker-Size (the JSON's ``Size`` is the unpacked size)."""
    return parse_decimal_header(headers.get(SIZE_HEADER))


def search_entry(item: dict) -> dict:
    """One search result with the five documented keys, typed."""
    def count(value):
        return value if isinstance(value, int) and not isinstance(value, bool) else 0
    return {
        "name": str(item.get("name", "")),
        "description": str(item.get("description") or ""),
        "star_count": count(item.get("star_count")),
        "is_official": item.get("is_official") is True,
        "is_automated": item.get("is_automated") is True,
    }
