# Private to the drc.registry collection: no compatibility promise for other collections.
"""Where the bytes of a blob being uploaded come from: a file, memory, or another registry.

A source is opened at an offset and read in order; an upload that must go back (the registry
reported less than was sent) opens it again at that offset. Nothing holds a whole blob in memory.
"""

from __future__ import annotations

import queue
import threading

from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import open_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, RegistryError)


def read_exact(reader, count: int, what: str) -> bytes:
    """Exactly ``count`` bytes from a reader, or an error saying the source ended early."""
    parts, got = [], 0
    while got < count:
        chunk = reader.read(count - got)
        if not chunk:
            raise DigestMismatch("%s ended after %d bytes, before its declared size" % (
                what, reader.position if hasattr(reader, "position") else got))
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


BUFFER_SIZE = 1024 * 1024
READ_AHEAD = 4  # buffers read (and hashed) ahead of the consumer, per blob in flight


class SourceFailed(Exception):
    """Carries what went wrong reading a source while its bytes were being sent, so that the
    upload reports it as the source's fault, not the destination's."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class RangeStream:
    """The bytes [start, end) of an opened source, hashed as they are read, handed out in
    large buffers by a reader thread that keeps up to ``READ_AHEAD`` of them ready.

    Reading (with TLS, for a registry), hashing and the consumer's writing or sending then
    overlap: each of them releases the GIL for the large buffers. Iterating yields the buffers;
    ``position`` is where the reader stands (ahead of what was consumed), ``consumed`` how many
    bytes the consumer took. A failure of the source is raised as ``SourceFailed`` to the
    consumer. ``close()`` stops the thread (iterate to the end, or close).
    """

    _DONE = object()

    def __init__(self, reader, start: int, end: int, hasher, what: str,
                 buffer_size: int = BUFFER_SIZE, read_ahead: int = READ_AHEAD) -> None:
        self.reader = reader
        self.start = start
        self.end = end
        self.hasher = hasher
        self.what = what
        self.buffer_size = buffer_size
        self.position = start
        self.consumed = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, read_ahead))
        self._stop = threading.Event()
        self._thread = None

    def __len__(self) -> int:
        return self.end - self.start

    def _read_all(self) -> None:
        try:
            while self.position < self.end and not self._stop.is_set():
                data = self.reader.read(min(self.buffer_size, self.end - self.position))
                if not data:
                    raise DigestMismatch("%s ended after %d bytes, before its declared size"
                                         % (self.what, self.position))
                self.hasher.feed(self.position, data)
                self.position += len(data)
                self._put(data)
            self._put(self._DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(SourceFailed(exc))

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        if self._thread is not None:
            # Its bytes are gone (a redirected request would send it again): never wait for them.
            raise RegistryError("%s: a streamed body can be sent once only (was the upload redirected?)"
                                % self.what)
        self._thread = threading.Thread(target=self._read_all, name="drc-blob-reader", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is self._DONE:
                    return
                if isinstance(item, SourceFailed):
                    raise item
                yield item
                self.consumed += len(item)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader thread and wait for it: the reader is the caller's again."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class FileSource:
    """A blob in a local file (an OCI layout's ``blobs/<alg>/<hex>``)."""

    def __init__(self, path: str, what: str | None = None) -> None:
        self.path = path
        self.what = what or "file %s" % path

    def open(self, offset: int):
        try:
            handle = open(self.path, "rb")
        except OSError as exc:
            raise RegistryError("cannot read %s: %s" % (self.what, exc.strerror or exc))
        handle.seek(offset)
        return handle


class _BytesReader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data, self.position = data, offset

    def read(self, count: int) -> bytes:
        chunk = self.data[self.position:self.position + count]
        self.position += len(chunk)
        return chunk

    def close(self) -> None:
        pass


class BytesSource:
    """A small blob already in memory (a manifest, a config)."""

    def __init__(self, data: bytes, what: str = "blob") -> None:
        self.data = data
        self.what = what

    def open(self, offset: int):
        return _BytesReader(self.data, offset)


class RegistryBlobSource:
    """A blob in a repository of another (or the same) registry, streamed."""

    def __init__(self, connection, repository: str, digest: str, size: int) -> None:
        self.connection = connection
        self.repository = repository
        self.digest = digest
        self.size = size
        self.what = "blob %s in %s" % (digest, repository)

    def open(self, offset: int):
        # blobs' one stream (bounded, continued with Range); the upload hashes what it sends and
        # completes only on a match, so the stream does not hash it a second time
        return open_blob(self.connection, self.repository, self.digest, self.size, offset=offset,
                         verify=False)
