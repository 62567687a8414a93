"""Our client called in-process, for the benchmarks: ``resolve``, ``fetch`` and ``copy`` sub-commands.

Run as a separate process so that /usr/bin/time sees its peak memory alone.
"""

from __future__ import annotations

import json
import sys
import time

from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import fetch_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.digest_batch import (
    resolve_digests)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import connection_options
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference, parse_repository)


def resolve_all(references: list, options: dict, concurrency: int = 8) -> list:
    """The lookup's own path: module_utils' digest_batch, without Ansible around it."""
    parsed = [parse_image_reference(r) for r in references]
    return resolve_digests(parsed, [connection_options(ref, options, concurrency) for ref in parsed],
                           concurrency=concurrency)


def fetch(repository: str, digest: str, dest: str, options: dict) -> int:
    reference = parse_repository(repository)
    with RegistryConnection(connection_options(reference, options)) as connection:
        with open(dest, "wb") as out:
            return fetch_blob(connection, reference.repository, digest, out)


def copy(src: str, dest: str, src_options: dict, dest_options: dict) -> str:
    """The module's path without Ansible: both ends opened as registry_copy opens them."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.copy import copy_images
    from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import (
        open_store, parse_location)
    connections = []

    def opener(value, side, writing):
        options = src_options if side == "src" else dest_options

        def connect(ref):
            connections.append(RegistryConnection(connection_options(ref, options)))
            return connections[-1]
        return open_store(parse_location(value), connect, writing)

    try:
        [result] = copy_images([(src, dest)], opener)
    finally:
        for connection in connections:
            connection.close()
    if "error" in result:
        raise result["error"]
    return result["digest"]


def main() -> int:
    command, payload = sys.argv[1], json.loads(sys.argv[2])
    started = time.perf_counter()
    if command == "resolve":
        result = resolve_all(payload["references"], payload["options"])
    elif command == "copy":
        result = copy(payload["src"], payload["dest"], payload["src_options"], payload["dest_options"])
    else:
        result = fetch(payload["repository"], payload["digest"], payload["dest"], payload["options"])
    print(json.dumps({"seconds": time.perf_counter() - started, "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
