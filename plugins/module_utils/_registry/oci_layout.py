# Private to the drc.registry collection: no compatibility promise for other collections.
"""OCI image layouts as skopeo writes them: ``oci:PATH[:TAG]`` (a directory) and
``oci-archive:PATH[:TAG]`` (the same directory as a tar file).

A layout is ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json`` (an OCI index whose
entries carry their tag in the ``org.opencontainers.image.ref.name`` annotation) and
``blobs/<algorithm>/<hex>``. Every file is written to a temporary name beside its final one,
verified, and renamed: a killed copy leaves no half blob under a blob's name.
"""

from __future__ import annotations

import errno
import fcntl
import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zlib

from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import (
    RangeStream, SourceFailed)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import DigestHasher
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    MAX_MANIFEST_SIZE, Manifest, ManifestError, digest_of)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    validate_digest)

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
MAX_INDEX_SIZE = 16 * 1024 * 1024
CHUNK = 1024 * 1024
TMP_PREFIX = ".drc-tmp-"
# An oci-archive source is unpacked in $TMPDIR, where other programs keep their files: only names
# with this prefix are swept there (mkdtemp's random part never holds a "-").
UNPACK_PREFIX = TMP_PREFIX + "unpack-"
# An oci-archive is unpacked into a temporary directory: at most this many members, and at most
# this many bytes per byte of archive (1 for a plain tar: its members cannot hold more than it;
# a compressed one expands), counted as they are written.
MAX_ARCHIVE_MEMBERS = 100000
COMPRESSED_ARCHIVE_RATIO = 32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


# A layout's files are opened without following a link and without blocking: a FIFO planted where a
# blob or index.json should be would block open() until a writer came (forever); fstat then refuses
# what is not a regular file, and reads of a regular file block again as usual.
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def open_regular(name: str, dir_fd: int | None = None) -> int:
    """A descriptor for reading ``name`` (in ``dir_fd``): never through a symbolic link (ELOOP),
    never blocking on a FIFO or device; ``OSError`` EINVAL for what is not a regular file."""
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~getattr(os, "O_NONBLOCK", 0))
    return fd


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _lock(fd: int) -> bool:
    """Lock a temp file or directory for as long as this run holds ``fd``; False if another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _temp_file(dir_fd: int) -> tuple:
    """(fd, name) of a new temp file in the directory ``dir_fd``, locked by this run."""
    for _attempt in range(100):
        name = TMP_PREFIX + os.urandom(6).hex()
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
        if _lock(fd) and _same_file(name, fd, dir_fd):  # not taken by another run's sweep meanwhile
            return fd, name
        os.close(fd)
    raise RegistryError("cannot create a temporary file")


def _write_atomically_at(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``name`` in the directory ``dir_fd`` whole or not at all (a symlink there is replaced)."""
    fd, temp = _temp_file(dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.chmod(temp, 0o644, dir_fd=dir_fd)
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _unlink_at(dir_fd, temp)
        raise


def _unlink_at(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def remove_debris(directory: str, prefix: str = TMP_PREFIX) -> list:
    """Remove the temp files and directories (``prefix*``, ``.drc-tmp-*`` by default) that killed
    runs left in ``directory``; those another run holds locked are in use and stay. Returns what
    was removed."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, _READ_FLAGS)  # never blocking on a FIFO
        except OSError:
            continue  # a symlink or gone: not ours
        try:
            if not _lock(fd):
                continue
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                shutil.rmtree(path, ignore_errors=True)
            else:
                _remove(path)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def _same_file(path: str, fd: int, dir_fd: int | None = None) -> bool:
    """Whether ``path`` (in ``dir_fd``) still names the file ``fd`` holds."""
    try:
        found = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def unpack_directory() -> LockedTempDir:
    """A locked directory in $TMPDIR to unpack an oci-archive source into. The unpack directories
    killed runs left there go first; those of runs still going are locked and stay."""
    remove_debris(tempfile.gettempdir(), UNPACK_PREFIX)
    return LockedTempDir(None, UNPACK_PREFIX)


class LockedTempDir:
    """A temp directory (``prefix*``, ``.drc-tmp-*`` by default) locked while this run uses it,
    removed by ``close``; one that a killed run left is removed by the next ``remove_debris`` of
    its parent."""

    def __init__(self, parent: str | None, prefix: str = TMP_PREFIX) -> None:
        for _attempt in range(100):
            path = tempfile.mkdtemp(prefix=prefix, dir=parent)
            try:
                fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
            except FileNotFoundError:
                continue
            # Between mkdtemp and the lock, another run's remove_debris may have taken the new
            # directory for debris: then it is that run's to remove, and this run makes another.
            if _lock(fd) and _same_file(path, fd):
                self.path, self._fd = path, fd
                return
            os.close(fd)
        where = parent or tempfile.gettempdir()
        raise RegistryError("cannot create a temporary directory in %s" % where)

    def close(self) -> None:
        if self._fd is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            os.close(self._fd)
            self._fd = None


def _digest_parts(digest: str) -> list:
    """``[algorithm, hex]`` of a digest, validated first: the one place a blob's path comes from."""
    validate_digest(digest)
    return digest.split(":", 1)


def _ref_name(entry) -> str | None:
    """The tag of an index.json entry; None for an untagged or malformed one."""
    annotations = entry.get("annotations") if isinstance(entry, dict) else None
    name = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
    return name if isinstance(name, str) else None


class LayoutBlobSource:
    """A blob of a layout, read without following links and only when it has its expected size."""

    def __init__(self, layout, digest: str, size: int | None) -> None:
        self.layout, self.digest, self.size = layout, digest, size
        self.what = "blob %s in %s" % (digest, layout.display)

    def open(self, offset: int):
        handle = self.layout.open_blob(self.digest, self.size)
        handle.seek(offset)
        return handle


class OciLayout:
    """An OCI image layout directory: read its tags, manifests and blobs; write new ones."""

    def __init__(self, path: str, display: str | None = None) -> None:
        self.path = path
        self.display = display or "oci:%s" % path

    # -- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return os.path.isfile(os.path.join(self.path, "index.json"))

    def read_index(self) -> dict:
        index_path = os.path.join(self.path, "index.json")
        try:
            with os.fdopen(open_regular(index_path), "rb") as handle:
                raw = handle.read(MAX_INDEX_SIZE + 1)
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}
        except OSError as exc:
            reason = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or exc
            raise RegistryError("cannot read %s: %s" % (index_path, reason))
        if len(raw) > MAX_INDEX_SIZE:
            raise RegistryError("%s is larger than %d bytes" % (index_path, MAX_INDEX_SIZE))
        try:
            index = parse_json(raw)
        except (ValueError, UnicodeDecodeError):
            index = None
        if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
            raise RegistryError("%s is not an OCI index" % index_path)
        index.setdefault("manifests", [])
        return index

    def entries(self) -> list:
        entries = [entry for entry in self.read_index()["manifests"]
                   if isinstance(entry, dict) and isinstance(entry.get("digest"), str)]
        for entry in entries:  # it becomes a manifest's Content-Type, read as text
            if not isinstance(entry.get("mediaType", ""), str):
                raise RegistryError("%s: the index.json entry for %s has a mediaType that is not a "
                                    "string" % (self.display, entry["digest"][:80]))
        return entries

    def find(self, tag: str | None) -> dict | None:
        """The index.json entry for a tag; without a tag, the only entry (as skopeo does)."""
        entries = self.entries()
        if tag is None:
            if len(entries) == 1:
                return entries[0]
            if not entries:
                return None
            names = sorted(set(_ref_name(e) or "" for e in entries) - {""})
            raise InputError("%s holds %d images: name one with :TAG (tags: %s)"
                             % (self.display, len(entries), ", ".join(names) or "none"))
        for entry in entries:
            if _ref_name(entry) == tag:
                return entry
        return None

    def tags(self) -> list:
        return sorted(set(name for name in map(_ref_name, self.entries()) if name))

    def blob_file(self, digest: str) -> str:
        algorithm, hex_part = _digest_parts(digest)
        return os.path.join(self.path, "blobs", algorithm, hex_part)

    def _blob_dir_fd(self, algorithm: str, create: bool = False) -> int:
        """An open descriptor of ``blobs/<algorithm>``, reached without following a link: a layout
        whose ``blobs`` or ``blobs/<algorithm>`` is a symbolic link is refused."""
        fd = os.open(self.path, os.O_RDONLY | _DIRECTORY)
        try:
            for part in ("blobs", algorithm):
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise RegistryError("%s: refusing %s, which is a symbolic link or not a "
                                            "directory" % (self.display, os.path.join(
                                                "blobs", algorithm) if part == algorithm else "blobs"))
                    raise
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _blob_stat(self, digest: str):
        """lstat of a blob's file (never following a link); None when it is absent."""
        algorithm, hex_part = _digest_parts(digest)
        try:
            dir_fd = self._blob_dir_fd(algorithm)
        except FileNotFoundError:
            return None
        try:
            return os.stat(hex_part, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(dir_fd)

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        """A regular file of the expected size (a truncated one is not the blob)."""
        found = self._blob_stat(digest)
        return found is not None and stat.S_ISREG(found.st_mode) and (size is None or found.st_size == size)

    def open_blob(self, digest: str, size: int | None = None):
        """A blob's file opened for reading: a regular file, never through a symbolic link, and
        of ``size`` bytes when a size is expected (checked before anything is read)."""
        algorithm, hex_part = _digest_parts(digest)
        try:
            dir_fd = self._blob_dir_fd(algorithm)
            try:
                fd = open_regular(hex_part, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        except FileNotFoundError:
            raise RegistryError("%s has no blob %s" % (self.display, digest))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RegistryError("%s: refusing the blob %s, which is a symbolic link"
                                    % (self.display, digest))
            if exc.errno in (errno.EINVAL, errno.EISDIR):
                raise RegistryError("%s: refusing the blob %s, which is not a regular file"
                                    % (self.display, digest))
            raise RegistryError("%s: cannot read the blob %s: %s" % (self.display, digest, exc.strerror or exc))
        handle = os.fdopen(fd, "rb")
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or (size is not None and found.st_size != size):
            handle.close()
            raise RegistryError("%s: the blob %s is %s, not the %s bytes its descriptor declares"
                                % (self.display, digest, "%d bytes" % found.st_size
                                   if stat.S_ISREG(found.st_mode) else "not a regular file",
                                   size if size is not None else "some"))
        return handle

    def blob_source(self, digest: str, size: int | None = None) -> LayoutBlobSource:
        self.open_blob(digest, size).close()  # now, with the reason: absent, a link, a wrong size
        return LayoutBlobSource(self, digest, size)

    def read_manifest(self, digest: str, media_type: str | None = None) -> Manifest:
        handle = self.open_blob(digest)
        try:
            raw = handle.read(MAX_MANIFEST_SIZE + 1)
        except OSError as exc:
            raise RegistryError("%s: cannot read the manifest %s: %s"
                                % (self.display, digest, exc.strerror or exc))
        finally:
            handle.close()
        if len(raw) > MAX_MANIFEST_SIZE:
            raise RegistryError("%s: the manifest %s is larger than %d bytes"
                                % (self.display, digest, MAX_MANIFEST_SIZE))
        actual = digest_of(raw, digest.split(":", 1)[0])
        if actual != digest:
            raise DigestMismatch("%s: the manifest %s hashes to %s" % (self.display, digest, actual))
        try:
            return Manifest(raw, media_type, digest)
        except ManifestError as exc:
            raise RegistryError("%s: %s" % (self.display, exc))

    # -- writing -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the layout (directory, oci-layout, blobs/) if it is not one yet, and remove what
        killed runs left in it (unlocked ``.drc-tmp-*`` files)."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise InputError("%s: %s exists and is not a directory" % (self.display, self.path))
        os.makedirs(self.path, exist_ok=True)
        if not os.path.exists(os.path.join(self.path, LAYOUT_FILE)):
            self._write_file(LAYOUT_FILE, json.dumps(LAYOUT_VERSION).encode())
        remove_debris(self.path)
        blobs = os.path.join(self.path, "blobs")
        if os.path.isdir(blobs) and not os.path.islink(blobs):
            for algorithm in os.listdir(blobs):
                if os.path.isdir(os.path.join(blobs, algorithm)) and not os.path.islink(os.path.join(blobs, algorithm)):
                    remove_debris(os.path.join(blobs, algorithm))

    def _write_file(self, name: str, data: bytes) -> None:
        dir_fd = os.open(self.path, os.O_RDONLY | _DIRECTORY)
        try:
            _write_atomically_at(dir_fd, name, data)
        finally:
            os.close(dir_fd)

    def write_blob_bytes(self, digest: str, data: bytes) -> bool:
        """Store a small blob (a manifest); False when it was already there."""
        if digest_of(data, digest.split(":", 1)[0]) != digest:
            raise DigestMismatch("refusing to store content under the digest %s it does not have" % digest)
        if self.has_blob(digest, len(data)):
            return False
        algorithm, hex_part = _digest_parts(digest)
        dir_fd = self._blob_dir_fd(algorithm, create=True)
        try:
            _write_atomically_at(dir_fd, hex_part, data)
        finally:
            os.close(dir_fd)
        return True

    def put_blob(self, descriptor: dict, source) -> dict:
        """A store's put_blob into this layout: skipped when the blob is there whole, else
        streamed from the source store's ``blob_source`` (asked only then)."""
        if self.has_blob(descriptor["digest"], descriptor["size"]):
            return {"action": "skipped", "bytes": 0}
        sent = self.write_blob_stream(descriptor["digest"], descriptor["size"],
                                      source.blob_source(descriptor))
        return {"action": "uploaded", "bytes": sent}

    def write_blob_stream(self, digest: str, size: int, source) -> int:
        """Stream a blob from a source into place, hashed as it is written; returns its size.

        The source is read and hashed on a reader thread a few buffers ahead of the writes. The
        temp file is locked while it is written: one a killed run left is removed by the next.
        """
        final = self.blob_file(digest)
        algorithm, hex_part = _digest_parts(digest)
        hasher = DigestHasher.for_digest(digest)
        written = 0
        reader = source.open(0)  # before the temp file: a source that cannot open leaves nothing
        stream = RangeStream(reader, 0, size, hasher, source.what)
        dir_fd = temp = None
        try:
            dir_fd = self._blob_dir_fd(algorithm, create=True)
            fd, temp = _temp_file(dir_fd)
            with os.fdopen(fd, "wb") as handle:
                for chunk in stream:
                    handle.write(chunk)
                    written += len(chunk)
                if reader.read(1):
                    raise DigestMismatch("%s is larger than its declared %d bytes" % (source.what, size))
                handle.flush()
                os.fsync(handle.fileno())
                actual = hasher.digest()
                if written != size or actual != digest:
                    raise DigestMismatch("%s is %d bytes hashing to %s, not %d bytes hashing to %s"
                                         % (source.what, written, actual, size, digest))
                os.chmod(temp, 0o644, dir_fd=dir_fd)
                os.replace(temp, hex_part, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                temp = None
        except SourceFailed as exc:
            if isinstance(exc.error, RegistryError):
                raise exc.error
            reason = getattr(exc.error, "strerror", None) or exc.error
            raise RegistryError("cannot read %s: %s" % (source.what, reason))
        except OSError as exc:
            raise RegistryError("writing %s failed: %s" % (final, exc.strerror or exc))
        finally:
            if temp is not None:
                _unlink_at(dir_fd, temp)
            if dir_fd is not None:
                os.close(dir_fd)
            stream.close()
            reader.close()
        return written

    def set_tag(self, tag: str | None, descriptor: dict) -> None:
        """Point a tag at a manifest in index.json (an untagged entry when ``tag`` is None)."""
        index = self.read_index()
        entry = {"mediaType": descriptor["mediaType"], "digest": descriptor["digest"],
                 "size": descriptor["size"]}
        manifests = []
        for existing in index["manifests"]:
            name = _ref_name(existing)
            if tag is not None and name == tag:
                continue
            if tag is None and name is None and isinstance(existing, dict) \
                    and existing.get("digest") == descriptor["digest"]:
                continue
            manifests.append(existing)
        if descriptor.get("artifactType"):
            entry["artifactType"] = descriptor["artifactType"]
        if tag is not None:
            entry["annotations"] = {REF_NAME: tag}
        manifests.append(entry)
        self._write_index(index, manifests)

    def add_entry(self, descriptor: dict) -> bool:
        """List an untagged manifest in index.json (a referrer, found by its ``subject``), kept
        with its artifactType and annotations; False when it is listed already."""
        index = self.read_index()
        if any(isinstance(e, dict) and e.get("digest") == descriptor["digest"] for e in index["manifests"]):
            return False
        self._write_index(index, list(index["manifests"]) + [dict(descriptor)])
        return True

    def _write_index(self, index: dict, manifests: list) -> None:
        index["manifests"] = manifests
        index.setdefault("schemaVersion", 2)
        self._write_file("index.json", json.dumps(index, separators=(",", ":")).encode())


# -- oci-archive: a layout in a tar file ---------------------------------------------------------
def _archive_refusal(archive: str, member, reason: str) -> RegistryError:
    return RegistryError("%s: refusing the archive member %r: %s" % (archive, member.name, reason))


def extract_archive(archive: str, directory: str) -> None:
    """Unpack an oci-archive into ``directory``: regular files and directories only, inside it.

    Links, devices and sparse members are refused; the member count and the bytes written are
    bounded (``MAX_ARCHIVE_MEMBERS``; the archive's own size, times ``COMPRESSED_ARCHIVE_RATIO``
    when it is compressed), the bytes counted as they are written.
    """
    try:
        with open(archive, "rb") as probe:
            magic = probe.read(6)
        compressed = magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00"
        limit = max(os.path.getsize(archive), 1024 * 1024) * (COMPRESSED_ARCHIVE_RATIO if compressed else 1)
        total = count = 0
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                count += 1
                if count > MAX_ARCHIVE_MEMBERS:
                    raise RegistryError("%s: more than %d members: not an OCI layout"
                                        % (archive, MAX_ARCHIVE_MEMBERS))
                name = os.path.normpath(member.name)
                if name.startswith("..") or os.path.isabs(name):
                    raise _archive_refusal(archive, member, "it is outside the layout")
                target = os.path.join(directory, name)
                if member.isdir():
                    os.makedirs(target, exist_ok=True)
                    continue
                if not member.isfile():
                    raise _archive_refusal(archive, member, "a link or special file has no place "
                                                            "in an OCI layout")
                if member.issparse():
                    raise _archive_refusal(archive, member, "a sparse file has no place in an OCI layout")
                if total + member.size > limit:
                    raise RegistryError("%s unpacks to more than %d bytes: refusing it" % (archive, limit))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with tar.extractfile(member) as src, \
                        open(target, "xb") as out:
                    while True:
                        chunk = src.read(CHUNK)
                        if not chunk:
                            break
                        total += len(chunk)
                        if total > limit:
                            raise RegistryError("%s unpacks to more than %d bytes: refusing it"
                                                % (archive, limit))
                        out.write(chunk)
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise RegistryError("cannot read the oci-archive %s: %s" % (archive, exc))


def check_archive_dest(archive: str, display: str) -> None:
    """Refuse an archive destination that exists and is not a regular file (through a link too):
    the new archive is renamed over it, and a device such as /dev/null must never be replaced."""
    try:
        found = os.stat(archive)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError("dest %s: cannot check %s: %s" % (display, archive, exc.strerror or exc))
    if not stat.S_ISREG(found.st_mode):
        raise InputError("dest %s: %s exists and is not a regular file: refusing to replace it"
                         % (display, archive))


def write_archive(directory: str, archive: str) -> None:
    """Tar a layout directory into ``archive`` atomically (a locked temp file beside it, then
    renamed); one a killed run left is removed by the next run's ``remove_debris``."""
    parent = os.path.dirname(os.path.abspath(archive))
    dir_fd = os.open(parent, os.O_RDONLY | _DIRECTORY)
    fd, name = _temp_file(dir_fd)
    temp = os.path.join(parent, name)
    try:
        with os.fdopen(fd, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for root, dirs, files in os.walk(directory):
                    dirs.sort()
                    for entry in sorted(dirs) + sorted(files):
                        full = os.path.join(root, entry)
                        if entry.startswith(TMP_PREFIX):
                            continue
                        tar.add(full, arcname=os.path.relpath(full, directory), recursive=False)
            handle.flush()
            os.fsync(handle.fileno())
            os.chmod(name, 0o644, dir_fd=dir_fd)
            check_archive_dest(archive, archive)  # again: it may have become one meanwhile
            os.replace(temp, archive)
    except BaseException:
        _remove(temp)
        raise
    finally:
        os.close(dir_fd)
