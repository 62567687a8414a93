# Private to the drc.registry collection: no compatibility promise for other collections.
"""Adding tags to a manifest in its repository: the manifest's own bytes PUT under each new tag,
no blob moved."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    find_manifest, get_manifest, put_manifest)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import tag_problem


def check_tags(tags: list) -> list:
    if not tags:
        raise InputError("tags must name at least one tag")
    for tag in tags:
        problem = tag_problem(tag)
        if problem:
            raise InputError("invalid tag %r: %s" % (tag, problem))
    return list(dict.fromkeys(tags))


def tag_manifest(connection, reference, tags: list, check_mode: bool = False) -> dict:
    """Point every tag at the manifest ``reference`` names; tags already there are left alone.

    Returns digest, tags_added, tags_unchanged and the digest each added tag had before (None
    for a new tag).
    """
    repository = reference.repository
    connection.hint_scopes([repository_scope(repository, "pull,push")])
    manifest = get_manifest(connection, repository, reference.api_reference)
    added, unchanged, before = [], [], {}
    for tag in check_tags(tags):
        found = find_manifest(connection, repository, tag)
        if found and found["digest"] == manifest.digest:
            unchanged.append(tag)
            continue
        before[tag] = found["digest"] if found else None
        added.append(tag)
        if not check_mode:
            put_manifest(connection, repository, tag, manifest.raw, manifest.media_type)
    return {"digest": manifest.digest, "media_type": manifest.media_type, "tags_added": added,
            "tags_unchanged": unchanged, "before": before}
