# Private to the drc.registry collection: no compatibility promise for other collections.
"""The protocol both ends of a copy follow: a registry repository (registry_store.py), an OCI
layout (layout_store.py) or a Docker archive (docker_archive_store.py). locations.py opens one from
what a user wrote.

A store names one image place (a reference, a layout and tag, an archive and name). The copy
(copy.py) reads the source through the reading half and writes through the writing half; it never
asks which kind of store it has. Every manifest read is verified by its digest; every blob by its
size and digest: blobs.BlobReader reads a registry's, and whatever takes a blob (an upload, a
layout's write) hashes it and keeps it only when it matches.

Reading:
- ``top()``: the manifest the store's name resolves to (the top of the image: index or manifest).
- ``manifest(descriptor)``: a manifest by its descriptor (an index's child, a referrer's part).
- ``blob_source(descriptor)``: where ``put_blob`` of another store reads the blob: a source with
  ``open(offset)`` (an upload that must go back opens it again there).
- ``small_blob(descriptor)``: a config, read whole and verified.
- ``open_blob(descriptor)`` (registries): the blob as blobs.BlobReader, the one verified stream,
  read once in order (extraction reads layers so).
- ``tags()``: the tags the store holds in its repository, layout or archive.
- ``hint_reading()``: before the first read (a registry: the pull scope);
  ``same_registry(other)``: whether blobs of ``other`` can be mounted here.
- ``referrers(digest, artifact_type=None) -> [entry]``: the referrers of a manifest (referrers.py
  says where each kind of store finds them), each entry with ``digest``, ``media_type``,
  ``artifact_type``, ``size``, ``annotations``, ``found_by`` and ``tag`` for a cosign tag;
  ``referrer_manifest(entry) -> Manifest``: the referrer itself, verified by its digest.

Writing (``holds_referrers`` False: the store keeps images only, a copy reports their referrers
skipped):
- ``check_target(digest)`` and ``accept(source, top, planned)``: refuse, before anything is read
  further, a copy the store cannot hold (a digest other than the one named, an index of several
  platforms in a Docker archive).
- ``current_digest()``: what the store's name holds now (None: nothing), so that a copy plans only
  what is missing.
- ``hint_scopes(source)``: before the first request, what the copy will need (a registry: one
  token for pull, push and the mount); ``prepare(source)``: just before the first write (a
  registry: the same; a layout: its directory made).
- ``put_blob(descriptor, source, chunk_size) -> {"action", "bytes"}``: a blob of ``source``
  (skipped when present, mounted within one registry, else streamed);
  ``put_manifest(manifest, top)``: a manifest, children before their index, the top last under
  the store's tag; ``put_referrers(subject, [(entry, manifest)]) -> int``: record referrers whose
  manifests the store already holds (a cosign tag, an OCI-Subject answer or the fallback index,
  a layout's index.json entry).
- ``use_blob_locations(locations)``: blob_cache.BlobLocations of the run (registries mount
  from where a blob is known to be).
- ``finish(changed)``: make the writes durable (an archive is rewritten and renamed into place);
  ``close()``: on every path, leave no temporary files.
- ``delete(digest)``: remove a manifest (registries only; retention builds on it).
"""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import Manifest

MAX_CONFIG_SIZE = 16 * 1024 * 1024


class Store:
    """The protocol, with the defaults of a store that has nothing to do for a step."""

    display = ""  # what the user wrote, normalised: in results and messages
    repository = None  # the registry repository (None for files)
    holds_referrers = True

    # -- reading ---------------------------------------------------------------------------------
    def top(self) -> Manifest:
        raise NotImplementedError

    def manifest(self, descriptor: dict) -> Manifest:
        raise NotImplementedError

    def blob_source(self, descriptor: dict):
        raise NotImplementedError

    def small_blob(self, descriptor: dict) -> bytes:
        raise NotImplementedError

    def open_blob(self, descriptor: dict):
        raise InputError("%s: reading a blob as a stream is not supported here" % self.display)

    def tags(self) -> list:
        raise NotImplementedError

    def referrers(self, digest: str, artifact_type: str | None = None) -> list:
        return []

    def referrer_manifest(self, entry: dict) -> Manifest:
        raise InputError("%s holds no referrers" % self.display)

    def same_registry(self, other: "Store") -> bool:
        """Whether ``other`` is a repository of this store's registry, on the same connection
        address (blobs are then mounted, not sent)."""
        return False

    def hint_reading(self) -> None:
        """Before the first read: what reading will need (a registry: the pull scope)."""

    # -- writing ---------------------------------------------------------------------------------
    def check_target(self, digest: str) -> None:
        pass

    def accept(self, source: "Store", top: Manifest, planned: list | None) -> None:
        pass

    def current_digest(self) -> str | None:
        raise NotImplementedError

    def hint_scopes(self, source: "Store") -> None:
        pass

    def prepare(self, source: "Store") -> None:
        pass

    def put_blob(self, descriptor: dict, source: "Store", chunk_size: int | None) -> dict:
        raise NotImplementedError

    def put_manifest(self, manifest: Manifest, top: bool) -> None:
        raise NotImplementedError

    def put_referrers(self, subject: str, items: list) -> int:
        raise InputError("%s holds no referrers" % self.display)

    def use_blob_locations(self, locations) -> None:
        """blob_cache.BlobLocations shared by the copies of a run (registries use it to mount)."""

    def delete(self, digest: str) -> None:
        raise InputError("%s: deleting is not supported here" % self.display)

    def finish(self, changed: bool) -> None:
        pass

    def close(self) -> None:
        pass
