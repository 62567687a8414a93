# Private to the drc.registry collection: no compatibility promise for other collections.
"""cosign's key-based "simple signing" format: the payload, the identity rules and the check of
one signature layer. No HTTP here: the bytes come from signature_verify.py and signing.py.

A ``.sig`` manifest (tag ``sha256-<hex>.sig``) has one layer per signature: the layer's blob is the
JSON payload, its annotation ``dev.cosignproject.cosign/signature`` the base64 signature over those
exact bytes. The order of the checks is fixed: the blob's digest (done by the caller that fetched
it), the signature over the bytes as stored, then the JSON, then the digest and identity it names.
Nothing in the payload is read before its signature has been checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from ansible_collections.drc.registry.plugins.module_utils._registry.digests import digest_problem
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    DOMAIN_RE, ImageReference, parse_image_reference)

SIMPLESIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
PAYLOAD_TYPE = "cosign container image signature"
MAX_PAYLOAD = 64 * 1024
MAX_SIGNATURE_TEXT = 16 * 1024  # base64 of the largest signature (RSA 8192 is 1 KiB) with room

IDENTITY_RULES = ("match_repo_digest_or_exact", "match_exact", "match_repository", "any")
# skopeo's remapIdentity as a rule of its own: the default rule, with signed_prefix required
REMAP_RULE = "signed_prefix"
IDENTITY_CHOICES = IDENTITY_RULES + (REMAP_RULE,)


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of a manifest: ``sha256-<hex>.sig``."""
    return digest.replace(":", "-", 1) + ".sig"


# -- the payload -------------------------------------------------------------------------------------
def make_payload(digest: str, identity: str, optional: dict | None) -> bytes:
    """The payload cosign and skopeo write (compact JSON, keys sorted as Go writes them)."""
    body = {"critical": {"identity": {"docker-reference": identity},
                         "image": {"docker-manifest-digest": digest},
                         "type": PAYLOAD_TYPE},
            "optional": optional or None}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")


class PayloadError(ValueError):
    """A payload that cannot be used; the message says why (never trusted, never verified)."""


def _no_duplicates(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise PayloadError("the payload repeats the key %r" % key)
        out[key] = value
    return out


def _field(obj, name: str, kind, where: str):
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise PayloadError("the payload has no %s %s" % (where, name))
    return value


def parse_payload(raw: bytes) -> dict:
    """digest, identity and optional of a payload whose signature has been checked."""
    if len(raw) > MAX_PAYLOAD:
        raise PayloadError("the payload is %d bytes, more than %d" % (len(raw), MAX_PAYLOAD))
    try:
        body = parse_json(raw, object_pairs_hook=_no_duplicates)
    except PayloadError:
        raise
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("the payload is not JSON")
    if not isinstance(body, dict):
        raise PayloadError("the payload is not a JSON object")
    critical = _field(body, "critical", dict, "object")
    kind = critical.get("type")
    if kind != PAYLOAD_TYPE:
        raise PayloadError("the payload's type is %r, not %r" % (kind, PAYLOAD_TYPE))
    digest = _field(_field(critical, "image", dict, "critical"), "docker-manifest-digest", str,
                    "critical.image")
    if digest_problem(digest) is not None:
        raise PayloadError("the payload's docker-manifest-digest is not a digest")
    identity = _field(_field(critical, "identity", dict, "critical"), "docker-reference", str,
                      "critical.identity")
    optional = body.get("optional")
    if optional is not None and not isinstance(optional, dict):
        raise PayloadError("the payload's optional claims are not a JSON object")
    return {"digest": digest, "identity": identity, "optional": optional}


def decode_signature(text) -> bytes:
    if not isinstance(text, str) or not text:
        raise PayloadError("the layer has no %s annotation" % SIGNATURE_ANNOTATION)
    if len(text) > MAX_SIGNATURE_TEXT:
        raise PayloadError("the signature annotation is longer than %d characters" % MAX_SIGNATURE_TEXT)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("the signature annotation is not valid base64")


# -- identities --------------------------------------------------------------------------------------
class Identity:
    """A reference in a signature (``docker-reference``): name, and the tag and digest as written.

    Our reference grammar adds ``latest`` to a name without tag; a signature's identity is kept
    as written (``registry.example/app`` names no tag), as containers/image reads it.
    """

    def __init__(self, full_name: str, tag: str | None, digest: str | None) -> None:
        self.full_name, self.tag, self.digest = full_name, tag, digest

    def key(self) -> tuple:
        return (self.full_name, self.tag, self.digest)

    def __str__(self) -> str:
        return self.full_name + (":" + self.tag if self.tag else "") + (
            "@" + self.digest if self.digest else "")


def parse_identity(value: str) -> Identity:
    """Raises InputError (an invalid reference) for what is not an image reference."""
    reference = parse_image_reference(value)
    name = value.split("@", 1)[0]
    tag_written = ":" in name.rsplit("/", 1)[-1]
    return Identity(reference.full_name, reference.tag if tag_written else None, reference.digest)


def identity_of(reference: ImageReference) -> Identity:
    return Identity(reference.full_name, reference.tag, reference.digest)


def identity_text(value: str) -> str:
    """The normalised identity to sign for, as written: ``app:1`` is ``docker.io/library/app:1``."""
    return str(parse_identity(value))


def _check_prefix(value: str, option: str) -> str:
    """A prefix is a host[:port], host/namespace or a whole repository, as skopeo accepts."""
    if not isinstance(value, str) or not value or "@" in value or value != value.strip():
        raise InputError("%s %r must be a registry host, host/namespace or host/repository" % (option, value))
    host, _sep, path = value.partition("/")
    if not DOMAIN_RE.fullmatch(host) or not ("." in host or ":" in host or host == "localhost"):
        raise InputError("%s %r must start with a registry host (with a '.' or ':port', or localhost)"
                         % (option, value))
    if path:
        reference = parse_image_reference(value)
        if reference.full_name != value or ":" in path:
            raise InputError("%s %r must be a registry host, host/namespace or host/repository, "
                             "without tag or digest" % (option, value))
    return value


def identity_rule(identity: str | None, signed_prefix: str | None, prefix: str | None) -> dict:
    """Check the identity options: a rule, and an optional remap (skopeo's remapIdentity)."""
    rule = identity or "match_repo_digest_or_exact"
    if rule not in IDENTITY_CHOICES:
        raise InputError("identity must be one of %s, got %r" % (", ".join(IDENTITY_CHOICES), rule))
    if prefix is not None and signed_prefix is None:
        raise InputError("prefix needs signed_prefix")
    if rule == REMAP_RULE:
        if signed_prefix is None:
            raise InputError("identity signed_prefix needs the option signed_prefix")
        rule = "match_repo_digest_or_exact"
    return {"rule": rule,
            "signed_prefix": _check_prefix(signed_prefix, "signed_prefix") if signed_prefix else None,
            "prefix": _check_prefix(prefix, "prefix") if prefix else None}


def _matches_prefix(name: str, prefix: str) -> bool:
    return name == prefix or (name.startswith(prefix) and name[len(prefix)] == "/")


def remap(image: Identity, rule: dict) -> Identity:
    """skopeo's remapIdentity: an image under ``prefix`` is checked as if under ``signed_prefix``.

    Without ``prefix``, the prefix is the image's own registry followed by the path of
    ``signed_prefix`` (a mirror that keeps the upstream's paths on another host).
    """
    signed_prefix = rule.get("signed_prefix")
    if not signed_prefix:
        return image
    prefix = rule.get("prefix")
    if prefix is None:
        path = signed_prefix.partition("/")[2]
        prefix = image.full_name.split("/", 1)[0] + ("/" + path if path else "")
    if not _matches_prefix(image.full_name, prefix):
        return image
    return Identity(signed_prefix + image.full_name[len(prefix):], image.tag, image.digest)


def identity_problem(image: Identity, signed: Identity, rule: dict) -> str | None:
    """Why a signature's identity is not accepted for the image under the rule; None when it is.

    ``image`` is the reference being verified (tag or digest as the user wrote it).
    """
    kind = rule["rule"]
    if kind == "any":
        return None
    wanted = remap(image, rule)
    if kind == "match_repository" or (kind == "match_repo_digest_or_exact" and wanted.digest):
        if signed.full_name == wanted.full_name:
            return None
        return "signed for %s, not for the repository %s" % (signed, wanted.full_name)
    if signed.key() == wanted.key():
        return None
    return "signed for %s, not for %s" % (signed, wanted)


# -- one signature layer -------------------------------------------------------------------------------
def layer_problem(layer) -> str | None:
    """What makes a layer descriptor unusable before anything is fetched."""
    if not isinstance(layer, dict):
        return "the layer is not a JSON object"
    if layer.get("mediaType") != SIMPLESIGNING_TYPE:
        shown = str(layer.get("mediaType"))[:100]
        return "the layer's media type is %r, not %s" % (shown, SIMPLESIGNING_TYPE)
    problem = digest_problem(layer.get("digest"))
    if problem is not None:
        return "the layer's digest is unusable: %s" % problem
    size = layer.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "the layer has no size"
    if size > MAX_PAYLOAD:
        return "the payload is %d bytes, more than the %d bytes allowed" % (size, MAX_PAYLOAD)
    return None


def check_signature(layer: dict, payload: bytes, keys: list, verifies) -> tuple:
    """(index of the key that signed ``payload``, the parsed payload).

    ``payload`` is the layer's blob, already checked against the layer's digest and size. The
    signature is checked over these bytes first; only then is the JSON read. Raises PayloadError.
    """
    signature = decode_signature((layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
                                 if isinstance(layer.get("annotations"), dict) else None)
    for index, key in enumerate(keys):
        if verifies(key, signature, payload):
            return index, parse_payload(payload)
    raise PayloadError("the signature verifies with none of the %d key(s) given (signed by "
                       "another key, or corrupted)" % len(keys))


_SAFE_TEXT = re.compile(r"[^\x20-\x7e]")


def shown_identity(value) -> str:
    """An identity from an untrusted payload, safe to put in a message."""
    return _SAFE_TEXT.sub("?", str(value))[:300]
