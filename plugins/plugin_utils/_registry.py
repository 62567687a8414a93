# Private to the drc.registry collection: no compatibility promise for other collections.
"""Adapter for controller-side plugins (the lookup): options via get_option, warnings via Display,
failures as AnsibleLookupError."""

from __future__ import annotations

from ansible.errors import AnsibleLookupError
from ansible.utils.display import Display

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
    CONNECTION_OPTION_NAMES)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    HAS_REQUESTS, REQUESTS_IMPORT_ERROR)

display = Display()


def templated_variables(plugin, variables):
    """The ``drc_registry_*`` variables templated, as Ansible templates a connection plugin's variables.

    A lookup receives variables as written: without this, ``drc_registry_password: "{{ vault_pw }}"``
    would reach the registry as the literal text ``{{ vault_pw }}``.
    """
    templar = getattr(plugin, "_templar", None)
    if not variables or templar is None:
        return variables
    names = [name for name in variables if name.startswith("drc_registry_")]
    if not names:
        return variables
    out = dict(variables)
    for name in names:
        out[name] = templar.template(variables[name])
    return out


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
           "templated_variables", "warn"]
