# Private to the drc.registry collection: no compatibility promise for other collections.
"""What a user writes for a copy's ``src``/``dest``, parsed, and the store it names opened.

A location is a tuple: ``("registry", ImageReference)``, ``("oci" | "oci-archive", path, tag or
None)`` or ``("docker-archive", path, "name:tag" or None)``.
"""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.docker_archive import (
    TRANSPORT as DOCKER_ARCHIVE, archive_name)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference, tag_problem)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.docker_archive_store import (
    DockerArchiveStore)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.layout_store import (
    LayoutStore)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.registry_store import (
    RegistryStore)

REGISTRY = "registry"
LAYOUT_TRANSPORTS = ("oci", "oci-archive")
SUPPORTED_TRANSPORTS = "docker://, oci:, oci-archive:, docker-archive:"
# skopeo's transports that are not stores here: named as such rather than read as a host name.
OTHER_TRANSPORTS = ("dir", "docker-daemon", "containers-storage", "ostree", "sif", "tarball")


def parse_location(value: str) -> tuple:
    """What a user wrote for ``src``/``dest``: ("registry", ImageReference), a layout or an archive."""
    if not isinstance(value, str) or not value:
        raise InputError("invalid location %r: give an image reference, oci:PATH[:TAG], "
                         "oci-archive:PATH[:TAG] or docker-archive:PATH[:NAME:TAG]" % (value,))
    if value.startswith("docker://"):
        return REGISTRY, parse_image_reference(value[len("docker://"):])
    transport = value.partition(":")[0]
    if transport in OTHER_TRANSPORTS:
        raise InputError("transport %s: is not supported (supported: %s)" % (transport, SUPPORTED_TRANSPORTS))
    found = parse_layout_location(value) or parse_docker_archive_location(value)
    if found is not None:
        return found
    return REGISTRY, parse_image_reference(value)


def parse_layout_location(value: str) -> tuple | None:
    """``oci:PATH[:TAG]`` / ``oci-archive:PATH[:TAG]`` -> (transport, path, tag); else None.

    As skopeo does, the path ends at the first ``:``.
    """
    transport, sep, rest = value.partition(":")
    if not sep or transport not in LAYOUT_TRANSPORTS:
        return None
    path, sep, tag = rest.partition(":")
    if not path:
        raise InputError("invalid location %r: the path of the OCI layout is empty" % value)
    problem = tag_problem(tag) if sep else None
    if problem:
        raise InputError("invalid location %r: the tag %r: %s" % (value, tag, problem))
    return transport, path, (tag if sep else None)


def parse_docker_archive_location(value: str) -> tuple | None:
    """``docker-archive:PATH[:name[:tag]]`` -> ("docker-archive", path, "name:tag" or None)."""
    transport, sep, rest = value.partition(":")
    if not sep or transport != DOCKER_ARCHIVE:
        return None
    path, sep, name = rest.partition(":")
    if not path:
        raise InputError("invalid location %r: the path of the docker-archive is empty" % value)
    if not sep:
        return DOCKER_ARCHIVE, path, None
    return DOCKER_ARCHIVE, path, archive_name(name, value)


def is_registry(location: tuple) -> bool:
    return location[0] == REGISTRY


def location_display(location: tuple) -> str:
    """The name its store gives itself (``display``), before it is opened."""
    if is_registry(location):
        return location[1].string
    return "%s:%s%s" % (location[0], location[1], ":" + location[2] if location[2] else "")


def location_key(location: tuple) -> str:
    """One string per place a copy writes (two copies of a list may not write the same)."""
    if is_registry(location):
        return location[1].string
    return ":".join(str(part or "") for part in location)


def open_store(location: tuple, connect, writing: bool):
    """The store of a parsed location; ``connect(reference)`` makes a registry connection."""
    if is_registry(location):
        return RegistryStore(connect(location[1]), location[1])
    if location[0] == DOCKER_ARCHIVE:
        return DockerArchiveStore(location[1], location[2], writing)
    return LayoutStore(location[0], location[1], location[2], writing)
