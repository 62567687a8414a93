#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_manifest
short_description: Delete a manifest or index from a registry
version_added: 0.1.0
description:
  - With O(state=absent), deletes the manifest or index that O(reference) names. Registries delete
    manifests by digest; a tag is resolved to its digest first.
  - B(Deleting through a tag deletes the manifest itself), so B(every tag) pointing at that
    manifest disappears with it, not only the tag given.
  - A manifest that is already absent (or a repository that does not exist) means no change.
  - Registries free the blobs of a deleted manifest only when their garbage collection runs.
requirements:
  - requests
options:
  reference:
    description:
      - The manifest, by tag or digest, for example V(registry.example.com/app@sha256:...).
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the manifest.
    type: str
    choices: [absent]
    default: absent
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
attributes:
  check_mode:
    support: full
    description: Resolves the reference and reports whether it would be deleted; deletes nothing.
  diff_mode:
    support: full
    description: Shows the digest before and after (none).
notes:
  - The registry must allow deletion; the CNCF Distribution registry needs
    C(storage.delete.enabled=true) and otherwise answers C(405 UNSUPPORTED), reported as such.
seealso:
  - module: drc.registry.registry_tag
  - module: drc.registry.registry_manifest_info
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Delete a build by digest
  drc.registry.registry_manifest:
    reference: registry.example.com/team/app@sha256:19ac58c5b4d0ca0ae73c882d9b04b53f894162d952551b076cb0fb12940fa39f
    state: absent

- name: Delete what a tag points at (every tag on that manifest goes too)
  drc.registry.registry_manifest:
    reference: registry.example.com/team/app:pr-1234
    state: absent
"""

RETURN = r"""
digest:
  description: The digest of the manifest deleted (or that would be, in check mode).
  returned: when the manifest existed
  type: str
  sample: sha256:19ac58c5b4d0ca0ae73c882d9b04b53f894162d952551b076cb0fb12940fa39f
reference:
  description: The normalised reference.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.deletion import delete_image
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            reference=dict(type="str", required=True),
            state=dict(type="str", choices=["absent"], default="absent"),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        reference = parse_image_reference(params["reference"])
        connection = adapter.connect(reference)
        found, changed = delete_image(connection, reference.repository, reference.api_reference,
                                      module.check_mode)
    except RegistryError as exc:
        adapter.fail(exc)
    result = {"changed": changed, "reference": reference.string}
    if found:
        result["digest"] = found["digest"]
    if module._diff:
        result["diff"] = {"before": {"digest": found["digest"] if found else None},
                          "after": {"digest": None}}
    adapter.exit(**result)


if __name__ == "__main__":
    main()
