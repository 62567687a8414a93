"""Our client called in-process, for the benchmarks: ``resolve`` and ``fetch`` sub-commands.

Run as a separate process so that /usr/bin/time sees its peak memory alone.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.inspect import resolve
from ansible_collections.drc.registry.plugins.module_utils._registry.module import make_client
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_reference, parse_repository)


def resolve_all(references: list, options: dict, concurrency: int = 8) -> list:
    parsed = [parse_reference(r) for r in references]
    client = make_client(parsed[0], options, references[0], pool_size=concurrency)
    client.auth.hint_scopes([repository_scope(p["remote_name"]) for p in parsed])
    with ThreadPoolExecutor(concurrency) as pool:
        digests = list(pool.map(lambda p: resolve(client, p), parsed))
    client.close()
    return digests


def fetch(repository: str, digest: str, dest: str, options: dict) -> int:
    parsed = parse_repository(repository)
    client = make_client(parsed, options, repository)
    with open(dest, "wb") as out:
        size = client.fetch_blob(parsed["remote_name"], digest, out)
    client.close()
    return size


def main() -> int:
    command, payload = sys.argv[1], json.loads(sys.argv[2])
    started = time.perf_counter()
    if command == "resolve":
        result = resolve_all(payload["references"], payload["options"])
    else:
        result = fetch(payload["repository"], payload["digest"], payload["dest"], payload["options"])
    print(json.dumps({"seconds": time.perf_counter() - started, "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
