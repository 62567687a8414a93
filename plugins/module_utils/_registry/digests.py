# Private to the drc.registry collection: no compatibility promise for other collections.
"""The one place that validates, computes and compares digests, and reads decimal headers.

Standard library only (with errors.py). Every pattern here is applied with ``fullmatch``: ``$`` would also accept a
trailing newline.
"""

from __future__ import annotations

import hashlib
import re

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError

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
    return "%s:%s" % (algorithm, hashlib.new(algorithm, data).hexdigest())


def sha256_digest(data: bytes) -> str:
    return digest_of(data, "sha256")


class DigestHasher:
    """Hash a stream as it arrives; ``digest()`` gives ``algorithm:hex``, ``size`` the byte count."""

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in DIGEST_HEX_LENGTHS:
            raise InvalidDigest("digest algorithm %r is not supported (use one of %s)"
                                % (algorithm, ", ".join(sorted(DIGEST_HEX_LENGTHS))))
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    @classmethod
    def for_digest(cls, digest: str) -> "DigestHasher":
        """A hasher of the algorithm of an expected digest (validated first)."""
        return cls(algorithm_of(validate_digest(digest)))

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> str:
        return "%s:%s" % (self.algorithm, self._hash.hexdigest())

    def matches(self, expected: str) -> bool:
        return self.digest() == expected


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
