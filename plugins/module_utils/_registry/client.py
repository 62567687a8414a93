# Private to the drc.registry collection: no compatibility promise for other collections.
"""RegistryClient: one method per registry API operation, on one pooled session and token cache."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import threading
from urllib.parse import quote, urljoin

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import (
    Authenticator, parse_challenges, repository_scope)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    MAX_ERROR_BODY, RegistryError, http_error, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    MAX_MANIFEST_SIZE, Manifest, ManifestError, digest_of)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    registry_url, validate_digest, InvalidReference)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import Transport, release

try:
    import requests
    import urllib3
except ImportError:  # the adapters report the missing library before a client is made
    requests = urllib3 = None

MAX_CONFIG_SIZE = 16 * 1024 * 1024
MAX_TAG_PAGE_SIZE = 16 * 1024 * 1024
DEFAULT_MAX_PAGES = 10000
BLOB_CHUNK = 1024 * 1024
RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining")


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_limited(response, limit: int, what: str) -> bytes:
    """Read a streamed body, refusing more than ``limit`` bytes."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        response.close()
        raise RegistryError("%s is %s bytes, more than the %d bytes allowed" % (what, declared, limit))
    chunks, total = [], 0
    for chunk in response.iter_content(65536):
        total += len(chunk)
        if total > limit:
            response.close()
            raise RegistryError("%s is more than the %d bytes allowed" % (what, limit))
        chunks.append(chunk)
    return b"".join(chunks)


class RegistryClient:
    """A client for one registry. Two registries (a copy's source and destination) need two."""

    def __init__(self, index: dict, credentials, explicit_scheme: bool = False,
                 validate_certs: bool = True, ca_path: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None,
                 timeout: float = 30.0, retries: int = 3, pool_size: int = 10,
                 log=None, warn=None, retry_policy=None) -> None:
        self.index = index
        self.base_url = registry_url(index)
        self.explicit_scheme = explicit_scheme
        self.log = log or (lambda msg: None)
        self.warn = warn or (lambda msg: None)
        self.retries = retries
        self.transport = Transport(validate_certs=validate_certs, ca_path=ca_path,
                                   client_cert=client_cert, client_key=client_key, timeout=timeout,
                                   retries=retries, pool_size=pool_size, log=self.log,
                                   retry_policy=retry_policy)
        self.auth = Authenticator(self.transport, credentials, log=self.log)
        self.api_version = None
        self.rate_limit: dict = {}
        self._pinged = False
        self._ping_lock = threading.Lock()

    def close(self) -> None:
        self.transport.close()

    # -- plumbing --------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.base_url + path

    def ping(self) -> dict:
        """GET /v2/: learn how the registry wants to be authenticated."""
        try:
            response = self._send_ping()
        except RegistryError as exc:
            if not self._may_fall_back_to_http(exc):
                raise
            # Docker's rule: a loopback registry without TLS is reached over plain http.
            self.log("https to %s failed (%s); trying http, as for any loopback registry"
                     % (self.index["name"], exc))
            self.base_url = "http://" + self.base_url[len("https://"):]
            try:
                response = self._send_ping()
            except RegistryError:
                raise exc
            if response.status_code not in (200, 401):
                release(response)
                raise exc  # not a registry over http either: the https failure says more
        self.api_version = response.headers.get("Docker-Distribution-API-Version")
        status = response.status_code
        if status == 401:
            self.auth.set_challenges(parse_challenges(self._challenge_headers(response)))
        elif status != 200:
            body = response.raw.read(MAX_ERROR_BODY, decode_content=True)
            release(response)
            hint = "is this a Docker/OCI registry?" if not self.api_version else None
            raise http_error("GET", self._url("/v2/"), status, response.reason, body, hint=hint)
        release(response)
        self._pinged = True
        return {"api_version": self.api_version,
                "auth": self.auth.challenge.scheme if self.auth.challenge else None}

    def _may_fall_back_to_http(self, exc: RegistryError) -> bool:
        name = self.index["name"]
        host = name if name.endswith("]") else name.rsplit(":", 1)[0]
        return all((exc.status is None, not self.explicit_scheme, self.base_url.startswith("https:"),
                    is_loopback(host), "certificate verification failed" not in str(exc)))

    def _send_ping(self):
        return self.transport.request("GET", self._url("/v2/"), stream=True)

    @staticmethod
    def _challenge_headers(response) -> list:
        raw_headers = getattr(response.raw, "headers", None)
        if raw_headers is not None and hasattr(raw_headers, "getlist"):
            return raw_headers.getlist("WWW-Authenticate")
        value = response.headers.get("WWW-Authenticate")
        return [value] if value else []

    def _record_rate_limit(self, response) -> None:
        for name in RATE_LIMIT_HEADERS:
            if name in response.headers:
                self.rate_limit[name.replace("-", "_")] = response.headers[name]

    def request(self, method: str, url: str, scopes: list, headers: dict | None = None,
                ok: tuple = (200,), what: str | None = None):
        """An authenticated API call; returns a streamed response with an expected status.

        ``url`` is an API path (``/v2/...``, resolved against the registry after the ping has
        settled its scheme) or an absolute URL given by the registry (a Link header).
        """
        if not self._pinged:
            with self._ping_lock:
                if not self._pinged:
                    self.ping()
        if url.startswith("/"):
            url = self._url(url)
        headers = dict(headers or {})
        refreshed = False
        while True:
            authorization = self.auth.authorization(scopes, refresh=refreshed)
            if authorization:
                headers["Authorization"] = authorization
            response = self.transport.request(method, url, headers=headers, stream=True,
                                              credential_url=self.base_url)
            self._record_rate_limit(response)
            if response.status_code == 401 and not refreshed:
                retry_scopes = self.auth.on_unauthorized(
                    parse_challenges(self._challenge_headers(response)), scopes)
                if retry_scopes is not None:
                    release(response)
                    scopes, refreshed = retry_scopes, True
                    continue
            if response.status_code in ok:
                return response
            body = b"" if method == "HEAD" else response.raw.read(MAX_ERROR_BODY, decode_content=True)
            release(response)
            raise http_error(method, url, response.status_code, response.reason, body,
                             hint=self._hint(response.status_code, what))

    def _hint(self, status: int, what: str | None) -> str | None:
        if status == 401:
            creds = self.auth.credentials
            if creds.username is None and creds.identity_token is None:
                return "authentication required: no credentials were found for %s" % self.index["name"]
            return "authentication failed for %s with credentials from %s" % (
                self.index["name"], creds.source)
        if status == 403:
            return "the credentials are not allowed to do this"
        if status == 404 and what:
            return "%s not found" % what
        return None

    # -- tags --------------------------------------------------------------------------------------
    def list_tags(self, repository: str, page_size: int | None = None,
                  max_pages: int = DEFAULT_MAX_PAGES) -> list:
        """Every tag, following Link rel=next exactly as given (cursors are opaque)."""
        url = "/v2/%s/tags/list" % repository
        if page_size:
            url += "?n=%d" % page_size
        tags: list = []
        scopes = [repository_scope(repository)]
        for _page in range(max_pages):
            response = self.request("GET", url, scopes, what="repository %s" % repository)
            body = _read_limited(response, MAX_TAG_PAGE_SIZE, "the tag list")
            try:
                data = json.loads(body.decode("utf-8"))
                page = data.get("tags") or []
            except (ValueError, AttributeError, UnicodeDecodeError):
                raise RegistryError("GET %s returned a tag list that is not JSON" % redact_url(response.url),
                                    method="GET", url=response.url)
            tags.extend(t for t in page if isinstance(t, str))
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return tags
            url = urljoin(response.url, next_url)
        raise RegistryError("tag listing for %s stopped after %d pages" % (repository, max_pages))

    # -- manifests ------------------------------------------------------------------------------
    @staticmethod
    def _manifest_path(repository: str, reference: str) -> str:
        return "/v2/%s/manifests/%s" % (repository, quote(reference, safe=":"))

    def head_manifest(self, repository: str, reference: str) -> dict:
        url = self._manifest_path(repository, reference)
        response = self.request("HEAD", url, [repository_scope(repository)],
                                headers={"Accept": mt.MANIFEST_ACCEPT},
                                what="manifest %s:%s" % (repository, reference))
        release(response)
        length = response.headers.get("Content-Length")
        return {"digest": response.headers.get("Docker-Content-Digest"),
                "media_type": mt.base_type(response.headers.get("Content-Type")) or None,
                "size": int(length) if length and length.isdigit() else None}

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """GET a manifest; by digest it must hash to that digest."""
        url = self._manifest_path(repository, reference)
        response = self.request("GET", url, [repository_scope(repository)],
                                headers={"Accept": mt.MANIFEST_ACCEPT},
                                what="manifest %s:%s" % (repository, reference))
        raw = _read_limited(response, MAX_MANIFEST_SIZE, "the manifest %s:%s" % (repository, reference))
        header_digest = response.headers.get("Docker-Content-Digest")
        by_digest = ":" in reference
        algorithm = reference.split(":", 1)[0] if by_digest else (
            header_digest.split(":", 1)[0] if header_digest and ":" in header_digest else "sha256")
        if algorithm not in ("sha256", "sha384", "sha512"):
            algorithm = "sha256"
        actual = digest_of(raw, algorithm)
        if by_digest and actual != reference:
            raise RegistryError("the manifest served for %s@%s hashes to %s: refusing content that "
                                "does not match its digest" % (repository, reference, actual))
        if header_digest and header_digest != actual:
            self.warn("the registry's Docker-Content-Digest %s for %s:%s does not match the content "
                      "(%s); using the digest of the content" % (header_digest, repository,
                                                                 reference, actual))
        try:
            return Manifest(raw, response.headers.get("Content-Type"), actual)
        except ManifestError as exc:
            raise RegistryError("GET %s: %s" % (redact_url(response.url), exc), method="GET",
                                url=response.url)

    def resolve_digest(self, repository: str, reference: str) -> dict:
        """The digest a tag points at: HEAD first (cheap, not rate-limited), GET when needed."""
        by_digest = ":" in reference
        if by_digest:
            validate_digest(reference)
        try:
            head = self.head_manifest(repository, reference)
        except RegistryError as exc:
            if exc.status in (401, 403):
                raise
            head = None  # a failed HEAD has no body: GET tells the reason, or succeeds
        if head and head["digest"] and (not by_digest or head["digest"] == reference):
            return head
        # No digest header, or one that contradicts the reference: the bytes decide.
        manifest = self.get_manifest(repository, reference)
        return {"digest": manifest.digest, "media_type": manifest.media_type, "size": manifest.size}

    # -- blobs --------------------------------------------------------------------------------------
    @staticmethod
    def _blob_path(repository: str, digest: str) -> str:
        return "/v2/%s/blobs/%s" % (repository, digest)

    def head_blob(self, repository: str, digest: str) -> int | None:
        """Size of a blob, or None when the registry does not have it."""
        validate_digest(digest)
        try:
            response = self.request("HEAD", self._blob_path(repository, digest),
                                    [repository_scope(repository)], what="blob %s" % digest)
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        release(response)
        length = response.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None

    def get_blob_bytes(self, repository: str, digest: str, limit: int = MAX_CONFIG_SIZE) -> bytes:
        """A small blob (an image config) in memory, verified against its digest."""
        validate_digest(digest)
        response = self.request("GET", self._blob_path(repository, digest),
                                [repository_scope(repository)], what="blob %s" % digest)
        data = _read_limited(response, limit, "blob %s" % digest)
        actual = digest_of(data, digest.split(":", 1)[0])
        if actual != digest:
            raise RegistryError("blob %s in %s hashes to %s: refusing content that does not match "
                                "its digest" % (digest, repository, actual))
        return data

    def fetch_blob(self, repository: str, digest: str, out, expected_size: int | None = None) -> int:
        """Stream a blob into a binary file object, hashing as it arrives.

        An interrupted body is resumed with Range when the server honours it; a server that
        ignores Range makes the download start over. Returns the size; raises on any mismatch.
        """
        try:
            validate_digest(digest)
        except InvalidReference as exc:
            raise RegistryError(str(exc))
        algorithm = digest.split(":", 1)[0]
        hasher = hashlib.new(algorithm)
        written = 0
        interruptions = 0
        url = self._blob_path(repository, digest)
        while True:
            headers = {"Range": "bytes=%d-" % written} if written else {}
            response = self.request("GET", url, [repository_scope(repository)], headers=headers,
                                    ok=(200, 206), what="blob %s in %s" % (digest, repository))
            if written and not self._resumes_at(response, written):
                self.log("the server ignored Range; downloading %s from the start" % digest)
                out.seek(0)
                out.truncate()
                hasher, written = hashlib.new(algorithm), 0
            try:
                for chunk in response.raw.stream(BLOB_CHUNK, decode_content=False):
                    hasher.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
                    if expected_size is not None and written > expected_size:
                        raise RegistryError("blob %s is larger than the %d bytes expected"
                                            % (digest, expected_size))
            except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as exc:
                response.close()
                if interruptions >= max(self.retries, 1):
                    raise RegistryError("GET %s failed: the download was interrupted %d times, "
                                        "last after %d bytes (%s)" % (
                                            redact_url(self._url(url)), interruptions + 1, written,
                                            type(exc).__name__), method="GET", url=self._url(url))
                interruptions += 1
                self.log("download of %s interrupted after %d bytes (%s); resuming"
                         % (digest, written, type(exc).__name__))
                continue
            finally:
                release(response)
            break
        if expected_size is not None and written != expected_size:
            raise RegistryError("blob %s is %d bytes, not the %d bytes expected"
                                % (digest, written, expected_size))
        actual = "%s:%s" % (algorithm, hasher.hexdigest())
        if actual != digest:
            raise RegistryError("blob %s in %s hashes to %s: refusing content that does not match "
                                "its digest" % (digest, repository, actual))
        return written

    @staticmethod
    def _resumes_at(response, offset: int) -> bool:
        if response.status_code != 206:
            return False
        content_range = response.headers.get("Content-Range", "")
        return content_range.startswith("bytes %d-" % offset)
