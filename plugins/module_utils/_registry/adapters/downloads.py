# Private to the drc.registry collection: no compatibility promise for other collections.
"""The whole safe write of a downloaded file: a part file beside the destination, resumed after a
killed run, verified, moved into place atomically, file attributes applied.

What is left if the process dies: the destination as it was, plus at most one part file
``.<name>.drc-part`` beside it, which the next run resumes from (or removes) and never leaves behind.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import tempfile

from ansible_collections.drc.registry.plugins.module_utils._registry.digests import DigestHasher
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)

CHUNK = 1024 * 1024
PART_SUFFIX = ".drc-part"
# How much written data may wait in the page cache before its write-back to disk is started.
WRITE_BEHIND = 16 * 1024 * 1024


class WriteBehindFile(io.BufferedRandom):
    """A binary file that starts the disk write-back of what was written every ``WRITE_BEHIND``
    bytes, without waiting for it: the closing ``fsync`` then has little left to wait for, instead
    of writing the whole file after the download (1.5 s per GiB measured on the project's VM).

    ``posix_fadvise(DONTNEED)`` starts write-back of dirty pages and never discards unwritten data.
    """

    _advised_to = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        position = super().seek(offset, whence)
        self._advised_to = min(self._advised_to, position)  # a restarted download: from there
        return position

    def write(self, data) -> int:
        count = super().write(data)
        end = self.tell()
        start = self._advised_to
        if end - start >= WRITE_BEHIND and hasattr(os, "posix_fadvise"):
            self.flush()
            os.posix_fadvise(self.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)
            self._advised_to = end
        return count


def file_digest(path: str, algorithm: str = "sha256") -> tuple:
    """(digest, size) of a file, read in chunks; (None, None) when there is no such file."""
    if not os.path.isfile(path):
        return None, None
    hasher = DigestHasher(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            hasher.update(chunk)
    return hasher.digest(), hasher.size


def blob_destination(dest: str, digest: str) -> str:
    """An existing directory means a file named by the digest inside it."""
    return os.path.join(dest, digest) if os.path.isdir(dest) else dest


def part_path(dest: str, digest: str) -> str:
    """Where the download of ``digest`` to ``dest`` is written until it is verified."""
    directory, name = os.path.split(os.path.abspath(dest))
    return os.path.join(directory, ".%s.%s%s" % (name, digest.split(":")[-1][:16], PART_SUFFIX))


def _remove_stale_parts(dest: str, keep: str) -> None:
    """Parts of other contents for the same destination, left by killed runs, unless in use."""
    directory, name = os.path.split(os.path.abspath(dest))
    prefix = "." + name + "."
    for entry in os.listdir(directory):
        path = os.path.join(directory, entry)
        if entry.startswith(prefix) and entry.endswith(PART_SUFFIX) and path != keep:
            try:
                _open_part(path).close()
            except (RegistryError, OSError):
                continue  # another run is writing it
            _remove(path)


def _open_part(path: str):
    """Open (or create) the part file and lock it: two runs never write one destination at once."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise RegistryError("another download is writing %s (it holds a lock on it)" % path)
        raise
    return WriteBehindFile(io.FileIO(fd, "r+"))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def download_to_temp(directory: str, write) -> str:
    """A temp file in ``directory`` that ``write(fileobj)`` fills; removed if anything fails.

    For downloads whose digest is not known beforehand (v1 layers), which cannot be resumed by
    ``write_verified_file``; the caller moves the file into place (or removes it).
    """
    fd, path = tempfile.mkstemp(prefix=".drc-download-", suffix=PART_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "w+b") as handle:
            write(handle)
    except BaseException:
        _remove(path)
        raise
    return path


def write_verified_file(module, dest: str, digest: str, download, probe_size) -> dict:
    """Make ``dest`` hold the content with ``digest``; the one call a downloading module makes.

    ``download(fileobj)`` streams the content into a binary file (which may already hold the first
    bytes of an earlier, killed run: resume from its end), verifies it and returns its size.
    ``probe_size()`` returns the size without downloading (for check mode). Returns the module
    result: dest, digest, size, changed, and diff when the module runs in diff mode.
    """
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise InputError("dest %s: directory %s does not exist" % (dest, directory))
    if os.path.isdir(dest):
        raise InputError("dest %s is a directory" % dest)
    algorithm = digest.split(":", 1)[0]
    before_digest, before_size = file_digest(dest, algorithm)
    result = {"dest": dest, "digest": digest, "size": before_size, "changed": False}
    if before_digest != digest:
        result["changed"] = True
        if module.check_mode:
            result["size"] = probe_size()
        else:
            result["size"] = _download(module, dest, digest, download)
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(module.params, path=dest)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    if module._diff:
        result["diff"] = {"before": {"digest": before_digest, "size": before_size},
                          "after": {"digest": digest, "size": result["size"]}}
    return result


def _download(module, dest: str, digest: str, download) -> int:
    part = part_path(dest, digest)
    handle = _open_part(part)
    _remove_stale_parts(dest, keep=part)
    try:
        module.add_cleanup_file(part)  # removed however the module ends, unless moved into place
        try:
            size = download(handle)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as exc:
            raise RegistryError("writing %s failed: %s" % (part, exc.strerror or exc))
    except BaseException:
        handle.close()
        _remove(part)
        raise
    handle.close()
    module.atomic_move(part, dest)
    return size


def write_file_atomically(dest: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``dest`` (a symbolic link: the file it points at) with ``data`` in one rename.

    The same part file as a download (beside the destination, created with at most ``mode`` and
    locked), written, synced, given the old file's owner and group where allowed, renamed over it.
    Killed before the rename: ``dest`` as it was, and a part file that the next call removes.
    """
    dest = os.path.realpath(dest)
    part = part_path(dest, "sha256:" + hashlib.sha256(data).hexdigest())
    handle = _open_part(part)
    try:
        _remove_stale_parts(dest, keep=part)
        os.fchmod(handle.fileno(), mode)
        handle.seek(0)
        handle.truncate()
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
        try:
            old = os.stat(dest)
            os.fchown(handle.fileno(), old.st_uid, old.st_gid)
        except OSError:
            pass  # no old file, or not ours to give away: the writer's owner it is
        os.replace(part, dest)
    except OSError as exc:
        _remove(part)
        raise RegistryError("writing %s failed: %s" % (dest, exc.strerror or exc))
    except BaseException:
        _remove(part)
        raise
    finally:
        handle.close()
    directory = os.open(os.path.dirname(dest), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
