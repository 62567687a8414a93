# Private to the drc.registry collection: no compatibility promise for other collections.
"""``docker-archive:PATH[:name:tag]``: the ``docker save`` / ``docker load`` tar as a copy's end.

The archive holds ``manifest.json`` (a list of ``{"Config", "RepoTags", "Layers"}``), each image's
config file and its layer files. It has no registry manifest: read, one is made from the config
and layers (Docker schema 2, as skopeo makes it); written, only the config and layers go in, one
platform per image.

Read in place, never unpacked: the member list is read once (at most ``MAX_ARCHIVE_MEMBERS``
members, no sparse member, every name inside the archive), and the members ``manifest.json``
names must be regular files (links are never followed) lying inside the file; each blob is then
read from its byte range. A compressed archive is first decompressed into a file in a locked
temporary directory (``oci_layout.unpack_directory``), bounded by the ratio the oci-archive rules
allow. Written atomically: a staging layout and a temporary tar beside the archive
(``.drc-tmp-*``), renamed into place.
"""

from __future__ import annotations

import bz2
import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
import tempfile
import zlib

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, platform_string)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import (
    CHUNK, COMPRESSED_ARCHIVE_RATIO, MAX_ARCHIVE_MEMBERS, MAX_INDEX_SIZE, TMP_PREFIX, LockedTempDir,
    OciLayout, remove_debris, unpack_directory)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    familiar_name, parse_image_reference, validate_digest)

TRANSPORT = "docker-archive"
MAX_CONFIG_SIZE = 16 * 1024 * 1024
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


def parse_docker_archive_location(value: str) -> tuple | None:
    """``docker-archive:PATH[:name[:tag]]`` -> ("docker-archive", path, "name:tag" or None)."""
    transport, sep, rest = value.partition(":")
    if not sep or transport != TRANSPORT:
        return None
    path, sep, name = rest.partition(":")
    if not path:
        raise InputError("invalid location %r: the path of the docker-archive is empty" % value)
    if not sep:
        return TRANSPORT, path, None
    return TRANSPORT, path, archive_name(name, value)


def archive_name(name: str, value: str) -> str:
    """The name as ``docker save`` writes it in RepoTags: familiar, always with a tag."""
    try:
        reference = parse_image_reference(name)
    except RegistryError as exc:
        raise InputError("invalid location %r: %s" % (value, exc))
    if reference.digest:
        raise InputError("invalid location %r: a docker-archive names images name:tag, not by digest"
                         % value)
    return "%s:%s" % (familiar_name(reference.index(), reference.repository), reference.tag or "latest")


def _same_name(a: str, b: str) -> bool:
    try:
        return archive_name(a, a) == archive_name(b, b)
    except InputError:
        return False


def _compression(head: bytes) -> str | None:
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


class _Range:
    """A reader of the bytes [start, start + size) of a file."""

    def __init__(self, path: str, start: int, size: int, offset: int) -> None:
        self.handle = open(path, "rb")
        self.handle.seek(start + offset)
        self.left = size - offset

    def read(self, count: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        count = self.left if count is None or count < 0 else min(count, self.left)
        data = self.handle.read(count)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


class MemberSource:
    """A blob that is one member of the archive (a config or a layer), read from its byte range."""

    def __init__(self, path: str, start: int, size: int, what: str) -> None:
        self.path, self.start, self.size, self.what = path, start, size, what

    def open(self, offset: int):
        try:
            return _Range(self.path, self.start, self.size, offset)
        except OSError as exc:
            raise RegistryError("cannot read %s: %s" % (self.what, exc.strerror or exc))


class ArchiveReader:
    """The members of a docker-archive, checked once; its images; their blobs."""

    def __init__(self, path: str, display: str) -> None:
        self.display = display
        self.path = path
        self._plain = None  # the locked directory of a decompressed copy of a compressed archive
        try:
            with open(path, "rb") as probe:
                compression = _compression(probe.read(6))
            if compression is not None:
                self.path = self._decompress(path, compression)
            self.members = self._scan()
        except BaseException:
            self.close()
            raise

    def _decompress(self, path: str, compression: str):
        if compression == "zstd":
            raise RegistryError("%s is zstd-compressed: decompress it first" % self.display)
        opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[compression]
        limit = max(os.path.getsize(path), 1024 * 1024) * COMPRESSED_ARCHIVE_RATIO
        # In $TMPDIR as an oci-archive source's unpack directory: locked, removed by close (the
        # caller's, on every failure too), and what a killed run left is swept by the next run.
        self._plain = unpack_directory()
        plain = os.path.join(self._plain.path, "archive.tar")
        total = 0
        try:
            with opener(path, "rb") as source, open(plain, "xb") as out:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > limit:
                        raise RegistryError("%s unpacks to more than %d bytes: refusing it"
                                            % (self.display, limit))
                    out.write(chunk)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise RegistryError("cannot read the docker-archive %s: %s" % (self.display, exc))
        return plain

    def _scan(self) -> dict:
        """name -> TarInfo of every member, the archive rules applied."""
        members: dict = {}
        size = os.path.getsize(self.path)
        try:
            with tarfile.open(self.path, "r:") as tar:
                for member in tar:
                    if len(members) >= MAX_ARCHIVE_MEMBERS:
                        raise RegistryError("%s: more than %d members: not a docker-archive"
                                            % (self.display, MAX_ARCHIVE_MEMBERS))
                    name = os.path.normpath(member.name)
                    if name.startswith("..") or os.path.isabs(name):
                        raise RegistryError("%s: refusing the archive member %r: it is outside the "
                                            "archive" % (self.display, member.name))
                    if member.issparse():
                        raise RegistryError("%s: refusing the archive member %r: a sparse file has "
                                            "no place in a docker-archive" % (self.display, member.name))
                    if member.isfile() and member.offset_data + member.size > size:
                        raise RegistryError("%s: the member %r ends beyond the archive"
                                            % (self.display, member.name))
                    members[name] = member
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise RegistryError("cannot read the docker-archive %s: %s" % (self.display, exc))
        return members

    def _member(self, name) -> tarfile.TarInfo:
        if not isinstance(name, str) or not name:
            raise RegistryError("%s: manifest.json names a file %r" % (self.display, name))
        member = self.members.get(os.path.normpath(name))
        if member is None:
            raise RegistryError("%s: manifest.json names %r, which is not in the archive" % (self.display, name))
        if not member.isfile():
            raise RegistryError("%s: refusing the archive member %r: a link or special file (links "
                                "are not followed)" % (self.display, name))
        return member

    def read_member(self, name: str, limit: int) -> bytes:
        member = self._member(name)
        if member.size > limit:
            raise RegistryError("%s: %s is larger than %d bytes" % (self.display, name, limit))
        reader = _Range(self.path, member.offset_data, member.size, 0)
        try:
            return reader.read(member.size)
        finally:
            reader.close()

    def source(self, name: str, what: str) -> MemberSource:
        member = self._member(name)
        return MemberSource(self.path, member.offset_data, member.size, what)

    def head(self, name: str) -> bytes:
        member = self._member(name)
        reader = _Range(self.path, member.offset_data, member.size, 0)
        try:
            return reader.read(6)
        finally:
            reader.close()

    def hash_member(self, name: str) -> str:
        member = self._member(name)
        reader = _Range(self.path, member.offset_data, member.size, 0)
        hasher = hashlib.sha256()
        try:
            while True:
                chunk = reader.read(CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
        finally:
            reader.close()
        return "sha256:" + hasher.hexdigest()

    def entries(self) -> list:
        if "manifest.json" not in self.members:
            return []
        try:
            entries = json.loads(self.read_member("manifest.json", MAX_INDEX_SIZE).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            entries = None
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("Config"), str) and isinstance(e.get("Layers"), list)
                for e in entries):
            raise RegistryError("%s: manifest.json is not a docker-archive manifest" % self.display)
        return entries

    def find(self, name: str | None) -> dict | None:
        entries = self.entries()
        if name is None:
            if len(entries) == 1:
                return entries[0]
            if not entries:
                return None
            tags = sorted(t for e in entries for t in (e.get("RepoTags") or []) if isinstance(t, str))
            raise InputError("%s holds %d images: name one with :NAME:TAG (names: %s)"
                             % (self.display, len(entries), ", ".join(tags) or "none"))
        for entry in entries:
            if any(isinstance(t, str) and _same_name(t, name) for t in entry.get("RepoTags") or []):
                return entry
        return None

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
            self._plain = None


def _descriptor(media_type: str, size: int, digest: str) -> dict:
    # The order skopeo's Go structs give: the manifest it makes has the same bytes.
    return {"mediaType": media_type, "size": size, "digest": digest}


class DockerArchiveEnd:
    """A docker-archive as a copy's source or destination."""

    kind = "docker-archive"
    holds_referrers = False  # an archive keeps images only: referrers are reported skipped

    def __init__(self, path: str, name: str | None, writing: bool) -> None:
        self.archive = path
        self.name = name
        self.display = "%s:%s%s" % (TRANSPORT, path, ":" + name if name else "")
        self.repository = None
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
            config = json.loads(config_raw.decode("utf-8"))
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
            member = self._reader._member(name)
            compression = _compression(self._reader.head(name))
            if compression is None:
                # An uncompressed layer is its diff_id (verified as it streams to the destination).
                digest, media_type = diff_id, DOCKER_LAYER_TAR
            else:
                digest = self._reader.hash_member(name)
                media_type = DOCKER_LAYER_ZSTD if compression == "zstd" else DOCKER_LAYER_GZIP
            if not isinstance(digest, str):
                raise RegistryError("%s: a diff_id is not a digest" % self.display)
            layers.append(_descriptor(media_type, member.size, digest))
            self._blobs[digest] = self._reader.source(name, "layer %s in %s" % (name, self.display))
        body = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
                "config": _descriptor(mt.DOCKER_CONFIG, len(config_raw), config_digest), "layers": layers}
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

    def referrers(self, digest: str) -> list:
        return []  # an archive holds no signatures or other referrers

    # -- as a destination -----------------------------------------------------------------------
    def check_target(self, digest: str) -> None:
        pass

    def accept(self, source, top: Manifest, planned: list | None) -> None:
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
            if names != [_layer_file(layer) for layer in layers]:
                return None
            if any(self._reader._member(n).size != layer["size"] for n, layer in zip(names, layers)):
                return None
        except RegistryError:
            return None
        return self._top_digest

    def announce(self, source) -> None:
        if self._staging is None:
            self._staging = LockedTempDir(os.path.dirname(os.path.abspath(self.archive)))
            self._layout = OciLayout(self._staging.path, self.display)

    def push_blob(self, descriptor: dict, source_end, chunk_size: int | None) -> dict:
        if self._layout.has_blob(descriptor["digest"], descriptor["size"]):
            return {"action": "skipped", "bytes": 0}
        sent = self._layout.write_blob_stream(descriptor["digest"], descriptor["size"],
                                              source_end.blob_source(descriptor))
        return {"action": "uploaded", "bytes": sent}

    def put_manifest(self, manifest: Manifest, top: bool) -> None:
        pass  # an archive keeps no manifests: the image's config and layers are written by finish

    def finish(self, changed: bool) -> None:
        if not changed or not self._images:
            return
        config, layers = self._wanted()
        entry = {"Config": _config_file(config), "RepoTags": [self.name] if self.name else [],
                 "Layers": [_layer_file(layer) for layer in layers]}
        kept = []
        for old in (self._reader.entries() if self._reader is not None else []):
            tags = [t for t in old.get("RepoTags") or [] if not (self.name and _same_name(t, self.name))]
            if old.get("RepoTags") and not tags:
                continue  # its only name moves to the new image
            if not self.name and old.get("Config") == entry["Config"]:
                continue
            kept.append(dict(old, RepoTags=tags))
        self._write([entry] + kept, [config] + layers)

    def _write(self, entries: list, new_blobs: list) -> None:
        parent = os.path.dirname(os.path.abspath(self.archive))
        handle = tempfile.NamedTemporaryFile(prefix=TMP_PREFIX, dir=parent, delete=False)
        # Locked while this run writes it: another run's remove_debris leaves it alone; a killed
        # run's is removed by the next one.
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            with handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                written = set()
                data = json.dumps(entries, separators=(",", ":")).encode("utf-8")
                _add_bytes(tar, "manifest.json", data)
                written.add("manifest.json")
                for blob in new_blobs:
                    name = _config_file(blob) if blob is new_blobs[0] else _layer_file(blob)
                    if name in written:
                        continue
                    written.add(name)
                    path = self._layout.blob_file(blob["digest"])
                    info = tarfile.TarInfo(name)
                    info.size = os.path.getsize(path)
                    info.mode = 0o644
                    with open(path, "rb") as source:
                        tar.addfile(info, source)
                for old in entries[1:]:
                    for name in [old["Config"]] + list(old["Layers"]):
                        if os.path.normpath(name) in written:
                            continue
                        written.add(os.path.normpath(name))
                        member = self._reader._member(name)
                        info = tarfile.TarInfo(os.path.normpath(name))
                        info.size = member.size
                        info.mode = 0o644
                        reader = _Range(self._reader.path, member.offset_data, member.size, 0)
                        try:
                            tar.addfile(info, reader)
                        finally:
                            reader.close()
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(handle.name, 0o644)
            os.replace(handle.name, self.archive)
        except BaseException:
            try:
                os.unlink(handle.name)
            except FileNotFoundError:
                pass
            raise

    def close(self) -> None:
        if self._staging is not None:
            self._staging.close()
            self._staging = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _config_file(descriptor: dict) -> str:
    validate_digest(descriptor["digest"])
    return descriptor["digest"].split(":", 1)[1] + ".json"


def _layer_file(descriptor: dict) -> str:
    validate_digest(descriptor["digest"])
    return descriptor["digest"].split(":", 1)[1] + ".tar"


def _add_bytes(tar, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
