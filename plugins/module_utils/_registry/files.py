# Private to the drc.registry collection: no compatibility promise for other collections.
"""Local files for blob downloads: hashing what is there, and temp files that never linger."""

from __future__ import annotations

import hashlib
import os
import tempfile

CHUNK = 1024 * 1024


def file_digest(path: str, algorithm: str = "sha256") -> tuple:
    """(digest, size) of a file, read in chunks; (None, None) when there is no such file."""
    if not os.path.isfile(path):
        return None, None
    hasher = hashlib.new(algorithm)
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            hasher.update(chunk)
            size += len(chunk)
    return "%s:%s" % (algorithm, hasher.hexdigest()), size


def blob_destination(dest: str, digest: str) -> str:
    """An existing directory means a file named by the digest inside it."""
    return os.path.join(dest, digest) if os.path.isdir(dest) else dest


def download_to_temp(directory: str, write) -> str:
    """Create a temp file in ``directory``, let ``write(fileobj)`` fill it, return its path.

    On any failure the temp file is removed before the error propagates.
    """
    fd, path = tempfile.mkstemp(prefix=".drc-blob-", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "w+b") as handle:
            write(handle)
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    return path
