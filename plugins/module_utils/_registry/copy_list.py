# Private to the drc.registry collection: no compatibility promise for other collections.
"""registry_copy's two forms as one list for copy.copy_images (one image is a list of one): the
pairs parsed, one connection per side, registry and credentials for the whole list, every
repository's scope announced before the first request (so one token covers the list), and the
outcomes made into the module's result."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import (
    is_registry, location_key, open_store, parse_location)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.registry_store import (
    RegistryStore)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.store import Store

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
        key = location_key(dest)
        if key in seen:
            raise InputError("images[%d] and images[%d] both copy to %s" % (seen[key], index, key))
        seen[key] = index
        pairs.append((src, dest))
    return pairs


def store_opener(connections: SharedConnections, blob_locations=None):
    """copy_images' ``open_store``: registries on the shared connections of their side; a
    destination registry remembers where blobs are (blob_cache.BlobLocations)."""
    def opener(location: tuple, side: str, writing: bool):
        store = open_store(location, lambda reference: connections.get(reference, side), writing)
        if writing and blob_locations is not None:
            store.use_blob_locations(blob_locations)
        return store
    return opener


def involves_files(pairs: list) -> bool:
    """Whether a copy of the list reads or writes local files (then they run one at a time)."""
    return any(not is_registry(location) for pair in pairs for location in pair)


def announce(pairs: list, connections: SharedConnections) -> None:
    """Every scope the list will need, before the first request: one token per connection (the
    registry stores say which, as each copy will)."""
    for src, dest in pairs:
        source = Store()  # a file: nothing to read from a registry, nothing to mount
        if is_registry(src):
            source = RegistryStore(connections.get(src[1], "src"), src[1])
            source.hint_reading()
        if is_registry(dest):
            RegistryStore(connections.get(dest[1], "dest"), dest[1]).hint_scopes(source)


def list_result(images: list, outcomes: list) -> dict:
    """The ``images`` form's result from copy_images' outcomes.

    ``images`` has one result per entry, in order, each with ``copied`` (it wrote) and ``failed``;
    a failed one has ``msg``. ``failed_images`` lists the failures (``index``, ``src``, ``dest``,
    ``msg``): the caller fails the task when it is not empty, with every result (``changed`` when
    any entry wrote).
    """
    results, failed = [], []
    for index, outcome in enumerate(outcomes):
        if "error" in outcome:
            exc = outcome["error"]
            outcome = {"index": index, "src": images[index]["src"], "dest": images[index]["dest"],
                       "failed": True, "copied": False, "changed": False,
                       "msg": "images[%d] (%s -> %s): %s" % (
                           index, images[index]["src"], images[index]["dest"], exc)}
            if isinstance(exc, RegistryError):
                outcome.update(exc.details)
            failed.append({k: outcome[k] for k in ("index", "src", "dest", "msg")})
        else:
            outcome.update(failed=False, copied=outcome["changed"])
        results.append(outcome)
    totals = {name: sum(r.get(name, 0) for r in results) for name in COUNTS}
    return dict(changed=any(r["changed"] for r in results), images=results,
                copied=sum(1 for r in results if r["changed"]), failed_images=failed, **totals)
