# Private to the drc.registry collection: no compatibility promise for other collections.
"""A repository of a registry, on its own connection, as a store (store.py says the protocol)."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import (
    RegistryBlobSource)
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import (
    get_blob_bytes, open_blob)
from ansible_collections.drc.registry.plugins.module_utils._registry.deletion import delete_manifest
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import Manifest
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    current_digest, get_manifest, put_manifest)
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import (
    RegistryReferrers)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.store import (
    MAX_CONFIG_SIZE, Store)
from ansible_collections.drc.registry.plugins.module_utils._registry.tags import list_tags
from ansible_collections.drc.registry.plugins.module_utils._registry.uploads import (
    push_blob, push_scopes)


class RegistryStore(Store):
    """The image ``reference`` names, in its repository, over ``connection``."""

    def __init__(self, connection, reference) -> None:
        self.connection = connection
        self.reference = reference
        self.repository = reference.repository
        self.display = reference.string
        # blob_cache.BlobLocations shared by the copies of a run (and kept across runs), or None
        self.blob_locations = None
        # True when the caller knows the repository did not exist before this run (a sync):
        # with blob_locations, blobs are then not HEADed there (only this run can have put them)
        self.new_repository = False
        self._referrers = None

    def _referrer_finder(self) -> RegistryReferrers:
        if self._referrers is None:
            self._referrers = RegistryReferrers(self.connection, self.repository)
        return self._referrers

    def same_registry(self, other: Store) -> bool:
        return isinstance(other, RegistryStore) and all((
            other.reference.registry == self.reference.registry,
            other.connection.base_url == self.connection.base_url))

    def _mount_from(self, source: Store) -> str | None:
        """The repository a blob of ``source`` can be mounted from (None: it is sent)."""
        if self.same_registry(source) and source.repository != self.repository:
            return source.repository
        return None

    # -- reading ---------------------------------------------------------------------------------
    def hint_reading(self) -> None:
        self.connection.hint_scopes([repository_scope(self.repository)])

    def top(self) -> Manifest:
        return get_manifest(self.connection, self.repository, self.reference.api_reference)

    def manifest(self, descriptor: dict) -> Manifest:
        return get_manifest(self.connection, self.repository, descriptor["digest"])

    def blob_source(self, descriptor: dict):
        return RegistryBlobSource(self.connection, self.repository, descriptor["digest"],
                                  descriptor["size"])

    def open_blob(self, descriptor: dict):
        """The blob as blobs' verified stream (extraction reads layers so)."""
        return open_blob(self.connection, self.repository, descriptor["digest"], descriptor["size"])

    def small_blob(self, descriptor: dict) -> bytes:
        return get_blob_bytes(self.connection, self.repository, descriptor["digest"], MAX_CONFIG_SIZE)

    def tags(self) -> list:
        return list_tags(self.connection, self.repository)

    def referrers(self, digest: str, artifact_type: str | None = None) -> list:
        return self._referrer_finder().referrers(digest, artifact_type)

    def referrer_manifest(self, entry: dict) -> Manifest:
        return self._referrer_finder().referrer_manifest(entry)

    # -- writing ---------------------------------------------------------------------------------
    def check_target(self, digest: str) -> None:
        if self.reference.digest and self.reference.digest != digest:
            raise InputError("dest %s names the digest %s, but the copy has the digest %s"
                             % (self.display, self.reference.digest, digest))

    def current_digest(self) -> str | None:
        return current_digest(self.connection, self.repository, self.reference.api_reference)

    def hint_scopes(self, source: Store) -> None:
        """One token for everything the copy does here (the mount's source repository too)."""
        mount_from = source.repository if self.same_registry(source) else None
        self.connection.hint_scopes(push_scopes(self.repository, mount_from))

    def prepare(self, source: Store) -> None:
        self.hint_scopes(source)

    def use_blob_locations(self, locations) -> None:
        self.blob_locations = locations

    def put_blob(self, descriptor: dict, source: Store, chunk_size: int | None) -> dict:
        mount_from = self._mount_from(source)
        locations = self.blob_locations
        if locations is None:
            return push_blob(self.connection, self.repository, descriptor["digest"], descriptor["size"],
                             source.blob_source(descriptor), chunk_size=chunk_size,
                             mount_from=mount_from)
        return self._put_known_blob(locations, descriptor, source, chunk_size, mount_from)

    def _put_known_blob(self, locations, descriptor: dict, source: Store, chunk_size, mount_from) -> dict:
        """put_blob with blob_cache.BlobLocations: mount from a repository of this registry that
        holds the blob (a wrong entry: the registry's 202 makes it an upload), then remember it."""
        registry, digest = self.connection.base_url, descriptor["digest"]
        with locations.pushing(registry, digest):
            if locations.placed(registry, digest, self.repository):
                return {"action": "skipped", "bytes": 0}  # this run put it there: no HEAD
            known = locations.holder(registry, digest, self.repository) if mount_from is None else None
            try:
                outcome = push_blob(self.connection, self.repository, digest, descriptor["size"],
                                    source.blob_source(descriptor), chunk_size=chunk_size,
                                    mount_from=mount_from or known, skip_existing=not self.new_repository)
            except RegistryError as exc:
                if known is None or exc.status is None or exc.status >= 500 or exc.status == 429:
                    raise
                locations.forget(registry, digest, known)  # a mount refused outright: upload it
                outcome = push_blob(self.connection, self.repository, digest, descriptor["size"],
                                    source.blob_source(descriptor), chunk_size=chunk_size,
                                    skip_existing=False)
            locations.record(registry, digest, self.repository)
        return outcome

    def put_manifest(self, manifest: Manifest, top: bool) -> None:
        reference = (self.reference.tag or manifest.digest) if top else manifest.digest
        put_manifest(self.connection, self.repository, reference, manifest.raw, manifest.media_type)

    def put_referrers(self, subject: str, items: list) -> int:
        return self._referrer_finder().put_referrers(subject, items)

    def delete(self, digest: str) -> None:
        delete_manifest(self.connection, self.repository, digest)


class KnownDestination(RegistryStore):
    """A registry destination whose current digest the caller already asked (one HEAD, not two)."""

    def __init__(self, connection, reference, known_before: str | None) -> None:
        super().__init__(connection, reference)
        self.known_before = known_before

    def current_digest(self) -> str | None:
        return self.known_before
