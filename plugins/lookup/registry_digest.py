# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: registry_digest
short_description: Resolve image references to the digests a registry serves
version_added: 0.1.0
description:
  - Returns, for each image reference, the digest the registry serves for it. For a multi-platform
    image the index (manifest list) digest, the value C(docker pull) pins.
  - Uses C(HEAD) requests (Docker Hub does not count them against pull limits), one connection pool
    and token cache for all terms, and resolves terms concurrently. On a token-auth registry,
    N terms cost one ping, one token request and N C(HEAD)s.
  - Runs on the controller. Needs the Python library C(requests) there.
options:
  _terms:
    description: Image references, for example V(alpine:3) or V(quay.io/org/app:1.2).
    type: list
    elements: str
    required: true
  platform:
    description:
      - Return the digest of the child for this platform, C(os/architecture[/variant]), instead of
        the index digest. Costs a C(GET) of the index per term.
    type: str
  output:
    description:
      - V(digest) returns C(sha256:...); V(pinned) returns the reference as written with
        C(@<digest>) appended, for example V(alpine:3@sha256:...).
    type: str
    choices: [digest, pinned]
    default: digest
  concurrency:
    description: How many terms to resolve at once.
    type: int
    default: 8
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.lookup
seealso:
  - module: drc.registry.registry_manifest_info
    description: Everything about one reference, as a task.
  - plugin: drc.registry.docker_ref
    plugin_type: filter
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Pin an image to its digest
  ansible.builtin.debug:
    msg: "alpine@{{ lookup('drc.registry.registry_digest', 'alpine:3') }}"

- name: Several at once, in order, as pinned references
  ansible.builtin.set_fact:
    pinned_images: "{{ query('drc.registry.registry_digest', 'alpine:3', 'nginx:1.27', output='pinned') }}"

- name: The digest of the arm64 image
  ansible.builtin.debug:
    msg: "{{ lookup('drc.registry.registry_digest', 'alpine:3', platform='linux/arm64') }}"

- name: A private registry, credentials from variables
  ansible.builtin.debug:
    msg: "{{ lookup('drc.registry.registry_digest', 'registry.example.com/team/app:2') }}"
  vars:
    drc_registry_username: deploy
    drc_registry_password: "{{ vault_registry_password }}"
"""

RETURN = r"""
_raw:
  description: One digest (or pinned reference) per term, in order.
  type: list
  elements: str
"""

from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import resolve_each
from ansible_collections.drc.registry.plugins.module_utils._registry.inspect import resolve
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import parse_platform
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_reference
from ansible_collections.drc.registry.plugins.plugin_utils._registry import (
    EXPECTED_ERRORS, connection_options, lookup_client, lookup_error, require_requests)


def pinned(term: str, digest: str) -> str:
    return term.split("@", 1)[0] + "@" + digest


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        require_requests()
        concurrency = self.get_option("concurrency")
        if concurrency is None or concurrency < 1:
            raise AnsibleLookupError("concurrency must be 1 or more, got %s" % concurrency)
        try:
            platform = parse_platform(self.get_option("platform")) if self.get_option("platform") else None
        except ValueError as exc:
            raise AnsibleLookupError(str(exc))
        options = connection_options(self)
        parsed_terms = []
        for term in terms:
            try:
                parsed_terms.append(parse_reference(term))
            except EXPECTED_ERRORS as exc:
                raise lookup_error(exc, term)

        try:
            credentials = resolve_each(parsed_terms, options)  # bound to each term's host
        except EXPECTED_ERRORS as exc:
            raise lookup_error(exc)
        keys = [(parsed["registry_url"], creds.binding()) for parsed, creds in zip(parsed_terms, credentials)]
        clients = {}
        try:
            for term, parsed, creds, key in zip(terms, parsed_terms, credentials, keys):
                if key not in clients:
                    try:
                        clients[key] = lookup_client(parsed, options, term, pool_size=concurrency,
                                                     credentials=creds)
                    except EXPECTED_ERRORS as exc:
                        raise lookup_error(exc, term)
                clients[key].auth.hint_scopes([repository_scope(parsed["remote_name"])])

            def one(index):
                term, parsed = terms[index], parsed_terms[index]
                try:
                    return resolve(clients[keys[index]], parsed, platform)
                except EXPECTED_ERRORS as exc:
                    raise lookup_error(exc, term)

            with ThreadPoolExecutor(max_workers=min(concurrency, max(len(terms), 1))) as pool:
                digests = list(pool.map(one, range(len(terms))))
        finally:
            for client in clients.values():
                client.close()
        if self.get_option("output") == "pinned":
            return [pinned(term, digest) for term, digest in zip(terms, digests)]
        return digests
