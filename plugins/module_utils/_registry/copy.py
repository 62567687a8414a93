# Private to the drc.registry collection: no compatibility promise for other collections.
"""Copy images between stores (stores/: registry repositories, OCI layouts, Docker archives).

``copy_images`` is the one entry: a list of (source, destination) pairs; one image is a list of
one. Each copy reads before it writes: the source's manifests (verified by digest) give the
manifest the destination will hold (a new index when only some platforms are wanted, a converted
one with format oci); the destination says what it holds; the referrers to carry are read and
the destination asked which it lacks. That is the plan (CopyPlan): the image's manifests and
blobs when the destination lacks the image, the referrers it lacks. ``changed`` is whether the
plan is not empty; in check mode, or when it is empty, nothing is written. Else the blobs move
concurrently (skipped when present, mounted within one registry, else streamed), then the
manifests children first, the index last, then the referrers.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    MAX_MANIFEST_SIZE, Manifest, normalise_platform, platform_is, platform_string)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_format import to_oci
from ansible_collections.drc.registry.plugins.module_utils._registry import referrer_copy
from ansible_collections.drc.registry.plugins.module_utils._registry.uploads import DEFAULT_CHUNK_SIZE

DEFAULT_CONCURRENCY = 4
# Layers that registries do not serve (Windows base layers and the like): referenced, not copied.
NON_DISTRIBUTABLE = ("foreign", "nondistributable")
# BuildKit's attestation manifests in an image's index (platform unknown/unknown).
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION = "attestation-manifest"


# -- what to copy ---------------------------------------------------------------------------------
def _distributable(descriptor: dict) -> bool:
    media_type = str(descriptor.get("mediaType") or "")
    return not (descriptor.get("urls") and any(word in media_type for word in NON_DISTRIBUTABLE))


def _check_descriptor(descriptor, where: str) -> dict:
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str) \
            or not isinstance(descriptor.get("size"), int) or descriptor["size"] < 0:
        raise RegistryError("%s has a descriptor without a valid digest and size: %r"
                            % (where, descriptor if not isinstance(descriptor, dict) else
                               {k: descriptor.get(k) for k in ("digest", "size", "mediaType")}))
    return descriptor


def image_blobs(manifest: Manifest) -> list:
    """The config and layers of an image manifest that a copy must move."""
    out = []
    config = manifest.body.get("config")
    if config is not None:
        out.append(_check_descriptor(config, "manifest %s" % manifest.digest))
    for layer in manifest.body.get("layers") or []:
        _check_descriptor(layer, "manifest %s" % manifest.digest)
        if _distributable(layer):
            out.append(layer)
    return out


def filter_platforms(index: Manifest, wanted: list) -> Manifest:
    """A new index holding only the children for the wanted platforms (so a new digest)."""
    entries = [e for e in index.body.get("manifests") or [] if isinstance(e, dict)]
    keep = []
    for platform in wanted:
        matched = [e for e in entries
                   if platform_is(platform, normalise_platform(e.get("platform") or {}))]
        if not matched:
            available = sorted(set(platform_string(normalise_platform(e.get("platform") or {}))
                                   for e in entries))
            raise RegistryError("platform %s is not in the index %s; available: %s" % (
                platform_string(platform), index.digest, ", ".join(available) or "none"))
        keep.extend(e for e in matched if e not in keep)
    kept = set(e.get("digest") for e in keep)
    keep.extend(e for e in entries if e not in keep and _attestation_of(e) in kept)
    body = dict(index.body)
    body["manifests"] = [e for e in entries if e in keep]  # the index's own order
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return Manifest(raw, index.media_type)


def _attestation_of(entry: dict) -> str | None:
    """The child a BuildKit attestation manifest describes (None for other entries)."""
    annotations = entry.get("annotations") if isinstance(entry.get("annotations"), dict) else {}
    return annotations.get(REFERENCE_DIGEST) if annotations.get(REFERENCE_TYPE) == ATTESTATION else None


def is_artifact(manifest: Manifest) -> bool:
    """A signature, SBOM or attestation rather than a runnable image: an artifactType, a subject,
    or a config that is not an image config. Never filtered by platform."""
    config = manifest.config_descriptor() or {}
    image_config = config.get("mediaType") in (mt.OCI_CONFIG, mt.DOCKER_CONFIG)
    return bool(manifest.body.get("artifactType") or manifest.body.get("subject")) or not image_config


def _check_single_platform(source, manifest: Manifest, wanted: list) -> None:
    if manifest.config_descriptor() is not None and is_artifact(manifest):
        return
    config_descriptor = manifest.config_descriptor()
    if config_descriptor is None:
        raise RegistryError("%s is a single image without a config: its platform is unknown"
                            % source.display)
    _check_descriptor(config_descriptor, "manifest %s" % manifest.digest)
    try:
        config = parse_json(source.small_blob(config_descriptor))
    except (ValueError, UnicodeDecodeError):
        raise RegistryError("the config of %s is not JSON" % source.display)
    if not isinstance(config, dict):
        raise RegistryError("the config of %s is not a JSON object" % source.display)
    if not config.get("os") and not config.get("architecture"):
        return  # no platform at all (a cosign signature's config): nothing to filter by
    have = normalise_platform({"os": config.get("os"), "architecture": config.get("architecture"),
                               "variant": config.get("variant")})
    if not any(platform_is(p, have) for p in wanted):
        raise RegistryError("%s is a single-platform image for %s, not %s" % (
            source.display, platform_string(have), ", ".join(platform_string(p) for p in wanted)))


def resolve_top(source, platforms: list | None = None) -> Manifest:
    """The manifest the destination will hold: the source's, or a new index of some platforms."""
    return resolve_tops(source, platforms)[1]


def resolve_tops(source, platforms: list | None = None) -> tuple:
    """(the source's manifest, the one the destination will hold: itself or a subset index)."""
    original = source.top()
    if original.is_schema1:
        raise RegistryError("%s is a Docker schema 1 manifest; registries no longer accept them, "
                            "so it is not copied" % source.display)
    top = original
    if platforms:
        if top.is_index:
            top = filter_platforms(top, platforms)
        else:
            _check_single_platform(source, top, platforms)
    return original, top


def destination_digest(source, platforms: list | None, image_format: str = "keep") -> str:
    """The digest a copy of ``source`` would give the destination (a subset index, a conversion)."""
    top = resolve_top(source, platforms)
    if image_format != "oci":
        return top.digest
    return to_oci(manifests_and_blobs(source, top)[0])[0][-1].digest


def manifests_and_blobs(source, top: Manifest) -> tuple:
    """(every manifest children first, the top last; the blobs by digest)."""
    ordered: list = []
    blobs: dict = {}
    seen: set = set()

    def visit(manifest: Manifest, depth: int) -> None:
        if depth > 4:
            raise RegistryError("%s nests indexes more than 4 deep" % source.display)
        if manifest.is_index:
            for entry in manifest.body.get("manifests") or []:
                _check_descriptor(entry, "index %s" % manifest.digest)
                if entry["digest"] in seen:
                    continue
                seen.add(entry["digest"])
                if entry["size"] > MAX_MANIFEST_SIZE:
                    raise RegistryError("index %s lists a child of %d bytes" % (manifest.digest, entry["size"]))
                child = source.manifest(entry)
                if child.is_schema1:
                    raise RegistryError("index %s holds a Docker schema 1 manifest" % manifest.digest)
                visit(child, depth + 1)
        else:
            for blob in image_blobs(manifest):
                blobs.setdefault(blob["digest"], blob)
        ordered.append(manifest)

    visit(top, 0)
    return ordered, blobs


def _subjects(original: Manifest, top: Manifest, ordered: list | None) -> list:
    """The manifests whose referrers travel with the copy: every manifest the destination gets,
    but not a subset index made here (nothing can refer to it yet)."""
    digests = [m.digest for m in ordered] if ordered is not None else (
        [e["digest"] for e in top.entries()] + [top.digest])
    return [d for d in digests if d != top.digest or top.digest == original.digest]


def _skipped(source, original: Manifest, top: Manifest) -> list:
    if top.digest == original.digest:
        return []
    reason = ("describes the source index %s of every platform; the copy is the new index %s of "
              "some of them, which it cannot describe" % (original.digest, top.digest))
    return [{"digest": e["digest"], "found_by": e["found_by"], "reason": reason}
            for e in source.referrers(original.digest)]


def _skipped_converted(source, converted: dict, subset: Manifest, original: Manifest) -> list:
    """The referrers of the source manifests that format oci converted: they name the source
    digest, which the copy does not have."""
    out = []
    for old, new in converted.items():
        if old == subset.digest and subset.digest != original.digest:
            continue  # a subset index made by this copy: nothing refers to it
        reason = ("describes %s, which the copy converted to OCI media types as %s; a referrer "
                  "cannot follow a converted manifest" % (old, new))
        out += [{"digest": e["digest"], "found_by": e["found_by"], "reason": reason}
                for e in source.referrers(old)]
    return out


class CopyPlan:
    """What one copy would write, read before anything is: ``manifests`` (children first, the
    top last) and ``blobs`` (by digest) of the image, empty when the destination holds it;
    ``referrers``, the referrer_copy items the destination lacks. ``result`` is the copy's
    module result so far. In check mode the image's manifests are not walked (``image_missing``
    already makes the plan not empty)."""

    def __init__(self, result: dict, image_missing: bool, manifests: list, blobs: dict,
                 referrers: list) -> None:
        self.result = result
        self.image_missing = image_missing
        self.manifests = manifests
        self.blobs = blobs
        self.referrers = referrers

    @property
    def empty(self) -> bool:
        return not self.image_missing and not self.referrers


def plan_copy(source, dest, platforms: list | None = None, check_mode: bool = False,
              referrers: bool = True, warn=None, image_format: str = "keep") -> CopyPlan:
    """Read the source and ask the destination; write nothing. ``image_format`` ``oci`` converts
    Docker media types to OCI ones (new manifests, new digests; ``converted`` in the result pairs
    each source digest with its new one)."""
    warn = warn or (lambda msg: None)
    source.hint_reading()
    if not check_mode:
        # Before the destination's first request, so that one token (pull,push) does it all.
        dest.hint_scopes(source)
    original, top = resolve_tops(source, platforms)
    ordered = blobs = None
    converted: dict = {}
    subset = top  # the index of some platforms (or the source's own manifest), before conversion
    if image_format == "oci":
        ordered, blobs = manifests_and_blobs(source, top)
        ordered, converted = to_oci(ordered)
        top = ordered[-1]
    dest.check_target(top.digest)
    dest.accept(source, top, ordered)
    before = dest.current_digest()
    image_missing = before != top.digest
    result = {"changed": image_missing, "digest": top.digest, "media_type": top.media_type,
              "source_digest": original.digest, "before_digest": before, "blobs_uploaded": 0,
              "blobs_mounted": 0, "blobs_skipped": 0, "bytes_uploaded": 0, "manifests_pushed": 0,
              "referrers": [], "referrers_copied": 0, "referrers_skipped": []}
    if image_format == "oci":
        result["converted"] = [{"source_digest": old, "digest": new} for old, new in converted.items()]
    if top.is_index:
        result["platforms"] = [platform_string(c["platform"]) for c in top.children()]
    if ordered is None and image_missing and not check_mode:
        ordered, blobs = manifests_and_blobs(source, top)
    pending: list = []
    if referrers:
        # Read the whole plan before the first write: a hostile listing leaves the destination as it was.
        new_digests = set(converted.values())
        subjects = [d for d in _subjects(original, subset, ordered) if d not in new_digests]
        items = referrer_copy.plan_referrers(source, subjects, manifests_and_blobs, warn)
        result["referrers_skipped"] = _skipped(source, original, subset) + _skipped_converted(
            source, converted, subset, original)
        if not dest.holds_referrers:
            reason = "%s holds no referrers" % dest.display
            result["referrers_skipped"] += [{"digest": i["entry"]["digest"], "found_by": i["entry"]["found_by"],
                                             "reason": reason} for i in items]
            items = []
        pending, skipped, held = referrer_copy.missing_at(dest, items, warn) if items else ([], [], [])
        result["referrers"] = held
        result["referrers_skipped"] += skipped
        result["referrers_copied"] = len(pending)
    plan = CopyPlan(result, image_missing, (ordered or []) if image_missing else [],
                    (blobs or {}) if image_missing else {}, pending)
    result["changed"] = not plan.empty
    return plan


def write_plan(source, dest, plan: CopyPlan, chunk_size: int | None = DEFAULT_CHUNK_SIZE,
               concurrency: int = DEFAULT_CONCURRENCY) -> None:
    """Write what ``plan`` holds (never called for an empty plan, nor in check mode)."""
    dest.prepare(source)
    if plan.image_missing:
        _write_image(source, dest, plan.manifests, plan.blobs, chunk_size, concurrency, plan.result)
    if plan.referrers:
        referrer_copy.write_referrers(source, dest, plan.referrers, chunk_size, concurrency)
    dest.finish(changed=True)


def _write_image(source, dest, ordered: list, blobs: dict, chunk_size, concurrency: int,
                 result: dict) -> None:
    counts = {"uploaded": 0, "mounted": 0, "skipped": 0}

    def move(descriptor: dict) -> dict:
        return dest.put_blob(descriptor, source, chunk_size)

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(blobs) or 1)))
    try:
        for outcome in pool.map(move, list(blobs.values())):
            counts[outcome["action"]] += 1
            result["bytes_uploaded"] += outcome["bytes"]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for manifest in ordered:
        dest.put_manifest(manifest, top=manifest is ordered[-1])
        result["manifests_pushed"] += 1
    result.update(blobs_uploaded=counts["uploaded"], blobs_mounted=counts["mounted"],
                  blobs_skipped=counts["skipped"])


def copy_images(pairs: list, open_store, platforms: list | None = None,
                chunk_size: int | None = DEFAULT_CHUNK_SIZE, concurrency: int = DEFAULT_CONCURRENCY,
                check_mode: bool = False, referrers: bool = True, warn=None,
                image_format: str = "keep", serial: bool = False, after=None) -> list:
    """Copy each (source, destination) of ``pairs``; one outcome per pair, in order.

    ``open_store(location, side, writing)`` opens the store of a pair's element ("src" or
    "dest"), just before its copy; both are closed after it, on every path. An outcome is the
    copy's module result (without ``diff``) with ``src`` and ``dest`` (the stores' names), or,
    for a copy that failed (RegistryError, OSError: a file system), ``{"error": exc}``: every
    pair is tried, whatever happened to the others. ``after(source, dest, result)`` runs once a
    copy is done, its stores still open (registry_copy signs there).

    ``concurrency`` bounds the blobs in flight over the whole list: that many copies at once, each
    with its share of blob workers; ``serial`` (a store of local files involved: two copies may
    share its files) runs them one at a time.
    """
    workers = 1 if serial else max(1, min(concurrency, len(pairs)))
    per_copy = max(1, concurrency // workers)

    def one(pair: tuple) -> dict:
        stores: list = []
        try:
            stores.append(open_store(pair[0], "src", False))
            stores.append(open_store(pair[1], "dest", True))
            source, dest = stores
            plan = plan_copy(source, dest, platforms, check_mode=check_mode, referrers=referrers,
                             warn=warn, image_format=image_format)
            if not plan.empty and not check_mode:
                write_plan(source, dest, plan, chunk_size, per_copy)
            result = plan.result
            if after is not None:
                after(source, dest, result)
            result.update(src=source.display, dest=dest.display)
            return result
        except (RegistryError, OSError) as exc:
            return {"error": exc}
        finally:
            for store in stores:
                store.close()

    if workers == 1:
        return [one(pair) for pair in pairs]
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        return list(pool.map(one, pairs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
