# Private to the drc.registry collection: no compatibility promise for other collections.
"""A Docker archive (``docker-archive:PATH[:NAME:TAG]``, docker_archive.py reads and writes the
format) as a store (store.py says the protocol). Read, its image gets a registry manifest made from
the config and the layers; written, one single-platform image goes in (``accept`` refuses an index
of several), staged in a layout beside the archive and written whole by ``finish``."""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.docker_archive import (
    DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_LAYER_ZSTD, TRANSPORT, ArchiveReader,
    archive_descriptor, compression_of, config_file, layer_file, same_name, write_docker_archive)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, platform_string)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import (
    LockedTempDir, OciLayout, check_archive_dest, remove_debris)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.store import (
    MAX_CONFIG_SIZE, Store)


class DockerArchiveStore(Store):
    """The image ``name`` names in a docker-archive (without a name: its only image)."""

    holds_referrers = False  # an archive keeps images only: referrers are reported skipped

    def __init__(self, path: str, name: str | None, writing: bool) -> None:
        self.archive = path
        self.name = name
        self.display = "%s:%s%s" % (TRANSPORT, path, ":" + name if name else "")
        self.writing = writing
        self._reader = None
        self._staging = None
        self._images: list = []
        self._blobs: dict = {}
        self._config = None
        self._top_digest = None
        self._layout = None
        parent = os.path.dirname(os.path.abspath(path))
        if writing and not os.path.isdir(parent):
            raise InputError("dest %s: directory %s does not exist" % (self.display, parent))
        if writing:
            check_archive_dest(path, self.display)
        if not writing and not os.path.isfile(path):
            raise InputError("src %s: no such file %s" % (self.display, path))
        try:
            if writing:
                remove_debris(parent)  # what a killed run left beside the archive
            if os.path.isfile(path):
                self._reader = ArchiveReader(path, self.display)
        except BaseException:
            self.close()
            raise

    # -- as a source ----------------------------------------------------------------------------
    def top(self) -> Manifest:
        entry = self._reader.find(self.name)
        if entry is None:
            raise RegistryError("%s: no image named %s" % (self.display, self.name or "(any)"))
        config_raw = self._reader.read_member(entry["Config"], MAX_CONFIG_SIZE)
        config_digest = "sha256:" + hashlib.sha256(config_raw).hexdigest()
        try:
            config = parse_json(config_raw)
            diff_ids = config["rootfs"]["diff_ids"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            raise RegistryError("%s: the config %s is not an image config with rootfs.diff_ids"
                                % (self.display, entry["Config"]))
        if not isinstance(diff_ids, list) or len(diff_ids) != len(entry["Layers"]):
            raise RegistryError("%s: the config lists %s layers, manifest.json %d"
                                % (self.display, len(diff_ids) if isinstance(diff_ids, list) else "no",
                                   len(entry["Layers"])))
        self._config = config_raw
        self._blobs = {config_digest: self._reader.source(entry["Config"], "the config in %s" % self.display)}
        layers = []
        for name, diff_id in zip(entry["Layers"], diff_ids):
            member = self._reader.member(name)
            compression = compression_of(self._reader.head(name))
            if compression is None:
                # An uncompressed layer is its diff_id (verified as it streams to the destination).
                digest, media_type = diff_id, DOCKER_LAYER_TAR
            else:
                digest = self._reader.hash_member(name)
                media_type = DOCKER_LAYER_ZSTD if compression == "zstd" else DOCKER_LAYER_GZIP
            if not isinstance(digest, str):
                raise RegistryError("%s: a diff_id is not a digest" % self.display)
            layers.append(archive_descriptor(media_type, member.size, digest))
            self._blobs[digest] = self._reader.source(name, "layer %s in %s" % (name, self.display))
        body = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
                "config": archive_descriptor(mt.DOCKER_CONFIG, len(config_raw), config_digest), "layers": layers}
        return Manifest(json.dumps(body, separators=(",", ":")).encode("utf-8"), mt.DOCKER_MANIFEST)

    def manifest(self, descriptor: dict) -> Manifest:
        raise RegistryError("%s holds no manifest %s" % (self.display, descriptor.get("digest")))

    def blob_source(self, descriptor: dict):
        found = self._blobs.get(descriptor["digest"])
        if found is None:
            raise RegistryError("%s has no blob %s" % (self.display, descriptor["digest"]))
        return found

    def small_blob(self, descriptor: dict) -> bytes:
        if self._config is not None and descriptor["digest"] == "sha256:" + hashlib.sha256(self._config).hexdigest():
            return self._config
        raise RegistryError("%s has no config %s" % (self.display, descriptor["digest"]))

    def tags(self) -> list:
        if self._reader is None:
            return []
        return sorted(set(t for e in self._reader.entries() for t in e.get("RepoTags") or []
                          if isinstance(t, str)))

    # -- as a destination -----------------------------------------------------------------------
    def check_target(self, digest: str) -> None:
        pass

    def accept(self, source: Store, top: Manifest, planned: list | None) -> None:
        """The image this archive will hold: one platform (an index must have been narrowed to
        one with ``platforms``), read now so that its config and layers are known. ``planned``:
        the manifests the copy will write, when already known (converted ones)."""
        manifest = top
        if top.is_index:
            children = top.entries()
            if len(children) != 1:
                platforms = ", ".join(platform_string(c["platform"] or {}) for c in top.children())
                raise InputError("%s holds single-platform images and %s is an index of %d (%s): "
                                 "name one platform with platforms" % (
                                     self.display, source.display, len(children), platforms))
            found = [m for m in planned or [] if m.digest == children[0]["digest"]]
            manifest = found[0] if found else source.manifest(children[0])
        if manifest.is_index or manifest.config_descriptor() is None:
            raise RegistryError("%s: %s is not an image with a config" % (self.display, source.display))
        self._images = [manifest]
        self._top_digest = top.digest

    def _wanted(self) -> tuple:
        manifest = self._images[-1]
        config = manifest.config_descriptor()
        layers = list(manifest.body.get("layers") or [])
        return config, layers

    def current_digest(self) -> str | None:
        """The copy's digest when the archive already holds this image under this name: the same
        config (hashed) and the same layer files of the declared sizes."""
        if self._reader is None or not self._images:
            return None
        entry = self._reader.find(self.name) if self.name else None
        if entry is None:
            return None
        config, layers = self._wanted()
        try:
            if self._reader.hash_member(entry["Config"]) != config["digest"]:
                return None
            names = entry["Layers"]
            if names != [layer_file(layer) for layer in layers]:
                return None
            if any(self._reader.member(n).size != layer["size"] for n, layer in zip(names, layers)):
                return None
        except RegistryError:
            return None
        return self._top_digest

    def prepare(self, source: Store) -> None:
        if self._staging is None:
            self._staging = LockedTempDir(os.path.dirname(os.path.abspath(self.archive)))
            self._layout = OciLayout(self._staging.path, self.display)

    def put_blob(self, descriptor: dict, source: Store, chunk_size: int | None) -> dict:
        return self._layout.put_blob(descriptor, source)

    def put_manifest(self, manifest: Manifest, top: bool) -> None:
        pass  # an archive keeps no manifests: the image's config and layers are written by finish

    def finish(self, changed: bool) -> None:
        if not changed or not self._images:
            return
        config, layers = self._wanted()
        entry = {"Config": config_file(config), "RepoTags": [self.name] if self.name else [],
                 "Layers": [layer_file(layer) for layer in layers]}
        kept = []
        for old in (self._reader.entries() if self._reader is not None else []):
            tags = [t for t in old.get("RepoTags") or [] if not (self.name and same_name(t, self.name))]
            if old.get("RepoTags") and not tags:
                continue  # its only name moves to the new image
            if not self.name and old.get("Config") == entry["Config"]:
                continue
            kept.append(dict(old, RepoTags=tags))
        write_docker_archive(self.archive, [entry] + kept, [config] + layers, self._layout, self._reader)

    def close(self) -> None:
        if self._staging is not None:
            self._staging.close()
            self._staging = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
