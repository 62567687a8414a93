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


def _range_total(response) -> int | None:
    """The complete length in ``Content-Range: bytes 10-99/100``."""
    return parse_decimal_header(response.headers.get("Content-Range", "").rpartition("/")[2])


def _resumes_at(response, offset: int) -> bool:
    if response.status_code != 206:
        return False
    content_range = response.headers.get("Content-Range", "")
    return content_range.startswith("bytes %d-" % offset)


def _write(out, chunk: bytes, digest: str) -> None:
    """A failed write is the disk's problem, not the network's: never retried, named as it is."""
    try:
        out.write(chunk)
    except OSError as exc:
        raise RegistryError("writing blob %s to %s failed: %s" % (
            digest, getattr(out, "name", "the destination"), exc.strerror or exc))


def _stream_into(response, out, hasher, written: int, limit: int, digest: str,
                 limit_given: bool) -> int:
    """Copy one response body to ``out``; read errors propagate, bytes past ``limit`` are refused.

    Each read asks for at most one byte past ``limit``: a longer body is refused before anything
    past the limit is hashed or written, and never read further.
    """
    raw = response.raw
    while True:
        # at least one byte: a part file already past the limit (a resumed run) is refused at once
        chunk = raw.read(max(1, min(BLOB_CHUNK, limit - written + 1)), decode_content=False)
        if not chunk:
            return written
        if written + len(chunk) > limit:
            response.close()
            raise DigestMismatch("blob %s is larger than the %d bytes %s" % (
                digest, limit, "expected" if limit_given else "declared"))
        hasher.update(chunk)
        _write(out, chunk, digest)
        written += len(chunk)


def _new_hasher(digest: str, hashers: list) -> ThreadedHasher:
    """A hashing thread for a download starting (again); the one it replaces is stopped."""
    if hashers:
        hashers[-1].close()
    hashers.append(ThreadedHasher.for_digest(digest, depth=HASH_QUEUE))
    return hashers[-1]


def fetch_blob(connection, repository: str, digest: str, out, expected_size: int | None = None) -> int:
    """Stream a blob into a binary file object, hashing as it arrives; returns its size.

    Never reads past the size the caller expects or, failing that, the size the registry declares
    (Content-Length, else HEAD). An interrupted body is resumed with Range when the server honours
    it; a server that ignores Range makes the download start over. Raises on any mismatch.
    """
    validate_digest(digest)
    hashers: list = []
    try:
        return _fetch(connection, repository, digest, out, expected_size, hashers)
    finally:
        for hasher in hashers:  # every hashing thread stops, on every path (KeyboardInterrupt too)
            hasher.close()


def _fetch(connection, repository: str, digest: str, out, expected_size: int | None, hashers: list) -> int:
    hasher = _new_hasher(digest, hashers)
    written = _already_written(out, hasher, expected_size)
    interruptions = 0
    limit = expected_size
    path = blob_path(repository, digest)
    scopes = [repository_scope(repository)]
    while True:
        headers = {"Range": "bytes=%d-" % written} if written else {}
        if written and written == expected_size:
            break  # an earlier run fetched it all: only the checks below remain
        response = connection.request("GET", path, scopes, headers=headers,
                                      ok=(200, 206, 416) if written else (200,),
                                      what="blob %s in %s" % (digest, repository))
        if response.status_code == 416:  # what we hold is not a prefix the server can continue
            release(response)
            out.seek(0)
            out.truncate()
            hasher, written = _new_hasher(digest, hashers), 0
            continue
        if written and not _resumes_at(response, written):
            connection.log("the server ignored Range; downloading %s from the start" % digest)
            out.seek(0)
            out.truncate()
            hasher, written = _new_hasher(digest, hashers), 0
        if limit is None:
            limit = _declared_size(response) if response.status_code == 200 else _range_total(response)
        if limit is None:
            release(response)
            limit = head_blob(connection, repository, digest)
            if limit is None:
                raise RegistryError("the registry declares no size for blob %s in %s: give the "
                                    "expected size (a descriptor's size)" % (digest, repository))
            continue
        try:
            written = _stream_into(response, out, hasher, written, limit, digest,
                                   expected_size is not None)
        except READ_ERRORS as exc:
            response.close()
            written = out.tell()  # what reached the file (and the hasher) before the break
            if written != hasher.size:
                raise RegistryError("internal error: %d bytes of blob %s written, %d hashed"
                                    % (written, digest, hasher.size))
            if interruptions >= max(connection.retries, 1):
                raise RegistryError("GET %s failed: the download was interrupted %d times, "
                                    "last after %d bytes (%s)" % (
                                        redact_url(connection.url(path)), interruptions + 1,
                                        written, type(exc).__name__),
                                    method="GET", url=connection.url(path))
            interruptions += 1
            connection.log("download of %s interrupted after %d bytes (%s); resuming"
                           % (digest, written, type(exc).__name__))
            continue
        finally:
            release(response)
        break
    if written != limit:
        raise DigestMismatch("blob %s is %d bytes, not the %d bytes %s" % (
            digest, written, limit, "expected" if expected_size is not None else "declared"))
    actual = hasher.digest()
    if actual != digest:
        raise DigestMismatch("blob %s in %s hashes to %s: refusing content that does not match "
                             "its digest" % (digest, repository, actual))
    return written


class BlobReader:
    """A blob read in order as a binary file object, for a consumer that cannot seek (a
    decompressor, a tar reader): hashed as it is read, never read past its declared ``size``, and
    checked at its end: the read that reaches the end raises DigestMismatch, instead of returning
    ``b""``, when the size or the digest is wrong. A body cut short is continued with ``Range``.

    What the consumer got before the end is not verified yet: it must keep it private until the
    end is reached (``drain()`` reads the rest and checks it). ``close()`` on every path.
    """

    def __init__(self, connection, repository: str, digest: str, size: int) -> None:
        self.connection = connection
        self.repository = repository
        self.digest = validate_digest(digest)
        self.size = size
        self.position = 0
        self.verified = False
        self._path = blob_path(repository, digest)
        self._response = None
        self._interruptions = 0
        self._buffer = b""  # one network read, handed out in the consumer's (often small) reads
        self._offset = 0
        self._hasher = ThreadedHasher.for_digest(digest, depth=HASH_QUEUE)

    def _open(self) -> None:
        headers = {"Range": "bytes=%d-" % self.position} if self.position else {}
        response = self.connection.request(
            "GET", self._path, [repository_scope(self.repository)], headers=headers,
            ok=(206,) if self.position else (200,),
            what="blob %s in %s" % (self.digest, self.repository))
        if self.position and not _resumes_at(response, self.position):
            release(response)
            raise RegistryError("the registry answered a Range request for blob %s with another "
                                "range" % self.digest)
        self._response = response

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
            raise DigestMismatch("blob %s in %s ended after %d bytes, before its declared %d bytes"
                                 % (self.digest, self.repository, self.position, self.size))
        actual = self._hasher.digest()
        if actual != self.digest:
            raise DigestMismatch("blob %s in %s hashes to %s: refusing content that does not match "
                                 "its digest" % (self.digest, self.repository, actual))
        self.verified = True

    def read(self, count: int = -1) -> bytes:
        """At most ``count`` bytes (one buffer of at most BLOB_CHUNK when ``count`` is negative)."""
        if count == 0:
            return b""
        if self._offset >= len(self._buffer):
            self._buffer, self._offset = self._next_chunk(), 0
        if count is None or count < 0:
            count = len(self._buffer)
        piece = self._buffer[self._offset:self._offset + count]
        self._offset += len(piece)
        return piece

    def _next_chunk(self) -> bytes:
        """The next read from the network, of up to BLOB_CHUNK bytes; b"" at the verified end."""
        if self.verified:
            return b""
        want = BLOB_CHUNK
        while True:
            if self._response is None:
                if self.position >= self.size:
                    self._check_end()
                    return b""
                self._open()
            try:
                # one byte past the declared size at most: a longer body is refused right there
                chunk = self._response.raw.read(max(1, min(want, self.size - self.position + 1)),
                                                decode_content=False)
            except READ_ERRORS as exc:
                self._interrupted(exc)
                continue
            if not chunk:
                if self.position < self.size:
                    self._interrupted(None)
                    continue
                self._check_end()
                return b""
            if self.position + len(chunk) > self.size:
                self._drop_response()
                raise DigestMismatch("blob %s in %s is larger than its declared %d bytes" % (
                    self.digest, self.repository, self.size))
            self.position += len(chunk)
            self._hasher.update(chunk)
            return chunk

    def drain(self) -> None:
        """Read what the consumer left (a tar's padding), reaching the end and its checks."""
        while self.read(BLOB_CHUNK):
            pass

    def _drop_response(self) -> None:
        if self._response is not None:
            if self.position >= self.size:
                release(self._response)
            else:
                self._response.close()
            self._response = None

    def close(self) -> None:
        self._drop_response()
        self._hasher.close()

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_blob(connection, repository: str, digest: str, size: int) -> BlobReader:
    """A blob of a known (descriptor) size as a verified, streaming, read-once file object."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError("blob %s in %s has no usable size in its descriptor" % (digest, repository))
    return BlobReader(connection, repository, digest, size)
