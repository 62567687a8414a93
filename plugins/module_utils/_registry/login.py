# Private to the drc.registry collection: no compatibility promise for other collections.
"""What registry_login does: check credentials with a ping and a token for a scope they should
grant, then keep (or drop) the registry's entry in a Docker config.json or containers auth.json."""

from __future__ import annotations

import os

from ansible_collections.drc.registry.plugins.module_utils._registry import auth_file
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import (
    CATALOG_SCOPE, repository_scope)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import release


def check_scope(registry: str, repository: str | None) -> str:
    """The scope the check asks for: pull on ``repository`` (a path on the registry), or the catalog."""
    if repository is None:
        return CATALOG_SCOPE
    if not repository or "@" in repository or ":" in repository.split("/")[-1]:
        raise InputError("repository must be a repository path on %s such as team/app, without a "
                         "tag or digest, got %r" % (registry, repository))
    reference = parse_image_reference("%s/%s" % (registry, repository))
    return repository_scope(reference.repository)


def check_credentials(connection, scope: str) -> dict:
    """Ping, then ``GET /v2/`` authenticated for ``scope`` (a token request first, where the registry
    uses tokens). A refusal raises RegistryError naming the registry and UNAUTHORIZED."""
    credentials = connection.auth.credentials
    has_password = credentials.username is not None and credentials.password is not None
    if not (connection.auth.bearer_token or credentials.identity_token or has_password):
        raise InputError("registry_login found no credentials for %s: give username and password "
                         "(or identity_token, bearer_token, auths)" % connection.registry)
    try:
        connection.ping()
        response = connection.request("GET", "/v2/", [scope], what="the API root")
        release(response)
    except RegistryError as exc:
        if exc.status not in (401, 403):
            raise
        raise RegistryError("%s refused the credentials (%s): UNAUTHORIZED: %s" % (
            connection.registry, "bearer_token" if connection.auth.bearer_token
            else "%s from %s" % (credentials.username or "identity token", credentials.source),
            exc), method=exc.method, url=exc.url, status=exc.status, errors=exc.errors)
    challenge = connection.auth.challenge
    scheme = challenge.scheme if challenge is not None else "none"
    if connection.auth.bearer_token:
        scheme = "bearer_token"
    return {"auth_scheme": scheme, "scope": scope if scheme == "bearer" else None}


def store(path: str, host: str, credentials, check_mode: bool, want_diff: bool) -> dict:
    """Make ``path`` hold ``credentials`` for ``host``; changed only when the file changes."""
    before = auth_file.load(path)
    after, key = auth_file.with_entry(before, path, host, auth_file.entry_for(credentials))
    return _apply(path, before, after, key, check_mode, want_diff)


def remove(path: str, host: str, check_mode: bool, want_diff: bool) -> dict:
    before = auth_file.load(path)
    after, keys = auth_file.without_entry(before, host)
    result = _apply(path, before, after, None, check_mode, want_diff)
    result["removed_keys"] = keys
    return result


def _apply(path: str, before: dict, after: dict, key: str | None, check_mode: bool,
           want_diff: bool) -> dict:
    changed = after != before or (key is not None and not os.path.exists(path))
    if changed and not check_mode:
        auth_file.save(path, after)
    result = {"changed": changed, "config_path": path, "key": key}
    if want_diff:
        result["diff"] = auth_file.diff(before, after, path, key)
    return result


def warnings_for(path: str, host: str) -> list:
    """What would make Docker ignore the entry just written."""
    helper = auth_file.helper_for(auth_file.load(path), host)
    if helper:
        return ["%s has %s for %s, which Docker asks instead of the auths entry" % (path, helper, host)]
    return []
