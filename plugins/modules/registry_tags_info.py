#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_tags_info
short_description: List the tags of a repository in a container registry
version_added: 0.1.0
description:
  - Lists every tag of a repository through the registry HTTP API v2, following
    C(Link) pagination exactly as the registry gives it.
  - Talks HTTP directly; no Docker daemon or CLI is needed.
requirements:
  - requests
options:
  repository:
    description:
      - The repository, an image reference without tag or digest, for example V(alpine),
        V(quay.io/org/app) or V(http://localhost:5000/app).
    type: str
    required: true
  page_size:
    description:
      - Ask the registry for pages of this many tags (the C(n) parameter). By default no C(n) is
        sent and the registry picks. Some registries cap it (Quay at 100, ECR at 1000).
    type: int
  match:
    description:
      - Keep only the tags matching this Python regular expression (searched anywhere in the tag;
        anchor it with C(^) and C($)).
    type: str
  sort:
    description:
      - V(none) keeps the registry's order; V(semver) sorts version-like tags by version, newest
        last, after the tags that are not versions.
    type: str
    choices: [none, semver]
    default: none
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.api_version
  - drc.registry.registry.actiongroup
  - drc.registry.registry.info_module
seealso:
  - module: drc.registry.registry_manifest_info
  - plugin: drc.registry.registry_digest
    plugin_type: lookup
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: List the tags of an image on Docker Hub
  drc.registry.registry_tags_info:
    repository: alpine
  register: alpine_tags

- name: Newest 3.x release tag of an app on a private registry
  drc.registry.registry_tags_info:
    repository: registry.example.com/team/app
    username: deploy
    password: "{{ vault_registry_password }}"
    match: '^3\.\d+\.\d+$'
    sort: semver
  register: app_tags

- name: Show it
  ansible.builtin.debug:
    msg: "{{ app_tags.tags | last }}"

- name: Credentials for two registries, set once, each sent only to its own registry
  module_defaults:
    group/drc.registry.registry:
      auths:
        quay.io:
          username: org+robot
          password: "{{ vault_quay_token }}"
        registry.example.com:
          username: deploy
          password: "{{ vault_registry_password }}"
  block:
    - name: Tags on quay.io (gets the quay.io entry only)
      drc.registry.registry_tags_info:
        repository: quay.io/org/app
    - name: Tags on the private registry (gets its own entry only)
      drc.registry.registry_tags_info:
        repository: registry.example.com/team/app
"""

RETURN = r"""
exists:
  description:
    - Whether the registry has the repository. V(false) (not a failure, with no tags) when the
      registry answers that the repository is unknown.
  returned: always
  type: bool
  version_added: 0.1.0
tags:
  description: The tags, filtered by O(match) and ordered by O(sort).
  returned: success
  type: list
  elements: str
  sample: ["3.18", "3.19", "latest"]
repository:
  description: The repository's full name.
  returned: success
  type: str
  sample: docker.io/library/alpine
registry:
  description: The registry's API base URL.
  returned: success
  type: str
  sample: https://registry-1.docker.io
tag_ids:
  description: Tag to image id, for the tags in RV(tags).
  returned: when the v1 API answered
  type: dict
  sample: {"1.0": "5f2f9c7a33e1d1c2b4a0e0f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"}
api_version:
  description: Which registry API answered, V(v1) or V(v2).
  returned: success
  type: str
  sample: v2
rate_limit:
  description: The registry's rate-limit headers, when it sends them.
  returned: when the registry sends C(ratelimit-limit) or C(ratelimit-remaining)
  type: dict
  sample: {"ratelimit_limit": "100;w=21600", "ratelimit_remaining": "98;w=21600"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import is_not_found
from ansible_collections.drc.registry.plugins.module_utils._registry.tags import list_tags
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_repository
from ansible_collections.drc.registry.plugins.module_utils._registry.tag_selection import (
    compile_match, select_tags)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters import v1_modules
from ansible_collections.drc.registry.plugins.module_utils._registry import v1_results


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            repository=dict(type="str", required=True),
            page_size=dict(type="int"),
            match=dict(type="str"),
            sort=dict(type="str", choices=["none", "semver"], default="none"),
            api_version=v1_modules.API_VERSION_OPTION,
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        if params["page_size"] is not None and params["page_size"] < 1:
            raise InputError("page_size must be 1 or more, got %d" % params["page_size"])
        pattern = compile_match(params["match"])
        reference = parse_repository(params["repository"])
        connection = adapter.connect(reference)
        legacy = v1_modules.select(module, reference, connection)
        if legacy:
            adapter.exit(**v1_results.tags_info(legacy, reference, params))
        exists = True
        try:
            tags = list_tags(connection, reference.repository, params["page_size"])
        except RegistryError as exc:
            if not is_not_found(exc):
                raise
            exists, tags = False, []
        tags = select_tags(tags, pattern, params["sort"])
    except RegistryError as exc:
        adapter.fail(exc)
    adapter.exit(changed=False, exists=exists, tags=tags, repository=reference.full_name,
                 registry=connection.base_url, api_version="v2")


if __name__ == "__main__":
    main()
