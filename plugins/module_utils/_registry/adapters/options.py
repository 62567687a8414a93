# Private to the drc.registry collection: no compatibility promise for other collections.
"""The connection options every module and the lookup share, checked, and turned into the
explicit ``ConnectionOptions`` of one registry (credentials bound to that registry's host)."""

from __future__ import annotations

import hashlib
import threading

from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import (
    Credentials, normalise_host, plain_credentials, resolve, resolve_each)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.proxies import check_proxy

# Keep in step with plugins/doc_fragments/registry.py.
CONNECTION_ARGSPEC = dict(
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    identity_token=dict(type="str", no_log=True),
    auths=dict(type="dict", no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path"),
    timeout=dict(type="float", default=30.0),
    retries=dict(type="int", default=3),
    bearer_token=dict(type="str", no_log=True),
    proxy=dict(type="str", no_log=True),
)

CONNECTION_OPTION_NAMES = tuple(CONNECTION_ARGSPEC)


def argument_spec(**own) -> dict:
    """The shared connection options plus a module's own."""
    spec = {name: dict(value) for name, value in CONNECTION_ARGSPEC.items()}
    spec.update(own)
    return spec


def check_connection_options(options: dict) -> None:
    """Range checks the argument spec cannot express; raises InputError naming the option."""
    if options.get("timeout") is not None and options["timeout"] <= 0:
        raise InputError("timeout must be greater than 0, got %s" % options["timeout"])
    if options.get("retries") is not None and options["retries"] < 0:
        raise InputError("retries must be 0 or more, got %s" % options["retries"])
    if options.get("client_key") and not options.get("client_cert"):
        raise InputError("client_key needs client_cert")
    if options.get("password") and options.get("username") is None:
        raise InputError("password needs username")
    if options.get("bearer_token") is not None:
        if not options["bearer_token"].strip():
            raise InputError("bearer_token is empty")
        if plain_credentials(options.get("username"), options.get("password"),
                             options.get("identity_token")):
            raise InputError("give bearer_token, or username/password (or identity_token), not both")
    if options.get("proxy") is not None:
        check_proxy(options["proxy"])


# The registry each bearer token (by its SHA-256) was first used for in this process. A token is
# issued for one registry, and no path (a copy's two sides, an images list, the terms of later
# lookups) may take it to another: every connection made with one passes through here.
_BEARER_TOKEN_REGISTRIES: dict = {}
_BEARER_TOKEN_LOCK = threading.Lock()


def bind_bearer_token(token: str, registry: str) -> None:
    key = hashlib.sha256(token.encode("utf-8")).hexdigest()
    host = normalise_host(registry)
    with _BEARER_TOKEN_LOCK:
        bound = _BEARER_TOKEN_REGISTRIES.setdefault(key, host)
    if bound != host:
        raise InputError("bearer_token is for one registry: it was given for %s, and %s is named "
                         "too" % (bound, host))


def connection_options(reference, options: dict, pool_size: int = 10, credentials=None):
    """``ConnectionOptions`` for the registry of an ImageReference, from a task's or lookup's options.

    The credentials are found for that registry (and repository) alone, unless the caller already
    resolved them (the lookup does, for every term at once).
    """
    return host_options(reference.registry, reference.scheme, reference.scheme_written, options,
                        reference.repository, pool_size, credentials)


def host_options(registry: str, scheme: str, scheme_written: bool, options: dict,
                 repository: str | None = None, pool_size: int = 10, credentials=None):
    """``ConnectionOptions`` for a registry host (``connection_options`` for one that is not
    named by an image reference: the v1 search's index)."""
    check_connection_options(options)
    if options.get("bearer_token"):
        bind_bearer_token(options["bearer_token"], registry)
        credentials = Credentials(source="bearer_token")  # nothing else is looked up or sent
    elif credentials is None:
        credentials = resolve(registry, repository,
                              username=options.get("username"), password=options.get("password"),
                              identity_token=options.get("identity_token"),
                              auths=options.get("auths"))
    return ConnectionOptions(
        registry=registry, scheme=scheme, scheme_written=scheme_written, credentials=credentials,
        validate_certs=options.get("validate_certs", True), ca_path=options.get("ca_path"),
        client_cert=options.get("client_cert"), client_key=options.get("client_key"),
        timeout=options.get("timeout") or 30.0,
        retries=3 if options.get("retries") is None else options["retries"],
        pool_size=pool_size, bearer_token=options.get("bearer_token"), proxy=options.get("proxy"))


def connection_options_each(references: list, options: dict, pool_size: int = 10) -> list:
    """``ConnectionOptions`` for each ImageReference (the lookup's terms): the credentials of
    each found for its own registry and repository, plain ones refused for more than one
    registry."""
    credentials = resolve_each(references, options)  # each bound to its term's registry
    return [connection_options(reference, options, pool_size, found)
            for reference, found in zip(references, credentials)]
