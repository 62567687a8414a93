# Private to the drc.registry collection: no compatibility promise for other collections.
"""Referrers: the manifests that describe another one (signatures, SBOMs, attestations).

Where they are found, in this order, as one list whose entries say how each was found
(``found_by``):

- ``api``: the OCI 1.1 referrers API, ``GET /v2/<name>/referrers/<digest>`` (an OCI index; pages
  followed through ``Link``; ``?artifactType=`` sent, and applied here to every answer, so a
  registry whose ``OCI-Filters-Applied`` does not say it filtered is covered). A 404 means the registry has no such API
  (the spec forbids a 404 from a registry that has it); it is asked once per end.
- ``fallback_tag``: the spec's fallback tag ``<alg>-<hex>``, an OCI index listing the referrers,
  kept by clients for registries without the API.
- ``cosign_tag``: cosign's tags ``<alg>-<hex>.sig``, ``.att`` and ``.sbom`` (no ``subject``: the tag
  name is the link).
- In an OCI layout, ``layout_index``: an entry of ``index.json`` whose manifest has the ``subject``
  (the image-layout spec's way); cosign tags and a fallback tag are entries with those names.

Which tags exist is learnt from one tag listing per repository, so a manifest without referrers
costs at most the one API request (none once the registry has said it has no API).

Every answer is bounded (pages by size and count, entries by count) and every manifest read by
digest is verified. BuildKit attestation manifests are children of the image's own index and are
copied with it (copy.py).

Both stores that hold referrers (stores/registry_store.py, stores/layout_store.py) offer them
through the store protocol (stores/store.py): ``referrers``, ``referrer_manifest`` and
``put_referrers``, answered by RegistryReferrers and LayoutReferrers here. ``put_referrers``
records referrers whose manifests (and blobs, children) the store already holds, the way the store
supports: a cosign tag as a tag of the same name; otherwise a registry that answers the PUT with
``OCI-Subject`` needs nothing more, else the fallback index is read, merged and written (then read
again: a concurrent writer that dropped our entry is reported); a layout gets an ``index.json``
entry.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urljoin

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import read_bounded
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import digest_problem
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, is_not_found, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    MAX_MANIFEST_SIZE, Manifest, ManifestError)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    get_manifest, head_manifest, manifest_digest, put_manifest, put_manifest_answer)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import validate_digest
from ansible_collections.drc.registry.plugins.module_utils._registry.tags import list_tags

COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
MAX_PAGES = 32
MAX_REFERRERS = 1000  # per subject, all places together
# A registry with the API answers 200 (never 404, the spec says); these mean a registry without it
# (unknown route, method or media type). 401/403 and server errors are failures, as for manifests.
NO_API_STATUSES = (400, 404, 405, 406, 501)
REF_NAME = "org.opencontainers.image.ref.name"


def fallback_tag(digest: str) -> str:
    """``sha256:<hex>`` -> ``sha256-<hex>``: the spec's fallback tag (and cosign's tag stem)."""
    algorithm, hex_part = validate_digest(digest).split(":", 1)
    return "%s-%s" % (algorithm, hex_part)


def artifact_type_of(manifest: Manifest) -> str | None:
    """The spec's rule: ``artifactType``, else the config's media type (image manifests only)."""
    declared = manifest.body.get("artifactType")
    if isinstance(declared, str) and declared:
        return declared
    config = manifest.config_descriptor()
    return config.get("mediaType") if config else None


def subject_of(manifest: Manifest) -> str | None:
    subject = manifest.body.get("subject")
    return subject.get("digest") if isinstance(subject, dict) else None


def _annotations(value) -> dict:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def entry_from_descriptor(descriptor, found_by: str, where: str) -> dict:
    """A listing's descriptor as an entry; the digest and size must be usable."""
    if not isinstance(descriptor, dict):
        raise RegistryError("%s lists a referrer that is not a JSON object" % where)
    problem = digest_problem(descriptor.get("digest"))
    size = descriptor.get("size")
    if problem is not None or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError("%s lists a referrer without a valid digest and size (%s)"
                            % (where, problem or "size %r" % (size,)))
    artifact_type = descriptor.get("artifactType")
    return {"digest": descriptor["digest"], "media_type": descriptor.get("mediaType"),
            "artifact_type": artifact_type if isinstance(artifact_type, str) else None,
            "size": size, "annotations": _annotations(descriptor.get("annotations")),
            "found_by": found_by}


def entry_from_manifest(manifest: Manifest, found_by: str, tag: str | None = None) -> dict:
    entry = {"digest": manifest.digest, "media_type": manifest.media_type,
             "artifact_type": artifact_type_of(manifest), "size": manifest.size,
             "annotations": _annotations(manifest.body.get("annotations")), "found_by": found_by}
    if tag is not None:
        entry["tag"] = tag
    return entry


def descriptor_of(manifest: Manifest) -> dict:
    """The descriptor a referrers index (fallback tag, layout index.json) lists for a referrer."""
    descriptor = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size}
    artifact_type = artifact_type_of(manifest)
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    annotations = manifest.body.get("annotations")
    if isinstance(annotations, dict) and annotations:
        descriptor["annotations"] = annotations
    return descriptor


def keep(entries: list, artifact_type: str | None) -> list:
    """Filter by artifact type, drop repeats (same digest and tag), and bound the count."""
    out, seen = [], set()
    for entry in entries:
        key = (entry["digest"], entry.get("tag"))
        if key in seen or (artifact_type and entry.get("artifact_type") != artifact_type):
            continue
        seen.add(key)
        out.append(entry)
    return out


def _check_count(entries: list, where: str) -> None:
    if len(entries) > MAX_REFERRERS:
        raise RegistryError("%s lists more than %d referrers: refusing a listing that large"
                            % (where, MAX_REFERRERS))


# -- a registry ------------------------------------------------------------------------------------
class RegistryReferrers:
    """The referrers of the manifests of one repository on one registry connection."""

    def __init__(self, connection, repository: str) -> None:
        self.connection = connection
        self.repository = repository
        self.api: bool | None = None  # None until the registry has answered a referrers request
        self._tags: set | bool | None = None  # False: listing refused
        self._manifests: dict = {}

    def tags(self) -> set | None:
        """Every tag of the repository, listed once (which fallback and cosign tags exist); None
        when the credentials may pull but not list tags (each tag is then asked for by HEAD)."""
        if self._tags is None:
            try:
                self._tags = set(list_tags(self.connection, self.repository))
            except RegistryError as exc:
                if exc.status in (401, 403):
                    self.connection.log("listing the tags of %s was refused (%s): asking for the "
                                        "fallback and cosign tags one by one" % (self.repository, exc))
                    self._tags = False
                elif is_not_found(exc):
                    self._tags = set()
                else:
                    raise
        return self._tags if self._tags is not False else None

    def has_tag(self, tag: str) -> bool:
        tags = self.tags()
        if tags is not None:
            return tag in tags
        try:
            head_manifest(self.connection, self.repository, tag)
        except RegistryError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def referrers(self, digest: str, artifact_type: str | None = None) -> list:
        validate_digest(digest)
        found: list = []
        if self.api is not False:
            found.extend(self._from_api(digest, artifact_type))
        stem = fallback_tag(digest)
        if self.has_tag(stem):
            found.extend(self._from_fallback(digest, stem))
        for suffix in COSIGN_SUFFIXES:
            if self.has_tag(stem + suffix):
                manifest = get_manifest(self.connection, self.repository, stem + suffix)
                self._manifests[manifest.digest] = manifest
                found.append(entry_from_manifest(manifest, "cosign_tag", stem + suffix))
        found = keep(found, artifact_type)
        _check_count(found, "%s@%s" % (self.repository, digest))
        return found

    def api_referrers(self, digest: str) -> list:
        """Only what the referrers API lists ([] once the registry has said it has no API): for a
        caller that already reads the tags itself (retention.py)."""
        validate_digest(digest)
        if self.api is False:
            return []
        return keep(self._from_api(digest, None), None)

    def _from_api(self, digest: str, artifact_type: str | None) -> list:
        path = "/v2/%s/referrers/%s" % (self.repository, digest)
        if artifact_type:
            path += "?artifactType=" + quote(artifact_type, safe="")
        what = "the referrers of %s@%s" % (self.repository, digest)
        entries: list = []
        for page in range(MAX_PAGES):
            try:
                response = self.connection.request(
                    "GET", path, [repository_scope(self.repository)],
                    headers={"Accept": mt.OCI_INDEX}, what=what)
            except RegistryError as exc:
                if page == 0 and exc.status in NO_API_STATUSES:
                    self.connection.log("%s: no referrers API (%s)" % (what, exc))
                    self.api = False
                    return []
                raise
            body = read_bounded(response, MAX_MANIFEST_SIZE, what)
            self.api = True
            try:
                index = Manifest(body, mt.OCI_INDEX)
            except ManifestError as exc:
                raise RegistryError("GET %s: %s is not an OCI index: %s"
                                    % (redact_url(response.url), what, exc))
            for descriptor in index.entries():
                entries.append(entry_from_descriptor(descriptor, "api", what))
            _check_count(entries, what)
            # Filtered again by keep() whatever OCI-Filters-Applied says: a registry that ignored
            # artifactType (and says so, or not) is covered.
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return entries
            path = urljoin(response.url, next_url)
        raise RegistryError("%s: the registry's pages did not end after %d pages" % (what, MAX_PAGES))

    def _from_fallback(self, digest: str, tag: str) -> list:
        where = "the fallback tag %s:%s" % (self.repository, tag)
        index = get_manifest(self.connection, self.repository, tag)
        if not index.is_index:
            self.connection.warn("%s is not an index (%s): not read as a list of referrers"
                                 % (where, index.media_type))
            return []
        entries = [entry_from_descriptor(d, "fallback_tag", where) for d in index.entries()]
        _check_count(entries, where)
        return entries

    def remember(self, manifest: Manifest) -> None:
        """A referrer the caller has already read (verified by get_manifest): not read again."""
        self._manifests[manifest.digest] = manifest

    def referrer_manifest(self, entry: dict) -> Manifest:
        manifest = self._manifests.get(entry["digest"])
        if manifest is None:
            if entry["size"] > MAX_MANIFEST_SIZE:
                raise RegistryError("the referrer %s of %s is %d bytes, more than the %d bytes "
                                    "allowed for a manifest" % (entry["digest"], self.repository,
                                                                entry["size"], MAX_MANIFEST_SIZE))
            manifest = get_manifest(self.connection, self.repository, entry["digest"])
        return manifest

    # -- writing -------------------------------------------------------------------------------
    def put_referrers(self, subject: str, items: list) -> int:
        """Record referrers whose manifests are to be PUT here now (see the module docstring)."""
        written, fallback = 0, []
        for entry, manifest in items:
            if entry.get("tag"):
                put_manifest(self.connection, self.repository, entry["tag"], manifest.raw,
                             manifest.media_type)
                written += 1
                continue
            _digest, headers = put_manifest_answer(self.connection, self.repository,
                                                   manifest.digest, manifest.raw, manifest.media_type)
            written += 1
            if headers.get("OCI-Subject"):
                self.api = True
            else:
                fallback.append(descriptor_of(manifest))
        if fallback:
            self.add_to_fallback(subject, fallback)
        return written

    def add_to_fallback(self, subject: str, descriptors: list) -> bool:
        """Read, merge, write the fallback index of ``subject``; then read it again."""
        tag = fallback_tag(subject)
        where = "the fallback tag %s:%s" % (self.repository, tag)
        current = self._read_fallback(tag)
        if current is not None and not current.is_index:
            raise RegistryError("%s holds a %s, not an index of referrers: not overwritten"
                                % (where, current.media_type))
        body = dict(current.body) if current is not None else {
            "schemaVersion": 2, "mediaType": mt.OCI_INDEX}
        entries = list(current.entries()) if current is not None else []
        have = set(e.get("digest") for e in entries if isinstance(e, dict))
        new = [d for d in descriptors if d["digest"] not in have]
        if not new:
            return False
        body["manifests"] = entries + new
        _check_count(body["manifests"], where)
        raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
        put_manifest(self.connection, self.repository, tag, raw, mt.OCI_INDEX)
        again = self._read_fallback(tag)
        listed = set(e.get("digest") for e in (again.entries() if again is not None else [])
                     if isinstance(e, dict))
        missing = [d["digest"] for d in new if d["digest"] not in listed]
        if missing:
            self.connection.warn("%s was changed by another writer while we added %s: it does not "
                                 "list them now; copy again to add them" % (where, ", ".join(missing)))
        return True

    def _read_fallback(self, tag: str) -> Manifest | None:
        try:
            return get_manifest(self.connection, self.repository, tag)
        except RegistryError as exc:
            if is_not_found(exc):
                return None
            raise


# -- an OCI image layout ---------------------------------------------------------------------------
class LayoutReferrers:
    """Referrers in an OCI layout's index.json: entries with a ``subject``, and tags named as the
    fallback and cosign tags are."""

    def __init__(self, layout) -> None:
        self.layout = layout
        self._by_subject: dict | None = None
        self._manifests: dict = {}

    def _scan(self) -> dict:
        """subject digest -> entries of index.json whose manifest names it (read once)."""
        if self._by_subject is None:
            by_subject: dict = {}
            entries = self.layout.entries()
            _check_count(entries, "%s's index.json" % self.layout.display)
            for entry in entries:
                if mt.is_index(entry.get("mediaType")) or not self.layout.has_blob(entry["digest"]):
                    continue
                if not isinstance(entry.get("size"), int) or entry["size"] > MAX_MANIFEST_SIZE:
                    continue
                manifest = self.layout.read_manifest(entry["digest"], entry.get("mediaType"))
                subject = subject_of(manifest)
                if subject:
                    self._manifests[manifest.digest] = manifest
                    by_subject.setdefault(subject, []).append(entry_from_manifest(manifest, "layout_index"))
            self._by_subject = by_subject
        return self._by_subject

    def referrers(self, digest: str, artifact_type: str | None = None) -> list:
        validate_digest(digest)
        found = list(self._scan().get(digest, []))
        stem = fallback_tag(digest)
        fallback = self.layout.find(stem)
        if fallback is not None and mt.is_index(fallback.get("mediaType")):
            index = self.layout.read_manifest(fallback["digest"], fallback.get("mediaType"))
            where = "the fallback tag %s in %s" % (stem, self.layout.display)
            found.extend(entry_from_descriptor(d, "fallback_tag", where) for d in index.entries())
        for suffix in COSIGN_SUFFIXES:
            entry = self.layout.find(stem + suffix)
            if entry is not None:
                manifest = self.layout.read_manifest(entry["digest"], entry.get("mediaType"))
                self._manifests[manifest.digest] = manifest
                found.append(entry_from_manifest(manifest, "cosign_tag", stem + suffix))
        found = keep(found, artifact_type)
        _check_count(found, "%s@%s" % (self.layout.display, digest))
        return found

    def referrer_manifest(self, entry: dict) -> Manifest:
        manifest = self._manifests.get(entry["digest"])
        return manifest or self.layout.read_manifest(entry["digest"], entry.get("media_type"))

    def put_referrers(self, subject: str, items: list) -> int:
        written = 0
        for entry, manifest in items:
            self.layout.write_blob_bytes(manifest.digest, manifest.raw)
            if entry.get("tag"):
                self.layout.set_tag(entry["tag"], {"mediaType": manifest.media_type,
                                                   "digest": manifest.digest, "size": manifest.size})
            else:
                self.layout.add_entry(descriptor_of(manifest))
            written += 1
        self._by_subject = None
        return written


# -- registry_referrers_info ---------------------------------------------------------------------
def referrers_info(connection, reference, artifact_type: str | None = None) -> dict:
    """The module's result: the subject's digest, its referrers, whether the registry has the API."""
    digest = reference.digest or manifest_digest(connection, reference.repository,
                                                 reference.api_reference)["digest"]
    finder = RegistryReferrers(connection, reference.repository)
    found = finder.referrers(digest, artifact_type)
    return {"digest": digest, "referrers": found, "referrers_api": finder.api is True,
            "reference": reference.string}
