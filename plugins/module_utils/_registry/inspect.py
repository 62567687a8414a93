# Private to the drc.registry collection: no compatibility promise for other collections.
"""From a reference to what a person asks about it: digest, manifest, platform child, config.

Shared by registry_manifest_info and the registry_digest lookup.
"""

from __future__ import annotations

import json

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    normalise_platform, platform_matches, platform_string, select_platform)
from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt


def image_config(client, repository: str, manifest) -> dict:
    """Fetch and verify the config blob of an image manifest."""
    descriptor = manifest.config_descriptor()
    if descriptor is None:
        raise RegistryError("manifest %s has no config descriptor" % manifest.digest)
    raw = client.get_blob_bytes(repository, descriptor["digest"])
    try:
        config = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise RegistryError("the config blob %s is not JSON" % descriptor["digest"])
    if not isinstance(config, dict):
        raise RegistryError("the config blob %s is not a JSON object" % descriptor["digest"])
    return config


def _check_single_platform(client, repository: str, manifest, wanted: dict, config: dict | None) -> dict:
    """A plain image asked for a platform: its config must say that platform."""
    if manifest.is_schema1:
        body = manifest.body
        have = normalise_platform({"os": "linux", "architecture": body.get("architecture")})
    else:
        config = config if config is not None else image_config(client, repository, manifest)
        have = normalise_platform({"os": config.get("os"), "architecture": config.get("architecture"),
                                   "variant": config.get("variant"),
                                   "os.version": config.get("os.version"),
                                   "os.features": config.get("os.features")})
    if not platform_matches(wanted, have):
        raise RegistryError("platform %s is not available: %s is a single-platform image for %s"
                            % (platform_string(wanted), manifest.digest, platform_string(have)))
    return config


def describe(client, parsed: dict, platform: dict | None = None, want_config: bool = False,
             warn=None) -> dict:
    """The registry_manifest_info result for a parsed reference."""
    repository = parsed["remote_name"]
    manifest = client.get_manifest(repository, parsed["reference"])
    result: dict = {}
    if platform is not None and manifest.is_index:
        child = select_platform(manifest, platform)
        result["index_digest"] = manifest.digest
        manifest = client.get_manifest(repository, child["digest"])
    config = None
    if platform is not None and not manifest.is_index and "index_digest" not in result:
        config = _check_single_platform(client, repository, manifest, platform, None)
    if manifest.is_schema1 and warn:
        warn("%s uses the deprecated Docker schema 1 manifest format" % parsed["string"])
    result.update({
        "digest": manifest.digest,
        "media_type": manifest.media_type,
        "size": manifest.size,
        "manifest": manifest.body,
        "reference": parsed["string"],
        "pinned": "%s@%s" % (parsed["full_name"], manifest.digest),
        "deprecated": manifest.is_schema1,
    })
    if manifest.is_index:
        result["platforms"] = manifest.children()
    if want_config and manifest.media_type in mt.IMAGE_TYPES:
        result["config"] = config if config is not None else image_config(client, repository, manifest)
    return result


def resolve(client, parsed: dict, platform: dict | None = None) -> str:
    """The digest to pin: HEAD for the index/list digest; the child's digest with a platform."""
    repository = parsed["remote_name"]
    if platform is None:
        return client.resolve_digest(repository, parsed["reference"])["digest"]
    manifest = client.get_manifest(repository, parsed["reference"])
    if manifest.is_index:
        return select_platform(manifest, platform)["digest"]
    _check_single_platform(client, repository, manifest, platform, None)
    return manifest.digest
