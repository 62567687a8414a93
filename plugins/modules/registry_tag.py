#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_tag
short_description: Add tags to an image in its repository
version_added: 0.1.0
description:
  - Points each of O(tags) at the manifest or index that O(reference) names, in the same
    repository. The manifest's own bytes are sent under each tag, so its digest is kept and no
    blob is moved.
  - A tag that already points at that manifest is left alone; a tag pointing elsewhere is moved.
requirements:
  - requests
options:
  reference:
    description:
      - An existing manifest or index, by tag or digest, for example
        V(registry.example.com/app:1.4.2) or V(registry.example.com/app@sha256:...).
    type: str
    required: true
  tags:
    description:
      - The tags to add in the repository of O(reference).
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
attributes:
  check_mode:
    support: full
    description: Reads the tags and reports which would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the digest each changed tag had before and after.
seealso:
  - module: drc.registry.registry_copy
    description: Copy an image to another repository or registry.
  - module: drc.registry.registry_manifest
  - module: drc.registry.registry_tags_info
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Promote a build to stable and 1.4
  drc.registry.registry_tag:
    reference: registry.example.com/team/app:1.4.2
    tags:
      - "1.4"
      - stable
"""

RETURN = r"""
digest:
  description: The digest of the manifest the tags point at.
  returned: success
  type: str
  sample: sha256:19ac58c5b4d0ca0ae73c882d9b04b53f894162d952551b076cb0fb12940fa39f
media_type:
  description: Its media type.
  returned: success
  type: str
tags_added:
  description: The tags that were created or moved (would be, in check mode).
  returned: success
  type: list
  elements: str
tags_unchanged:
  description: The tags that already pointed at the manifest.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.tagging import (
    check_tags, tag_manifest)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            reference=dict(type="str", required=True),
            tags=dict(type="list", elements="str", required=True),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        tags = check_tags(params["tags"])
        reference = parse_image_reference(params["reference"])
        result = tag_manifest(adapter.connect(reference), reference, tags, module.check_mode)
    except RegistryError as exc:
        adapter.fail(exc)
    before = result.pop("before")
    if module._diff:
        result["diff"] = {"before": {tag: before[tag] for tag in result["tags_added"]},
                          "after": {tag: result["digest"] for tag in result["tags_added"]}}
    adapter.exit(changed=bool(result["tags_added"]), **result)


if __name__ == "__main__":
    main()
