# Private to the drc.registry collection: no compatibility promise for other collections.
"""Many copies in one task (``registry_copy``'s ``images``): one connection per side, registry and
credentials for the whole list, every repository's scope announced before the first request (so one
token covers the list), several images copied at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.copy import (
    RegistryEnd, copy_image, open_end, parse_location)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.uploads import push_scopes

COUNTS = ("blobs_uploaded", "blobs_mounted", "blobs_skipped", "bytes_uploaded", "manifests_pushed",
          "referrers_copied")


class SharedConnections:
    """Connections keyed by side, registry and the credentials bound to it.

    ``make_options(reference, side)`` gives a reference's ConnectionOptions; ``connect(options)``
    opens a connection. Two references share a connection only when their registry, scheme and
    bound credentials are the same, so credentials never travel to another registry or side.
    """

    def __init__(self, make_options, connect) -> None:
        self.make_options = make_options
        self.connect = connect
        self.connections: dict = {}

    def get(self, reference, side: str):
        options = self.make_options(reference, side)
        creds = options.credentials
        key = (side, options.registry, options.scheme, options.scheme_written,
               creds.username, creds.password, creds.identity_token)
        if key not in self.connections:
            self.connections[key] = self.connect(options)
        return self.connections[key]


def parse_pairs(images: list) -> list:
    """``[{src, dest}]`` -> ``[(src location, dest location)]``, refusing a destination named twice."""
    pairs, seen = [], {}
    for index, image in enumerate(images):
        try:
            src, dest = parse_location(image.get("src")), parse_location(image.get("dest"))
        except RegistryError as exc:
            raise InputError("images[%d]: %s" % (index, exc))
        key = dest[1].string if dest[0] == "registry" else ":".join(str(part or "") for part in dest)
        if key in seen:
            raise InputError("images[%d] and images[%d] both copy to %s" % (seen[key], index, key))
        seen[key] = index
        pairs.append((src, dest))
    return pairs


def _end(location: tuple, side: str, connections: SharedConnections, writing: bool, blob_locations=None):
    if location[0] == "registry":
        end = RegistryEnd(connections.get(location[1], side), location[1])
        end.blob_locations = blob_locations if writing else None
        return end
    return open_end(location, None, writing)


def _announce(pairs: list, connections: SharedConnections) -> None:
    """Every scope the list will need, before the first request: one token per connection."""
    for src, dest in pairs:
        if src[0] == "registry":
            connections.get(src[1], "src").hint_scopes([repository_scope(src[1].repository)])
        if dest[0] == "registry":
            source = src[1] if src[0] == "registry" else None
            dest_connection = connections.get(dest[1], "dest")
            mount_from = None
            if source is not None and connections.get(source, "src").base_url == dest_connection.base_url \
                    and source.registry == dest[1].registry:
                mount_from = source.repository
            dest_connection.hint_scopes(push_scopes(dest[1].repository, mount_from))


def copy_images(images: list, connections: SharedConnections, platforms: list | None = None,
                chunk_size: int | None = None, concurrency: int = 4, check_mode: bool = False,
                referrers: bool = True, warn=None, blob_locations=None, image_format: str = "keep") -> dict:
    """Copy every ``{src, dest}`` of ``images``; returns the module result.

    Every entry is tried: one that fails does not stop the others. ``images`` has one result per
    entry, in order, each with ``copied`` (it wrote) and ``failed``; a failed one has ``msg``.
    ``failed_images`` lists the failures (``index``, ``src``, ``dest``, ``msg``): the caller fails
    the task when it is not empty, with every result (``changed`` when any entry wrote).

    ``concurrency`` bounds the blobs in flight over the whole list: that many images at once, each
    with its share of blob workers. When an OCI layout is involved the copies run one at a time
    (two copies may share its files), each end opened just before its copy.
    """
    pairs = parse_pairs(images)
    _announce(pairs, connections)
    any_layout = any(location[0] != "registry" for pair in pairs for location in pair)
    workers = 1 if any_layout else max(1, min(concurrency, len(pairs)))
    options = {"concurrency": max(1, concurrency // workers), "check_mode": check_mode,
               "referrers": referrers, "warn": warn, "image_format": image_format}
    if chunk_size is not None:
        options["chunk_size"] = chunk_size

    def one(index: int) -> dict:
        src, dest = pairs[index]
        ends = []
        try:
            ends.append(_end(src, "src", connections, False))
            ends.append(_end(dest, "dest", connections, True, blob_locations))
            outcome = copy_image(ends[0], ends[1], platforms, **options)
        except (RegistryError, OSError) as exc:
            failure = {"index": index, "src": images[index]["src"], "dest": images[index]["dest"],
                       "failed": True, "copied": False, "changed": False,
                       "msg": "images[%d] (%s -> %s): %s" % (
                           index, images[index]["src"], images[index]["dest"], exc)}
            if isinstance(exc, RegistryError):
                failure.update(exc.details)
            return failure
        finally:
            for end in ends:
                end.close()
        outcome.update(src=ends[0].display, dest=ends[1].display, failed=False, copied=outcome["changed"])
        return outcome

    results, failed = [], []
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for outcome in pool.map(one, range(len(pairs))):
            results.append(outcome)
            if outcome["failed"]:
                failed.append({k: outcome[k] for k in ("index", "src", "dest", "msg")})
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    totals = {name: sum(r.get(name, 0) for r in results) for name in COUNTS}
    return dict(changed=any(r["changed"] for r in results), images=results,
                copied=sum(1 for r in results if r["changed"]), failed_images=failed, **totals)
