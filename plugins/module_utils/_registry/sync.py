# Private to the drc.registry collection: no compatibility promise for other collections.
"""Sync whole repositories by tag rules (``registry_sync``): list each source repository's tags,
keep those the rules select, and copy each tag whose destination digest differs, with copy.py's
``copy_images`` (same client code: present blobs skipped, digests kept).

Cost of a tag already in sync: one HEAD on each side. Work runs concurrently across repositories
and tags (``concurrency`` images at once, each moving several blobs), every request of a registry
under that registry's throttle (throttle.py: fewer at once after a 429). Blobs are mounted from
another repository of the destination that holds them, known from this run or the blob cache
(blob_cache.py). One image failing is recorded and the others go on.
"""

from __future__ import annotations

import re
import threading
from calendar import timegm
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError, is_not_found)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    normalise_platform, parse_platform, platform_is)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    current_digest, get_manifest, manifest_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.retention_rules import referrer_subject
from ansible_collections.drc.registry.plugins.module_utils._registry.sync_rules import TagRules
from ansible_collections.drc.registry.plugins.module_utils._registry.tags import list_tags

COPIED, PRESENT, WOULD_COPY = "copied", "already present", "would copy"
COUNTS = ("blobs_uploaded", "blobs_mounted", "blobs_skipped", "bytes_uploaded", "manifests_pushed",
          "referrers_copied")
DEFAULT_SYNC_CONCURRENCY = 8
# Blobs in flight per image (the registry's throttle caps the requests of all of them together).
BLOBS_PER_IMAGE = 4
_CREATED_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|z|[+-]\d\d:?\d\d)?")


def split_registry(value: str, what: str) -> tuple:
    """``[scheme://]registry[/prefix]`` -> (scheme prefix or "", registry, prefix or "")."""
    if not isinstance(value, str) or not value.strip():
        raise InputError("%s must name a registry, for example reg.example.com or localhost:5000/mirror"
                         % what)
    text = value.strip().rstrip("/")
    scheme = ""
    if "://" in text:
        scheme, text = text.split("://", 1)
        if scheme not in ("http", "https"):
            raise InputError("%s %r: scheme %r is not supported (use http:// or https://)" % (what, value, scheme))
        scheme += "://"
    registry, _sep, prefix = text.partition("/")
    if not registry:
        raise InputError("%s %r names no registry" % (what, value))
    return scheme, registry, prefix


def repository_reference(scheme: str, registry: str, path: str, what: str):
    """The ImageReference of ``registry/path`` (Docker Hub's ``library/`` added), refusing a path
    that would put it on another registry."""
    try:
        reference = parse_image_reference("%s%s/%s" % (scheme, registry, path), allow_tag=False)
    except InputError as exc:
        raise InputError("%s: %s" % (what, exc))
    expected = "docker.io" if registry in ("docker.io", "index.docker.io", "registry-1.docker.io") else registry
    if reference.registry != expected:
        raise InputError("%s: %r is not a registry host (write a host with a dot or a port, or localhost)"
                         % (what, registry))
    return reference


# Held while the copy code is imported: the tag threads ask for it at once, and on Python 3.9 a
# second thread could get the half-imported module (no copy_images yet).
_COPY_IMPORT = threading.Lock()


def copy_module():
    """copy.py and the registry store (and the upload, layout and referrer code they bring), imported
    when an image is to be copied or converted: a run with nothing to do never loads them."""
    with _COPY_IMPORT:
        from ansible_collections.drc.registry.plugins.module_utils._registry import copy
        from ansible_collections.drc.registry.plugins.module_utils._registry.stores import registry_store
    return SimpleNamespace(copy_images=copy.copy_images, destination_digest=copy.destination_digest,
                           RegistryStore=registry_store.RegistryStore,
                           KnownDestination=registry_store.KnownDestination)


class SyncJob:
    """One entry of ``repositories``: its source, destination and rules."""

    def __init__(self, index: int, entry, src: tuple, dest: tuple) -> None:
        where = "repositories[%d]" % index
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise InputError("%s must have a name (the repository's path under src_registry)" % where)
        unknown = sorted(set(entry) - {"name", "tags", "rename"})
        if unknown:
            raise InputError("%s: unknown key %s (known: name, tags, rename)" % (where, ", ".join(unknown)))
        tags = entry.get("tags")
        if tags is not None and not isinstance(tags, dict):
            raise InputError("%s.tags must be a dict of rules (match, exclude, semver, latest, platforms)" % where)
        self.where = where
        self.rules = TagRules(tags, where)
        platforms = (tags or {}).get("platforms")
        if platforms is not None and (not isinstance(platforms, list) or not platforms):
            raise InputError("%s.tags.platforms must be a list of os/architecture[/variant]" % where)
        try:
            self.platforms = [parse_platform(p) for p in platforms] if platforms else None
        except RegistryError as exc:
            raise InputError("%s.tags.platforms: %s" % (where, exc))
        rename = entry.get("rename")
        if rename is not None and (not isinstance(rename, str) or not rename.strip("/")):
            raise InputError("%s.rename must be a repository path" % where)
        self.src = repository_reference(src[0], src[1], entry["name"].strip("/"), where + ".name")
        dest_path = (rename or entry["name"]).strip("/")
        if dest[2]:
            dest_path = dest[2].strip("/") + "/" + dest_path
        self.dest = repository_reference(dest[0], dest[1], dest_path, where + (".rename" if rename else ".name"))
        self.tags: list = []
        self.before: list | None = None
        self.new_repository = None  # unknown until a tag is missing at the destination
        self.lock = threading.Lock()


def plan_jobs(src_registry: str, dest: str, repositories: list) -> list:
    src = split_registry(src_registry, "src_registry")
    if src[2]:
        raise InputError("src_registry %r must be a registry host alone; put repository paths in "
                         "repositories[].name" % src_registry)
    target = split_registry(dest, "dest")
    if not isinstance(repositories, list) or not repositories:
        raise InputError("repositories must list at least one repository")
    jobs, seen = [], {}
    for index, entry in enumerate(repositories):
        job = SyncJob(index, entry, src, target)
        if job.dest.full_name in seen:
            raise InputError("repositories[%d] and repositories[%d] both sync to %s"
                             % (seen[job.dest.full_name], index, job.dest.full_name))
        seen[job.dest.full_name] = index
        jobs.append(job)
    return jobs


def created_seconds(value) -> float | None:
    """An image config's ``created`` (RFC 3339) as seconds since the epoch; None if unreadable."""
    found = _CREATED_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not found:
        return None
    parts = [int(found.group(i)) for i in range(1, 7)]
    try:
        seconds = float(timegm((parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], 0, 0, 0)))
    except (ValueError, OverflowError):
        return None
    seconds += float(found.group(7) or 0)
    zone = found.group(8)
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        seconds += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


class SyncRun:
    """One registry_sync task: two connections, the blob locations, the results."""

    def __init__(self, jobs: list, src_connection, dest_connection, locations=None,
                 concurrency: int = DEFAULT_SYNC_CONCURRENCY, check_mode: bool = False,
                 diff: bool = False, image_format: str = "keep", sign=None) -> None:
        self.jobs = jobs
        # sign(connection, dest reference, digest, written) -> {"changed", "signatures"}: a tag's
        # digest signed at the destination (registry_sync's sign_key), or None
        self.sign = sign
        self.image_format = image_format
        self.src = src_connection
        self.dest = dest_connection
        self.locations = locations
        self.concurrency = max(1, concurrency)
        self.check_mode = check_mode
        self.diff = diff
        self.failed: list = []
        self.images: list = []

    # -- phase 1: which tags -------------------------------------------------------------------------
    def _announce(self) -> None:
        """Every scope of the run before the first request: one token per side."""
        self.src.hint_scopes([repository_scope(job.src.repository) for job in self.jobs])
        scopes = []
        for job in self.jobs:
            if not self.check_mode:
                scopes.append(repository_scope(job.dest.repository, "pull,push"))
            scopes.append(repository_scope(job.dest.repository))  # HEADs, and mounts from it
        self.dest.hint_scopes(scopes)

    def _created(self, job: SyncJob, tag: str) -> float | None:
        """The ``created`` time of a tag's image (an index: its first child for the platforms)."""
        manifest = get_manifest(self.src, job.src.repository, tag)
        if manifest.is_index:
            children = [c for c in manifest.body.get("manifests") or [] if isinstance(c, dict)]
            if job.platforms:
                children = [c for c in children if any(
                    platform_is(p, normalise_platform(c.get("platform") or {})) for p in job.platforms)]
            if not children:
                return None
            manifest = get_manifest(self.src, job.src.repository, children[0].get("digest") or "")
        config = manifest.config_descriptor()
        if config is None:
            return None
        from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import get_blob_bytes
        from ansible_collections.drc.registry.plugins.module_utils._registry.stores.store import MAX_CONFIG_SIZE
        try:
            body = parse_json(get_blob_bytes(self.src, job.src.repository, config["digest"], MAX_CONFIG_SIZE))
        except (ValueError, UnicodeDecodeError):
            return None
        return created_seconds(body.get("created")) if isinstance(body, dict) else None

    def _select(self, job: SyncJob) -> None:
        try:
            # referrer tags (cosign's sha256-<hex>.sig/.att/.sbom, the OCI fallback sha256-<hex>)
            # are never synced as tags: they travel with the images they refer to
            listed = [t for t in list_tags(self.src, job.src.repository) if referrer_subject(t) is None]
            tags = job.rules.filter(listed)
            if job.rules.needs_created:
                created = {}
                for tag in tags:
                    created[tag] = self._created(job, tag)
                tags = job.rules.newest(tags, created)
            else:
                tags = job.rules.newest(tags)
            job.tags = tags
            if self.diff:
                job.before = self._dest_tags(job)
        except RegistryError as exc:
            job.tags = []
            self.failed.append({"reference": job.src.full_name, "message": str(exc)})

    def _prepare_destination(self) -> None:
        """The destination's ping and token while the source's first tags are listed, rather than
        after them: every tag checked there needs both. A failure is left to the requests that
        need them, which report it per image."""
        try:
            self.dest.prepare([repository_scope(self.jobs[0].dest.repository)])
        except RegistryError:
            pass

    def _dest_tags(self, job: SyncJob) -> list:
        try:
            return sorted(list_tags(self.dest, job.dest.repository))
        except RegistryError as exc:
            if exc.status == 404 or is_not_found(exc):
                return []
            raise

    # -- phase 2: each tag ---------------------------------------------------------------------------
    def _sync_tag(self, job: SyncJob, tag: str) -> dict:
        src_name, dest_name = job.src.with_reference(tag=tag), job.dest.with_reference(tag=tag)
        digest = manifest_digest(self.src, job.src.repository, tag)["digest"]
        before = current_digest(self.dest, job.dest.repository, tag)
        converting = job.platforms or self.image_format != "keep"
        copying = source = None
        if converting:
            copying = copy_module()
            source = copying.RegistryStore(self.src, job.src.with_reference(tag=tag, digest=digest))
            target = copying.destination_digest(source, job.platforms, self.image_format)
        else:
            target = digest
        # "_dest": the destination reference, for signing; removed before the result goes out
        result = {"src": src_name.string, "dest": dest_name.string, "digest": target, "source_digest": digest,
                  "_dest": dest_name}
        if before == target:
            return dict(result, action=PRESENT)
        if self.check_mode:
            return dict(result, action=WOULD_COPY)
        # The copy code is loaded only now (or for a conversion): a run with nothing to do never needs it.
        copying = copying or copy_module()
        source = source or copying.RegistryStore(self.src, job.src.with_reference(tag=tag, digest=digest))
        dest_end = copying.KnownDestination(self.dest, dest_name, before)
        dest_end.blob_locations = self.locations
        dest_end.new_repository = before is None and self._repository_is_new(job)
        [copied] = copying.copy_images([(source, dest_end)], lambda store, side, writing: store, job.platforms,
                                       concurrency=max(1, min(BLOBS_PER_IMAGE, self.concurrency)),
                                       image_format=self.image_format)
        if "error" in copied:
            raise copied["error"]
        result.update({name: copied.get(name, 0) for name in COUNTS})
        return dict(result, action=COPIED)

    def _signed(self, image: dict) -> dict:
        """With sign_key: the tag's digest signed at the destination (an in-sync tag too, so a
        key added later signs what is already mirrored); ``signed`` when a signature was (or,
        in check mode, would be) written. A failure is the image's."""
        if "failed" in image:
            return image
        try:
            signed = self.sign(self.dest, image["_dest"], image["digest"], image["action"] != WOULD_COPY)
        except RegistryError as exc:
            return {"failed": {"reference": image["src"], "message": "%s, but signing %s failed: %s" % (
                image["action"], image["dest"], exc)}}
        return dict(image, signatures=signed["signatures"], signed=signed["changed"])

    def _repository_is_new(self, job: SyncJob) -> bool:
        """Whether the destination repository did not exist before this run: one tag list request
        per repository, asked only once a tag is missing there (never in a run with nothing to do).
        The blobs of a new repository are then not asked about one by one."""
        with job.lock:
            if job.new_repository is None:
                try:
                    list_tags(self.dest, job.dest.repository)
                    job.new_repository = False
                except RegistryError as exc:
                    job.new_repository = exc.status == 404 and "NAME_UNKNOWN" in exc.codes
            return job.new_repository

    def _one(self, item: tuple):
        job, tag = item
        try:
            return self._sync_tag(job, tag)
        except RegistryError as exc:
            return {"failed": {"reference": job.src.with_reference(tag=tag).string, "message": str(exc)}}

    def run(self) -> dict:
        self._announce()
        # A repository's tags are checked (and copied) as soon as its tag list is in, while other
        # lists are still being read; the destination's ping and token are asked meanwhile. Each
        # registry's throttle still caps its requests at once.
        lists = ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(self.jobs))))
        tags = ThreadPoolExecutor(max_workers=self.concurrency)

        def select(job: SyncJob) -> list:
            self._select(job)
            return [tags.submit(self._one, (job, tag)) for tag in job.tags]

        try:
            listed = [lists.submit(select, job) for job in self.jobs]
            tags.submit(self._prepare_destination)
            # results in the order of repositories and their tags, whatever the order of work
            outcomes = [future.result() for job_futures in listed for future in job_futures.result()]
        except BaseException:
            lists.shutdown(cancel_futures=True)
            tags.shutdown(cancel_futures=True)
            raise
        lists.shutdown()
        tags.shutdown()
        if self.sign is not None:
            # Signed once every copy is done: a copy still merging its referrers into a .sig
            # would race with a signature written there (two signers of one digest are serialised
            # by signing itself).
            with ThreadPoolExecutor(max_workers=self.concurrency) as signers:
                outcomes = list(signers.map(self._signed, outcomes))
        for outcome in outcomes:
            if "failed" in outcome:
                self.failed.append(outcome["failed"])
            else:
                outcome.pop("_dest", None)
                self.images.append(outcome)
        if self.locations is not None and not self.check_mode:
            self.locations.save()
        return self.result()

    def result(self) -> dict:
        actions = [image["action"] for image in self.images]
        signed = sum(1 for image in self.images if image.get("signed"))
        # check mode: changed says what a real run would change, as registry_copy's does
        result = {"changed": COPIED in actions or WOULD_COPY in actions or signed > 0, "images": self.images,
                  "copied": actions.count(COPIED), "already_present": actions.count(PRESENT),
                  "would_copy": actions.count(WOULD_COPY), "failed_count": len(self.failed),
                  "failed_images": self.failed}
        if self.sign is not None:
            result["signed"] = signed
        for name in COUNTS:
            result[name] = sum(image.get(name, 0) for image in self.images)
        if self.diff:
            before, after = {}, {}
            for job in self.jobs:
                if job.before is None:
                    continue
                written = [i["dest"].rsplit(":", 1)[1] for i in self.images
                           if i["action"] in (COPIED, WOULD_COPY) and i["dest"].rsplit(":", 1)[0] == job.dest.full_name]
                before[job.dest.full_name] = job.before
                after[job.dest.full_name] = sorted(set(job.before) | set(written))
            result["diff"] = {"before": before, "after": after}
        return result


def check_sync_options(concurrency: int) -> None:
    if not 1 <= concurrency <= 32:
        raise InputError("concurrency must be between 1 and 32, got %d" % concurrency)
