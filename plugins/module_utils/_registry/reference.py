# Private to the drc.registry collection: no compatibility promise for other collections.
"""Image reference grammar and normalisation, as Docker's distribution/reference does it.

Standard library only (with errors.py and digests.py): the docker_ref filter imports no HTTP
library. Everything but the filter works on the frozen ``ImageReference``; the filter alone turns
it into its documented dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError

from ansible_collections.drc.registry.plugins.module_utils._registry.digests import digest_problem
# digests.validate_digest is the one check of a digest alone; blobs.py, referrers.py,
# docker_archive.py and oci_layout.py still import it from here.
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (  # noqa: F401 pylint: disable=unused-import
    validate_digest)

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

# Applied with fullmatch only: "$" would also accept a trailing newline.
PATH_RE = re.compile(_PATH)
DOMAIN_RE = re.compile(_DOMAIN)
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
IMAGE_ID_RE = re.compile(r"[a-f0-9]{64}")


def tag_problem(tag) -> str | None:
    """Why ``tag`` cannot name a new tag (in a registry or a layout); None when it can.

    Matched whole (no trailing newline, no ``?``/``#``/``/``); 64 hex digits are refused, as
    Docker does: they read as an image ID.
    """
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        return "it must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
    if IMAGE_ID_RE.fullmatch(tag):
        return "64 hexadecimal digits read as an image ID, not a tag"
    return None


class InvalidReference(InputError):
    """An image reference that breaks the grammar; the message names the input and the rule."""


def _fail(value: str, reason: str) -> InvalidReference:
    return InvalidReference("invalid image reference %r: %s" % (value, reason))


def _split_scheme(value: str, what: str = "image reference") -> tuple[str | None, str]:
    if "://" not in value:
        return None, value
    scheme, rest = value.split("://", 1)
    if scheme not in ("http", "https"):
        raise InvalidReference("invalid %s %r: scheme %r is not supported (use http:// or https://)"
                               % (what, value, scheme))
    return scheme, rest


def parse_registry_host(index: str) -> dict:
    """Parse a registry index such as ``docker.io``, ``https://myreg:5000`` or ``localhost:5000``."""
    if not isinstance(index, str) or not index:
        raise InvalidReference("invalid registry index %r: it must be a non-empty string" % (index,))
    scheme, name = _split_scheme(index, "registry index")
    name = name.rstrip("/")
    if not DOMAIN_RE.fullmatch(name):
        raise InvalidReference("invalid registry index %r: %r is not a host name with an optional :port"
                               % (index, name))
    problem = _port_problem(name)
    if problem:
        raise InvalidReference("invalid registry index %r: %s" % (index, problem))
    if name == LEGACY_DEFAULT_INDEX:
        name = DEFAULT_INDEX
    return {"name": name, "official": name == DEFAULT_INDEX, "scheme": scheme or "https"}


def _port_problem(host: str) -> str | None:
    """Why the port of ``host`` (matched by DOMAIN_RE) cannot be used; urllib3 would refuse it later
    with an error naming neither the input nor the rule."""
    port = host.rsplit("]", 1)[-1].partition(":")[2]
    if port and (len(port) > 5 or not 0 < int(port) < 65536):
        return "the port %s is not in 1..65535" % (port if len(port) <= 10 else port[:10] + "...")
    return None


def _is_domain(component: str) -> bool:
    return component == "localhost" or "." in component or ":" in component or component.lower() != component


def _split_remainder(value: str, remainder: str) -> tuple[str, str | None, str | None]:
    """Split ``path[:tag][@digest]`` into its three parts, validating tag and digest."""
    digest = None
    if "@" in remainder:
        remainder, digest = remainder.split("@", 1)
        problem = digest_problem(digest)
        if problem is not None:
            raise _fail(value, problem)
    tag = None
    last = remainder.rfind(":")
    if last != -1 and "/" not in remainder[last:]:
        remainder, tag = remainder[:last], remainder[last + 1:]
        if not TAG_RE.fullmatch(tag):
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
        if DOMAIN_RE.fullmatch(first) and _port_problem(first):
            raise _fail(value, _port_problem(first))
        index = parse_registry_host(scheme + "://" + first)
        return index, rest
    if sep and _is_domain(first):
        if not DOMAIN_RE.fullmatch(first):
            raise _fail(value, "registry host %r is not a valid host name with an optional :port" % first)
        if _port_problem(first):
            raise _fail(value, _port_problem(first))
        return parse_registry_host(first), rest
    return parse_default_index(default_index), name


def parse_default_index(default_index: str | None) -> dict:
    """The registry of names that write none; it must read as a host, or familiar names would not."""
    if default_index is None:
        return parse_registry_host(DEFAULT_INDEX)
    index = parse_registry_host(default_index)
    if not _is_domain(index["name"]):
        # "myreg/app" names docker.io/myreg/app: a name on this registry could not be written.
        raise InvalidReference("invalid registry index %r: %r must contain a '.' or a ':port', or be "
                               "localhost, to be told from a Docker Hub namespace"
                               % (default_index, index["name"]))
    return index


@dataclass(frozen=True)
class ImageReference:
    """A parsed, normalised image reference.

    ``registry`` is the host as written after normalisation (``docker.io``, ``localhost:5000``);
    ``scheme_written`` says whether the user wrote ``http://``/``https://`` (then no other scheme is
    tried); ``tag`` and ``digest`` may both be set, the digest wins for the API.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    scheme: str = "https"
    scheme_written: bool = False

    @property
    def on_docker_hub(self) -> bool:
        return self.registry == DEFAULT_INDEX

    @property
    def full_name(self) -> str:
        """``<registry>/<repository>``, e.g. ``docker.io/library/alpine``."""
        return self.registry + "/" + self.repository

    @property
    def api_reference(self) -> str | None:
        """What goes in ``/v2/<name>/manifests/<reference>``: the digest if given, else the tag."""
        return self.digest or self.tag

    @property
    def string(self) -> str:
        """The normalised reference: ``full_name@digest``, else ``full_name:tag``."""
        if self.digest:
            return self.full_name + "@" + self.digest
        if self.tag:
            return self.full_name + ":" + self.tag
        return self.full_name

    def pinned(self, digest: str) -> str:
        """``<full name>@<digest>``: the one meaning of "pinned" in this collection."""
        return self.full_name + "@" + digest

    def with_reference(self, tag: str | None = None, digest: str | None = None) -> "ImageReference":
        return ImageReference(self.registry, self.repository, tag, digest, self.scheme,
                              self.scheme_written)

    def registry_host(self) -> dict:
        """The registry as the filter documents it: name, official, scheme."""
        return {"name": self.registry, "official": self.on_docker_hub, "scheme": self.scheme}

    def as_dict(self) -> dict:
        """The dict the docker_ref filter documents (only the filter should need it)."""
        return _describe(self.registry_host(), self.repository, self.tag, self.digest)


def parse_image_reference(value: str, default_index: str | None = None,
                          allow_tag: bool = True) -> ImageReference:
    """Parse and normalise an image reference into an ``ImageReference``.

    ``allow_tag=False`` parses a bare repository name: a tag or digest is then an error. A
    reference with neither gets the tag ``latest`` (when tags are allowed).
    """
    if not isinstance(value, str):
        raise InvalidReference("invalid image reference %r: it must be a string" % (value,))
    if not value:
        raise InvalidReference("invalid image reference '': it is empty")
    if value != value.strip() or any(c.isspace() for c in value):
        raise _fail(value, "it contains white space")
    if IMAGE_ID_RE.fullmatch(value):
        raise _fail(value, "a 64-character hexadecimal string is an image id, not a repository name")
    if default_index is not None:
        parse_default_index(default_index)
    scheme, rest = _split_scheme(value)
    index, remainder = _split_name(value, rest, scheme, default_index)
    from_default = remainder == rest and default_index is not None
    scheme_written = scheme is not None or (from_default and "://" in default_index)
    path, tag, digest = _split_remainder(value, remainder)
    if not allow_tag and (tag is not None or digest is not None):
        raise _fail(value, "a repository name must not carry a tag or digest")
    if not path:
        raise _fail(value, "the repository path is empty")
    if path.lower() != path:
        raise _fail(value, "repository name must be lowercase")
    if not PATH_RE.fullmatch(path):
        raise _fail(value, "repository path %r must be lowercase components of [a-z0-9] "
                           "separated by '/', joined inside by '.', '_', '__' or dashes" % path)
    if index["official"] and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if len(path) > NAME_PATH_MAX:
        raise _fail(value, "repository path is longer than %d characters" % NAME_PATH_MAX)
    if tag is None and digest is None and allow_tag:
        tag = "latest"
    return ImageReference(index["name"], path, tag, digest, index["scheme"], scheme_written)


def parse_repository(value: str, default_index: str | None = None) -> ImageReference:
    """Parse a repository name (no tag, no digest)."""
    return parse_image_reference(value, default_index=default_index, allow_tag=False)


def parse_reference(value: str, default_index: str | None = None, allow_tag: bool = True) -> dict:
    """The docker_ref filter's dict for a reference (see ``ImageReference.as_dict``)."""
    return parse_image_reference(value, default_index, allow_tag).as_dict()


def registry_url(index: dict) -> str:
    """API base URL for an index: Docker Hub's API lives on registry-1.docker.io."""
    host = DOCKER_HUB_API if index["official"] else index["name"]
    return "%s://%s" % (index["scheme"], host)


def familiar_path(path: str) -> str:
    """Docker's familiar form of a Docker Hub path: ``library/x`` is ``x``; ``library/x/y`` stays."""
    if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
        return path[len(OFFICIAL_PREFIX):]
    return path


def familiar_name(index: dict, path: str) -> str:
    """The shortest name that parses back to the same repository.

    Docker's rules (distribution/reference ``FamiliarName``): on Docker Hub the host is dropped and
    ``library/`` too when one component follows it; elsewhere the host stays. One exception, so
    the name always parses back to the same repository: a Docker Hub path whose first component
    reads as a host (``localhost``, or one with a '.') keeps ``docker.io/``.
    """
    if not index["official"]:
        return index["name"] + "/" + path
    familiar = familiar_path(path)
    first = familiar.split("/", 1)[0]
    if "/" in familiar and _is_domain(first):
        return index["name"] + "/" + familiar
    return familiar


def _describe(index: dict, path: str, tag: str | None, digest: str | None) -> dict:
    # An official image is library/<one component>; library/a/b is not one (Docker agrees).
    official = index["official"] and familiar_path(path) != path
    local_name = familiar_name(index, path)
    canonical_name = index["name"] + "/" + (familiar_path(path) if index["official"] else path)
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
