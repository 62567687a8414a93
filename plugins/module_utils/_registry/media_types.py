# Private to the drc.registry collection: no compatibility promise for other collections.
"""Manifest and blob media types, and the Accept lists built from them, in one place."""

from __future__ import annotations

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
SCHEMA1_TYPES = (DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1)
MANIFEST_TYPES = INDEX_TYPES + IMAGE_TYPES + SCHEMA1_TYPES

# Every manifest type, lists first: a HEAD without the list types is answered with the amd64 child
# digest on some registries, a silent wrong answer for pinning. Schema 1 last, at lower weight.
MANIFEST_ACCEPT = ", ".join(
    [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST] + ["%s;q=0.5" % t for t in SCHEMA1_TYPES])


def base_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_index(media_type: str | None) -> bool:
    return media_type in INDEX_TYPES


def is_schema1(media_type: str | None) -> bool:
    return media_type in SCHEMA1_TYPES
