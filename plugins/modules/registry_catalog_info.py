#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_catalog_info
short_description: List the repositories of a container registry
version_added: 0.1.0
description:
  - Lists the repositories a registry's catalog (C(GET /v2/_catalog)) shows to the credentials
    given, following C(Link) pagination exactly as the registry gives it.
  - Asks for the C(registry:catalog:*) scope. Many public registries (Docker Hub, GHCR, Quay)
    do not offer the catalog and answer with an error, which the task reports.
requirements:
  - requests
options:
  registry:
    description:
      - The registry, for example V(quay.io), V(registry.example.com:5000) or
        V(http://localhost:5000).
    type: str
    required: true
  match:
    description:
      - Keep only the repositories matching this Python regular expression (searched anywhere in
        the name; anchor it with C(^) and C($)).
    type: str
  page_size:
    description:
      - Ask for pages of this many repositories (the C(n) parameter); by default the registry picks.
    type: int
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
  - drc.registry.registry.info_module
seealso:
  - module: drc.registry.registry_tags_info
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Every repository under team/ on a private registry
  drc.registry.registry_catalog_info:
    registry: registry.example.com
    match: '^team/'
  register: catalog

- name: Show them
  ansible.builtin.debug:
    msg: "{{ catalog.repositories }}"
"""

RETURN = r"""
repositories:
  description: The repository names, in the registry's order, filtered by O(match).
  returned: success
  type: list
  elements: str
  sample: ["team/app", "team/worker"]
registry:
  description: The registry's API base URL.
  returned: success
  type: str
  sample: https://registry.example.com
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.catalog import list_repositories
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    ImageReference, parse_registry_host)
from ansible_collections.drc.registry.plugins.module_utils._registry.tag_selection import compile_match


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            registry=dict(type="str", required=True),
            match=dict(type="str"),
            page_size=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        if params["page_size"] is not None and params["page_size"] < 1:
            raise InputError("page_size must be 1 or more, got %d" % params["page_size"])
        pattern = compile_match(params["match"])
        host = parse_registry_host(params["registry"])
        # The catalog belongs to the registry, not a repository: a placeholder name binds the
        # credentials to the host only.
        target = ImageReference(host["name"], "_catalog", scheme=host["scheme"],
                                scheme_written="://" in params["registry"])
        connection = adapter.connect(target)
        names = list_repositories(connection, params["page_size"])
    except RegistryError as exc:
        adapter.fail(exc)
    if pattern is not None:
        names = [name for name in names if pattern.search(name)]
    adapter.exit(changed=False, repositories=names, registry=connection.base_url)


if __name__ == "__main__":
    main()
