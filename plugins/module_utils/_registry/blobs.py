# Private to the drc.registry collection: no compatibility promise for other collections.
"""The blobs API: HEAD for a size, small verified blobs in memory, large ones streamed with resume."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    ThreadedHasher, digest_of, parse_decimal_header)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, RegistryError, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import validate_digest
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import release

try:
    import requests
    import urllib3
    READ_ERRORS = (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError)
except ImportError:  # the adapters report the missing library first
    READ_ERRORS = (OSError,)

MAX_CONFIG_SIZE = 16 * 1024 * 1024
# A blob streams in reads of this size, straight from the connection; each one is hashed on a second
# thread (a queue of HASH_QUEUE of them: bounded memory) while it is written with one system call.
BLOB_CHUNK = 1024 * 1024
HASH_QUEUE = 4


def blob_path(repository: str, digest: str) -> str:
    return "/v2/%s/blobs/%s" % (repository, digest)


def _declared_size(response) -> int | None:
    return parse_decimal_header(response.headers.get("Content-Length"))


def head_blob(connection, repository: str, digest: str) -> int | None:
    """Size of a blob, or None when the registry does not have it."""
    validate_digest(digest)
    try:
        response = connection.request("HEAD", blob_path(repository, digest),
                                      [repository_scope(repository)], what="blob %s" % digest)
    except RegistryError as exc:
        if exc.status == 404:
            return None
        raise
    release(response)
    return _declared_size(response)


def get_blob_bytes(connection, repository: str, digest: str, limit: int = MAX_CONFIG_SIZE) -> bytes:
    """A small blob (an image config) in memory, verified against its digest."""
    validate_digest(digest)
    data, _response = connection.get_bounded(blob_path(repository, digest),
                                             [repository_scope(repository)], limit,
                                             "blob %s" % digest)
    actual = digest_of(data, digest.split(":", 1)[0])
    if actual != digest:
        raise DigestMismatch("blob %s in %s hashes to %s: refusing content that does not match "
                             "its digest" % (digest, repository, actual))
    return data


def _range_total(response) -> int | None:
    """The complete length in ``Content-Range: bytes 10-99/100``."""
    return parse_decimal_header(response.headers.get("Content-Range", "").rpartition("/")[2])


def _resumes_at(response, offset: int) -> bool:
    if response.status_code != 206:
        return False
    content_range = response.headers.get("Content-Range", "")
    return content_range.startswith("bytes %d-" % offset)


class BlobReader:
    """The one reader of a blob's bytes from a registry: read in order as a binary file object,
    for a consumer that cannot seek (a decompressor, a tar reader, an upload, a file being written).

    - Never read past its size: one byte past it at most, then DigestMismatch. The size is the
      descriptor's; without one (``size=None``, a fetch by digest alone) the response's
      Content-Length or Content-Range total, else a HEAD.
    - A body cut short (a read error) is continued with ``Range`` from where it stopped, at most
      ``retries`` times (at least once).
    - Hashed as it is read and checked at its end: the read that reaches the end raises
      DigestMismatch, instead of returning ``b""``, when the size or the digest is wrong.
      ``verify=False`` leaves the digest to a consumer that hashes what it takes (an upload).
    - Opened at ``offset`` (an upload going back, a part file resumed): ``hasher`` then holds the
      bytes before it. A server that ignores ``Range`` (or cannot continue, 416) is an error,
      unless ``restart`` is given: it is called (the consumer drops what it has) and the blob is
      read again from its first byte.

    What the consumer got before the end is not verified yet: it must keep it private until the
    end is reached (``drain()`` reads the rest and checks it). ``close()`` on every path.
    """

    def __init__(self, connection, repository: str, digest: str, size: int | None, offset: int = 0,
                 hasher=None, verify: bool = True, restart=None, size_from: str = "descriptor") -> None:
        self.connection = connection
        self.repository = repository
        self.digest = validate_digest(digest)
        self.size = size
        self.position = offset
        self.verified = False
        self._verify = verify
        self._restart = restart
        self._size_from = size_from  # "descriptor", "expected" (the caller's) or "declared" (the server's)
        self._path = blob_path(repository, digest)
        self._response = None
        self._response_left = None  # bytes the current response still declares, when it says
        self._interruptions = 0
        self._buffer = b""  # one network read, handed out in the consumer's (often small) reads
        self._offset = 0
        self._hasher = None
        if verify:
            self._hasher = hasher or ThreadedHasher.for_digest(digest, depth=HASH_QUEUE)

    def _what(self) -> str:
        return "blob %s in %s" % (self.digest, self.repository)

    def _open(self) -> None:
        while True:
            ranged = self.position > 0
            headers = {"Range": "bytes=%d-" % self.position} if ranged else {}
            ok = (200,)
            if ranged:
                ok = (200, 206, 416) if self._restart else (206,)
            response = self.connection.request("GET", self._path, [repository_scope(self.repository)],
                                               headers=headers, ok=ok, what=self._what())
            if ranged and not _resumes_at(response, self.position):
                if self._restart is None:
                    release(response)
                    raise RegistryError("the registry answered a Range request for blob %s with "
                                        "another range" % self.digest)
                # what we hold is not a prefix the server continues (it ignored Range, or 416)
                self.connection.log("the server did not continue %s at byte %d; reading it from "
                                    "the start" % (self.digest, self.position))
                self._start_over()
                if response.status_code != 200:
                    release(response)
                    continue
            if self.size is None:
                self.size = _declared_size(response) if response.status_code == 200 else _range_total(response)
                if self.size is None:
                    release(response)
                    self.size = head_blob(self.connection, self.repository, self.digest)
                    if self.size is None:
                        raise RegistryError("the registry declares no size for blob %s in %s: give "
                                            "the expected size (a descriptor's size)"
                                            % (self.digest, self.repository))
                    self._size_from = "declared"
                    continue
                self._size_from = "declared"
            self._response = response
            self._response_left = _declared_size(response)
            return

    def _start_over(self) -> None:
        self._restart()
        self.position = 0
        if self._hasher is not None:
            self._hasher.close()
            self._hasher = ThreadedHasher.for_digest(self.digest, depth=HASH_QUEUE)

    def _interrupted(self, exc) -> None:
        self._drop_response()
        self._interruptions += 1
        if self._interruptions > max(self.connection.retries, 1):
            url = self.connection.url(self._path)
            raise RegistryError("GET %s failed: the download was interrupted %d times, last after %d "
                                "bytes (%s)" % (redact_url(url), self._interruptions, self.position,
                                                type(exc).__name__ if exc else "body cut short"),
                                method="GET", url=url)
        self.connection.log("blob %s interrupted after %d bytes; continuing with Range"
                            % (self.digest, self.position))

    def _check_end(self) -> None:
        self._drop_response()
        if self.position != self.size:
            raise DigestMismatch("blob %s in %s is %d bytes, not the %d bytes %s" % (
                self.digest, self.repository, self.position, self.size,
                "declared" if self._size_from == "descriptor" else self._size_from))
        if self._hasher is not None:
            actual = self._hasher.digest()
            if actual != self.digest:
                raise DigestMismatch("blob %s in %s hashes to %s: refusing content that does not "
                                     "match its digest" % (self.digest, self.repository, actual))
        self.verified = True

    def read(self, count: int = -1) -> bytes:
        """At most ``count`` bytes (one buffer of at most BLOB_CHUNK when ``count`` is negative)."""
        if count == 0:
            return b""
        if self._offset >= len(self._buffer):
            self._buffer, self._offset = self._next_chunk(), 0
        if count is None or count < 0:
            count = len(self._buffer)
        if self._offset == 0 and count >= len(self._buffer):
            self._offset = len(self._buffer)
            return self._buffer  # the whole network read: handed on without a copy
        piece = self._buffer[self._offset:self._offset + count]
        self._offset += len(piece)
        return piece

    def _next_chunk(self) -> bytes:
        """The next read from the network, of up to BLOB_CHUNK bytes; b"" at the verified end."""
        if self.verified:
            return b""
        while True:
            if self._response is None:
                if self.size is not None and self.position >= self.size:
                    self._check_end()
                    return b""
                self._open()
            try:
                # one byte past the size at most: a longer body is refused right there
                chunk = self._response.raw.read(max(1, min(BLOB_CHUNK, self.size - self.position + 1)),
                                                decode_content=False)
            except READ_ERRORS as exc:
                self._interrupted(exc)
                continue
            if not chunk:
                if self.position < self.size and self._response_left != 0:
                    self._interrupted(None)  # the body ended before its own length: continue
                    continue
                self._check_end()  # the whole answer, or past the size: its checks say which
                return b""
            if self.position + len(chunk) > self.size:
                self._drop_response()
                raise DigestMismatch("blob %s in %s is larger than %s" % (
                    self.digest, self.repository, "its declared %d bytes" % self.size
                    if self._size_from == "descriptor" else "the %d bytes %s" % (self.size, self._size_from)))
            self.position += len(chunk)
            if self._response_left is not None:
                self._response_left -= len(chunk)
            if self._hasher is not None:
                self._hasher.update(chunk)
            return chunk

    def drain(self) -> None:
        """Read what the consumer left (a tar's padding), reaching the end and its checks."""
        while self.read(BLOB_CHUNK):
            pass

    def _drop_response(self) -> None:
        if self._response is not None:
            if self.size is not None and self.position >= self.size:
                release(self._response)  # all read: the connection goes back to the pool
            else:
                self._response.close()
            self._response = None

    def close(self) -> None:
        self._drop_response()
        if self._hasher is not None:
            self._hasher.close()

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_blob(connection, repository: str, digest: str, size: int, offset: int = 0,
              verify: bool = True) -> BlobReader:
    """A blob of a known (descriptor) size as a verified, streaming, read-once file object."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError("blob %s in %s has no usable size in its descriptor" % (digest, repository))
    return BlobReader(connection, repository, digest, size, offset=offset, verify=verify)


def _already_written(out, hasher, expected_size: int | None) -> int:
    """Bytes an earlier, interrupted run left in ``out``: hashed again, and resumed from."""
    end = out.seek(0, 2)
    if not end:
        return 0
    if expected_size is not None and end > expected_size:
        out.seek(0)
        out.truncate()
        return 0
    out.seek(0)
    for chunk in iter(lambda: out.read(BLOB_CHUNK), b""):
        hasher.update(chunk)
    return out.tell()


def _write(out, chunk: bytes, digest: str) -> None:
    """A failed write is the disk's problem, not the network's: never retried, named as it is."""
    try:
        out.write(chunk)
    except OSError as exc:
        raise RegistryError("writing blob %s to %s failed: %s" % (
            digest, getattr(out, "name", "the destination"), exc.strerror or exc))


def fetch_blob(connection, repository: str, digest: str, out, expected_size: int | None = None) -> int:
    """Stream a blob into a binary file object (seekable: a part file an earlier run left is
    resumed); returns its size. The blob stream (BlobReader) opened and written out: never past the
    size the caller expects or, failing that, the size the registry declares; hashed and checked."""
    validate_digest(digest)
    hasher = ThreadedHasher.for_digest(digest, depth=HASH_QUEUE)
    try:
        written = _already_written(out, hasher, expected_size)
    except BaseException:
        hasher.close()
        raise

    def restart() -> None:  # the part file is no prefix the server continues: start over
        out.seek(0)
        out.truncate()

    reader = BlobReader(connection, repository, digest, expected_size, offset=written, hasher=hasher,
                        restart=restart, size_from="expected")
    try:  # every hashing thread stops, on every path (KeyboardInterrupt too)
        for chunk in iter(lambda: reader.read(BLOB_CHUNK), b""):
            _write(out, chunk, digest)
    finally:
        reader.close()
    return reader.position
