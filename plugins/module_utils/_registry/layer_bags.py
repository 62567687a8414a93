# Private to the drc.registry collection: no compatibility promise for other collections.
"""Cosign's tags (``sha256-<hex>.sig``, ``.att``, ``.sbom``) as layer bags: an image manifest whose
layers are the signatures (attestations, SBOMs), its config listing them as containers/image
writes it. Adding to a bag keeps every layer already there byte for byte and appends; the config
is made again for the new list. Shared by signing.py (a layer signed here) and referrer_copy.py
(the source's layers merged into a destination's bag); no cryptography here.
"""

from __future__ import annotations

import json

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    digest_problem, sha256_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import MAX_MANIFEST_SIZE

MAX_SIGNATURE_LAYERS = 256  # layers of one signature manifest; signatures.py reads the same bound


def config_blob(layers: list) -> bytes:
    """The config containers/image writes for a signature manifest."""
    body = {"architecture": "", "os": "", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.get("digest") for layer in layers]}}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def descriptor(media_type: str, data: bytes, annotations: dict | None = None) -> dict:
    out = {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}
    if annotations:
        out["annotations"] = annotations
    return out


def bag_manifest(old_body: dict | None, added: list) -> tuple:
    """(manifest bytes, config bytes) of the bag ``old_body`` with the layers ``added`` at the end."""
    layers = list((old_body or {}).get("layers") or []) + list(added)
    config = config_blob(layers)
    body = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
            "config": descriptor(mt.OCI_CONFIG, config), "layers": layers}
    old_annotations = (old_body or {}).get("annotations")
    if isinstance(old_annotations, dict) and old_annotations:
        body["annotations"] = old_annotations
    return json.dumps(body, separators=(",", ":")).encode("utf-8"), config


def bag_problem(manifest) -> str | None:
    """Why a manifest at a cosign tag cannot be merged into (None: a usable layer bag)."""
    if manifest.is_index:
        return "is an index (%s), not a manifest of layers" % manifest.media_type
    if manifest.is_schema1:
        return "is a Docker schema 1 manifest"
    layers = manifest.body.get("layers")
    if not isinstance(layers, list):
        return "has no list of layers"
    for layer in layers:
        if not isinstance(layer, dict) or digest_problem(layer.get("digest")) is not None \
                or not isinstance(layer.get("size"), int) or isinstance(layer.get("size"), bool) \
                or layer["size"] < 0:
            return "has a layer without a valid digest and size"
    return None


def layer_key(layer: dict) -> tuple:
    """A layer's identity in a bag: its digest and its annotations (one payload signed by two keys
    is two layers)."""
    return layer.get("digest"), json.dumps(layer.get("annotations") or {}, sort_keys=True)


def merge_bags(dest, source) -> tuple:
    """(manifest bytes, config bytes, added layers) of ``dest`` with every layer of ``source`` it
    lacks appended; (None, None, []) when it lacks none. Raises ValueError with the reason when
    the two cannot be merged."""
    for which, manifest in (("the destination's", dest), ("the source's", source)):
        problem = bag_problem(manifest)
        if problem:
            raise ValueError("%s manifest %s %s" % (which, manifest.digest, problem))
    have = set(layer_key(layer) for layer in dest.body["layers"])
    added: list = []
    for layer in source.body["layers"]:
        key = layer_key(layer)
        if key not in have:
            have.add(key)
            added.append(layer)
    if not added:
        return None, None, []
    total = len(dest.body["layers"]) + len(added)
    if total > MAX_SIGNATURE_LAYERS:
        raise ValueError("merged, it would have %d layers, more than the %d allowed"
                         % (total, MAX_SIGNATURE_LAYERS))
    raw, config = bag_manifest(dest.body, added)
    if len(raw) > MAX_MANIFEST_SIZE:
        raise ValueError("merged, it would be %d bytes, more than the %d allowed for a manifest"
                         % (len(raw), MAX_MANIFEST_SIZE))
    return raw, config, added
