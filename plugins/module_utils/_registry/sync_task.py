# Private to the drc.registry collection: no compatibility promise for other collections.
"""registry_sync's options turned into one SyncRun: the jobs, one throttled connection per side
(credentials bound to that side's registry, as registry_copy binds them) and the blob locations."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.blob_cache import (
    BlobLocations, cache_path_option)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.copy_options import (
    check_task_credentials, side_options)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import connection_options
from ansible_collections.drc.registry.plugins.module_utils._registry.sync import (
    SyncRun, check_sync_options, plan_jobs)
from ansible_collections.drc.registry.plugins.module_utils._registry.throttle import (
    RegistryThrottle, ThrottledConnection)


def run_sync_task(params: dict, log, warn, keep, check_mode: bool = False, diff: bool = False) -> dict:
    """Run the sync a task describes; ``keep(connection)`` hands each connection to the adapter
    (which closes it). Returns the module result (``failed_images`` may be non-empty)."""
    concurrency = params["concurrency"]
    check_sync_options(concurrency)
    jobs = plan_jobs(params["src_registry"], params["dest"], params["repositories"])
    src_reference, dest_reference = jobs[0].src, jobs[0].dest
    check_task_credentials(params, [("src", ("registry", src_reference)),
                                    ("dest", ("registry", dest_reference))])
    throttles: dict = {}
    connections = []
    for side, reference in (("src", src_reference), ("dest", dest_reference)):
        options = connection_options(reference, side_options(params, params[side + "_auth"]),
                                     pool_size=4 * concurrency + 4)
        throttle = throttles.setdefault(options.api_url, RegistryThrottle(reference.registry, concurrency, log))
        connection = ThrottledConnection(options, throttle, log=log, warn=warn)
        keep(connection)
        connections.append(connection)
    sign = signer(params, dest_reference, check_mode)
    cache_path = cache_path_option(params.get("blob_cache"))
    locations = BlobLocations(cache_path, warn=warn)
    result = SyncRun(jobs, connections[0], connections[1], locations, concurrency,
                     check_mode=check_mode, diff=diff, image_format=params.get("format") or "keep",
                     sign=sign).run()
    throttled = {t.registry: t.report() for t in throttles.values() if t.rate_limited}
    if throttled:
        result["throttled"] = throttled
    return result


def signer(params: dict, dest_reference, check_mode: bool):
    """registry_sync's ``sign_key``: the key loaded and checked before any request (signing and
    cryptography loaded only when asked for); None without it."""
    if not params.get("sign_key"):
        return None
    from ansible_collections.drc.registry.plugins.module_utils._registry import signing
    key = signing.copy_signing_key(params["sign_key"], params.get("sign_key_passphrase"),
                                   [(True, dest_reference.registry)])

    def sign(connection, reference, digest: str, written: bool) -> dict:
        return signing.sign_synced(connection, reference, digest, key, written, check_mode)
    return sign
