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
      - The child is the one containerd would pick, with the same normalisation and fallbacks as
        O(drc.registry.registry_manifest_info#module:platform) (plain V(linux/amd64) never takes an
        V(amd64/v3) child).
    type: str
  os_version:
    description:
      - With O(platform), ask for this C(os.version) too, as
        O(drc.registry.registry_manifest_info#module:os_version) does (a Windows host version
        such as V(10.0.20348.2700), or an exact string for other systems).
    type: str
  output:
    description:
      - V(digest) returns C(sha256:...).
      - V(pinned) returns the term as written, with any digest in it replaced by the resolved one;
        V(alpine:3) gives V(alpine:3@sha256:...). The tag is kept so a reader sees what was
        pinned; the digest alone decides what is pulled.
      - The C(pinned) result of M(drc.registry.registry_manifest_info) is the normalised
        C(<full name>@<digest>) instead, for example C(docker.io/library/alpine@sha256:...).
    type: str
    choices: [digest, pinned]
    default: digest
  concurrency:
    description: How many terms to resolve at once.
    type: int
    default: 8
  verify_keys:
    description:
      - Public keys (PEM text, or paths of PEM files on the controller); when given, every term
        resolves only to a digest that one of them signed (cosign's key-based signatures, checked
        as M(drc.registry.registry_signature_verify) checks them), else the lookup fails naming
        the term and the reason. With O(output=pinned), this pins only what was signed.
      - With O(platform), the index and the child must both be signed.
      - Needs the Python library C(cryptography) on the controller.
    type: list
    elements: str
    vars:
      - name: drc_registry_verify_keys
    version_added: 0.1.0
  identity:
    description:
      - With O(verify_keys), how a signature's identity must relate to the term, as
        O(drc.registry.registry_signature_verify#module:identity).
    type: str
    choices: [match_repo_digest_or_exact, match_exact, match_repository, any, signed_prefix]
    default: match_repo_digest_or_exact
    version_added: 0.1.0
  signed_prefix:
    description:
      - With O(verify_keys), read terms under O(prefix) as if under this prefix (skopeo's
        C(remapIdentity)), as O(drc.registry.registry_signature_verify#module:signed_prefix).
    type: str
    version_added: 0.1.0
  prefix:
    description:
      - With O(signed_prefix), the part of each term to replace; defaults to the term's registry
        followed by the path of O(signed_prefix).
    type: str
    version_added: 0.1.0
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

- name: Pin only what the release key signed
  ansible.builtin.set_fact:
    pinned_images: "{{ query('drc.registry.registry_digest', 'registry.example.com/team/app:1.4', output='pinned', verify_keys=[release_key]) }}"
  vars:
    release_key: "{{ lookup('ansible.builtin.file', 'files/release.pub') }}"

- name: Terms on several registries, each with its own credentials
  ansible.builtin.set_fact:
    pinned_images: "{{ query('drc.registry.registry_digest', 'quay.io/org/app:2', 'registry.example.com/team/web:1', output='pinned') }}"
  vars:
    drc_registry_auths:
      quay.io:
        username: org+robot
        password: "{{ vault_quay_token }}"
      registry.example.com:
        username: deploy
        password: "{{ vault_registry_password }}"
"""

RETURN = r"""
_raw:
  description: One digest (or pinned reference) per term, in order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
    connection_options_each)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.plugin_utils._registry import (
    RegistryError, connection_option_values, log, lookup_error, require_requests, templated_variables,
    warn)


def term_with_digest(term: str, digest: str) -> str:
    """O(output=pinned): the term as written, any digest in it replaced by the resolved one."""
    return term.split("@", 1)[0] + "@" + digest


class LookupModule(LookupBase):

    def _verifier(self):
        """A resolver that returns only digests signed by one of verify_keys."""
        from ansible_collections.drc.registry.plugins.module_utils._registry.signatures import (
            identity_rule)
        from ansible_collections.drc.registry.plugins.module_utils._registry.signing_keys import (
            load_public_keys)
        from ansible_collections.drc.registry.plugins.module_utils._registry.signature_verify import (
            verified_digest)
        try:
            keys = load_public_keys(self.get_option("verify_keys"), "verify_keys")
            rule = identity_rule(self.get_option("identity"), self.get_option("signed_prefix"),
                                 self.get_option("prefix"))
        except RegistryError as exc:
            if getattr(exc, "library", None):  # signing_keys.MissingLibrary
                raise AnsibleLookupError("verify_keys needs the Python library '%s' on the controller"
                                         % exc.library)
            raise AnsibleLookupError(str(exc))
        return verified_digest(keys, rule)

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=templated_variables(self, variables), direct=kwargs)
        require_requests()
        # Imported after the check above: it needs requests.
        from ansible_collections.drc.registry.plugins.module_utils._registry.digest_batch import (
            TermError, resolve_digests)

        concurrency = self.get_option("concurrency")
        if concurrency is None or concurrency < 1:
            raise AnsibleLookupError("concurrency must be 1 or more, got %s" % concurrency)
        try:
            if self.get_option("os_version") is not None and not self.get_option("platform"):
                raise InputError("os_version needs platform")
            platform = None
            if self.get_option("platform"):
                # Imported only here: parsing and choosing platforms is code a plain lookup never runs.
                from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
                    parse_platform)
                platform = parse_platform(self.get_option("platform"), self.get_option("os_version"))
        except RegistryError as exc:
            raise AnsibleLookupError(str(exc))
        resolve = self._verifier() if self.get_option("verify_keys") else None
        options = connection_option_values(self)
        references = []
        for term in terms:
            try:
                references.append(parse_image_reference(term))
            except RegistryError as exc:
                raise lookup_error(exc, term)
        try:
            options_list = connection_options_each(references, options, concurrency)
        except RegistryError as exc:
            raise lookup_error(exc)
        try:
            digests = resolve_digests(references, options_list, platform=platform,
                                      concurrency=concurrency, log=log, warn=warn,
                                      resolve=resolve)
        except TermError as exc:
            raise lookup_error(exc, terms[exc.index])
        if self.get_option("output") == "pinned":
            return [term_with_digest(term, digest) for term, digest in zip(terms, digests)]
        return digests
