# Private to the drc.registry collection: no compatibility promise for other collections.
"""The one safe write of a local file: a temporary file beside the target, written, synced,
renamed over the target; removed on any failure, so that the target is either as it was or whole.

What is left if the process dies: the target as it was, plus at most one part file
``.<name>.<key>.drc-part`` beside it, which the next write of that target resumes from (a download
that knows its digest) or removes. Standard library only: downloads, layouts, v1 layers and auth
files all write through here, from whichever layer they live in.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import stat
import tempfile

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError

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


def part_path(dest: str, digest: str) -> str:
    """Where the content ``digest`` for ``dest`` is written until it is complete."""
    directory, name = os.path.split(os.path.abspath(dest))
    return os.path.join(directory, ".%s.%s%s" % (name, digest.split(":")[-1][:16], PART_SUFFIX))


def remove_stale_parts(dest: str, keep: str) -> None:
    """Parts of other contents for the same destination, left by killed runs, unless in use."""
    directory, name = os.path.split(os.path.abspath(dest))
    prefix = "." + name + "."
    for entry in os.listdir(directory):
        path = os.path.join(directory, entry)
        if entry.startswith(prefix) and entry.endswith(PART_SUFFIX) and path != keep:
            try:
                open_part(path).close()
            except (RegistryError, OSError):
                continue  # another run is writing it
            remove(path)


# A part file is opened without following a link and without blocking (a FIFO): whoever can write
# the destination's directory may plant the part's name as a link to someone's file, or a FIFO.
PART_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _open_regular_part(path: str) -> int:
    """A descriptor on ``path``, our own regular file: a planted link, FIFO, device, directory or
    hard-linked file under the part's name is removed (unlinked, never followed or opened) and the
    part created anew, exclusively; planted again meanwhile, it is refused."""
    flags = PART_FLAGS | os.O_CREAT
    try:
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            status = None
        if status is not None and not (stat.S_ISREG(status.st_mode) and status.st_nlink == 1):
            if stat.S_ISDIR(status.st_mode):
                os.rmdir(path)
            else:
                os.unlink(path)
            flags |= os.O_EXCL
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise RegistryError("refusing the part file %s: it is not a regular file of this run (%s)" % (
            path, exc.strerror or exc))
    status = os.fstat(fd)
    if not (stat.S_ISREG(status.st_mode) and status.st_nlink == 1):
        os.close(fd)
        raise RegistryError("refusing the part file %s: it is not a regular file of this run" % path)
    return fd


def open_part(path: str):
    """Open (or create) the part file and lock it: two runs never write one destination at once."""
    fd = _open_regular_part(path)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise RegistryError("another download is writing %s (it holds a lock on it)" % path)
        raise
    return WriteBehindFile(io.FileIO(fd, "r+"))


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sync_directory(path: str) -> None:
    """fsync a directory: a rename in it survives a crash."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def replace(part: str, dest: str) -> None:
    """The default move: one rename over ``dest``, the directory synced."""
    try:
        os.replace(part, dest)
    except OSError as exc:
        raise RegistryError("writing %s failed: %s" % (dest, exc.strerror or exc))
    sync_directory(os.path.dirname(dest))


def write_beside(dest: str, write, part: str | None = None, move=replace, register=None):
    """The one safe write: ``write(fileobj)`` fills a file beside ``dest``, which is then flushed,
    synced and moved over ``dest`` with ``move(part, dest)``; returns what ``write`` returned.

    ``part``: a part file that may hold an earlier killed run's bytes (opened locked and not
    truncated, so that ``write`` can resume from its end); without it, a fresh temporary name,
    locked too. Parts of ``dest`` that killed runs left (no lock held on them) are removed. ``register(path)`` is told the file first (Ansible's
    cleanup list). ``move`` may leave the file where it is (the content was already there): it is
    removed then, as it is on any failure.
    """
    if part is None:
        directory, name = os.path.split(os.path.abspath(dest))
        fd, part = tempfile.mkstemp(prefix=".%s." % name, suffix=PART_SUFFIX, dir=directory)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: in use, not stale
        handle = WriteBehindFile(io.FileIO(fd, "r+"))
    else:
        handle = open_part(part)
    try:
        remove_stale_parts(dest, keep=part)
        if register is not None:
            register(part)  # removed however the run ends, unless moved into place
        try:
            result = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as exc:
            raise RegistryError("writing %s failed: %s" % (part, exc.strerror or exc))
    except BaseException:
        handle.close()
        remove(part)
        raise
    handle.close()
    try:
        move(part, dest)
    finally:
        remove(part)  # left only when not moved, or when the move failed
    return result


def write_file_atomically(dest: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``dest`` (a symbolic link: the file it points at) with ``data`` in one rename.

    The part file is created with at most ``mode``, given the old file's owner and group where
    allowed. Killed before the rename: ``dest`` as it was, and a part file that the next call
    removes.
    """
    dest = os.path.realpath(dest)

    def fill(handle) -> None:
        os.fchmod(handle.fileno(), mode)
        handle.seek(0)
        handle.truncate()
        handle.write(data)
        try:
            old = os.stat(dest)
            os.fchown(handle.fileno(), old.st_uid, old.st_gid)
        except OSError:
            pass  # no old file, or not ours to give away: the writer's owner it is

    try:
        write_beside(dest, fill, part=part_path(dest, "sha256:" + hashlib.sha256(data).hexdigest()))
    except OSError as exc:
        raise RegistryError("writing %s failed: %s" % (dest, exc.strerror or exc))
