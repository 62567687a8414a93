# Private to the drc.registry collection: no compatibility promise for other collections.
"""The catalog API: ``GET /v2/_catalog``, every page, with the ``registry:catalog:*`` scope."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import CATALOG_SCOPE

MAX_CATALOG_PAGE_SIZE = 16 * 1024 * 1024
MAX_CATALOG_SIZE = 256 * 1024 * 1024


def list_repositories(connection, page_size: int | None = None) -> list:
    """Every repository the registry lists (and the credentials may see), following ``Link``."""
    path = "/v2/_catalog"
    if page_size:
        path += "?n=%d" % page_size
    repositories: list = []
    for page in connection.paginate(path, [CATALOG_SCOPE], "the catalog of %s" % connection.registry,
                                    MAX_CATALOG_PAGE_SIZE, max_total=MAX_CATALOG_SIZE):
        names = page.get("repositories") or []
        if isinstance(names, list):
            repositories.extend(n for n in names if isinstance(n, str))
    return repositories
