# Private to the drc.registry collection: no compatibility promise for other collections.
"""The options of a copy's two sides: ``src_auth`` / ``dest_auth`` over the task's connection
options, for that side only; and the checks of the copy's own options."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import (
    check_one_registry, plain_credentials)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import parse_platform
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
    CONNECTION_ARGSPEC)

# The keys a side may override (keep in step with plugins/doc_fragments/registry.py, SIDES).
SIDE_KEYS = ("username", "password", "identity_token", "validate_certs", "ca_path", "client_cert",
             "client_key", "timeout", "retries")
CREDENTIAL_KEYS = ("username", "password", "identity_token")
MAX_CONCURRENCY = 16


def side_argspec() -> dict:
    """``src_auth`` / ``dest_auth``: the connection options, with no defaults (unset = the task's)."""
    options = {}
    for name in SIDE_KEYS:
        spec = {key: value for key, value in CONNECTION_ARGSPEC[name].items() if key != "default"}
        options[name] = spec
    return dict(type="dict", options=options)


def side_options(task_params: dict, override: dict | None) -> dict:
    """The connection options of one side.

    A side that names any credential (username, password or identity token) takes all of its
    credentials from its override: a task-level password is never paired with a side's username.
    """
    merged = {name: task_params.get(name) for name in CONNECTION_ARGSPEC}
    override = {k: v for k, v in (override or {}).items() if v is not None}
    if any(key in override for key in CREDENTIAL_KEYS):
        for key in CREDENTIAL_KEYS:
            merged[key] = None
    merged.update(override)
    return merged


def check_task_credentials(params: dict, locations: list) -> None:
    """Plain credentials belong to one registry (``credentials.check_one_registry``): refuse
    ``src_auth``/``dest_auth`` credentials for a side that names more than one registry (the
    ``images`` form), and task-level ones for a copy whose sides that take them (no credentials of
    their own) name more than one registry.

    ``locations`` holds (side, parsed location) pairs, side being ``src`` or ``dest``.
    """
    def own(side: str) -> list:
        given = params.get(side + "_auth") or {}
        return [given.get(key) for key in CREDENTIAL_KEYS]

    for side in ("src", "dest"):
        named = sorted(set(location[1].registry for where, location in locations
                           if where == side and location[0] == "registry"))
        check_one_registry(named, *own(side), what="%s_auth credentials" % side,
                           named="the %s side of this copy names %%d" % side,
                           advice="Use auths keyed by registry host to give each registry its own "
                                  "credentials")
    registries = sorted(set(location[1].registry for side, location in locations
                            if location[0] == "registry" and not plain_credentials(*own(side))))
    check_one_registry(registries, *[params.get(key) for key in CREDENTIAL_KEYS],
                       named="this copy names %d without credentials of their own",
                       advice="Give each side its credentials with src_auth and dest_auth, or use "
                              "auths keyed by registry host")


def check_copy_options(chunk_size: int | None, concurrency: int, platforms) -> list | None:
    # uploads.py here, not at the top: registry_sync's side options need no upload code
    from ansible_collections.drc.registry.plugins.module_utils._registry.uploads import (
        MAX_CHUNK_SIZE, MIN_CHUNK_SIZE)
    if chunk_size is not None and not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise InputError("chunk_size must be between %d and %d bytes, got %d"
                         % (MIN_CHUNK_SIZE, MAX_CHUNK_SIZE, chunk_size))
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError("concurrency must be between 1 and %d, got %d" % (MAX_CONCURRENCY, concurrency))
    if platforms is None:
        return None
    if not platforms:
        raise InputError("platforms must name at least one platform (omit it to copy them all)")
    return [parse_platform(p) for p in platforms]
