# Private to the drc.registry collection: no compatibility promise for other collections.
"""Manifest and index model, digest helpers and platform matching."""

from __future__ import annotations

import hashlib
import json

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)

MAX_MANIFEST_SIZE = 4 * 1024 * 1024

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
                 "armel": "arm", "i386": "386", "i686": "386"}


_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


class ManifestError(RegistryError):
    """A manifest that cannot be used: bad JSON, wrong digest, unknown type."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return "%s:%s" % (algorithm, hashlib.new(algorithm, data).hexdigest())


def detect_media_type(content_type: str | None, body: dict) -> str:
    """Content-Type first, then the body's mediaType, then its structure."""
    header = mt.base_type(content_type)
    if header in mt.MANIFEST_TYPES:
        return header
    declared = body.get("mediaType")
    if declared in mt.MANIFEST_TYPES:
        return declared
    if isinstance(body.get("manifests"), list):
        return mt.OCI_INDEX
    if body.get("schemaVersion") == 2 and "config" in body and "layers" in body:
        return mt.OCI_MANIFEST
    if body.get("schemaVersion") == 1 or "fsLayers" in body:
        return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in body else mt.DOCKER_SCHEMA1
    raise ManifestError("the registry answered with content of type %r that is not an image "
                        "manifest or index" % (header or declared or "unknown"))


class Manifest:
    """A manifest or index as served: exact bytes, digest, media type and parsed body."""

    def __init__(self, raw: bytes, content_type: str | None, digest: str | None = None) -> None:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError("the manifest is not valid JSON: %s" % exc)
        if not isinstance(body, dict):
            raise ManifestError("the manifest is not a JSON object")
        self.raw = raw
        self.body = body
        self.media_type = detect_media_type(content_type, body)
        self.digest = digest or sha256_digest(raw)
        self.size = len(raw)

    @property
    def is_index(self) -> bool:
        return mt.is_index(self.media_type)

    @property
    def is_schema1(self) -> bool:
        return mt.is_schema1(self.media_type)

    def children(self) -> list:
        """One entry per child of an index: digest, media_type, size, platform."""
        out = []
        for entry in self.body.get("manifests") or []:
            if not isinstance(entry, dict):
                continue
            out.append({
                "digest": entry.get("digest"),
                "media_type": entry.get("mediaType"),
                "size": entry.get("size"),
                "platform": normalise_platform(entry.get("platform") or {}),
            })
        return out

    def config_descriptor(self) -> dict | None:
        config = self.body.get("config")
        return config if isinstance(config, dict) and config.get("digest") else None

    def layers(self) -> list:
        return [layer for layer in self.body.get("layers") or [] if isinstance(layer, dict)]


def parse_platform(value: str) -> dict:
    """``linux/arm64/v8`` -> normalised platform dict. Raises ValueError naming the input."""
    if not isinstance(value, str) or not value.strip():
        raise InputError("invalid platform %r: expected os/architecture[/variant], e.g. linux/amd64"
                         % (value,))
    parts = value.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError("invalid platform %r: expected os/architecture[/variant], e.g. linux/amd64"
                         % value)
    return normalise_platform({"os": parts[0], "architecture": parts[1],
                               "variant": parts[2] if len(parts) == 3 else None},
                              fill_variant=False)


def normalise_platform(platform: dict, fill_variant: bool = True) -> dict:
    """Apply the usual aliases: x86_64->amd64, aarch64->arm64, arm64 implies v8, arm means v7."""
    os_name = str(platform.get("os") or "").lower()
    arch = str(platform.get("architecture") or "").lower()
    arch = _ARCH_ALIASES.get(arch, arch)
    variant = platform.get("variant") or None
    if isinstance(variant, str):
        variant = variant.lower()
        if variant.isdigit():
            variant = "v" + variant
    if fill_variant and variant is None:
        variant = _DEFAULT_VARIANTS.get(arch)
    return {"os": os_name, "architecture": arch, "variant": variant,
            "os_version": platform.get("os.version") or platform.get("os_version") or None}


def platform_string(platform: dict) -> str:
    text = "%s/%s" % (platform.get("os"), platform.get("architecture"))
    if platform.get("variant"):
        text += "/" + platform["variant"]
    return text


def platform_matches(wanted: dict, candidate: dict) -> bool:
    """Does a normalised index entry satisfy the wanted platform?"""
    if wanted["os"] != candidate["os"] or wanted["architecture"] != candidate["architecture"]:
        return False
    want_variant = wanted.get("variant")
    if want_variant is None:
        want_variant = normalise_platform(wanted)["variant"]
    if want_variant is not None and want_variant != candidate.get("variant"):
        return False
    if wanted.get("os_version") and wanted["os_version"] != candidate.get("os_version"):
        return False
    return True


def select_platform(index: Manifest, wanted: dict) -> dict:
    """Pick the child of an index for a platform; the error lists what is available."""
    children = index.children()
    for child in children:
        if platform_matches(wanted, child["platform"]):
            return child
    available = ", ".join(sorted(set(platform_string(c["platform"]) for c in children))) or "none"
    raise ManifestError("platform %s is not in the index %s; available: %s"
                        % (platform_string(wanted), index.digest, available))
