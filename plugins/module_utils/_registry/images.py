# Private to the drc.registry collection: no compatibility promise for other collections.
"""From a reference to what a person asks about an image: digest, manifest, platform child, config.

Shared by registry_manifest_info and the registry_digest lookup.
"""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    get_manifest, manifest_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt

# manifest.py (with platforms.py) and blobs.py are imported by the functions that need them: the
# registry_digest lookup without a platform only HEADs, and each file imported costs its compile
# time on every run (Ansible loads collection code from source, never from bytecode caches).


def image_config(connection, repository: str, manifest) -> dict:
    """Fetch and verify the config blob of an image manifest."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import get_blob_bytes
    descriptor = manifest.config_descriptor()
    if descriptor is None:
        raise RegistryError("manifest %s has no config descriptor" % manifest.digest)
    raw = get_blob_bytes(connection, repository, descriptor["digest"])
    try:
        config = parse_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError("the config blob %s is not JSON" % descriptor["digest"])
    if not isinstance(config, dict):
        raise RegistryError("the config blob %s is not a JSON object" % descriptor["digest"])
    return config


def _check_single_platform(connection, repository: str, manifest, wanted: dict, config: dict | None) -> dict:
    """A plain image asked for a platform: its config must say that platform."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
        config_platform, normalise_platform, platform_matches, platform_string)
    if manifest.is_schema1:
        body = manifest.body
        have = normalise_platform({"os": "linux", "architecture": body.get("architecture")})
    else:
        config = config if config is not None else image_config(connection, repository, manifest)
        have = config_platform(config)
    if not platform_matches(wanted, have):
        raise RegistryError("platform %s is not available: %s is a single-platform image for %s"
                            % (platform_string(wanted), manifest.digest, platform_string(have)))
    return config


def describe_image(connection, reference, platform: dict | None = None, want_config: bool = False,
                   warn=None) -> dict:
    """The registry_manifest_info result for an ImageReference."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import select_platform
    repository = reference.repository
    manifest = get_manifest(connection, repository, reference.api_reference)
    result: dict = {}
    if platform is not None and manifest.is_index:
        child = select_platform(manifest, platform)
        result["index_digest"] = manifest.digest
        manifest = get_manifest(connection, repository, child["digest"])
    config = None
    if platform is not None and not manifest.is_index and "index_digest" not in result:
        config = _check_single_platform(connection, repository, manifest, platform, None)
    if manifest.is_schema1 and warn:
        warn("%s uses the deprecated Docker schema 1 manifest format" % reference.string)
    result.update({
        "digest": manifest.digest,
        "media_type": manifest.media_type,
        "size": manifest.size,
        "manifest": manifest.body,
        "reference": reference.string,
        "pinned": reference.pinned(manifest.digest),
        "deprecated": manifest.is_schema1,
    })
    if manifest.is_index:
        result["platforms"] = manifest.children()
    if want_config and manifest.media_type in mt.IMAGE_TYPES:
        result["config"] = config if config is not None else image_config(connection, repository, manifest)
    return result


def digest_to_pin(connection, reference, platform: dict | None = None) -> str:
    """The digest to pin: HEAD for the index/list digest; the child's digest with a platform."""
    repository = reference.repository
    if platform is None:
        return manifest_digest(connection, repository, reference.api_reference)["digest"]
    from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import select_platform
    manifest = get_manifest(connection, repository, reference.api_reference)
    if manifest.is_index:
        return select_platform(manifest, platform)["digest"]
    _check_single_platform(connection, repository, manifest, platform, None)
    return manifest.digest
