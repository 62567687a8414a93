# Private to the drc.registry collection: no compatibility promise for other collections.
"""The one place that validates, computes and compares digests, and reads decimal headers.

Standard library only (with errors.py). Every pattern here is applied with ``fullmatch``: ``$`` would also accept a
trailing newline.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import re
import threading

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError, RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json

# The OCI grammar: algorithm ":" encoded, the algorithm lowercase components joined by [+._-].
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_LOWER_HEX_RE = re.compile(r"[a-f0-9]+")
_ASCII_DECIMAL_RE = re.compile(r"[0-9]+")

# Digest algorithms we verify, with the length of their lowercase hexadecimal encoding.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

# The longest decimal header value we read: 18 digits stay below 2**63 and cover any real size.
MAX_DECIMAL_DIGITS = 18
_HTTP_OWS = " \t"


class InvalidDigest(InputError):
    """A digest that breaks the grammar or uses an algorithm we cannot verify."""


class InternalError(RegistryError):
    """A bug of ours (a hasher fed out of order or after its end), reported rather than hidden."""


def shown(value, limit: int = 200) -> str:
    """``repr`` of a value for a message, cut to ``limit`` characters: a server chose it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d characters)" % len(text)


def digest_problem(digest) -> str | None:
    """Why ``digest`` is not a digest we can verify, or None when it is one."""
    if not isinstance(digest, str) or DIGEST_RE.fullmatch(digest) is None:
        return "digest %s is not of the form algorithm:hex" % shown(digest)
    algorithm, encoded = digest.split(":", 1)
    if algorithm not in DIGEST_HEX_LENGTHS:
        return "digest algorithm %s is not supported (use one of %s)" % (
            shown(algorithm), ", ".join(sorted(DIGEST_HEX_LENGTHS)))
    length = DIGEST_HEX_LENGTHS[algorithm]
    if len(encoded) != length or _LOWER_HEX_RE.fullmatch(encoded) is None:
        return "a %s digest must be exactly %d lowercase hexadecimal characters" % (algorithm, length)
    return None


def is_digest(value) -> bool:
    """True for ``sha256:<64 lowercase hex>`` (or sha384/sha512), nothing else, no trailing newline."""
    return digest_problem(value) is None


def validate_digest(digest, what: str = "digest") -> str:
    """Return ``digest`` unchanged, or raise InvalidDigest naming ``what`` and the value."""
    problem = digest_problem(digest)
    if problem is not None:
        raise InvalidDigest("invalid %s %s: %s" % (what, shown(digest), problem))
    return digest


def algorithm_of(digest: str) -> str:
    """The algorithm of a validated digest."""
    return digest.split(":", 1)[0]


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """``algorithm:hex`` of some bytes."""
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise InvalidDigest("digest algorithm %r is not supported (use one of %s)"
                            % (algorithm, ", ".join(sorted(DIGEST_HEX_LENGTHS))))
    hasher = _hasher_for(algorithm)
    hasher.update(data)
    return "%s:%s" % (algorithm, hasher.hexdigest())


def _base64url(text) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def schema1_payload(raw: bytes) -> bytes | None:
    """The signed payload of a Docker schema 1 manifest (JWS, "prettyjws"); None for anything else.

    The manifest without its ``signatures`` key, as libtrust signed it: the bytes before
    ``formatLength``, then the protected header's ``formatTail``. Registries, skopeo and Docker
    name such a manifest by the digest of this payload, not of the whole body.
    """
    if b'"signatures"' not in raw:
        return None
    try:
        body = parse_json(raw)
        signature = body["signatures"][0] if body.get("schemaVersion") == 1 else None
        protected = parse_json(_base64url(signature["protected"])) if signature else None
        length, tail = protected["formatLength"], _base64url(protected["formatTail"])
    except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return None
    if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= len(raw):
        return None
    return raw[:length] + tail


def manifest_digest_of(raw: bytes, algorithm: str = "sha256") -> str:
    """A manifest's digest: of its bytes, or of its signed payload for a signed schema 1 one."""
    payload = schema1_payload(raw)
    return digest_of(raw if payload is None else payload, algorithm)


def sha256_digest(data: bytes) -> str:
    return digest_of(data, "sha256")


def _hasher_for(algorithm: str):
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise InvalidDigest("digest algorithm %r is not supported (use one of %s)"
                            % (algorithm, ", ".join(sorted(DIGEST_HEX_LENGTHS))))
    return hashlib.new(algorithm)


class DigestHasher:
    """Hash a stream as it arrives; ``digest()`` gives ``algorithm:hex``, ``size`` the byte count.

    ``feed(offset, data)`` is for a reader that may go back (an upload re-reading what a registry
    lost): each byte is hashed once, in order. ``close()`` does nothing here; callers close every
    hasher so that a ``ThreadedHasher`` can stand in.
    """

    # feed() keeps the hash state at least every CHECKPOINT_EVERY bytes, for rewind().
    CHECKPOINT_EVERY = 1024 * 1024

    def __init__(self, algorithm: str = "sha256") -> None:
        self._hash = _hasher_for(algorithm)
        self.algorithm = algorithm
        self.size = 0
        self._checkpoints = [(0, self._hash.copy())]

    @classmethod
    def for_digest(cls, digest: str, **kwargs) -> "DigestHasher":
        """A hasher of the algorithm of an expected digest (validated first)."""
        return cls(algorithm_of(validate_digest(digest)), **kwargs)

    def update(self, chunk) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def feed(self, offset: int, data) -> None:
        """Hash the part of ``data`` (which starts at ``offset`` in the stream) not hashed yet."""
        end = offset + len(data)
        if end <= self.size:
            return
        if offset > self.size:
            raise InternalError("internal error: bytes %d-%d hashed before %d" % (offset, end, self.size))
        self.update(memoryview(data)[self.size - offset:] if offset < self.size else data)
        if self.size - self._checkpoints[-1][0] >= self.CHECKPOINT_EVERY:
            self._checkpoints.append((self.size, self._hash.copy()))

    def rewind(self, offset: int) -> int:
        """Go back to the last checkpoint at or before ``offset``; returns its position.

        For an upload resumed at ``offset``: bytes from the returned position on are hashed again
        as they are re-read, so the digest covers what is sent now, not what was read ahead before.
        """
        while self._checkpoints[-1][0] > offset:
            self._checkpoints.pop()
        self.size, state = self._checkpoints[-1]
        self._hash = state.copy()
        return self.size

    def digest(self) -> str:
        return "%s:%s" % (self.algorithm, self._hash.hexdigest())

    def matches(self, expected: str) -> bool:
        return self.digest() == expected

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class ThreadedHasher(DigestHasher):
    """A DigestHasher whose hashing runs on a second thread, overlapping the caller's reads and writes.

    ``update`` hands the chunk to the thread through a queue of ``depth`` chunks (it blocks when the
    queue is full: memory stays bounded) and returns. The chunk must not change afterwards: pass
    ``bytes``, or a buffer the caller never reuses. ``digest()`` waits for the queue to drain and
    stops the thread; ``close()`` stops it without hashing what is queued, and must be called on
    every path (``with`` does); the thread is a daemon besides, so it never keeps the process alive.
    An exception on the thread is raised in the caller by the next ``update`` and by ``digest``.
    """

    _STOP = object()

    def __init__(self, algorithm: str = "sha256", depth: int = 4) -> None:
        super().__init__(algorithm)
        self._queue: queue.Queue = queue.Queue(max(depth, 1))
        self._failure: BaseException | None = None
        self._discard = False
        self._digest: str | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="drc-registry-hasher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is self._STOP:
                return
            if self._discard or self._failure is not None:
                continue  # keep draining: a producer never blocks on a dead consumer
            try:
                self._hash.update(chunk)
            except BaseException as exc:  # raised in the caller, not lost on this thread
                self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:  # sticky: a hasher that failed never gives a digest
            self._discard = True
            raise self._failure

    def update(self, chunk) -> None:
        self._raise_failure()
        if self._thread is None:
            raise InternalError("internal error: a %s hasher updated after its digest or close" % self.algorithm)
        if len(chunk):
            self._queue.put(chunk)
            self.size += len(chunk)

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(self._STOP)  # the thread drains the queue, so this never blocks for long
            thread, self._thread = self._thread, None
            thread.join()

    def digest(self) -> str:
        if self._digest is None:
            self._stop()
            self._raise_failure()
            self._digest = "%s:%s" % (self.algorithm, self._hash.hexdigest())
        return self._digest

    def close(self) -> None:
        """Stop the thread now, dropping what is queued (the cleanup path: raises nothing)."""
        self._discard = True
        self._stop()


def parse_decimal_header(value, max_digits: int = MAX_DECIMAL_DIGITS) -> int | None:
    """A header value that must be a non-negative decimal (Content-Length, Retry-After seconds).

    Only ASCII digits count, after HTTP's optional spaces and tabs: ``str.isdigit()`` would also
    take ``²`` or ``١``. More than ``max_digits`` digits, a sign, a list (``5, 5``) or anything else
    gives None.
    """
    if not isinstance(value, str):
        return None
    value = value.strip(_HTTP_OWS)
    if not value or len(value) > max_digits or _ASCII_DECIMAL_RE.fullmatch(value) is None:
        return None
    return int(value)
