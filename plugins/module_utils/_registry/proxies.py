# Private to the drc.registry collection: no compatibility promise for other collections.
"""The ``proxy`` option: an http(s) proxy URL, checked, and named in messages without its password."""

from __future__ import annotations

from urllib.parse import urlsplit

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError

PROXY_SCHEMES = ("http", "https")


def proxy_name(value: str) -> str:
    """``scheme://host:port`` of a proxy URL: what messages may show (never its user information)."""
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a proxy URL that is not shown)"
    if parts.scheme.lower() not in PROXY_SCHEMES or not host:
        return "(a proxy URL that is not shown)"
    host = "[%s]" % host if ":" in host else host
    return "%s://%s%s" % (parts.scheme.lower(), host, ":%d" % port if port else "")


def check_proxy(value: str) -> None:
    """An ``http://`` or ``https://`` URL with a host, an optional port and user information, and
    nothing else. Errors never repeat the value: it may carry a password."""
    example = "such as http://proxy.example.com:3128 or http://user:password@proxy:3128"
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise InputError("proxy is not a valid URL (%s); the value is not shown, it may hold a "
                         "password" % example)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise InputError("proxy must be an http:// or https:// URL (%s); %s" % (
            example, "got the scheme %s://" % scheme if scheme and "://" in value
            else "the value has no http:// or https:// (it is not shown, it may hold a password)"))
    if not parts.hostname:
        raise InputError("proxy %s has no host (%s)" % (scheme + "://", example))
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError("proxy %s must name a host and port only, without a path or query"
                         % proxy_name(value))
    if port == 0:
        raise InputError("proxy %s: the port must be 1 to 65535" % proxy_name(value))
