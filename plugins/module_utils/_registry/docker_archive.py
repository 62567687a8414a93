# Private to the drc.registry collection: no compatibility promise for other collections.
"""``docker-archive:PATH[:name:tag]``: the ``docker save`` / ``docker load`` tar, read and written
(stores/docker_archive_store.py makes it a copy's store).

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

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import (
    CHUNK, COMPRESSED_ARCHIVE_RATIO, MAX_ARCHIVE_MEMBERS, MAX_INDEX_SIZE, TMP_PREFIX, check_archive_dest,
    unpack_directory)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    familiar_name, parse_image_reference, validate_digest)

TRANSPORT = "docker-archive"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


def archive_name(name: str, value: str) -> str:
    """The name as ``docker save`` writes it in RepoTags: familiar, always with a tag."""
    try:
        reference = parse_image_reference(name)
    except RegistryError as exc:
        raise InputError("invalid location %r: %s" % (value, exc))
    if reference.digest:
        raise InputError("invalid location %r: a docker-archive names images name:tag, not by digest"
                         % value)
    return "%s:%s" % (familiar_name(reference.registry_host(), reference.repository), reference.tag or "latest")


def same_name(a: str, b: str) -> bool:
    try:
        return archive_name(a, a) == archive_name(b, b)
    except InputError:
        return False


def compression_of(head: bytes) -> str | None:
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


class MemberRange:
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
            return MemberRange(self.path, self.start, self.size, offset)
        except OSError as exc:
            raise RegistryError("cannot read %s: %s" % (self.what, exc.strerror or exc))


def _is_entry(entry) -> bool:
    """An image of manifest.json: Config a name, Layers and RepoTags (when there) lists of names."""
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
        return False
    return _names(entry.get("Layers")) and (entry.get("RepoTags") is None or _names(entry["RepoTags"]))


def _names(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


class ArchiveReader:
    """The members of a docker-archive, checked once; its images; their blobs."""

    def __init__(self, path: str, display: str) -> None:
        self.display = display
        self.path = path
        self._plain = None  # the locked directory of a decompressed copy of a compressed archive
        try:
            with open(path, "rb") as probe:
                compression = compression_of(probe.read(6))
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

    def member(self, name) -> tarfile.TarInfo:
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
        member = self.member(name)
        if member.size > limit:
            raise RegistryError("%s: %s is larger than %d bytes" % (self.display, name, limit))
        reader = MemberRange(self.path, member.offset_data, member.size, 0)
        try:
            return reader.read(member.size)
        finally:
            reader.close()

    def source(self, name: str, what: str) -> MemberSource:
        member = self.member(name)
        return MemberSource(self.path, member.offset_data, member.size, what)

    def head(self, name: str) -> bytes:
        member = self.member(name)
        reader = MemberRange(self.path, member.offset_data, member.size, 0)
        try:
            return reader.read(6)
        finally:
            reader.close()

    def hash_member(self, name: str) -> str:
        member = self.member(name)
        reader = MemberRange(self.path, member.offset_data, member.size, 0)
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
            entries = parse_json(self.read_member("manifest.json", MAX_INDEX_SIZE))
        except (ValueError, UnicodeDecodeError):
            entries = None
        if not isinstance(entries, list) or not all(map(_is_entry, entries)):
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
            if any(isinstance(t, str) and same_name(t, name) for t in entry.get("RepoTags") or []):
                return entry
        return None

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
            self._plain = None


def archive_descriptor(media_type: str, size: int, digest: str) -> dict:
    # The order skopeo's Go structs give: the manifest it makes has the same bytes.
    return {"mediaType": media_type, "size": size, "digest": digest}


def write_docker_archive(archive: str, entries: list, new_blobs: list, layout, reader) -> None:
    """The archive ``archive`` with ``entries`` as its manifest.json: the new image's config and
    layers (``new_blobs``, the config first) from the staging ``layout``, the kept images' members
    from the archive's ``reader``; written to a temporary file beside it, renamed into place."""
    parent = os.path.dirname(os.path.abspath(archive))
    handle = tempfile.NamedTemporaryFile(prefix=TMP_PREFIX, dir=parent, delete=False)
    # Locked while this run writes it: another run's remove_debris leaves it alone; a killed
    # run's is removed by the next one.
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
            written = set()
            data = json.dumps(entries, separators=(",", ":")).encode("utf-8")
            add_bytes(tar, "manifest.json", data)
            written.add("manifest.json")
            for blob in new_blobs:
                name = config_file(blob) if blob is new_blobs[0] else layer_file(blob)
                if name in written:
                    continue
                written.add(name)
                path = layout.blob_file(blob["digest"])
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
                    member = reader.member(name)
                    info = tarfile.TarInfo(os.path.normpath(name))
                    info.size = member.size
                    info.mode = 0o644
                    member_bytes = MemberRange(reader.path, member.offset_data, member.size, 0)
                    try:
                        tar.addfile(info, member_bytes)
                    finally:
                        member_bytes.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)
        check_archive_dest(archive, archive)  # again: it may have become one meanwhile
        os.replace(handle.name, archive)
    except BaseException:
        try:
            os.unlink(handle.name)
        except FileNotFoundError:
            pass
        raise


def config_file(descriptor: dict) -> str:
    validate_digest(descriptor["digest"])
    return descriptor["digest"].split(":", 1)[1] + ".json"


def layer_file(descriptor: dict) -> str:
    validate_digest(descriptor["digest"])
    return descriptor["digest"].split(":", 1)[1] + ".tar"


def add_bytes(tar, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
