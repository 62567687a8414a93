# Private to the drc.registry collection: no compatibility promise for other collections.
"""One error base for every failure a user can act on, with a message that says what to do.

Adapters (the module and the lookup) catch ``RegistryError`` alone; the subclasses say where the
failure came from when a caller needs to tell them apart.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json

MAX_ERROR_BODY = 64 * 1024

# Query parameters that are safe to show; every other value is redacted (signed CDN URLs carry
# credentials in their query string).
_SAFE_QUERY_KEYS = frozenset(("n", "last", "service", "scope", "digest", "mount", "from"))


class RegistryError(Exception):
    """A failed registry operation.

    ``details`` holds the machine-readable extras a module puts in its failure result.
    """

    def __init__(self, message: str, method: str | None = None, url: str | None = None,
                 status: int | None = None, errors: list | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = redact_url(url) if url else None
        self.status = status
        self.errors = errors or []

    @property
    def codes(self) -> list:
        return [e.get("code") for e in self.errors if e.get("code")]

    @property
    def details(self) -> dict:
        out: dict = {}
        if self.status is not None:
            out["http_status"] = self.status
        if self.errors:
            out["errors"] = self.errors
        if self.url:
            out["url"] = self.url
        return out


class InputError(RegistryError, ValueError):
    """An option or argument the user gave is invalid; the message names it and the rule."""


class PingFailed(RegistryError):
    """``GET /v2/`` itself failed: the registry (or its v2 API) is not there, whatever the status.

    A 404 here never means "that manifest or repository does not exist".
    """


NOT_FOUND_CODES = frozenset(("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND"))


def is_not_found(exc: RegistryError) -> bool:
    """404, or the codes registries use for an unknown manifest, repository or blob (never a
    failed ping: a host without the v2 API has no repositories to be absent from)."""
    if isinstance(exc, PingFailed):
        return False
    return exc.status == 404 or (exc.status == 400 and bool(NOT_FOUND_CODES & set(exc.codes)))


class DigestMismatch(RegistryError):
    """Content that does not hash to the digest (or size) it was asked for or described by."""


def redact_url(url: str) -> str:
    """Drop user info and hide query values that are not known to be harmless."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = [(k, v if k in _SAFE_QUERY_KEYS else "REDACTED")
                 for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe=":/*,")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_error_body(body: bytes) -> list:
    """Registry error bodies look like {"errors": [{"code", "message", "detail"}]}."""
    try:
        data = parse_json(body.decode("utf-8", "replace"))
    except ValueError:
        return []
    items = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    out = []
    for item in items[:20]:
        if isinstance(item, dict):
            entry = {"code": str(item.get("code", "")), "message": str(item.get("message", ""))}
            if item.get("detail") not in (None, "", {}, []):
                entry["detail"] = item["detail"]
            out.append(entry)
    return out


def http_error(method: str, url: str, status: int, reason: str, body: bytes = b"",
               hint: str | None = None) -> RegistryError:
    """Build the error for an unexpected HTTP status: method, redacted URL, status, registry codes."""
    errors = parse_error_body(body[:MAX_ERROR_BODY])
    message = "%s %s failed: %d %s" % (method, redact_url(url), status, reason or "")
    message = message.rstrip()
    if errors:
        message += ": " + "; ".join(
            "%s: %s" % (e["code"], e["message"]) if e["message"] else e["code"] for e in errors)
    if hint:
        message += " (%s)" % hint
    return RegistryError(message, method=method, url=url, status=status, errors=errors)
