# Private to the drc.registry collection: no compatibility promise for other collections.
"""Deleting manifests (by digest; a tag is resolved first) and blobs, with a clear error when the
registry has deletion disabled."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import blob_path
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    RegistryError, is_not_found)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import validate_digest
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import (
    find_manifest, manifest_path)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import release

DELETION_DISABLED = ("the registry does not allow deletion (for the CNCF Distribution registry, "
                     "set storage.delete.enabled: true)")


def _delete(connection, path: str, repository: str, what: str) -> bool:
    """DELETE; True when deleted, False when it was not there."""
    try:
        response = connection.request("DELETE", path, [repository_scope(repository, "delete")],
                                      ok=(200, 202, 204), what=what)
    except RegistryError as exc:
        if exc.status == 405 or "UNSUPPORTED" in exc.codes:
            raise RegistryError("%s (%s)" % (exc, DELETION_DISABLED), method=exc.method,
                                url=exc.url, status=exc.status, errors=exc.errors)
        if is_not_found(exc):
            return False
        raise
    release(response)
    return True


def delete_manifest(connection, repository: str, digest: str) -> bool:
    """DELETE a manifest by digest: every tag pointing at it goes with it."""
    validate_digest(digest)
    return _delete(connection, manifest_path(repository, digest), repository,
                   "manifest %s@%s" % (repository, digest))


def delete_image(connection, repository: str, reference: str, check_mode: bool = False) -> tuple:
    """``registry_manifest`` ``state: absent``: (the manifest found or None, whether it was deleted).

    One token covers the lookup and the delete: both are asked for up front.
    """
    connection.hint_scopes([repository_scope(repository, "pull,delete")])
    found = find_manifest(connection, repository, reference)
    changed = found is not None
    if changed and not check_mode:
        changed = delete_manifest(connection, repository, found["digest"])
    return found, changed


def delete_blob(connection, repository: str, digest: str) -> bool:
    """DELETE a blob (its link in the repository; the registry's garbage collection frees it)."""
    validate_digest(digest)
    return _delete(connection, blob_path(repository, digest), repository,
                   "blob %s in %s" % (digest, repository))


# What a registry answers when it cannot remove a tag alone: Distribution 2.8 reads the tag as a
# digest (400 DIGEST_INVALID); others say 405 or UNSUPPORTED.
TAG_DELETE_REFUSED_CODES = frozenset(("DIGEST_INVALID", "UNSUPPORTED"))


def delete_tag(connection, repository: str, tag: str) -> str | None:
    """DELETE /v2/<name>/manifests/<tag>: OCI 1.1's removal of the tag alone, its manifest kept.

    Returns None when the registry accepted it (or the tag was already gone), else the registry's
    reason for refusing. The caller checks afterwards that the manifest is still there: a registry
    that read the request as "delete the manifest" would have removed every tag on it.
    """
    try:
        response = connection.request("DELETE", manifest_path(repository, tag),
                                      [repository_scope(repository, "delete")], ok=(200, 202, 204),
                                      what="tag %s:%s" % (repository, tag))
    except RegistryError as exc:
        if is_not_found(exc):
            return None
        if exc.status in (400, 405) or TAG_DELETE_REFUSED_CODES & set(exc.codes):
            return str(exc)
        raise
    release(response)
    return None
