# Private to the drc.registry collection: no compatibility promise for other collections.
"""The adapter from an AnsibleModule to registry connections: options in, one failure path out."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
    connection_options)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    HAS_REQUESTS, REQUESTS_IMPORT_ERROR)


class RegistryModule:
    """What a module needs: the AnsibleModule, connections to registries, one failure path."""

    def __init__(self, module) -> None:
        self.module = module
        self.connections: list = []
        if not HAS_REQUESTS:
            module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    def connect(self, reference, options: dict | None = None):
        """A RegistryConnection to the registry of ``reference`` (options default to the task's)."""
        return self.open(connection_options(reference, self.module.params if options is None else options))

    def open(self, options):
        """A RegistryConnection from ``ConnectionOptions`` already made, closed with the others."""
        connection = RegistryConnection(options, log=self.module.debug, warn=self.module.warn)
        self.connections.append(connection)
        return connection

    def fail(self, exc: RegistryError, **result) -> None:
        for connection in self.connections:
            connection.close()
        result.update(exc.details)
        library = getattr(exc, "library", None)  # signing_keys.MissingLibrary
        if library:
            self.module.fail_json(msg=missing_required_lib(library, reason=exc.reason),
                                  exception=exc.import_error, **result)
        self.module.fail_json(msg=str(exc), **result)

    def exit(self, **result) -> None:
        """exit_json with the registries' rate-limit headers, when one sent them."""
        rate_limit: dict = {}
        for connection in self.connections:
            rate_limit.update(connection.rate_limit)
            connection.close()
        if rate_limit:
            result.setdefault("rate_limit", rate_limit)
        self.module.exit_json(**result)
