# Private to the drc.registry collection: no compatibility promise for other collections.
"""Shared argument spec and the adapter from an AnsibleModule to the registry client."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import (
    CredentialError, resolve)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import ManifestError
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import InvalidReference
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    HAS_REQUESTS, REQUESTS_IMPORT_ERROR)

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
)

CONNECTION_OPTIONS = tuple(CONNECTION_ARGSPEC)

# Errors a module turns into a plain failure message, never a traceback.
EXPECTED_ERRORS = (RegistryError, InvalidReference, ManifestError, CredentialError, ValueError)


def argument_spec(**own) -> dict:
    spec = {name: dict(value) for name, value in CONNECTION_ARGSPEC.items()}
    spec.update(own)
    return spec


def check_connection_options(options: dict) -> None:
    """Range checks the argument spec cannot express; raises ValueError naming the option."""
    if options.get("timeout") is not None and options["timeout"] <= 0:
        raise ValueError("timeout must be greater than 0, got %s" % options["timeout"])
    if options.get("retries") is not None and options["retries"] < 0:
        raise ValueError("retries must be 0 or more, got %s" % options["retries"])
    if options.get("client_key") and not options.get("client_cert"):
        raise ValueError("client_key needs client_cert")
    if options.get("password") and options.get("username") is None:
        raise ValueError("password needs username")


def make_client(parsed: dict, options: dict, source: str, log=None, warn=None, pool_size: int = 10,
                credentials=None):
    """A RegistryClient for a parsed reference, with credentials resolved for its host."""
    # Imported here so that a missing requests library is reported, not raised at import.
    from ansible_collections.drc.registry.plugins.module_utils._registry.client import RegistryClient

    check_connection_options(options)
    if credentials is None:
        credentials = resolve(parsed["index"]["name"], parsed["remote_name"],
                              username=options.get("username"), password=options.get("password"),
                              identity_token=options.get("identity_token"), auths=options.get("auths"))
    return RegistryClient(
        parsed["index"], credentials, explicit_scheme="://" in source,
        validate_certs=options.get("validate_certs", True), ca_path=options.get("ca_path"),
        client_cert=options.get("client_cert"), client_key=options.get("client_key"),
        timeout=options.get("timeout") or 30.0,
        retries=3 if options.get("retries") is None else options["retries"],
        pool_size=pool_size, log=log, warn=warn)


class RegistryModule:
    """What a module needs: the AnsibleModule, a client factory and one failure path."""

    def __init__(self, module) -> None:
        self.module = module
        if not HAS_REQUESTS:
            module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    def client(self, parsed: dict, source: str):
        return make_client(parsed, self.module.params, source, log=self.module.debug,
                           warn=self.module.warn)

    def fail(self, exc: Exception, **result) -> None:
        details = exc.details if isinstance(exc, RegistryError) else {}
        result.update(details)
        self.module.fail_json(msg=str(exc), **result)

    @staticmethod
    def result_extras(client) -> dict:
        return {"rate_limit": dict(client.rate_limit)} if client.rate_limit else {}
