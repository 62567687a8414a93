#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_referrers_info
short_description: List the signatures, SBOMs and attestations that refer to an image
version_added: 0.1.0
description:
  - Lists the referrers of the manifest an image reference names (signatures, SBOMs, provenance
    and other attestations), from every place registries keep them, as one list whose entries say
    how each was found.
  - First the OCI 1.1 referrers API (C(GET /v2/<name>/referrers/<digest>)), every page followed
    through its C(Link) header; then the OCI fallback tag C(sha256-<hex>) (an index of referrers,
    which clients keep for registries without the API, such as the CNCF Distribution registry 2.8,
    Docker Hub or Quay); then cosign's tags C(sha256-<hex>.sig), C(.att) and C(.sbom).
  - Which fallback and cosign tags exist is learnt from one tag listing of the repository.
  - Every answer is bounded (pages in size and number, at most 1000 referrers) and every manifest
    read by digest is verified.
  - BuildKit attestation manifests are children of the image's own index, not referrers (see
    M(drc.registry.registry_manifest_info)).
requirements:
  - requests
options:
  reference:
    description:
      - The image whose referrers are listed, by tag or digest, for example
        V(registry.example.com/app:1.4) or V(registry.example.com/app@sha256:...). A reference
        without tag means V(latest); a tag is resolved to its digest first.
    type: str
    required: true
  artifact_type:
    description:
      - Only the referrers of this artifact type, for example
        V(application/spdx+json) or V(application/vnd.dev.cosign.artifact.sig.v1+json).
      - Sent to the referrers API as C(artifactType), and applied by the module to every answer
        too, so a registry whose C(OCI-Filters-Applied) header does not say it filtered is
        covered. Entries found through tags are filtered the same way.
      - The artifact type of a manifest without C(artifactType) is its config's media type, as
        the OCI distribution spec says.
    type: str
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
  - drc.registry.registry.info_module
notes:
  - A tag named like a fallback or cosign tag is taken as one; a manifest found through the
    referrers API or the fallback tag is listed as the registry lists it.
seealso:
  - module: drc.registry.registry_copy
    description: Copies an image with its referrers.
  - module: drc.registry.registry_manifest_info
  - module: drc.registry.registry_tags_info
  - module: drc.registry.registry_signature_verify
    description: Verifies the signatures among the referrers (cosign tags and signature referrers).
  - module: drc.registry.registry_sign
  - module: drc.registry.registry_prune
    description: Deletes the referrers of a pruned image with it.
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: List everything that refers to an image
  drc.registry.registry_referrers_info:
    reference: registry.example.com/org/app:1.4
  register: found

- name: Only its SPDX SBOMs
  drc.registry.registry_referrers_info:
    reference: registry.example.com/org/app@sha256:28e0e25261dccaeaf5f7fa93db0a5eef69aae598b08adbbeb9bbbee23dd76ab3
    artifact_type: application/spdx+json
  register: sboms

- name: Fail when an image has no cosign signature
  ansible.builtin.assert:
    that:
      - found.referrers | selectattr('found_by', 'equalto', 'cosign_tag')
        | selectattr('tag', 'match', '.*\\.sig$') | list | length > 0
"""

RETURN = r"""
digest:
  description: The digest of the manifest whose referrers are listed (the subject).
  returned: success
  type: str
  sample: sha256:28e0e25261dccaeaf5f7fa93db0a5eef69aae598b08adbbeb9bbbee23dd76ab3
reference:
  description: O(reference), normalised.
  returned: success
  type: str
  sample: registry.example.com/org/app:1.4
referrers_api:
  description:
    - Whether the registry answered the OCI referrers API (V(false) when it answered 404, as a
      registry without the API does).
  returned: success
  type: bool
referrers:
  description: The referrers, API entries first, then the fallback tag's, then cosign's tags.
  returned: success
  type: list
  elements: dict
  contains:
    digest:
      description: The referrer's manifest digest.
      type: str
    media_type:
      description: Its media type.
      type: str
    artifact_type:
      description: Its artifact type, as listed (may be null for a listing without one).
      type: str
    size:
      description: The size of its manifest in bytes.
      type: int
    annotations:
      description: Its annotations (empty when there are none).
      type: dict
    found_by:
      description: Where it was found.
      type: str
      choices: [api, fallback_tag, cosign_tag]
    tag:
      description: For a cosign tag, the tag.
      type: str
      returned: when RV(referrers[].found_by=cosign_tag)
  sample:
    - digest: sha256:c3caa952a9019d50c1d6c40038a805fa4a70234eaf6bb12c7476c0f8616010df
      media_type: application/vnd.oci.image.manifest.v1+json
      artifact_type: application/vnd.oci.image.config.v1+json
      size: 558
      annotations: {}
      found_by: cosign_tag
      tag: sha256-4432fe9fb4c60584a83513fd43842d5aabb440a7adfcb0233dab8abdf62c1f02.sig
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import referrers_info


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            reference=dict(type="str", required=True),
            artifact_type=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        reference = parse_image_reference(params["reference"])
        connection = adapter.connect(reference)
        result = referrers_info(connection, reference, params["artifact_type"] or None)
    except RegistryError as exc:
        adapter.fail(exc)
    adapter.exit(changed=False, **result)


if __name__ == "__main__":
    main()
