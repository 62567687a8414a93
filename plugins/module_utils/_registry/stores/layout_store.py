# Private to the drc.registry collection: no compatibility promise for other collections.
"""An OCI image layout as a store (store.py says the protocol): ``oci:PATH[:TAG]``, a directory,
or ``oci-archive:PATH[:TAG]``, the same as a tar file (oci_layout.py reads and writes both)."""

from __future__ import annotations

import os

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, digest_of)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import (
    LockedTempDir, OciLayout, check_archive_dest, extract_archive, remove_debris, unpack_directory,
    write_archive)
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import LayoutReferrers
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.store import (
    MAX_CONFIG_SIZE, Store)

ARCHIVE = "oci-archive"


class LayoutStore(Store):
    """The image ``tag`` names in a layout (without a tag: its only image)."""

    def __init__(self, transport: str, path: str, tag: str | None, writing: bool) -> None:
        self.transport = transport
        self.archive = path if transport == ARCHIVE else None
        self.tag = tag
        self.display = "%s:%s%s" % (transport, path, ":" + tag if tag else "")
        self._temp = None
        try:
            self._open(path, writing)
        except BaseException:
            self.close()  # a refused or broken archive leaves no unpacked directory behind
            raise

    def _open(self, path: str, writing: bool) -> None:
        if self.archive is None:
            directory = path
        else:
            parent = os.path.dirname(os.path.abspath(path))
            if writing and not os.path.isdir(parent):
                raise InputError("dest %s: directory %s does not exist" % (self.display, parent))
            if writing:
                check_archive_dest(path, self.display)
            if not writing and not os.path.isfile(path):
                raise InputError("src %s: no such file %s" % (self.display, path))
            if writing:
                remove_debris(parent)  # what a killed run left beside the archive
                # Beside the archive (so the final rename stays on one file system).
                self._temp = LockedTempDir(parent)
            else:
                self._temp = unpack_directory()
            directory = self._temp.path
            if os.path.isfile(path):
                extract_archive(path, directory)
        if not writing and not os.path.isfile(os.path.join(directory, "index.json")):
            raise InputError("src %s: %s is not an OCI image layout (no index.json)"
                             % (self.display, path))
        self.layout = OciLayout(directory, self.display)
        self._referrers = LayoutReferrers(self.layout)

    # -- reading ---------------------------------------------------------------------------------
    def top(self) -> Manifest:
        entry = self.layout.find(self.tag)
        if entry is None:
            raise RegistryError("%s: no image tagged %s" % (self.display, self.tag or "(any)"))
        return self.layout.read_manifest(entry["digest"], entry.get("mediaType"))

    def manifest(self, descriptor: dict) -> Manifest:
        return self.layout.read_manifest(descriptor["digest"], descriptor.get("mediaType"))

    def blob_source(self, descriptor: dict):
        return self.layout.blob_source(descriptor["digest"], descriptor["size"])

    def small_blob(self, descriptor: dict) -> bytes:
        """A config: read whole, and used only when it hashes to its descriptor's digest."""
        if descriptor["size"] > MAX_CONFIG_SIZE:
            raise RegistryError("%s: blob %s is too large for a config" % (self.display, descriptor["digest"]))
        reader = self.blob_source(descriptor).open(0)
        try:
            data = reader.read(MAX_CONFIG_SIZE + 1)
        finally:
            reader.close()
        actual = digest_of(data, descriptor["digest"].split(":", 1)[0])
        if actual != descriptor["digest"]:
            raise DigestMismatch("%s: the blob %s hashes to %s" % (self.display, descriptor["digest"], actual))
        return data

    def tags(self) -> list:
        return self.layout.tags()

    def referrers(self, digest: str, artifact_type: str | None = None) -> list:
        return self._referrers.referrers(digest, artifact_type)

    def referrer_manifest(self, entry: dict) -> Manifest:
        return self._referrers.referrer_manifest(entry)

    # -- writing ---------------------------------------------------------------------------------
    def current_digest(self) -> str | None:
        try:
            entry = self.layout.find(self.tag)
        except InputError:
            return None  # several untagged images: writing one more is a change
        if entry is None or not self.layout.has_blob(entry["digest"], entry.get("size")):
            return None
        return entry["digest"]

    def prepare(self, source: Store) -> None:
        self.layout.prepare()

    def put_blob(self, descriptor: dict, source: Store, chunk_size: int | None) -> dict:
        return self.layout.put_blob(descriptor, source)

    def put_manifest(self, manifest: Manifest, top: bool) -> None:
        self.layout.write_blob_bytes(manifest.digest, manifest.raw)
        if top:
            self.layout.set_tag(self.tag, {"mediaType": manifest.media_type, "digest": manifest.digest,
                                           "size": manifest.size})

    def put_referrers(self, subject: str, items: list) -> int:
        self.layout.prepare()
        return self._referrers.put_referrers(subject, items)

    def finish(self, changed: bool) -> None:
        if self.archive is not None and changed:
            write_archive(self._temp.path, self.archive)

    def close(self) -> None:
        if self._temp is not None:
            self._temp.close()
            self._temp = None
