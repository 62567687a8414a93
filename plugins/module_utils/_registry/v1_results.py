# Private to the drc.registry collection: no compatibility promise for other collections.
"""The results of the v1 read modules, built from a ``V1Connection``: a repository's tags, an
image's ancestry and JSON. No Ansible here (``adapters/v1_modules.py`` chooses the API and calls
these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.tag_selection import (
    compile_match, select_tags)

if TYPE_CHECKING:
    from ansible_collections.drc.registry.plugins.module_utils._registry.v1 import V1Connection


def tags_info(connection: V1Connection, reference, params: dict) -> dict:
    tag_ids = connection.tags(reference.repository)
    tags = select_tags(list(tag_ids), compile_match(params.get("match")), params.get("sort") or "none")
    return dict(changed=False, tags=tags, tag_ids={tag: tag_ids[tag] for tag in tags},
                repository=reference.full_name, registry=connection.index_url, api_version="v1")


def manifest_info(connection: V1Connection, reference, params: dict, warn) -> dict:
    if reference.digest:
        raise InputError("reference %s: the v1 API has no manifests or digests; name a tag"
                         % reference.string)
    for option in ("platform", "config"):
        if params.get(option):
            warn("%s is ignored on the v1 API: a v1 image has one platform, and its JSON "
                 "(image_json) is its configuration" % option)
    repository = reference.repository
    image_id = connection.tag(repository, reference.tag)
    ancestry = connection.ancestry(repository, image_id)
    image_json, _checksum, _size = connection.image_json(repository, image_id)
    return dict(changed=False, reference=reference.string, repository=reference.full_name,
                image_id=image_id, ancestry=ancestry, image_json=image_json,
                registry=connection.index_url, api_version="v1")
