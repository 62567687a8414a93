# Private to the drc.registry collection: no compatibility promise for other collections.
"""Adapter for controller-side plugins (the lookup): options -> client, errors -> AnsibleLookupError."""

from __future__ import annotations

from ansible.errors import AnsibleLookupError
from ansible.utils.display import Display

from ansible_collections.drc.registry.plugins.module_utils._registry.module import (
    CONNECTION_OPTIONS, EXPECTED_ERRORS, make_client)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    HAS_REQUESTS, REQUESTS_IMPORT_ERROR)

display = Display()


def connection_options(plugin) -> dict:
    return {name: plugin.get_option(name) for name in CONNECTION_OPTIONS}


def require_requests() -> None:
    if not HAS_REQUESTS:
        raise AnsibleLookupError("the drc.registry lookups need the Python library 'requests' on "
                                 "the controller: %s" % (REQUESTS_IMPORT_ERROR or "").strip().splitlines()[-1])


def lookup_client(parsed: dict, options: dict, source: str, pool_size: int = 10, credentials=None):
    return make_client(parsed, options, source, log=display.vvvv, warn=display.warning,
                       pool_size=pool_size, credentials=credentials)


def lookup_error(exc: Exception, term: str | None = None) -> AnsibleLookupError:
    prefix = "%s: " % term if term else ""
    return AnsibleLookupError(prefix + str(exc))


__all__ = ["EXPECTED_ERRORS", "connection_options", "lookup_client", "lookup_error", "require_requests"]
