#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_sign
short_description: Sign an image in a registry with your key, as cosign and skopeo do
version_added: 0.1.0
description:
  - Signs the manifest or index O(reference) names with O(private_key), in cosign's key-based
    "simple signing" format, and stores the signature as cosign does, as a layer of the OCI
    manifest at the tag C(sha256-<hex>.sig) in the image's repository.
    M(drc.registry.registry_signature_verify), C(cosign verify --key) and skopeo's
    C(sigstoreSigned) policy read it.
  - The digest signed is that of the manifest's bytes as fetched, never a header's claim.
  - Idempotent. When a signature by this key for this digest and identity is already there,
    nothing is written (C(changed=false)). Otherwise the new signature is added beside those
    already present; another key's signatures are kept as they are.
  - No transparency-log (Rekor) entry is made, and keyless signing is not supported.
requirements:
  - requests
  - cryptography
  - PyNaCl (only for cosign's encrypted private keys)
options:
  reference:
    description:
      - The image to sign, by tag or digest, for example V(registry.example.com/team/app:1.4).
    type: str
    required: true
  private_key:
    description:
      - The private key, PEM text or the path of a PEM file on the host the module runs on.
      - PKCS#8 (C(PRIVATE KEY), C(ENCRYPTED PRIVATE KEY)) or SEC1 (C(EC PRIVATE KEY)), and
        cosign's own encrypted format (C(ENCRYPTED COSIGN PRIVATE KEY), what C(cosign
        generate-key-pair) writes; it needs the Python library C(PyNaCl)).
      - ECDSA (P-256, P-384, P-521), Ed25519 or RSA of 2048 bits or more.
    type: str
    required: true
  private_key_passphrase:
    description:
      - The passphrase of an encrypted O(private_key). A cosign key without it is tried with an
        empty passphrase, as cosign does.
    type: str
  identity:
    description:
      - The identity to sign for, written as the payload's C(docker-reference).
      - Defaults to O(reference), normalised (V(app:1) is V(docker.io/library/app:1)); on a
        mirror, sign for the upstream name if verifiers use it.
    type: str
  annotations:
    description:
      - Claims written into the payload's C(optional) object (C(cosign sign -a key=value)).
    type: dict
  recursive:
    description:
      - For an index, sign each child manifest too, as C(cosign sign --recursive), children first.
    type: bool
    default: false
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
attributes:
  check_mode:
    support: full
    description: Reads the existing signatures and reports whether one would be added; writes nothing.
  diff_mode:
    support: full
    description: Shows the layers (digest and signature) of each C(.sig) manifest before and after.
seealso:
  - module: drc.registry.registry_signature_verify
    description: Verify signatures, then pin the digest.
  - module: drc.registry.registry_copy
    description: Signs what it copies at the destination (O(drc.registry.registry_copy#module:sign_key)).
  - module: drc.registry.registry_referrers_info
    description: Lists the signatures of an image among its referrers.
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Sign a release with the team's cosign key
  drc.registry.registry_sign:
    reference: registry.example.com/team/app:1.4
    private_key: /etc/pki/cosign/cosign.key
    private_key_passphrase: "{{ vault_cosign_password }}"
    annotations:
      pipeline: release

- name: Sign a mirrored multi-platform image and each of its children
  drc.registry.registry_sign:
    reference: mirror.internal:5000/team/app:1.4
    private_key: "{{ vault_mirror_signing_key }}"
    recursive: true
"""

RETURN = r"""
digest:
  description: The digest of the manifest or index signed.
  returned: success
  type: str
  sample: sha256:4432fe9fb4c60584a83513fd43842d5aabb440a7adfcb0233dab8abdf62c1f02
pinned:
  description: C(<full name>@<digest>).
  returned: success
  type: str
identity:
  description: The identity signed for.
  returned: success
  type: str
  sample: registry.example.com/team/app:1.4
signatures:
  description: One entry per digest signed (the children first with O(recursive)).
  returned: success
  type: list
  elements: dict
  contains:
    digest:
      description: The digest signed.
      type: str
    location:
      description: The C(.sig) tag, C(<full name>:sha256-<hex>.sig).
      type: str
    changed:
      description: Whether a signature was added (V(false) when this key had signed already).
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.signing_keys import (
    load_private_key)
from ansible_collections.drc.registry.plugins.module_utils._registry.signing import sign_image


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            reference=dict(type="str", required=True),
            private_key=dict(type="str", required=True, no_log=True),
            private_key_passphrase=dict(type="str", no_log=True),
            identity=dict(type="str"),
            annotations=dict(type="dict"),
            recursive=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        key = load_private_key(params["private_key"], params["private_key_passphrase"])
        reference = parse_image_reference(params["reference"])
        result = sign_image(adapter.connect(reference), reference, key, params["identity"],
                            params["annotations"], params["recursive"], module.check_mode)
    except RegistryError as exc:
        adapter.fail(exc)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    adapter.exit(**result)


if __name__ == "__main__":
    main()
