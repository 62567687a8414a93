# Private to the drc.registry collection: no compatibility promise for other collections.
"""Adapter for controller-side plugins (the lookup): options via get_option, warnings via Display,
failures as AnsibleLookupError."""

from __future__ import annotations

from ansible.errors import AnsibleLookupError
from ansible.utils.display import Display

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.options import (
    CONNECTION_OPTION_NAMES)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    HAS_REQUESTS, REQUESTS_IMPORT_ERROR)

display = Display()


def connection_option_values(plugin) -> dict:
    return {name: plugin.get_option(name) for name in CONNECTION_OPTION_NAMES}


def require_requests() -> None:
    if not HAS_REQUESTS:
        raise AnsibleLookupError("the drc.registry lookups need the Python library 'requests' on "
                                 "the controller: %s" % (REQUESTS_IMPORT_ERROR or "").strip().splitlines()[-1])


def lookup_error(exc: Exception, term: str | None = None) -> AnsibleLookupError:
    prefix = "%s: " % term if term else ""
    return AnsibleLookupError(prefix + str(exc))


log = display.vvvv
warn = display.warning

__all__ = ["RegistryError", "connection_option_values", "log", "lookup_error", "require_requests",
           "warn"]
