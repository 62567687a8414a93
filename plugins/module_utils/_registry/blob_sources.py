# Private to the drc.registry collection: no compatibility promise for other collections.
"""Where the bytes of a blob being uploaded come from: a file, memory, or another registry.

A source is opened at an offset and read in order; an upload that must go back (the registry
reported less than was sent) opens it again at that offset. Nothing holds a whole blob in memory.
"""

from __future__ import annotations

import queue
import threading

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import blob_path
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, RegistryError, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import release

try:
    import requests
    import urllib3
    READ_ERRORS = (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError)
except ImportError:  # the adapters report the missing library first
    READ_ERRORS = (OSError,)


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


class _RegistryReader:
    """Reads a blob from a registry in order; a body cut short is continued with ``Range``."""

    def __init__(self, source: "RegistryBlobSource", offset: int) -> None:
        self.source = source
        self.position = offset
        self.response = None
        self.interruptions = 0

    def _open(self) -> None:
        source = self.source
        headers = {"Range": "bytes=%d-" % self.position} if self.position else {}
        response = source.connection.request(
            "GET", blob_path(source.repository, source.digest),
            [repository_scope(source.repository)], headers=headers,
            ok=(206,) if self.position else (200,),
            what="blob %s in %s" % (source.digest, source.repository))
        if self.position and not response.headers.get("Content-Range", "").startswith(
                "bytes %d-" % self.position):
            release(response)
            raise RegistryError("the source registry answered a Range request for blob %s with "
                                "another range" % source.digest)
        self.response = response

    def read(self, count: int) -> bytes:
        while True:
            if self.response is None:
                if self.position >= self.source.size:
                    return b""
                self._open()
            try:
                chunk = self.response.raw.read(count, decode_content=False)
            except READ_ERRORS as exc:
                self._interrupted(exc)
                continue
            if not chunk:
                if self.position < self.source.size:
                    self._interrupted(None)
                    continue
                return b""
            self.position += len(chunk)
            if self.position > self.source.size:
                self.close()
                raise DigestMismatch("blob %s in %s is larger than its declared %d bytes" % (
                    self.source.digest, self.source.repository, self.source.size))
            if self.position == self.source.size:
                release(self.response)  # all read: the connection goes back to the pool
                self.response = None
            return chunk

    def _interrupted(self, exc) -> None:
        self.close()
        connection = self.source.connection
        self.interruptions += 1
        if self.interruptions > max(connection.retries, 1):
            url = connection.url(blob_path(self.source.repository, self.source.digest))
            raise RegistryError("GET %s failed: the download was interrupted %d times, last after %d "
                                "bytes (%s)" % (redact_url(url), self.interruptions, self.position,
                                                type(exc).__name__ if exc else "body cut short"),
                                method="GET", url=url)
        connection.log("source blob %s interrupted after %d bytes; continuing with Range"
                       % (self.source.digest, self.position))

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
            self.response = None


class RegistryBlobSource:
    """A blob in a repository of another (or the same) registry, streamed."""

    def __init__(self, connection, repository: str, digest: str, size: int) -> None:
        self.connection = connection
        self.repository = repository
        self.digest = digest
        self.size = size
        self.what = "blob %s in %s" % (digest, repository)

    def open(self, offset: int):
        return _RegistryReader(self, offset)
