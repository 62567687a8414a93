# Private to the drc.registry collection: no compatibility promise for other collections.
"""Copying the referrers of an image with it (``registry_copy``'s ``referrers``).

Plan first, on the source alone: the referrers of every manifest copied (the index and each
child), then theirs (a signature of an SBOM), at most MAX_DEPTH levels, each read and verified;
a listed referrer whose ``subject`` is another manifest is left out with a warning, a cycle is
followed once. Then ask the destination which it has, and copy the others: their blobs, their
children, then each manifest and its record (cosign tag, API or fallback index, layout entry), a
subject's referrers together, shallow ones first. Nothing is written before the whole plan is
read, and a fallback index lists only manifests already in place.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import subject_of

MAX_DEPTH = 8
MAX_COPIED = 1000  # referrers of one image, all levels together


def plan_referrers(source, subjects: list, plan_copy, warn) -> list:
    """Every referrer to copy, as dicts: subject, entry, manifest, ordered (children first, the
    referrer last), blobs (by digest), depth. ``plan_copy(source, manifest)`` plans one manifest."""
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
                ordered, blobs = plan_copy(source, manifest)
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


def missing_at(dest, items: list) -> list:
    """The planned referrers the destination does not hold (asked once per subject)."""
    present: dict = {}
    out = []
    for item in items:
        subject = item["subject"]
        if subject not in present:
            present[subject] = set((e["digest"], e.get("tag")) for e in dest.referrers(subject))
        if (item["entry"]["digest"], item["entry"].get("tag")) not in present[subject]:
            out.append(item)
    return out


def write_referrers(source, dest, items: list, chunk_size, concurrency: int) -> int:
    """Copy ``items`` (from missing_at) to ``dest``; returns how many referrers were recorded."""
    blobs: dict = {}
    for item in items:
        blobs.update(item["blobs"])
    if blobs:
        pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(blobs))))
        try:
            list(pool.map(lambda d: dest.push_blob(d, source, chunk_size), list(blobs.values())))
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


def referrer_digests(items: list) -> list:
    out: list = []
    for item in items:
        if item["entry"]["digest"] not in out:
            out.append(item["entry"]["digest"])
    return out
