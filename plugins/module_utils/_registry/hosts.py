# Private to the drc.registry collection: no compatibility promise for other collections.
"""Which hosts are loopback or internal, and what follows from it, decided once:

- where a registry may send us: the one rule for every URL a server hands back (a token realm,
  an upload ``Location``, a ``Link`` page, a v1 endpoint);
- Docker's plain-http fallback for a loopback registry (the v2 ping, the v1 ping and search).

A URL a registry names is followed only when it is http or https, parsed the same by every URL
parser (no backslash, no user information, no controls), not plain http when the registry is
https, and not an internal address (loopback, private, link-local, unspecified, multicast, shared,
``localhost``, or a name that resolves to one) when the registry itself is not internal.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    check_url, origin, same_origin)

# Carrier-grade NAT space: not "private" to Python, but internal (a cloud's metadata service sits there).
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


def _as_address(host: str):
    """An IP address written in any form the resolver accepts (``127.1``, ``0x7f.1``), or None."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _internal_address(address) -> bool:
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any((address.is_loopback, address.is_private, address.is_link_local,
                address.is_unspecified, address.is_multicast,
                address.version == 4 and address in _SHARED_ADDRESS_SPACE))


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address literal (no name is resolved): Docker's test for the
    registries it reaches over plain http when https fails."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_fall_back_to_http(exc: RegistryError, url: str, scheme_written: bool) -> bool:
    """Docker's rule: a loopback registry whose scheme the user did not write, tried over https
    without an answer (no status; a certificate that failed verification is an answer), is tried
    again over plain http."""
    return all((exc.status is None, not scheme_written, url.startswith("https:"),
                is_loopback(urlsplit(url).hostname or ""),
                "certificate verification failed" not in str(exc)))


def as_http(url: str) -> str:
    """The same URL over plain http."""
    return "http://" + url.split("://", 1)[1]


def fallback_note(url: str, exc: RegistryError) -> str:
    """The debug line of a fallback."""
    return "https to %s failed (%s); trying http, as for any loopback registry" % (
        urlsplit(url).netloc, exc)


def resolve_addresses(host: str) -> list:
    """The addresses a host name resolves to; none when it does not resolve."""
    try:
        return [info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]
    except (OSError, UnicodeError):
        return []


def is_internal_host(host: str, resolve=resolve_addresses) -> bool:
    """Loopback, private, link-local (or unspecified, multicast, shared) by name or address.

    A name counts as internal when it is ``localhost`` (or ``*.localhost``), or when any address
    ``resolve`` gives for it is internal.
    """
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    literal = _as_address(host)
    if literal is not None:
        return _internal_address(literal)
    for value in (resolve(host) if resolve else []):
        address = _as_address(str(value))
        if address is not None and _internal_address(address):
            return True
    return False


def is_wholly_internal_host(host: str, resolve=resolve_addresses) -> bool:
    """Internal by name, or a name whose every address (at least one) is internal.

    The test for the host that names a target: a public registry's owner who adds a loopback
    record beside the public one does not make the registry internal (the connection may well go
    to the public address), while a target with any internal address counts as internal.
    """
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost") or _as_address(host) is not None:
        return is_internal_host(host, None)
    addresses = [_as_address(str(value)) for value in (resolve(host) if resolve else [])]
    if not addresses or None in addresses:
        return False
    return all(_internal_address(address) for address in addresses)


def inside_from_outside(target_host: str, named_by: str, resolve=resolve_addresses) -> bool:
    """``target_host`` is internal (by any of its addresses) and the host that named it is not
    (wholly): a public server may not point our credentials or requests at an internal service."""
    # Nested, not one boolean expression: each test may resolve a host name, in this order only.
    if not is_internal_host(target_host, resolve):
        return False
    return not is_wholly_internal_host(named_by, resolve)


def target_refusal(registry_url: str, target: str, what: str = "the URL",
                   resolve=resolve_addresses) -> str | None:
    """Why the registry at ``registry_url`` may not send us to ``target``; None if it may.

    A pure function of its arguments (``resolve`` maps a host name to addresses). ``what`` names
    the target in the reason ("the realm", "the upload URL").
    """
    registry_scheme, registry_host, dummy = origin(registry_url)
    target_scheme, target_host, dummy = origin(target)
    if target_scheme not in ("http", "https") or not target_host:
        return "it is not an http or https URL"
    if registry_scheme == "https" and target_scheme != "https":
        return ("the registry is reached over https but %s over plain http, which would send the "
                "credentials or content in clear text" % what)
    if not same_origin(registry_url, target) and inside_from_outside(target_host, registry_host, resolve):
        return ("it is a loopback, private or link-local address and the registry is not: a "
                "registry may not point our credentials or requests at an internal service")
    return None


def check_target(registry_url: str, target: str, what: str, resolve=resolve_addresses) -> None:
    """Refuse a URL the registry handed us (``what``: "the upload URL", "the next page") that
    URL parsers read differently or that breaks the rule above."""
    check_url(target, what)
    reason = target_refusal(registry_url, target, what, resolve)
    if reason:
        raise RegistryError("refusing %s %s that %s named: %s" % (
            what, redact_url(target), redact_url(registry_url), reason), url=registry_url)
