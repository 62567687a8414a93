# Private to the drc.registry collection: no compatibility promise for other collections.
"""Many references to digests at once: one connection (and token) per registry and credentials,
every repository's scope announced up front, HEADs run concurrently. Used by the lookup and the
benchmarks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.images import digest_to_pin


class TermError(RegistryError):
    """A failure for one reference of a batch; ``index`` says which."""

    def __init__(self, index: int, cause: RegistryError) -> None:
        super().__init__(str(cause), method=cause.method, status=cause.status, errors=cause.errors)
        self.url = cause.url
        self.index = index


def resolve_digests(references: list, options_list: list, platform: dict | None = None,
                    concurrency: int = 8, log=None, warn=None, resolve=None) -> list:
    """The digest to pin for each ImageReference, in order.

    ``options_list`` holds each reference's ConnectionOptions (with the credentials bound to its
    registry). ``resolve`` replaces ``digest_to_pin`` (the lookup's ``verify_keys`` passes one
    that returns only verified digests). Raises TermError naming the first failing reference.
    """
    connections: dict = {}
    per_reference: list = []
    try:
        for reference, options in zip(references, options_list):
            key = options.sharing_key()
            if key not in connections:
                connections[key] = RegistryConnection(options, log=log, warn=warn)
            connection = connections[key]
            connection.hint_scopes([repository_scope(reference.repository)])
            per_reference.append(connection)

        def one(index: int) -> str:
            try:
                return (resolve or digest_to_pin)(per_reference[index], references[index], platform)
            except RegistryError as exc:
                raise TermError(index, exc)

        workers = min(concurrency, len(references))
        if workers <= 1:  # one reference (or concurrency 1): no thread to start
            return [one(index) for index in range(len(references))]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, range(len(references))))
    finally:
        for connection in connections.values():
            connection.close()
