# Private to the drc.registry collection: no compatibility promise for other collections.
"""Manifest and index model; platform choice delegated to platforms.py, digests to digests.py."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry import platforms
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    digest_problem, sha256_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
# Still imported from here by copy.py and oci_layout.py; its home is digests.py.
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (  # noqa: F401 pylint: disable=unused-import
    digest_of)

MAX_MANIFEST_SIZE = 4 * 1024 * 1024


class ManifestError(RegistryError):
    """A manifest that cannot be used: bad JSON, wrong digest, unknown type."""


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
            body = parse_json(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError("the manifest is not valid JSON: %s" % exc)
        if not isinstance(body, dict):
            raise ManifestError("the manifest is not a JSON object")
        self.raw = raw
        self.body = body
        self.media_type = detect_media_type(content_type, body)
        self.digest = digest or sha256_digest(raw)
        self.size = len(raw)
        if self.is_index:
            self._check_entries()
        elif not isinstance(body.get("layers") or [], list) or not isinstance(body.get("config") or {}, dict):
            raise ManifestError("the manifest %s has a 'layers' that is not a list or a 'config' that "
                                "is not an object" % self.digest)

    def _check_entries(self) -> None:
        """Every child of an index is an object with a valid digest: a child is fetched by it."""
        entries = self.body.get("manifests")
        if entries is None:
            return
        if not isinstance(entries, list):
            raise ManifestError("the index %s has a 'manifests' field that is not a list" % self.digest)
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ManifestError("child %d of the index %s is not a JSON object" % (position, self.digest))
            problem = digest_problem(entry.get("digest"))
            if problem is None and not isinstance(entry.get("mediaType", ""), str):
                problem = "its mediaType is not a string"
            if problem is not None:
                raise ManifestError("child %d of the index %s is unusable: %s"
                                    % (position, self.digest, problem))

    @property
    def is_index(self) -> bool:
        return mt.is_index(self.media_type)

    @property
    def is_schema1(self) -> bool:
        return mt.is_schema1(self.media_type)

    def entries(self) -> list:
        """The child descriptors of an index, as written (checked when the index was read)."""
        entries = self.body.get("manifests") if self.is_index else None
        return entries if isinstance(entries, list) else []

    def children(self) -> list:
        """One entry per child of an index: digest, media_type, size, platform."""
        return [{
            "digest": entry.get("digest"),
            "media_type": entry.get("mediaType"),
            "size": entry.get("size"),
            "platform": normalise_platform(entry.get("platform") or {}),
        } for entry in self.entries()]

    def config_descriptor(self) -> dict | None:
        config = self.body.get("config")
        return config if isinstance(config, dict) and config.get("digest") else None

    def layers(self) -> list:
        return [layer for layer in self.body.get("layers") or [] if isinstance(layer, dict)]


def parse_platform(value: str, os_version: str | None = None) -> dict:
    """``linux/arm64/v8`` -> the wanted platform, normalised. Raises InputError naming the input.

    The syntax and rules are containerd's (see platforms.py); ``os_version`` asks for an
    os.version (a Windows host's version, or an exact one for other systems).
    """
    try:
        wanted = platforms.with_os_version(platforms.parse(value), os_version)
    except ValueError as exc:
        raise InputError(str(exc))
    return _as_dict(wanted, fill_variant=False)


def _as_dict(platform: platforms.Platform, fill_variant: bool) -> dict:
    shown = platforms.display(platform)
    if not fill_variant:
        shown["variant"] = platforms.normalise(platform).variant or None
    return shown


def normalise_platform(platform: dict, fill_variant: bool = True) -> dict:
    """A platform object (``os.version`` keys) or our dict, normalised as containerd does.

    With ``fill_variant`` the implied variants are written (arm64 is v8, arm is v7), as reported.
    """
    if not isinstance(platform, dict):
        platform = {}
    return _as_dict(platforms.from_display(platform), fill_variant)


def config_platform(config: dict,
                    keys: tuple = ("os", "architecture", "variant", "os.version", "os.features")) -> dict:
    """The platform an image config names (its ``keys``), normalised."""
    return normalise_platform({key: config.get(key) for key in keys})


def platform_string(platform: dict) -> str:
    """``os/arch[/variant]``, with ``(os.version+features)`` after the os when there are any."""
    text = str(platform.get("os") or "unknown")
    version, features = platform.get("os_version"), platform.get("os_features") or []
    if version or features:
        text += "(%s%s)" % (version or "", "".join("+%s" % f for f in features))
    text += "/" + str(platform.get("architecture") or "unknown")
    return text + ("/" + platform["variant"] if platform.get("variant") else "")


def platform_matches(wanted: dict, candidate: dict) -> bool:
    """Does a platform satisfy the wanted one, by containerd's ``platforms.Only`` rules?"""
    return platforms.only(platforms.from_display(wanted)).match(platforms.from_display(candidate))


def platform_is(wanted: dict, candidate: dict) -> bool:
    """The same platform (after normalisation), with none of containerd's fallbacks: for choosing
    a subset of an index, where ``linux/arm64`` must not bring ``linux/arm/v7`` along."""
    return platforms.matches_exactly(platforms.from_display(wanted), platforms.from_display(candidate))


def select_platform(index: Manifest, wanted: dict) -> dict:
    """The child of an index containerd would pick for a platform; the error lists what is there."""
    entries = index.entries()
    best = platforms.only(platforms.from_display(wanted)).best(
        [platforms.from_descriptor(entry.get("platform")) for entry in entries])
    if best is not None:
        return index.children()[best]
    available = ", ".join(sorted(set(platform_string(c["platform"]) for c in index.children()))) or "none"
    raise ManifestError("platform %s is not in the index %s; available: %s"
                        % (platform_string(wanted), index.digest, available))
