# Private to the drc.registry collection: no compatibility promise for other collections.
"""Image reference grammar and normalisation, as Docker's distribution/reference does it.

Standard library only: the docker_ref filter imports this file alone.
"""

from __future__ import annotations

import re

DEFAULT_INDEX = "docker.io"
LEGACY_DEFAULT_INDEX = "index.docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
OFFICIAL_PREFIX = "library/"
NAME_PATH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_PATH = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = r"(?:" + _DOMAIN_NAME + r"|" + _IPV6 + r")(?::[0-9]+)?"

PATH_RE = re.compile(r"^" + _PATH + r"$")
DOMAIN_RE = re.compile(r"^" + _DOMAIN + r"$")
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
IMAGE_ID_RE = re.compile(r"^[a-f0-9]{64}$")

# Digest algorithms Docker knows, with the length of their lowercase hex encoding.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


class InvalidReference(ValueError):
    """An image reference that breaks the grammar; the message names the input and the rule."""


def _fail(value: str, reason: str) -> InvalidReference:
    return InvalidReference("invalid image reference %r: %s" % (value, reason))


def validate_digest(digest: str, original: str | None = None) -> str:
    """Check ``algorithm:hex``; return it unchanged or raise InvalidReference.

    ``original`` is the whole reference the digest came from, named in the message.
    """
    shown = digest if original is None else original
    what = "digest" if original is None else "image reference"

    def bad(reason: str) -> InvalidReference:
        return InvalidReference("invalid %s %r: %s" % (what, shown, reason))

    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise bad("digest %r is not of the form algorithm:hex" % (digest,))
    algorithm, hex_part = digest.split(":", 1)
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise bad("digest algorithm %r is not supported (use one of %s)"
                  % (algorithm, ", ".join(sorted(DIGEST_HEX_LENGTHS))))
    length = DIGEST_HEX_LENGTHS[algorithm]
    if len(hex_part) != length or not re.match(r"^[a-f0-9]+$", hex_part):
        raise bad("a %s digest must be exactly %d lowercase hexadecimal characters"
                  % (algorithm, length))
    return digest


def _split_scheme(value: str, what: str = "image reference") -> tuple[str | None, str]:
    if "://" not in value:
        return None, value
    scheme, rest = value.split("://", 1)
    if scheme not in ("http", "https"):
        raise InvalidReference("invalid %s %r: scheme %r is not supported (use http:// or https://)"
                               % (what, value, scheme))
    return scheme, rest


def parse_index(index: str) -> dict:
    """Parse a registry index such as ``docker.io``, ``https://myreg:5000`` or ``localhost:5000``."""
    if not isinstance(index, str) or not index:
        raise InvalidReference("invalid registry index %r: it must be a non-empty string" % (index,))
    scheme, name = _split_scheme(index, "registry index")
    name = name.rstrip("/")
    if not DOMAIN_RE.match(name):
        raise InvalidReference("invalid registry index %r: %r is not a host name with an optional :port"
                               % (index, name))
    if name == LEGACY_DEFAULT_INDEX:
        name = DEFAULT_INDEX
    return {"name": name, "official": name == DEFAULT_INDEX, "scheme": scheme or "https"}


def _is_domain(component: str) -> bool:
    return component == "localhost" or "." in component or ":" in component or component.lower() != component


def _split_remainder(value: str, remainder: str) -> tuple[str, str | None, str | None]:
    """Split ``path[:tag][@digest]`` into its three parts, validating tag and digest."""
    digest = None
    if "@" in remainder:
        remainder, digest = remainder.split("@", 1)
        validate_digest(digest, value)
    tag = None
    last = remainder.rfind(":")
    if last != -1 and "/" not in remainder[last:]:
        remainder, tag = remainder[:last], remainder[last + 1:]
        if not TAG_RE.match(tag):
            raise _fail(value, "tag %r must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" % tag)
    return remainder, tag, digest


def _split_name(value: str, name: str, scheme: str | None, default_index: str | None) -> tuple[dict, str]:
    """Decide which part of ``name`` is the registry host; return (index, path)."""
    first, sep, rest = name.partition("/")
    if scheme is not None:
        if not sep:
            raise _fail(value, "a scheme must be followed by a registry host and a repository path")
        if not _is_domain(first):
            # Docker would read this name as a Docker Hub repository: the normalised string could
            # not name the same registry again.
            raise _fail(value, "registry host %r must contain a '.' or a ':port', or be localhost" % first)
        index = parse_index(scheme + "://" + first)
        return index, rest
    if sep and _is_domain(first):
        if not DOMAIN_RE.match(first):
            raise _fail(value, "registry host %r is not a valid host name with an optional :port" % first)
        return parse_index(first), rest
    return parse_index(default_index or DEFAULT_INDEX), name


def parse_reference(value: str, default_index: str | None = None, allow_tag: bool = True) -> dict:
    """Parse and normalise an image reference.

    Returns the dict the docker_ref filter documents. ``allow_tag=False`` parses a bare repository
    name: a tag or digest is then an error.
    """
    if not isinstance(value, str):
        raise InvalidReference("invalid image reference %r: it must be a string" % (value,))
    if not value:
        raise InvalidReference("invalid image reference '': it is empty")
    if value != value.strip() or any(c.isspace() for c in value):
        raise _fail(value, "it contains white space")
    if IMAGE_ID_RE.match(value):
        raise _fail(value, "a 64-character hexadecimal string is an image id, not a repository name")
    scheme, rest = _split_scheme(value)
    index, remainder = _split_name(value, rest, scheme, default_index)
    path, tag, digest = _split_remainder(value, remainder)
    if not allow_tag and (tag is not None or digest is not None):
        raise _fail(value, "a repository name must not carry a tag or digest")
    if not path:
        raise _fail(value, "the repository path is empty")
    if path.lower() != path:
        raise _fail(value, "repository name must be lowercase")
    if not PATH_RE.match(path):
        raise _fail(value, "repository path %r must be lowercase components of [a-z0-9] "
                           "separated by '/', joined inside by '.', '_', '__' or dashes" % path)
    if index["official"] and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if len(path) > NAME_PATH_MAX:
        raise _fail(value, "repository path is longer than %d characters" % NAME_PATH_MAX)
    if tag is None and digest is None and allow_tag:
        tag = "latest"
    return _describe(index, path, tag, digest)


def parse_repository(value: str, default_index: str | None = None) -> dict:
    """Parse a repository name (no tag, no digest)."""
    return parse_reference(value, default_index=default_index, allow_tag=False)


def registry_url(index: dict) -> str:
    """API base URL for an index: Docker Hub's API lives on registry-1.docker.io."""
    host = DOCKER_HUB_API if index["official"] else index["name"]
    return "%s://%s" % (index["scheme"], host)


def _describe(index: dict, path: str, tag: str | None, digest: str | None) -> dict:
    official = index["official"] and path.startswith(OFFICIAL_PREFIX)
    if index["official"]:
        local_name = path[len(OFFICIAL_PREFIX):] if official else path
        canonical_name = index["name"] + "/" + local_name
    else:
        local_name = index["name"] + "/" + path
        canonical_name = local_name
    full_name = index["name"] + "/" + path
    if digest:
        string = full_name + "@" + digest
    elif tag:
        string = full_name + ":" + tag
    else:
        string = full_name
    return {
        "index": dict(index),
        "official": official,
        "remote_name": path,
        "local_name": local_name,
        "canonical_name": canonical_name,
        "full_name": full_name,
        "tag": tag,
        "digest": digest,
        "reference": digest or tag,
        "string": string,
        "registry_url": registry_url(index),
    }
