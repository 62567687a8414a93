# Private to the drc.registry collection: no compatibility promise for other collections.
"""Sign what you publish: a cosign key-based signature written as cosign and skopeo write it.

One layer per signature in the OCI manifest at the tag ``sha256-<hex>.sig`` of the image's
repository: the payload blob, the base64 signature in the layer's annotation. A signature is added
beside those already there (another key's layers are kept byte for byte); when this key already
signed this digest for this identity, nothing is written.

Requests, all to the image's registry and repository: the image manifest (GET, hashed: the digest
signed is that of the bytes, never a header), the ``.sig`` manifest and the payloads of its
layers (bounded as in signature_verify.py), then HEAD/upload of two small blobs (the payload and
the config) and one manifest PUT. Nothing is written in check mode.
"""

from __future__ import annotations

import base64
import json
import threading

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry import signing_keys
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import BytesSource
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import sha256_digest
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.layer_bags import (
    MAX_SIGNATURE_LAYERS, bag_manifest, descriptor)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    get_manifest, put_manifest)
from ansible_collections.drc.registry.plugins.module_utils._registry.signature_verify import (
    PayloadCache, find_signature_manifests, signature_layers)
from ansible_collections.drc.registry.plugins.module_utils._registry.signatures import (
    SIGNATURE_ANNOTATION, SIMPLESIGNING_TYPE, PayloadError, check_signature,
    identity_text, layer_problem, make_payload, signature_tag)

MAX_ANNOTATIONS = 64 * 1024


def check_annotations(annotations: dict | None) -> dict:
    """The claims written into the payload's ``optional``: JSON, small."""
    if not annotations:
        return {}
    try:
        size = len(json.dumps(annotations))
    except (TypeError, ValueError):
        raise InputError("annotations must be JSON data (strings, numbers, lists, dicts)")
    if size > MAX_ANNOTATIONS // 2:
        raise InputError("annotations are %d bytes as JSON, more than %d" % (size, MAX_ANNOTATIONS // 2))
    # containers/image reads these two claims with fixed types, and refuses the payload otherwise
    if "creator" in annotations and not isinstance(annotations["creator"], str):
        raise InputError("annotations.creator must be a string (skopeo refuses other types)")
    timestamp = annotations.get("timestamp")
    if "timestamp" in annotations and (not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool)):
        raise InputError("annotations.timestamp must be a number of seconds (skopeo refuses other types)")
    return dict(annotations)


def _already_signed(layers: list, payloads: PayloadCache, public_key, digest: str, identity: str) -> bool:
    """A layer signed by this key for this digest and identity (each layer checked in full)."""
    for layer in layers:
        if layer_problem(layer):
            continue
        try:
            _index, claims = check_signature(layer, payloads.get(layer), [public_key],
                                             signing_keys.verifies)
        except (PayloadError, RegistryError):
            continue  # unreadable or another key's: not ours, and kept as it is
        if claims["digest"] == digest and claims["identity"] == identity:
            return True
    return False


def signature_manifest(old_body: dict | None, new_layer: dict) -> tuple:
    """(manifest bytes, config bytes) of the .sig manifest with ``new_layer`` added at the end."""
    return bag_manifest(old_body, [new_layer])


def _summary(body: dict | None) -> dict:
    """What the diff shows of a .sig manifest: its layers (digest and signature, no payload)."""
    if not body:
        return {}
    return {"layers": [{"digest": layer.get("digest"),
                        "signature": (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)}
                       for layer in body.get("layers") or [] if isinstance(layer, dict)]}


# One signer at a time per .sig tag in this process: two tags of one digest signed at once (a
# sync's or a copy list's threads) would each extend the .sig manifest they read, and the
# second PUT would drop the first signature.
_SIG_LOCKS: dict = {}
_SIG_LOCKS_LOCK = threading.Lock()


def _sig_lock(reference, digest: str):
    with _SIG_LOCKS_LOCK:
        return _SIG_LOCKS.setdefault((reference.registry, reference.repository, digest), threading.Lock())


def sign_digest(connection, reference, digest: str, private_key, identity: str, optional: dict,
                check_mode: bool) -> dict:
    """Make sure this key's signature of ``digest`` for ``identity`` is at its .sig tag."""
    with _sig_lock(reference, digest):
        return _sign_digest(connection, reference, digest, private_key, identity, optional, check_mode)


def _sign_digest(connection, reference, digest: str, private_key, identity: str, optional: dict,
                 check_mode: bool) -> dict:
    repository = reference.repository
    tag = signature_tag(digest)
    found = find_signature_manifests(connection, reference, digest)
    old_body = None
    location = "%s:%s" % (reference.full_name, tag)
    payloads, public_key = PayloadCache(connection, repository), signing_keys.public_key_of(private_key)
    for where, _source, manifest in found:  # a signature stored as a referrer counts too
        if _already_signed(signature_layers(manifest, where), payloads, public_key, digest, identity):
            return {"digest": digest, "location": where, "changed": False}
    at_tag = [item for item in found if item[1] == "cosign_tag"]  # the manifest we extend
    if at_tag:
        location, _source, manifest = at_tag[0]
        layers = signature_layers(manifest, location)
        if len(layers) >= MAX_SIGNATURE_LAYERS:
            raise InputError("the signature manifest %s already has %d layers, the most allowed"
                             % (location, len(layers)))
        old_body = manifest.body
    payload = make_payload(digest, identity, optional)
    signature = base64.b64encode(signing_keys.sign(private_key, payload)).decode("ascii")
    layer = descriptor(SIMPLESIGNING_TYPE, payload, {SIGNATURE_ANNOTATION: signature})
    raw, config = signature_manifest(old_body, layer)
    result = {"digest": digest, "location": location, "changed": True,
              "diff": {"before": _summary(old_body), "after": _summary(json.loads(raw)),
                       "before_header": location, "after_header": location}}
    if check_mode:
        return result
    from ansible_collections.drc.registry.plugins.module_utils._registry.uploads import push_blob
    for data in (payload, config):
        push_blob(connection, repository, sha256_digest(data), len(data), BytesSource(data))
    put_manifest(connection, repository, tag, raw, mt.OCI_MANIFEST)
    return result


def sign_image(connection, reference, private_key, identity: str | None, annotations: dict | None,
               recursive: bool, check_mode: bool) -> dict:
    """Sign the manifest ``reference`` names (and with ``recursive`` each child of an index)."""
    identity = identity_text(identity) if identity else identity_text(reference.string)
    optional = check_annotations(annotations)
    connection.hint_scopes([repository_scope(reference.repository, "pull,push")])
    manifest = get_manifest(connection, reference.repository, reference.api_reference)
    digests = []
    if recursive and manifest.is_index:
        digests = [child["digest"] for child in manifest.entries()]
    digests.append(manifest.digest)  # children first, as cosign sign --recursive
    signed = [sign_digest(connection, reference, digest, private_key, identity, optional, check_mode)
              for digest in dict.fromkeys(digests)]
    diffs = [entry.pop("diff") for entry in signed if "diff" in entry]
    return {"digest": manifest.digest, "pinned": reference.pinned(manifest.digest),
            "identity": identity, "signatures": signed,
            "changed": any(entry["changed"] for entry in signed),
            "diff": {"before": {d["before_header"]: d["before"] for d in diffs},
                     "after": {d["after_header"]: d["after"] for d in diffs}}}


def copy_signing_key(value: str | None, passphrase: str | None, destinations: list):
    """registry_copy's and registry_sync's ``sign_key``, loaded and checked before anything is
    copied (or None); ``destinations``: (is a registry, how to name it) of every destination."""
    if not value:
        return None
    for is_registry, dest in destinations:
        if not is_registry:
            raise InputError("sign_key needs a registry destination, not %s" % dest)
    return signing_keys.load_private_key(value, passphrase, "sign_key")


def _would_sign(reference, digest: str) -> dict:
    """Check mode, for an image not written yet: nothing there to sign, a signature would be added."""
    return {"changed": True, "signatures": [{"digest": digest, "changed": True,
                                             "location": "%s:%s" % (reference.full_name, signature_tag(digest))}]}


def sign_copy(dest, private_key, copied: dict, check_mode: bool) -> dict:
    """registry_copy's ``sign_key``: sign what was copied, at the destination, for its name.

    In check mode a copy that would change the destination has nothing there to sign yet: the
    signature is reported as one that would be added.
    """
    if check_mode and copied["changed"]:
        return _would_sign(dest.reference, copied["digest"])
    signed = sign_image(dest.connection, dest.reference, private_key, None, None, False, check_mode)
    return {"changed": signed["changed"], "signatures": signed["signatures"]}


def sign_synced(connection, reference, digest: str, private_key, written: bool, check_mode: bool) -> dict:
    """registry_sync's ``sign_key``: sign the digest a tag has at the destination (``written``:
    it is there, or will be outside check mode), for the tag's name."""
    if check_mode and not written:
        return _would_sign(reference, digest)
    signed = sign_digest(connection, reference, digest, private_key, identity_text(reference.string), {},
                         check_mode)
    signed.pop("diff", None)
    return {"changed": signed["changed"], "signatures": [signed]}
