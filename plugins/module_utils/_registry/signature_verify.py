# Private to the drc.registry collection: no compatibility promise for other collections.
"""Verify before you pin: a reference resolves to a digest only if a trusted key signed that
digest for an accepted identity. Used by registry_signature_verify and the registry_digest lookup.

Requests, all to the image's own registry and repository: the digest (HEAD, or the GET of an index
with a platform), the referrers listing of referrers.py (the referrers API, one tag listing, the
fallback tag index), each signature manifest — cosign's ``.sig`` tag or a signature referrer — (at
most MAX_SIGNATURE_MANIFESTS, each 4 MiB and MAX_SIGNATURE_LAYERS layers) and each
signature layer's payload blob (at most 64 KiB, verified against its digest before it is used).
"""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry import signing_keys
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import get_blob_bytes
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, is_not_found)
from ansible_collections.drc.registry.plugins.module_utils._registry.layer_bags import MAX_SIGNATURE_LAYERS
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    get_manifest, manifest_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import validate_digest
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import (
    RegistryReferrers, entry_from_manifest)
from ansible_collections.drc.registry.plugins.module_utils._registry.signatures import (
    MAX_PAYLOAD, SIGNATURE_ARTIFACT_TYPE, SIMPLESIGNING_TYPE, PayloadError, check_signature, identity_of,
    identity_problem, layer_problem, parse_identity, shown_identity, signature_tag)


class SignatureError(RegistryError):
    """No signature verifies; the message says what was there, ``problems`` each one's reason."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    @property
    def details(self) -> dict:
        out = super().details
        out["problems"] = self.problems
        return out


MAX_SIGNATURE_MANIFESTS = 64  # per digest, all places together (each at most 4 MiB)


def is_signature_entry(entry: dict) -> bool:
    """A referrer that may hold simple-signing layers: cosign's ``.sig`` tag, or a referrer (API or
    fallback tag) whose artifact type is cosign's signature type or the simple-signing payload
    type, or an image manifest with no artifact type (read to see whether its layers are
    simple-signing payloads). ``.att``/``.sbom`` tags and other artifact types are not signatures."""
    if entry["found_by"] == "cosign_tag":
        return entry.get("tag", "").endswith(".sig")
    if entry.get("media_type") not in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
        return False
    return entry.get("artifact_type") in (SIGNATURE_ARTIFACT_TYPE, SIMPLESIGNING_TYPE, None)


def has_signature_layers(manifest) -> bool:
    layers = manifest.body.get("layers")
    return isinstance(layers, list) and any(
        isinstance(layer, dict) and layer.get("mediaType") == SIMPLESIGNING_TYPE for layer in layers)


def find_signature_manifests(connection, reference, digest: str) -> list:
    """Where the signatures of ``digest`` are: [(location, source, Manifest)].

    Found through the referrers lister (referrers.py): cosign's tag ``sha256-<hex>.sig``, and
    OCI 1.1 referrers (the referrers API, else the fallback tag index) with a signature artifact
    type or simple-signing layers. Bounded by the lister's (pages, entries) and here by
    MAX_SIGNATURE_MANIFESTS; each manifest is at most 4 MiB and verified by its digest.
    """
    lister = RegistryReferrers(connection, reference.repository)
    entries, seen = [], set()
    for entry in lister.referrers(digest):
        if is_signature_entry(entry) and entry["digest"] not in seen:  # once, where first found
            seen.add(entry["digest"])
            entries.append(entry)
    if len(entries) > MAX_SIGNATURE_MANIFESTS:
        raise RegistryError("%s (%s) has %d signature manifests, more than the %d allowed: refusing "
                            "to read them" % (reference.string, digest, len(entries),
                                              MAX_SIGNATURE_MANIFESTS))
    if not any(entry["found_by"] == "cosign_tag" for entry in entries):
        # a tag listing that does not show the .sig tag (refused, paged oddly, or a registry whose
        # listing lags) is not proof there is none: asked for directly, as cosign does
        tag = signature_tag(digest)
        try:
            manifest = get_manifest(connection, reference.repository, tag)
        except RegistryError as exc:
            if not is_not_found(exc):
                raise
        else:
            entries.insert(0, dict(entry_from_manifest(manifest, "cosign_tag", tag)))
            lister.remember(manifest)
    found = []
    for entry in entries:
        manifest = lister.referrer_manifest(entry)
        if entry["found_by"] == "cosign_tag":
            location = "%s:%s" % (reference.full_name, entry["tag"])
        else:
            if not has_signature_layers(manifest):
                continue  # an artifact without simple-signing payloads: not a signature
            location = "%s@%s" % (reference.full_name, entry["digest"])
        found.append((location, entry["found_by"], manifest))
    return found


def signature_layers(manifest, location: str) -> list:
    """The layers of a signature manifest, bounded in number."""
    layers = manifest.body.get("layers")
    if not isinstance(layers, list):
        raise RegistryError("the signature manifest %s has no layers list" % location)
    if len(layers) > MAX_SIGNATURE_LAYERS:
        raise RegistryError("the signature manifest %s has %d layers, more than the %d allowed: "
                            "refusing it" % (location, len(layers), MAX_SIGNATURE_LAYERS))
    return layers


class PayloadCache:
    """Payload blobs by digest, fetched once and verified against digest and size."""

    def __init__(self, connection, repository: str) -> None:
        self.connection, self.repository, self.blobs = connection, repository, {}

    def get(self, layer: dict) -> bytes:
        digest = layer["digest"]
        if digest not in self.blobs:
            data = get_blob_bytes(self.connection, self.repository, digest, limit=MAX_PAYLOAD)
            self.blobs[digest] = data
        data = self.blobs[digest]
        if len(data) != layer["size"]:
            raise PayloadError("the payload blob %s is %d bytes, the layer says %d"
                               % (digest, len(data), layer["size"]))
        return data


def verify_layer(layer, payloads: PayloadCache, keys: list, digest: str, image, rule: dict) -> dict:
    """One layer: the blob's digest, the signature over its bytes, then the claims.

    Returns key_index, identity and optional; raises PayloadError saying why it does not count.
    """
    problem = layer_problem(layer)
    if problem:
        raise PayloadError(problem)
    try:
        payload = payloads.get(layer)
    except RegistryError as exc:
        raise PayloadError("its payload blob cannot be used: %s" % exc)
    key_index, claims = check_signature(layer, payload, keys, signing_keys.verifies)
    if claims["digest"] != digest:
        raise PayloadError("a signature for another digest, %s" % claims["digest"])
    try:
        signed = parse_identity(claims["identity"])
    except RegistryError:
        raise PayloadError("the signed identity %r is not an image reference"
                           % shown_identity(claims["identity"]))
    problem = identity_problem(image, signed, rule)
    if problem:
        raise PayloadError("identity not accepted: %s" % problem)
    return {"key_index": key_index, "identity": claims["identity"], "optional": claims["optional"]}


def verify_digest(connection, reference, digest: str, keys: list, rule: dict) -> list:
    """Every signature of ``digest`` that verifies; SignatureError when none does."""
    image = identity_of(reference)
    found = find_signature_manifests(connection, reference, digest)
    if not found:
        raise SignatureError("%s (%s) is not signed: no signatures exist (no tag %s, no signature referrer)"
                             % (reference.string, digest, signature_tag(digest)))
    payloads = PayloadCache(connection, reference.repository)
    verified, problems = [], []
    for location, source, manifest in found:
        for position, layer in enumerate(signature_layers(manifest, location)):
            try:
                signature = verify_layer(layer, payloads, keys, digest, image, rule)
            except PayloadError as exc:
                problems.append("%s layer %d: %s" % (location, position, exc))
                continue
            signature.update({"digest": digest, "location": location, "source": source,
                              "layer": position})
            verified.append(signature)
    if not verified:
        count = sum(len(manifest.body.get("layers") or []) for _l, _s, manifest in found)
        raise SignatureError("no signature of %s (%s) verifies: %d found; %s" % (
            reference.string, digest, count, "; ".join(problems) or "none is a signature layer"),
            problems)
    return verified


def verify_image(connection, reference, keys: list, rule: dict, platform: dict | None = None) -> dict:
    """digest, pinned, signatures (and index_digest, index_signatures with a platform)."""
    repository = reference.repository
    result: dict = {"reference": reference.string}
    if platform is None:
        digest = (validate_digest(reference.digest) if reference.digest
                  else manifest_digest(connection, repository, reference.api_reference)["digest"])
    else:
        manifest = get_manifest(connection, repository, reference.api_reference)
        digest = manifest.digest
        if manifest.is_index:
            from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
                select_platform)
            result["index_digest"] = manifest.digest
            result["index_signatures"] = verify_digest(connection, reference, manifest.digest, keys, rule)
            digest = select_platform(manifest, platform)["digest"]
        else:
            from ansible_collections.drc.registry.plugins.module_utils._registry.images import (
                digest_to_pin)
            digest_to_pin(connection, reference.with_reference(digest=manifest.digest), platform)
    result["signatures"] = verify_digest(connection, reference, digest, keys, rule)
    result["digest"] = digest
    result["pinned"] = reference.pinned(digest)
    return result


def verified_digest(keys: list, rule: dict):
    """For the lookup's batch: a resolver (connection, reference, platform) -> verified digest."""
    def resolve(connection, reference, platform=None) -> str:
        return verify_image(connection, reference, keys, rule, platform)["digest"]
    return resolve
