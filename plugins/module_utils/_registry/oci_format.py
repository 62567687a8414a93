# Private to the drc.registry collection: no compatibility promise for other collections.
"""``format: oci``: Docker media types turned into OCI ones, as ``skopeo copy --format oci`` does.

Only manifests change: an image manifest gets the OCI manifest type, its config descriptor the
OCI config type and each layer the OCI type of the same compression; an index gets the OCI index
type and its entries the new digests, sizes and types of its converted children. Config and
layer blobs keep their bytes and digests. A manifest already in OCI types keeps its bytes.
"""

from __future__ import annotations

import json

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import Manifest

FORMATS = ("keep", "oci")
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
LAYER_TO_OCI = {
    "application/vnd.docker.image.rootfs.diff.tar": OCI_LAYER,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": OCI_LAYER + "+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd": OCI_LAYER + "+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar": "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}
DOCKER_TYPES = (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_CONFIG)


def _layer_type(media_type, where: str) -> str:
    if media_type in LAYER_TO_OCI:
        return LAYER_TO_OCI[media_type]
    if isinstance(media_type, str) and media_type.startswith("application/vnd.oci."):
        return media_type
    raise RegistryError("%s has a layer of type %r, which has no OCI equivalent" % (where, media_type))


def _convert_image(manifest: Manifest) -> dict | None:
    body = manifest.body
    config = body.get("config") or {}
    layers = body.get("layers") or []
    if manifest.media_type != mt.DOCKER_MANIFEST and config.get("mediaType") != mt.DOCKER_CONFIG \
            and all(layer.get("mediaType") not in LAYER_TO_OCI for layer in layers):
        return None  # already OCI
    where = "manifest %s" % manifest.digest
    new = dict(body, mediaType=mt.OCI_MANIFEST)
    if config.get("mediaType") == mt.DOCKER_CONFIG:
        new["config"] = dict(config, mediaType=mt.OCI_CONFIG)
    new["layers"] = [dict(layer, mediaType=_layer_type(layer.get("mediaType"), where)) for layer in layers]
    return new


def _convert_index(index: Manifest, done: dict) -> dict | None:
    entries = index.entries()
    if index.media_type != mt.DOCKER_MANIFEST_LIST and not any(e.get("digest") in done for e in entries):
        return None
    new_entries = []
    for entry in entries:
        child = done.get(entry.get("digest"))
        if child is not None:
            entry = dict(entry, mediaType=child.media_type, digest=child.digest, size=child.size)
        new_entries.append(entry)
    return dict(index.body, mediaType=mt.OCI_INDEX, manifests=new_entries)


def to_oci(ordered: list) -> tuple:
    """Convert the manifests of a copy (children first, the top last).

    Returns (the manifests to write, in the same order; {source digest: new digest} of those that
    changed).
    """
    done: dict = {}
    out = []
    for manifest in ordered:
        body = _convert_index(manifest, done) if manifest.is_index else _convert_image(manifest)
        if body is None:
            out.append(manifest)
            continue
        media_type = body["mediaType"]
        converted = Manifest(json.dumps(body, separators=(",", ":")).encode("utf-8"), media_type)
        done[manifest.digest] = converted
        out.append(converted)
    return out, {old: new.digest for old, new in done.items()}
