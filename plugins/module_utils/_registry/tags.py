# Private to the drc.registry collection: no compatibility promise for other collections.
"""The tags API: ``GET /v2/<name>/tags/list``, every page."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope

MAX_TAG_PAGE_SIZE = 16 * 1024 * 1024
# The sum of all pages: far beyond any real repository, small enough to bound a hostile one.
MAX_TAG_LIST_SIZE = 64 * 1024 * 1024


def list_tags(connection, repository: str, page_size: int | None = None) -> list:
    """Every tag of a repository, following Link pagination exactly as the registry gives it."""
    path = "/v2/%s/tags/list" % repository
    if page_size:
        path += "?n=%d" % page_size
    tags: list = []
    for page in connection.paginate(path, [repository_scope(repository)],
                                    "the tag list of repository %s" % repository, MAX_TAG_PAGE_SIZE,
                                    max_total=MAX_TAG_LIST_SIZE):
        names = page.get("tags") or []
        if isinstance(names, list):
            tags.extend(t for t in names if isinstance(t, str))
    return tags
