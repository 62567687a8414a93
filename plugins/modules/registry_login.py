#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_login
short_description: Check registry credentials, and keep them in a Docker or containers auth file
version_added: 0.1.0
description:
  - With O(state=present), checks the credentials against the registry without reading anything
    from it. C(GET /v2/) to learn how it authenticates, then, where it uses tokens, a token
    request for a scope the credentials should be granted (pull on O(repository), or the catalog
    C(registry:catalog:*)), and C(GET /v2/) with that token (or with Basic credentials).
    Credentials the registry or its token service refuse fail the task with a message naming
    the registry and C(UNAUTHORIZED).
  - When O(config_path) is given, the credentials are then stored there, in the format that
    Docker's C(config.json) and the containers C(auth.json) (podman, skopeo, buildah) share
    (an C(auths) object keyed by registry, each entry's C(auth) the base64 of C(user:password)), merged with what the
    file holds, written atomically with mode C(0600). The task reports C(changed) only when the
    file changes.
  - With O(state=absent), removes the registry's entry from O(config_path); nothing is sent to the
    registry.
  - A token service may grant fewer actions than asked. The check proves that the credentials are
    accepted, not what they may do.
requirements:
  - requests
options:
  registry:
    description:
      - The registry, for example V(quay.io), V(registry.example.com:5000), V(docker.io) or
        V(http://localhost:5000).
      - In O(config_path) the entry is keyed by the registry's host as Docker and podman key it
        (V(https://index.docker.io/v1/) for Docker Hub in a file named C(config.json),
        V(docker.io) otherwise); an entry already there under another spelling of the same host
        is updated in place.
    type: str
    required: true
  state:
    description:
      - V(present) checks the credentials and, with O(config_path), stores them.
      - V(absent) removes every entry for the registry (under any spelling of its host, but not
        the entries of namespaces such as C(quay.io/team)) from O(config_path).
    type: str
    choices: [present, absent]
    default: present
  repository:
    description:
      - A repository path on O(registry), such as V(team/app). The check asks for a token that
        may pull from it. Without it, the check asks for the catalog scope C(registry:catalog:*).
    type: str
  config_path:
    description:
      - The file to store the credentials in, or remove them from, a Docker C(config.json)
        (V(~/.docker/config.json)) or a containers C(auth.json)
        (V(${XDG_RUNTIME_DIR}/containers/auth.json), or the file given to C(skopeo --authfile)).
      - A missing file (and its directory, mode C(0700)) is created; an existing one keeps its
        other entries and keys, and must be a JSON object.
      - Required with O(state=absent).
    type: path
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
attributes:
  check_mode:
    support: full
    description: Checks the credentials and reports whether O(config_path) would change; writes nothing.
  diff_mode:
    support: full
    description: Shows O(config_path) before and after, with every secret replaced by C(********).
notes:
  - Only the username and password (or identity token) are stored; O(bearer_token) may be used
    to check a token, but is never stored.
  - A C(credHelpers) entry for the registry in a C(config.json) is asked by Docker instead of the
    C(auths) entry, and the task warns when there is one.
seealso:
  - module: drc.registry.registry_catalog_info
  - module: drc.registry.registry_tags_info
  - name: containers-auth.json
    description: The format of the containers auth file.
    link: https://github.com/containers/image/blob/main/docs/containers-auth.json.5.md
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Check a robot account before a deployment uses it
  drc.registry.registry_login:
    registry: registry.example.com
    repository: team/app
    username: robot
    password: "{{ vault_robot_password }}"

- name: Log podman and skopeo in for this user, as podman login would
  drc.registry.registry_login:
    registry: quay.io
    username: org+deploy
    password: "{{ vault_quay_token }}"
    config_path: "{{ ansible_env.XDG_RUNTIME_DIR }}/containers/auth.json"

- name: Log Docker in
  drc.registry.registry_login:
    registry: docker.io
    username: deploy
    password: "{{ vault_hub_token }}"
    config_path: ~/.docker/config.json

- name: Log out
  drc.registry.registry_login:
    registry: quay.io
    state: absent
    config_path: "{{ ansible_env.XDG_RUNTIME_DIR }}/containers/auth.json"
"""

RETURN = r"""
registry:
  description: The registry's API base URL (O(state=present)), or its host (O(state=absent)).
  returned: always
  type: str
  sample: https://registry.example.com
auth_scheme:
  description:
    - How the registry authenticated the check. V(bearer) (a token from its token service),
      V(basic), V(bearer_token) (the O(bearer_token) given) or V(none) (the registry asks for no
      credentials, so they were not checked; the task warns).
  returned: O(state=present)
  type: str
  sample: bearer
scope:
  description: The scope of the token requested for the check, when the registry uses tokens.
  returned: O(state=present)
  type: str
  sample: "repository:team/app:pull"
config_path:
  description: O(config_path), when given.
  returned: when O(config_path) is given
  type: str
  sample: /home/deploy/.docker/config.json
key:
  description: The C(auths) key the credentials are stored under.
  returned: O(state=present) with O(config_path)
  type: str
  sample: registry.example.com
removed_keys:
  description: The C(auths) keys removed (or, in check mode, that would be).
  returned: O(state=absent)
  type: list
  elements: str
  sample: ["quay.io"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.login import (
    check_credentials, check_scope, remove, store, warnings_for)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    ImageReference, parse_registry_host)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            registry=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            repository=dict(type="str"),
            config_path=dict(type="path"),
        ),
        required_if=[("state", "absent", ["config_path"])],
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params, path = module.params, module.params["config_path"]
    try:
        host = parse_registry_host(params["registry"])
        if params["state"] == "absent":
            adapter.exit(registry=host["name"], **remove(path, host["name"], module.check_mode, module._diff))
        scope = check_scope(host["name"], params["repository"])
        # Credentials bound to the registry's host (a namespace key needs the repository).
        target = ImageReference(host["name"], params["repository"] or "_catalog",
                                scheme=host["scheme"], scheme_written="://" in params["registry"])
        connection = adapter.connect(target)
        result = dict(check_credentials(connection, scope), registry=connection.base_url, changed=False)
        if result["auth_scheme"] == "none":
            module.warn("%s asks for no credentials: they were not checked" % host["name"])
        if path:
            result.update(store(path, host["name"], connection.auth.credentials,
                                module.check_mode, module._diff))
            for warning in warnings_for(path, host["name"]):
                module.warn(warning)
    except RegistryError as exc:
        adapter.fail(exc)
    adapter.exit(**result)


if __name__ == "__main__":
    main()
