# Private to the drc.registry collection: no compatibility promise for other collections.
"""A prune on one repository: read its graph (tags, manifests, index children, referrers, image
creation times), plan with retention_plan, check the invariants, then delete by digest.

Requests all go to the one registry of the repository, on one connection: the tag list (bounded
by tags.py), a HEAD per tag, the referrers API per manifest (referrers.py: bounded pages, asked
once if the registry has no API), a GET per manifest (4 MiB each, verified by digest, at most
MAX_MANIFESTS), a GET per image config when a rule needs creation times (MAX_CONFIG_SIZE each),
then the DELETEs (and, for a fallback index still listing kept referrers, one PUT).
"""

from __future__ import annotations

import concurrent.futures
import json
from datetime import datetime, timezone

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.deletion import delete_manifest, delete_tag
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, is_not_found)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    find_manifest, get_manifest, put_manifest)
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import RegistryReferrers
from ansible_collections.drc.registry.plugins.module_utils._registry.retention_plan import (
    InvariantViolation, RepositoryGraph, check_invariants, plan_prune)
from ansible_collections.drc.registry.plugins.module_utils._registry.retention_rules import (
    parse_created, referrer_subject)
from ansible_collections.drc.registry.plugins.module_utils._registry.tags import list_tags

MAX_MANIFESTS = 20000
CONFIG_TYPES = (mt.OCI_CONFIG, mt.DOCKER_CONFIG)


class PruneStopped(RegistryError):
    """A request that deletes failed: the run stops, saying what was already deleted."""

    def __init__(self, cause: RegistryError, done: list) -> None:
        super().__init__("%s; the prune stopped there, after deleting %d manifest(s) and tag(s) "
                         "(listed in 'deleted')" % (cause, len(done)),
                         method=cause.method, url=cause.url, status=cause.status, errors=cause.errors)
        self.done = done

    @property
    def details(self) -> dict:
        out = dict(super().details)
        out["deleted"] = self.done
        return out


def _pool_map(function, items: list, concurrency: int) -> list:
    """function(item) for every item, at most ``concurrency`` at once, results in order."""
    if len(items) <= 1 or concurrency <= 1:
        return [function(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(function, items))


class RepositoryReader:
    """What the plan needs from the registry, read concurrently on one connection."""

    def __init__(self, connection, repository: str, concurrency: int = 4) -> None:
        self.connection = connection
        self.repository = repository
        self.concurrency = concurrency
        self.manifests: dict = {}  # digest -> Manifest (None: listed somewhere, but absent)

    def tags(self) -> dict:
        """tag -> digest; a tag that disappears between the list and its HEAD is left out."""
        try:
            names = list_tags(self.connection, self.repository)
        except RegistryError as exc:
            if is_not_found(exc):
                return {}
            raise

        def resolve(tag: str):
            found = find_manifest(self.connection, self.repository, tag)
            return tag, found["digest"] if found else None

        return {tag: digest for tag, digest in _pool_map(resolve, names, self.concurrency) if digest}

    def _get(self, digest: str):
        try:
            return get_manifest(self.connection, self.repository, digest)
        except RegistryError as exc:
            if is_not_found(exc):
                return None  # a child an interrupted prune already deleted, a dangling referrer
            raise

    def fetch_manifests(self, tags: dict) -> None:
        """Every tagged manifest, then (level by level) what indexes and fallback indexes list."""
        wave = sorted(set(tags.values()))
        fallback_digests = {digest for tag, digest in tags.items()
                            if (referrer_subject(tag) or (None, None))[1] == "fallback"}
        while wave:
            if len(self.manifests) + len(wave) > MAX_MANIFESTS:
                raise RegistryError("repository %s holds more than %d manifests reachable from its "
                                    "tags; not pruning it" % (self.repository, MAX_MANIFESTS))
            for digest, manifest in zip(wave, _pool_map(self._get, wave, self.concurrency)):
                self.manifests[digest] = manifest
            following = set()
            for digest in wave:
                manifest = self.manifests[digest]
                if manifest is not None and (manifest.is_index or digest in fallback_digests):
                    following.update(child["digest"] for child in manifest.entries())
            wave = sorted(following - set(self.manifests))

    def children(self, digest: str) -> list:
        manifest = self.manifests.get(digest)
        return [entry["digest"] for entry in manifest.entries()] if manifest is not None and manifest.is_index else []

    def created(self, digests: list) -> dict:
        """digest -> the image config's ``created`` (an index: its newest child's); None when the
        config has none (artifacts) or the manifest is gone."""
        images = set()
        for digest in digests:
            images.update(self.children(digest) or [digest])
        wanted = []
        for digest in sorted(images):
            manifest = self.manifests.get(digest)
            descriptor = manifest.config_descriptor() if manifest is not None and not manifest.is_index else None
            if descriptor and descriptor.get("mediaType") in CONFIG_TYPES:
                wanted.append((digest, descriptor["digest"]))

        def read(pair):
            from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import get_blob_bytes
            try:
                config = parse_json(get_blob_bytes(self.connection, self.repository, pair[1]))
            except (ValueError, UnicodeDecodeError):
                return None
            return parse_created(config.get("created")) if isinstance(config, dict) else None

        by_image = dict(zip([p[0] for p in wanted], _pool_map(read, wanted, self.concurrency)))
        out = {}
        for digest in digests:
            times = [by_image.get(child) for child in (self.children(digest) or [digest])]
            times = [t for t in times if t is not None]
            out[digest] = max(times) if times else None
        return out


def find_referrers(reader: RepositoryReader, tags: dict, subject: str, api=None) -> tuple:
    """The referrers of one manifest: (referrer digests, fallback (tag, index digest, listed) or None).

    From the tag list we already hold: cosign's ``sha256-<hex>.sig/.att/.sbom`` tags and the
    entries of the OCI fallback tag index ``sha256-<hex>``; and, with ``api`` (a
    referrers.RegistryReferrers), what the OCI 1.1 referrers API lists
    (``GET /v2/<name>/referrers/<digest>``; nothing once the registry has said it has no API).
    """
    algorithm, hexpart = subject.split(":", 1)
    prefix = "%s-%s" % (algorithm, hexpart)
    found, fallback = [], None
    for suffix in (".sig", ".att", ".sbom"):
        digest = tags.get(prefix + suffix)
        if digest and digest not in found:
            found.append(digest)
    index_digest = tags.get(prefix)
    if index_digest:
        index = reader.manifests.get(index_digest)
        listed = [e["digest"] for e in index.entries()] if index is not None and index.is_index else []
        fallback = (prefix, index_digest, listed)
        found.extend(d for d in listed if d not in found)
    if api is not None:
        found.extend(e["digest"] for e in api.api_referrers(subject) if e["digest"] not in found)
    return found, fallback


def read_graph(reader: RepositoryReader) -> RepositoryGraph:
    tags = reader.tags()
    reader.fetch_manifests(tags)
    graph = RepositoryGraph(tags=tags)
    api = RegistryReferrers(reader.connection, reader.repository)
    pending = [d for d, m in reader.manifests.items() if m is not None]
    seen = set(pending)
    while pending:  # API referrers are untagged: fetched here, then their own referrers asked for
        digest = pending.pop(0)
        manifest = reader.manifests[digest]
        if manifest.is_index:
            graph.children[digest] = reader.children(digest)
        referrers, fallback = find_referrers(reader, tags, digest, api)
        if referrers:
            graph.referrers[digest] = referrers
        if fallback:
            graph.fallback[digest] = fallback
        unread = [d for d in referrers if d not in reader.manifests]
        if len(reader.manifests) + len(unread) > MAX_MANIFESTS:
            raise RegistryError("repository %s holds more than %d manifests reachable from its "
                                "tags and referrers; not pruning it" % (reader.repository, MAX_MANIFESTS))
        for ref_digest, ref_manifest in zip(unread, _pool_map(reader._get, unread, reader.concurrency)):
            reader.manifests[ref_digest] = ref_manifest
        for ref_digest in referrers:
            if ref_digest not in seen and reader.manifests.get(ref_digest) is not None:
                seen.add(ref_digest)
                pending.append(ref_digest)
    # the fallback index's own entries are referrers, not children: they live and die with the subject
    for _tag, index_digest, _listed in graph.fallback.values():
        graph.children.pop(index_digest, None)
    return graph


def _rewrite_fallback(connection, repository: str, reader: RepositoryReader, step: dict) -> None:
    """PUT the fallback index again, listing only the referrers that are kept."""
    old = reader.manifests[step["digest"]]
    body = dict(old.body)
    body["manifests"] = [e for e in old.entries() if e.get("digest") in step["entries"]]
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    put_manifest(connection, repository, step["tag"], raw, old.media_type)


def _checked_tag_delete(connection, repository: str, reader: RepositoryReader, entry: dict,
                        tags: dict) -> str | None:
    """Remove a tag alone; None when done, else the reason it was not. A registry that deleted
    the manifest instead has it put back under the kept tags that named it, and the run stops."""
    refused = delete_tag(connection, repository, entry["tag"])
    if refused:
        return ("the registry refused to delete the tag alone (%s); deleting its manifest would "
                "remove tags and images that are kept" % refused)
    if find_manifest(connection, repository, entry["digest"]) is None:
        manifest = reader.manifests[entry["digest"]]
        for tag in sorted(t for t, d in tags.items() if d == entry["digest"] and t != entry["tag"]):
            put_manifest(connection, repository, tag, manifest.raw, manifest.media_type)
        raise RegistryError("deleting the tag %s:%s deleted its manifest %s on this registry; it "
                            "was put back under its other tags" % (repository, entry["tag"], entry["digest"]))
    if find_manifest(connection, repository, entry["tag"]) is not None:
        return "the registry accepted the tag's DELETE but still serves the tag"
    return None


def prune_repository(connection, repository: str, policy, check_mode: bool,
                     now: datetime | None = None, concurrency: int = 4) -> dict:
    """Plan, check, and (unless check mode) delete. The result: changed, deleted, kept,
    could_not_delete, tags_before, tags_after."""
    connection.hint_scopes([repository_scope(repository, "pull" if check_mode else "pull,push,delete")])
    reader = RepositoryReader(connection, repository, concurrency)
    graph = read_graph(reader)
    candidates = [tag for tag in graph.tags if policy.is_candidate(tag)]
    created_by_tag: dict = {}
    if policy.needs_created:
        by_digest = reader.created(sorted({graph.tags[t] for t in candidates}))
        created_by_tag = {tag: by_digest.get(graph.tags[tag]) for tag in candidates}
    kept_tags = policy.kept_tags(sorted(graph.tags), created_by_tag, now or datetime.now(timezone.utc))
    plan = plan_prune(graph, kept_tags)
    try:
        check_invariants(graph, kept_tags, plan)
    except InvariantViolation as exc:
        raise RegistryError("refusing to prune %s: %s (a bug in the plan; nothing was deleted)"
                            % (repository, exc))
    result = {"kept": plan.kept, "could_not_delete": [], "tags_before": sorted(graph.tags)}
    if check_mode:
        result.update(changed=bool(plan.steps or plan.tag_deletes), tags_after=plan.tags_after,
                      deleted=plan.deleted + [dict(e, tag_only=True) for e in plan.tag_deletes])
        return result
    done: list = []
    by_digest: dict = {}
    for entry in plan.deleted:
        by_digest.setdefault(entry["digest"], []).append(entry)
    try:
        for step in plan.steps:
            if step["action"] == "rewrite":
                _rewrite_fallback(connection, repository, reader, step)
                delete_manifest(connection, repository, step["digest"])
                done.append({"tag": None, "digest": step["digest"], "why": step["why"]})
                continue
            delete_manifest(connection, repository, step["digest"])
            done.extend(by_digest.get(step["digest"], []))
        for entry in plan.tag_deletes:
            reason = _checked_tag_delete(connection, repository, reader, entry, graph.tags)
            if reason:
                result["could_not_delete"].append({"tag": entry["tag"], "digest": entry["digest"],
                                                   "reason": reason})
            else:
                done.append(dict(entry, tag_only=True))
    except RegistryError as exc:
        raise PruneStopped(exc, done)
    gone = {entry["tag"] for entry in done if entry["tag"]}
    result.update(changed=bool(done), deleted=done,
                  tags_after=sorted(t for t in graph.tags if t not in gone))
    return result
