#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_signature_verify
short_description: Verify an image's cosign signatures with your keys, and pin what was signed
version_added: 0.1.0
description:
  - Resolves O(reference) to a digest and returns it only if one of O(keys) signed that digest for
    an accepted identity, in cosign's key-based "simple signing" format (what C(cosign sign --key)
    writes, and what C(skopeo copy --sign-by-sigstore-private-key) writes and a C(sigstoreSigned)
    policy checks). No cosign binary is needed.
  - Signatures are read from cosign's tag C(sha256-<hex>.sig) in the image's repository.
  - Each signature layer is checked in this order, and nothing it says is believed before the
    previous step passed. Its payload blob must hash to the layer's digest (at most 64 KiB); the
    signature in the annotation C(dev.cosignproject.cosign/signature) must verify over the exact
    payload bytes with one of O(keys); then the payload is parsed; the digest it names must be the
    image's, and the identity it names must be accepted by O(identity).
  - Fails when no signature verifies, naming what was found for each signature (none at all, a
    signature of another digest, one that verifies with none of the keys because another key
    made it or it is corrupted, an identity not accepted, a payload that cannot be used).
  - Not checked by this module are Rekor transparency-log entries, keyless (Fulcio certificate)
    signatures, and signatures stored in another repository (C(COSIGN_REPOSITORY)).
requirements:
  - requests
  - cryptography
options:
  reference:
    description:
      - The image to verify, by tag or digest, for example V(registry.example.com/app:1.4).
    type: str
    required: true
  keys:
    description:
      - Public keys to trust, each PEM text or the path of a PEM file on the host the module runs on.
      - ECDSA (P-256, P-384, P-521), Ed25519 or RSA (2048 bits or more), as cosign accepts them
        (C(cosign.pub)).
      - A signature by any one of them is enough; RV(signatures[].key_index) says which.
    type: list
    elements: str
    required: true
  identity:
    description:
      - How the identity a signature names (its C(docker-reference)) must relate to O(reference),
        with the meanings of skopeo's C(signedIdentity).
      - V(match_repo_digest_or_exact) (the default) means, for a reference by tag, the signed identity must be exactly
        that name and tag; for a reference by digest, the same repository.
      - V(match_exact) means exactly the same name, tag and digest.
      - V(match_repository) means the same repository, whatever the tag.
      - V(any) accepts any identity (only the key and the digest are checked).
      - V(signed_prefix) is skopeo's C(remapIdentity) spelled as a rule; the default rule, with
        O(signed_prefix) required.
      - O(signed_prefix) applies to every rule.
    type: str
    choices: [match_repo_digest_or_exact, match_exact, match_repository, any, signed_prefix]
    default: match_repo_digest_or_exact
  signed_prefix:
    description:
      - Verify on a mirror signatures made for the upstream name (skopeo's C(remapIdentity)).
        Before O(identity) is applied, a reference under O(prefix) is read as if it were under
        O(signed_prefix). For example signed for V(registry.example/fx), verified at
        V(mirror:5000/fx).
      - A registry host, C(host/namespace) or C(host/repository).
    type: str
  prefix:
    description:
      - With O(signed_prefix), the part of O(reference) to replace.
      - Defaults to the registry of O(reference) followed by the path of O(signed_prefix) (a
        mirror that keeps the upstream's paths on another host).
      - A reference that is not under O(prefix) is checked as it is.
    type: str
  platform:
    description:
      - For a multi-platform index, verify the index and the child for this platform
        C(os/architecture[/variant]) (chosen as M(drc.registry.registry_manifest_info) chooses it),
        and return the child's digest as RV(digest), the index's as RV(index_digest).
      - For a single-platform image, its config must match the platform.
    type: str
  os_version:
    description:
      - With O(platform), ask for this C(os.version) too, as
        O(drc.registry.registry_manifest_info#module:os_version) does.
    type: str
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
  - drc.registry.registry.info_module
seealso:
  - module: drc.registry.registry_sign
    description: Sign an image with your own key.
  - plugin: drc.registry.registry_digest
    plugin_type: lookup
    description: Its O(drc.registry.registry_digest#lookup:verify_keys) option resolves only verified digests.
  - module: drc.registry.registry_referrers_info
    description: Lists the referrers in which signatures are found (API, fallback tag, cosign tag).
  - module: drc.registry.registry_copy
    description: Copies signatures with the image (O(drc.registry.registry_copy#module:referrers)), so they verify on a mirror.
  - module: drc.registry.registry_prune
    description: Deletes an image's signatures with it.
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Verify, then deploy exactly what was signed
  drc.registry.registry_signature_verify:
    reference: registry.example.com/team/app:1.4
    keys:
      - /etc/pki/cosign/team.pub
  register: verified

- name: Deploy the pinned digest
  ansible.builtin.debug:
    msg: "image: {{ verified.pinned }}"

- name: On a mirror, signatures made for the upstream name
  drc.registry.registry_signature_verify:
    reference: mirror.internal:5000/team/app:1.4
    keys:
      - "{{ lookup('ansible.builtin.file', 'files/team.pub') }}"
    signed_prefix: registry.example.com/team
    prefix: mirror.internal:5000/team

- name: The arm64 image of a signed multi-platform index
  drc.registry.registry_signature_verify:
    reference: registry.example.com/team/app:1.4
    keys: [/etc/pki/cosign/team.pub]
    platform: linux/arm64
"""

RETURN = r"""
digest:
  description: The digest that was verified (the child's with O(platform)).
  returned: success
  type: str
  sample: sha256:4432fe9fb4c60584a83513fd43842d5aabb440a7adfcb0233dab8abdf62c1f02
pinned:
  description: C(<full name>@<digest>) of RV(digest), ready to deploy.
  returned: success
  type: str
  sample: registry.example.com/team/app@sha256:4432fe9fb4c60584a83513fd43842d5aabb440a7adfcb0233dab8abdf62c1f02
reference:
  description: The normalised reference.
  returned: success
  type: str
signatures:
  description: Every signature of RV(digest) that verified.
  returned: success
  type: list
  elements: dict
  contains:
    key_index:
      description: The position in O(keys) of the key that verified it.
      type: int
    identity:
      description: The identity it was signed for (its C(docker-reference)).
      type: str
      sample: registry.example.com/team/app:1.4
    optional:
      description: The payload's C(optional) claims (annotations; C(creator), C(timestamp)), or null.
      type: dict
    digest:
      description: The digest it signs.
      type: str
    location:
      description: Where it was found, C(<full name>:sha256-<hex>.sig).
      type: str
    source:
      description: V(cosign_tag), cosign's C(.sig) tag.
      type: str
    layer:
      description: The position of its layer in the signature manifest.
      type: int
index_digest:
  description: The digest of the index the platform was chosen from.
  returned: when O(platform) is given and the reference is an index
  type: str
index_signatures:
  description: The verified signatures of the index, as RV(signatures).
  returned: when O(platform) is given and the reference is an index
  type: list
  elements: dict
problems:
  description: On failure, why each signature found did not count.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import parse_platform
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.signatures import (
    IDENTITY_CHOICES, IDENTITY_RULES, identity_rule)
from ansible_collections.drc.registry.plugins.module_utils._registry.signing_keys import (
    load_public_keys)
from ansible_collections.drc.registry.plugins.module_utils._registry.signature_verify import (
    verify_image)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            reference=dict(type="str", required=True),
            keys=dict(type="list", elements="str", required=True, no_log=False),
            identity=dict(type="str", choices=list(IDENTITY_CHOICES), default=IDENTITY_RULES[0]),
            signed_prefix=dict(type="str"),
            prefix=dict(type="str"),
            platform=dict(type="str"),
            os_version=dict(type="str"),
        ),
        required_by={"os_version": "platform", "prefix": "signed_prefix"},
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        keys = load_public_keys(params["keys"])
        rule = identity_rule(params["identity"], params["signed_prefix"], params["prefix"])
        platform = (parse_platform(params["platform"], params["os_version"])
                    if params["platform"] is not None else None)
        reference = parse_image_reference(params["reference"])
        result = verify_image(adapter.connect(reference), reference, keys, rule, platform)
    except RegistryError as exc:
        adapter.fail(exc)
    adapter.exit(changed=False, **result)


if __name__ == "__main__":
    main()
