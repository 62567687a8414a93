# Private to the drc.registry collection: no compatibility promise for other collections.
"""Copy an image (or a whole index) between two ends: registries on their own connections, or OCI
layouts (``oci:`` directories and ``oci-archive:`` tars).

Order of work: read the source's manifests (verified by digest) and decide the destination digest
(a new index when only some platforms are wanted); stop there when the destination already has it
or in check mode; else move the blobs concurrently (skipped when present, mounted within one
registry, else streamed), then PUT the manifests children first, the index last.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import (
    RegistryBlobSource)
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import get_blob_bytes
from ansible_collections.drc.registry.plugins.module_utils._registry.docker_archive import (
    TRANSPORT as DOCKER_ARCHIVE, DockerArchiveEnd, parse_docker_archive_location)
from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    MAX_MANIFEST_SIZE, Manifest, digest_of, normalise_platform, platform_is, platform_string)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    current_digest, get_manifest, put_manifest)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import (
    LockedTempDir, OciLayout, extract_archive, parse_layout_location, remove_debris, unpack_directory,
    write_archive)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_format import to_oci
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry import referrer_copy
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import (
    LayoutReferrers, RegistryReferrers)
from ansible_collections.drc.registry.plugins.module_utils._registry.uploads import (
    DEFAULT_CHUNK_SIZE, push_blob, push_scopes)

DEFAULT_CONCURRENCY = 4
MAX_CONFIG_SIZE = 16 * 1024 * 1024
# Layers that registries do not serve (Windows base layers and the like): referenced, not copied.
NON_DISTRIBUTABLE = ("foreign", "nondistributable")
# BuildKit's attestation manifests in an image's index (platform unknown/unknown).
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION = "attestation-manifest"


SUPPORTED_TRANSPORTS = "docker://, oci:, oci-archive:, docker-archive:"
# skopeo's transports that are not ends here: named as such rather than read as a host name.
OTHER_TRANSPORTS = ("dir", "docker-daemon", "containers-storage", "ostree", "sif", "tarball")


def parse_location(value: str):
    """What a user wrote for ``src``/``dest``: ("registry", ImageReference), a layout or an archive."""
    if not isinstance(value, str) or not value:
        raise InputError("invalid location %r: give an image reference, oci:PATH[:TAG], "
                         "oci-archive:PATH[:TAG] or docker-archive:PATH[:NAME:TAG]" % (value,))
    if value.startswith("docker://"):
        return "registry", parse_image_reference(value[len("docker://"):])
    transport = value.partition(":")[0]
    if transport in OTHER_TRANSPORTS:
        raise InputError("transport %s: is not supported (supported: %s)" % (transport, SUPPORTED_TRANSPORTS))
    found = parse_layout_location(value) or parse_docker_archive_location(value)
    if found is not None:
        return found
    return "registry", parse_image_reference(value)


# -- the two kinds of ends ------------------------------------------------------------------------
class RegistryEnd:
    kind = "registry"
    holds_referrers = True

    def __init__(self, connection, reference) -> None:
        self.connection = connection
        self.reference = reference
        self.repository = reference.repository
        self.display = reference.string
        # blob_cache.BlobLocations shared by the copies of a run (and kept across runs), or None
        self.blob_locations = None
        # True when the caller knows the repository did not exist before this run (a sync):
        # with blob_locations, blobs are then not HEADed there (only this run can have put them)
        self.new_repository = False
        self._referrers = None

    # referrers, as a source and as a destination (the protocol is in referrers.py)
    def referrer_store(self) -> RegistryReferrers:
        if self._referrers is None:
            self._referrers = RegistryReferrers(self.connection, self.repository)
        return self._referrers

    def referrers(self, digest: str, artifact_type: str | None = None) -> list:
        return self.referrer_store().referrers(digest, artifact_type)

    def referrer_manifest(self, entry: dict) -> Manifest:
        return self.referrer_store().referrer_manifest(entry)

    def put_referrers(self, subject: str, items: list) -> int:
        return self.referrer_store().put_referrers(subject, items)

    def same_registry(self, other) -> bool:
        return all((other.kind == "registry", other.reference.registry == self.reference.registry,
                    other.connection.base_url == self.connection.base_url))

    # as a source
    def top(self) -> Manifest:
        return get_manifest(self.connection, self.repository, self.reference.api_reference)

    def manifest(self, descriptor: dict) -> Manifest:
        return get_manifest(self.connection, self.repository, descriptor["digest"])

    def blob_source(self, descriptor: dict):
        return RegistryBlobSource(self.connection, self.repository, descriptor["digest"],
                                  descriptor["size"])

    def small_blob(self, descriptor: dict) -> bytes:
        return get_blob_bytes(self.connection, self.repository, descriptor["digest"], MAX_CONFIG_SIZE)

    # as a destination
    def accept(self, source, top: Manifest, planned: list | None) -> None:
        pass  # a registry holds any manifest

    def check_target(self, digest: str) -> None:
        if self.reference.digest and self.reference.digest != digest:
            raise InputError("dest %s names the digest %s, but the copy has the digest %s"
                             % (self.display, self.reference.digest, digest))

    def current_digest(self) -> str | None:
        return current_digest(self.connection, self.repository, self.reference.api_reference)

    def announce(self, source) -> None:
        """One token for everything the copy does here (the mount's source repository too)."""
        mount_from = source.repository if source.kind == "registry" and self.same_registry(source) else None
        self.connection.hint_scopes(push_scopes(self.repository, mount_from))

    def push_blob(self, descriptor: dict, source_end, chunk_size: int | None) -> dict:
        mount_from = None
        if source_end.kind == "registry" and self.same_registry(source_end) \
                and source_end.repository != self.repository:
            mount_from = source_end.repository
        locations = self.blob_locations
        if locations is None:
            return push_blob(self.connection, self.repository, descriptor["digest"], descriptor["size"],
                             source_end.blob_source(descriptor), chunk_size=chunk_size,
                             mount_from=mount_from)
        return self._push_known_blob(locations, descriptor, source_end, chunk_size, mount_from)

    def _push_known_blob(self, locations, descriptor: dict, source_end, chunk_size, mount_from) -> dict:
        """push_blob with blob_cache.BlobLocations: mount from a repository of this registry that
        holds the blob (a wrong entry: the registry's 202 makes it an upload), then remember it."""
        registry, digest = self.connection.base_url, descriptor["digest"]
        with locations.pushing(registry, digest):
            if locations.placed(registry, digest, self.repository):
                return {"action": "skipped", "bytes": 0}  # this run put it there: no HEAD
            known = locations.holder(registry, digest, self.repository) if mount_from is None else None
            try:
                outcome = push_blob(self.connection, self.repository, digest, descriptor["size"],
                                    source_end.blob_source(descriptor), chunk_size=chunk_size,
                                    mount_from=mount_from or known, skip_existing=not self.new_repository)
            except RegistryError as exc:
                if known is None or exc.status is None or exc.status >= 500 or exc.status == 429:
                    raise
                locations.forget(registry, digest, known)  # a mount refused outright: upload it
                outcome = push_blob(self.connection, self.repository, digest, descriptor["size"],
                                    source_end.blob_source(descriptor), chunk_size=chunk_size,
                                    skip_existing=False)
            locations.record(registry, digest, self.repository)
        return outcome

    def put_manifest(self, manifest: Manifest, top: bool) -> None:
        reference = (self.reference.tag or manifest.digest) if top else manifest.digest
        put_manifest(self.connection, self.repository, reference, manifest.raw, manifest.media_type)

    def finish(self, changed: bool) -> None:
        pass

    def close(self) -> None:
        pass



class KnownDestination(RegistryEnd):
    """A registry destination whose current digest the caller already asked (one HEAD, not two)."""

    def __init__(self, connection, reference, known_before: str | None) -> None:
        super().__init__(connection, reference)
        self.known_before = known_before

    def current_digest(self) -> str | None:
        return self.known_before

class LayoutEnd:
    kind = "layout"
    holds_referrers = True

    def __init__(self, transport: str, path: str, tag: str | None, writing: bool) -> None:
        self.transport = transport
        self.archive = path if transport == "oci-archive" else None
        self.tag = tag
        self.display = "%s:%s%s" % (transport, path, ":" + tag if tag else "")
        self.repository = None
        self._temp = None
        try:
            self._open(path, writing)
        except BaseException:
            self.close()  # a refused or broken archive leaves no unpacked directory behind
            raise

    def _open(self, path: str, writing: bool) -> None:
        if self.archive is None:
            directory = path
        else:
            parent = os.path.dirname(os.path.abspath(path))
            if writing and not os.path.isdir(parent):
                raise InputError("dest %s: directory %s does not exist" % (self.display, parent))
            if not writing and not os.path.isfile(path):
                raise InputError("src %s: no such file %s" % (self.display, path))
            if writing:
                remove_debris(parent)  # what a killed run left beside the archive
                # Beside the archive (so the final rename stays on one file system).
                self._temp = LockedTempDir(parent)
            else:
                self._temp = unpack_directory()
            directory = self._temp.path
            if os.path.isfile(path):
                extract_archive(path, directory)
        if not writing and not os.path.isfile(os.path.join(directory, "index.json")):
            raise InputError("src %s: %s is not an OCI image layout (no index.json)"
                             % (self.display, path))
        self.layout = OciLayout(directory, self.display)
        self._referrers = LayoutReferrers(self.layout)

    # referrers, as a source and as a destination (the protocol is in referrers.py)
    def referrers(self, digest: str, artifact_type: str | None = None) -> list:
        return self._referrers.referrers(digest, artifact_type)

    def referrer_manifest(self, entry: dict) -> Manifest:
        return self._referrers.referrer_manifest(entry)

    def put_referrers(self, subject: str, items: list) -> int:
        self.layout.prepare()
        return self._referrers.put_referrers(subject, items)

    # as a source
    def top(self) -> Manifest:
        entry = self.layout.find(self.tag)
        if entry is None:
            raise RegistryError("%s: no image tagged %s" % (self.display, self.tag or "(any)"))
        return self.layout.read_manifest(entry["digest"], entry.get("mediaType"))

    def manifest(self, descriptor: dict) -> Manifest:
        return self.layout.read_manifest(descriptor["digest"], descriptor.get("mediaType"))

    def blob_source(self, descriptor: dict):
        return self.layout.blob_source(descriptor["digest"], descriptor["size"])

    def small_blob(self, descriptor: dict) -> bytes:
        """A config: read whole, and used only when it hashes to its descriptor's digest."""
        if descriptor["size"] > MAX_CONFIG_SIZE:
            raise RegistryError("%s: blob %s is too large for a config" % (self.display, descriptor["digest"]))
        reader = self.blob_source(descriptor).open(0)
        try:
            data = reader.read(MAX_CONFIG_SIZE + 1)
        finally:
            reader.close()
        actual = digest_of(data, descriptor["digest"].split(":", 1)[0])
        if actual != descriptor["digest"]:
            raise DigestMismatch("%s: the blob %s hashes to %s" % (self.display, descriptor["digest"], actual))
        return data

    # as a destination
    def accept(self, source, top: Manifest, planned: list | None) -> None:
        pass  # a layout holds any manifest

    def check_target(self, digest: str) -> None:
        pass

    def current_digest(self) -> str | None:
        try:
            entry = self.layout.find(self.tag)
        except InputError:
            return None  # several untagged images: writing one more is a change
        if entry is None or not self.layout.has_blob(entry["digest"], entry.get("size")):
            return None
        return entry["digest"]

    def announce(self, source) -> None:
        self.layout.prepare()

    def push_blob(self, descriptor: dict, source_end, chunk_size: int | None) -> dict:
        if self.layout.has_blob(descriptor["digest"], descriptor["size"]):
            return {"action": "skipped", "bytes": 0}
        sent = self.layout.write_blob_stream(descriptor["digest"], descriptor["size"],
                                             source_end.blob_source(descriptor))
        return {"action": "uploaded", "bytes": sent}

    def put_manifest(self, manifest: Manifest, top: bool) -> None:
        self.layout.write_blob_bytes(manifest.digest, manifest.raw)
        if top:
            self.layout.set_tag(self.tag, {"mediaType": manifest.media_type, "digest": manifest.digest,
                                           "size": manifest.size})

    def finish(self, changed: bool) -> None:
        if self.archive is not None and changed:
            write_archive(self._temp.path, self.archive)

    def close(self) -> None:
        if self._temp is not None:
            self._temp.close()
            self._temp = None


def open_end(location: tuple, connect, writing: bool):
    """An end for a parsed location; ``connect(reference)`` makes a registry connection."""
    if location[0] == "registry":
        return RegistryEnd(connect(location[1]), location[1])
    if location[0] == DOCKER_ARCHIVE:
        return DockerArchiveEnd(location[1], location[2], writing)
    return LayoutEnd(location[0], location[1], location[2], writing)


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
        config = json.loads(source.small_blob(config_descriptor).decode("utf-8"))
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
    return to_oci(plan_copy(source, top)[0])[0][-1].digest


def plan_copy(source, top: Manifest) -> tuple:
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


def copy_image(source, dest, platforms: list | None = None, chunk_size: int | None = DEFAULT_CHUNK_SIZE,
               concurrency: int = DEFAULT_CONCURRENCY, check_mode: bool = False,
               referrers: bool = True, warn=None, image_format: str = "keep") -> dict:
    """Copy what ``source`` names to ``dest``, with its referrers; returns the module result
    (without ``diff``). ``changed`` says whether anything (image or referrer) was, or would be,
    written. ``image_format`` ``oci`` converts Docker media types to OCI ones (new manifests, new
    digests; ``converted`` pairs each source digest with its new one)."""
    warn = warn or (lambda msg: None)
    if source.kind == "registry":
        source.connection.hint_scopes([repository_scope(source.repository)])
    if dest.kind == "registry" and not check_mode:
        # Before the destination's first request, so that one token (pull,push) does it all.
        dest.announce(source)
    original, top = resolve_tops(source, platforms)
    ordered = blobs = None
    converted: dict = {}
    subset = top  # the index of some platforms (or the source's own manifest), before conversion
    if image_format == "oci":
        ordered, blobs = plan_copy(source, top)
        ordered, converted = to_oci(ordered)
        top = ordered[-1]
    dest.check_target(top.digest)
    dest.accept(source, top, ordered)
    before = dest.current_digest()
    image_changed = before != top.digest
    result = {"changed": image_changed, "digest": top.digest, "media_type": top.media_type,
              "source_digest": original.digest, "before_digest": before, "blobs_uploaded": 0,
              "blobs_mounted": 0, "blobs_skipped": 0, "bytes_uploaded": 0, "manifests_pushed": 0,
              "referrers": [], "referrers_copied": 0, "referrers_skipped": []}
    if image_format == "oci":
        result["converted"] = [{"source_digest": old, "digest": new} for old, new in converted.items()]
    if top.is_index:
        result["platforms"] = [platform_string(c["platform"]) for c in top.children()]
    if ordered is None and image_changed and not check_mode:
        ordered, blobs = plan_copy(source, top)
    pending: list = []
    if referrers:
        # Read the whole plan before the first write: a hostile listing leaves the destination as it was.
        new_digests = set(converted.values())
        subjects = [d for d in _subjects(original, subset, ordered) if d not in new_digests]
        items = referrer_copy.plan_referrers(source, subjects, plan_copy, warn)
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
    result["changed"] = image_changed or bool(pending)
    if not result["changed"] or check_mode:
        return result
    dest.announce(source)
    if image_changed:
        _write_image(source, dest, ordered, blobs, chunk_size, concurrency, result)
    if pending:
        referrer_copy.write_referrers(source, dest, pending, chunk_size, concurrency)
    dest.finish(changed=True)
    return result


def _write_image(source, dest, ordered: list, blobs: dict, chunk_size, concurrency: int,
                 result: dict) -> None:
    counts = {"uploaded": 0, "mounted": 0, "skipped": 0}

    def move(descriptor: dict) -> dict:
        return dest.push_blob(descriptor, source, chunk_size)

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
