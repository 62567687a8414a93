#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_search_info
short_description: Search a registry for repositories, as C(docker search) does
version_added: 0.1.0
description:
  - Searches a registry's index with the v1 search endpoint (C(GET /v1/search)), the one
    C(docker search) calls on Docker Hub, following pages until O(limit) results.
  - Docker Hub's search lives at C(index.docker.io); for any other registry the registry host
    itself is asked.
  - Talks HTTP directly; no Docker daemon or CLI is needed.
requirements:
  - requests
options:
  query:
    description:
      - The search term.
    type: str
    required: true
  registry:
    description:
      - The registry to search, a host with an optional port, and optionally a scheme, for
        example V(docker.io), V(registry.example.com) or V(http://localhost:5000).
    type: str
    default: docker.io
  limit:
    description:
      - At most this many results (1 to 100), as C(docker search --limit).
    type: int
    default: 25
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
  - drc.registry.registry.info_module
notes:
  - Credentials, when any are found for O(registry), are sent only when the index asks for them
    (a C(401) answer to the anonymous search).
seealso:
  - module: drc.registry.registry_tags_info
  - module: drc.registry.registry_manifest_info
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Search Docker Hub
  drc.registry.registry_search_info:
    query: nginx
    limit: 10
  register: found

- name: Names of the official images found
  ansible.builtin.debug:
    msg: "{{ found.results | selectattr('is_official') | map(attribute='name') | list }}"
"""

RETURN = r"""
results:
  description: The repositories found, in the index's order, at most O(limit).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The repository name.
      type: str
      sample: library/nginx
    description:
      description: Its short description.
      type: str
    star_count:
      description: How many stars it has.
      type: int
    is_official:
      description: Whether it is an official image.
      type: bool
    is_automated:
      description: Whether it is an automated build.
      type: bool
query:
  description: The search term.
  returned: success
  type: str
registry:
  description: The index that answered.
  returned: success
  type: str
  sample: https://index.docker.io
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters import v1_modules


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            query=dict(type="str", required=True),
            registry=dict(type="str", default="docker.io"),
            limit=dict(type="int", default=25),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    try:
        result = v1_modules.search_info(module)
    except RegistryError as exc:
        adapter.fail(exc)
    adapter.exit(**result)


if __name__ == "__main__":
    main()
