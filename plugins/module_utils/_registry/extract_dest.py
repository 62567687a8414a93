# Private to the drc.registry collection: no compatibility promise for other collections.
"""The destination of an extraction: a private temporary directory beside it, the tree written
there through directory descriptors (every component opened with O_NOFOLLOW, nothing followed),
then swapped into place in one rename.

What is left if the process dies: ``dest`` as it was (the swap is one ``renameat2`` exchange, or
where that is missing two renames that the next run completes or undoes), plus the temporary
directory ``.<name>.drc-extract-*`` beside it, which the next run removes (unless another run holds
its lock).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import stat
import tempfile

from ansible_collections.drc.registry.plugins.module_utils._registry.digests import DigestHasher
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)

TEMP_MARK = ".drc-extract-"
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
CHUNK = 1024 * 1024
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class Destination:
    """``dest``: checked, stale temporaries of killed runs cleaned, its current tree described."""

    def __init__(self, dest: str) -> None:
        if not isinstance(dest, str) or not dest:
            raise InputError("dest must be a directory path")
        self.path = os.path.realpath(dest)
        self.parent, self.name = os.path.split(self.path)
        if not os.path.isdir(self.parent):
            raise InputError("dest %s: directory %s does not exist" % (dest, self.parent))
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise InputError("dest %s exists and is not a directory" % dest)
        self.prefix = ".%s%s" % (self.name, TEMP_MARK)

    def clean_stale(self) -> None:
        """Temporaries of killed runs: an unfinished swap is finished (or undone), then removed."""
        for entry in os.listdir(self.parent):
            if not entry.startswith(self.prefix):
                continue
            path = os.path.join(self.parent, entry)
            try:
                fd = os.open(path, DIR_FLAGS)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # another run is working in it
                old = os.path.join(path, "old")
                if not os.path.lexists(self.path) and os.path.isdir(old):
                    os.rename(old, self.path)  # killed between the two renames: dest as it was
                _remove_tree(path)
            finally:
                os.close(fd)

    def describe(self, hash_files: bool = True) -> dict | None:
        """``{relative path: (type, mode, content, uid, gid)}`` of the tree at dest, or None."""
        if not os.path.isdir(self.path):
            return None
        found: dict = {}
        root_fd = os.open(self.path, DIR_FLAGS)
        try:
            _describe(root_fd, "", found, hash_files)
        finally:
            os.close(root_fd)
        return found


def _describe(dir_fd: int, prefix: str, found: dict, hash_files: bool) -> None:
    for name in sorted(os.listdir(dir_fd)):
        rel = prefix + "/" + name
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISDIR(info.st_mode):
            found[rel] = ("directory", mode, None, info.st_uid, info.st_gid)
            fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
            try:
                _describe(fd, rel, found, hash_files)
            finally:
                os.close(fd)
        elif stat.S_ISLNK(info.st_mode):
            found[rel] = ("symlink", mode, os.readlink(name, dir_fd=dir_fd), info.st_uid, info.st_gid)
        elif stat.S_ISREG(info.st_mode):
            content = _hash_file(name, dir_fd) if hash_files else None
            found[rel] = ("file", mode, content, info.st_uid, info.st_gid)
        else:
            found[rel] = ("other", mode, None, info.st_uid, info.st_gid)


def _hash_file(name: str, dir_fd: int) -> str | None:
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None  # unreadable: never equal to what would be written
    hasher = DigestHasher("sha256")
    with os.fdopen(fd, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            hasher.update(chunk)
    return hasher.digest().split(":", 1)[1]


class Workspace:
    """The private temporary directory beside dest: ``content/`` holds captured member bytes,
    ``root/`` the new tree. Locked while in use; removed on close."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        self.path = tempfile.mkdtemp(prefix=destination.prefix, dir=destination.parent)
        self.fd = os.open(self.path, DIR_FLAGS)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.content = os.path.join(self.path, "content")
        self.root = os.path.join(self.path, "root")
        os.mkdir(self.content, 0o700)
        os.mkdir(self.root, 0o700)

    def close(self) -> None:
        _remove_tree(self.path)
        os.close(self.fd)

    def swap_into_place(self) -> None:
        """One atomic exchange of root/ and dest (or a rename when there is no dest yet)."""
        dest = self.destination.path
        os.chmod(self.root, 0o755)
        if not os.path.lexists(dest):
            os.rename(self.root, dest)
            return
        if _exchange(self.root, dest):
            return
        old = os.path.join(self.path, "old")  # no renameat2: two renames, finished by clean_stale
        os.rename(dest, old)
        os.rename(self.root, dest)


def _exchange(first: str, second: str) -> bool:
    """renameat2(RENAME_EXCHANGE): True when done, False when the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return False
    if function(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), second)


class TreeWriter:
    """Writes entries under a root directory by descriptor: parents before children, each
    component opened with O_NOFOLLOW, every entry created exclusively (never over, never through,
    anything). Directory modes are set at the end, deepest first, so a read-only directory of the
    image never stops its own contents from being written."""

    def __init__(self, root: str, content_dir: str) -> None:
        self.root_fd = os.open(root, DIR_FLAGS)
        self.content_fd = os.open(content_dir, DIR_FLAGS)
        self._stack: list = []  # [(components tuple, fd)] of the directories open along the path
        self._directories: list = []  # (components, mode, uid, gid, mtime) set at the end
        self._done_content: set = set()  # hard links share one inode: its attributes are set once

    def _parent_fd(self, parent: tuple) -> int:
        while self._stack and self._stack[-1][0] != parent[:len(self._stack[-1][0])]:
            os.close(self._stack.pop()[1])
        while True:
            depth = len(self._stack[-1][0]) if self._stack else 0
            if depth == len(parent):
                return self._stack[-1][1] if self._stack else self.root_fd
            current = self._stack[-1][1] if self._stack else self.root_fd
            fd = os.open(parent[depth], DIR_FLAGS, dir_fd=current)
            self._stack.append((parent[:depth + 1], fd))

    def directory(self, components: tuple, mode: int, owner, mtime) -> None:
        parent_fd = self._parent_fd(components[:-1])
        os.mkdir(components[-1], 0o700, dir_fd=parent_fd)
        self._directories.append((components, mode, owner, mtime))

    def file(self, components: tuple, content_name: str, mode: int, owner, mtime) -> None:
        parent_fd = self._parent_fd(components[:-1])
        name = components[-1]
        os.link(content_name, name, src_dir_fd=self.content_fd, dst_dir_fd=parent_fd,
                follow_symlinks=False)
        if content_name in self._done_content:
            return
        self._done_content.add(content_name)
        fd = os.open(name, FILE_FLAGS, dir_fd=parent_fd)
        try:
            if owner is not None:
                os.fchown(fd, owner[0], owner[1])
            os.fchmod(fd, mode)
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def symlink(self, components: tuple, target: str, owner, mtime) -> None:
        parent_fd = self._parent_fd(components[:-1])
        name = components[-1]
        os.symlink(target, name, dir_fd=parent_fd)
        if owner is not None:
            os.chown(name, owner[0], owner[1], dir_fd=parent_fd, follow_symlinks=False)
        os.utime(name, (mtime, mtime), dir_fd=parent_fd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory owners, modes and times, deepest first; then every descriptor closed."""
        self.close_stack()
        for components, mode, owner, mtime in sorted(self._directories, key=lambda d: -len(d[0])):
            fd = self.root_fd
            opened = []
            try:
                for part in components:
                    fd = os.open(part, DIR_FLAGS, dir_fd=fd)
                    opened.append(fd)
                if owner is not None:
                    os.fchown(fd, owner[0], owner[1])
                os.fchmod(fd, mode)
                os.utime(fd, (mtime, mtime))
            finally:
                for item in opened:
                    os.close(item)

    def close_stack(self) -> None:
        while self._stack:
            os.close(self._stack.pop()[1])

    def close(self) -> None:
        self.close_stack()
        for fd in (self.root_fd, self.content_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def write_error(exc: OSError, where: str) -> RegistryError:
    return RegistryError("writing %s failed: %s" % (where, exc.strerror or exc))
