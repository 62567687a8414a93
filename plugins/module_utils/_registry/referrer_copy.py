# Private to the drc.registry collection: no compatibility promise for other collections.
"""Copying the referrers of an image with it (``registry_copy``'s ``referrers``).

Plan first, on the source alone: the referrers of every manifest copied (the index and each
child), then theirs (a signature of an SBOM), at most MAX_DEPTH levels, each read and verified;
a listed referrer whose ``subject`` is another manifest is left out with a warning, a cycle is
followed once. Then ask the destination which it has, and copy the others: their blobs, their
children, then each manifest and its record (cosign tag, API or fallback index, layout entry), a
subject's referrers together, shallow ones first. A cosign tag the destination holds with other
content is merged into, never overwritten (missing_at). Nothing is written before the whole plan is
read, and a fallback index lists only manifests already in place.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import BytesSource
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import sha256_digest
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.layer_bags import merge_bags
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, ManifestError)
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import subject_of

MAX_DEPTH = 8
MAX_COPIED = 1000  # referrers of one image, all levels together


def plan_referrers(source, subjects: list, manifests_and_blobs, warn) -> list:
    """Every referrer to copy, as dicts: subject, entry, manifest, ordered (children first, the
    referrer last), blobs (by digest), depth. ``manifests_and_blobs(source, manifest)`` walks one
    manifest (copy.py)."""
    items: list = []
    seen_items: set = set()
    visited = set(subjects)
    level = list(subjects)
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            deeper = [s for s in level if source.referrers(s)]
            if deeper:
                warn("referrers more than %d levels below the image are not copied (the referrers "
                     "of %s)" % (MAX_DEPTH, ", ".join(deeper)))
            break
        next_level: list = []
        for subject in level:
            for entry in source.referrers(subject):
                key = (subject, entry["digest"], entry.get("tag"))
                if key in seen_items:
                    continue
                seen_items.add(key)
                manifest = source.referrer_manifest(entry)
                named = subject_of(manifest)
                if entry["found_by"] != "cosign_tag" and named != subject:
                    warn("%s is listed (%s) as a referrer of %s, but its subject is %s: not copied"
                         % (entry["digest"], entry["found_by"], subject, named or "missing"))
                    continue
                if manifest.is_schema1:
                    warn("the referrer %s of %s is a Docker schema 1 manifest: not copied"
                         % (entry["digest"], subject))
                    continue
                ordered, blobs = manifests_and_blobs(source, manifest)
                items.append({"subject": subject, "entry": entry, "manifest": manifest,
                              "ordered": ordered, "blobs": blobs, "depth": depth})
                if len(items) > MAX_COPIED:
                    raise RegistryError("the image has more than %d referrers (all levels): refusing "
                                        "to copy that many" % MAX_COPIED)
                if entry["digest"] in visited:
                    if entry["digest"] not in next_level:
                        warn("the referrers of %s lead back to %s (a cycle): it is not followed again"
                             % (subject, entry["digest"]))
                    continue
                visited.add(entry["digest"])
                next_level.append(entry["digest"])
        level = next_level
        depth += 1
    return items


def missing_at(dest, items: list, warn=None) -> tuple:
    """(pending, skipped, held): the planned referrers the destination does not hold (asked once
    per subject), those left out (``referrers_skipped`` entries), and the digests the destination
    holds for the plan once the pending ones are written.

    A cosign tag the destination already has with other content is never overwritten (it may
    carry the mirror's own signature): the source's layers it lacks are appended to it (a pending
    item whose manifest is the merged one, nothing pending when it lacks none); a destination
    manifest that is no layer bag is left as it is, with a warning."""
    warn = warn or (lambda msg: None)
    present: dict = {}
    tagged: dict = {}
    pending: list = []
    skipped: list = []
    held: list = []
    for item in items:
        subject = item["subject"]
        if subject not in present:
            found = dest.referrers(subject)
            present[subject] = set((e["digest"], e.get("tag")) for e in found)
            tagged[subject] = dict((e["tag"], e) for e in found if e.get("tag"))
        entry = item["entry"]
        tag = entry.get("tag")
        if (entry["digest"], tag) in present[subject]:
            held.append(entry["digest"])
            continue
        theirs = tagged[subject].get(tag) if tag else None
        if theirs is None:
            pending.append(item)
            held.append(entry["digest"])
            continue
        merged, reason = _merged(dest, theirs, item)
        if reason:
            warn("the destination's %s has other content (%s) and %s: left as it is, the source's "
                 "%s is not copied" % (tag, theirs["digest"], reason, entry["digest"]))
            skipped.append({"digest": entry["digest"], "found_by": entry["found_by"],
                            "reason": "the destination's %s is %s, which %s: not overwritten"
                                      % (tag, theirs["digest"], reason)})
            continue
        if merged is not None:
            pending.append(merged)
            held.append(merged["entry"]["digest"])
        else:
            held.append(theirs["digest"])
    return pending, skipped, list(dict.fromkeys(held))


def _merged(dest, theirs: dict, item: dict) -> tuple:
    """(item to write, None), (None, None) when the destination's bag lacks no source layer, or
    (None, reason)."""
    try:
        ours = dest.referrer_manifest(theirs)
    except (RegistryError, ManifestError) as exc:
        return None, "cannot be read (%s)" % exc
    try:
        raw, config, added = merge_bags(ours, item["manifest"])
    except ValueError as exc:
        return None, "cannot take the source's layers: %s" % exc
    if raw is None:
        return None, None
    manifest = Manifest(raw, mt.OCI_MANIFEST)
    blobs = dict((layer["digest"], layer) for layer in added)  # from the source
    entry = dict(item["entry"], digest=manifest.digest, size=manifest.size,
                 media_type=manifest.media_type)
    return {"subject": item["subject"], "entry": entry, "manifest": manifest,
            "ordered": [manifest], "blobs": blobs, "depth": item["depth"],
            "made": {sha256_digest(config): config}}, None


class _MadeBlobs:
    """The blobs made here (a merged bag's config), as a source store offers them to put_blob."""

    repository = None

    def __init__(self, blobs: dict) -> None:
        self.blobs = blobs

    def blob_source(self, descriptor: dict):
        return BytesSource(self.blobs[descriptor["digest"]], "config")


def write_referrers(source, dest, items: list, chunk_size, concurrency: int) -> int:
    """Copy ``items`` (from missing_at) to ``dest``; returns how many referrers were recorded."""
    blobs: dict = {}
    for item in items:
        blobs.update(item["blobs"])
    made: dict = {}
    for item in items:
        made.update(item.get("made") or {})
    for digest, data in made.items():
        dest.put_blob({"digest": digest, "size": len(data)}, _MadeBlobs(made), chunk_size)
    if blobs:
        pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(blobs))))
        try:
            list(pool.map(lambda d: dest.put_blob(d, source, chunk_size), list(blobs.values())))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    written = 0
    groups: list = []  # (subject, [items]) in plan order: shallow levels first
    for item in items:
        for manifest in item["ordered"][:-1]:
            dest.put_manifest(manifest, top=False)
        if groups and groups[-1][0] == item["subject"]:
            groups[-1][1].append(item)
        else:
            groups.append((item["subject"], [item]))
    for subject, group in groups:
        written += dest.put_referrers(subject, [(i["entry"], i["manifest"]) for i in group])
    return written
