# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: docker_ref
short_description: Parse and normalise a container image reference
version_added: 0.1.0
description:
  - Parses an image reference such as V(mongo), V(quay.io/org/app:1.2) or V(localhost:5000/app@sha256:...)
    with the grammar and normalisation of Docker's own C(distribution/reference) package, as
    C(docker pull) does.
  - Accepts, beyond Docker's grammar, an C(http://) or C(https://) prefix on the registry
    (V(http://localhost:5000/app:1)).
  - Invalid input fails with a message naming the input and the rule it breaks.
options:
  _input:
    description: The image reference to parse.
    type: string
    required: true
  default_index:
    description:
      - The registry to use when the reference names none, for example V(https://myreg:5000)
        or V(myreg:5000). Without it, a reference with no registry is on V(docker.io).
      - Its host must contain a V(.) or a V(:port), or be V(localhost), as Docker requires of a
        registry host, so that the familiar names on it name it again.
    type: string
seealso:
  - plugin: drc.registry.registry_digest
    plugin_type: lookup
  - module: drc.registry.registry_manifest_info
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Split a reference into its parts
  ansible.builtin.debug:
    msg: "{{ 'mongo:4' | drc.registry.docker_ref }}"
  # msg.full_name == 'docker.io/library/mongo', msg.tag == '4'

- name: Names without a registry go to a default index of your choosing
  ansible.builtin.debug:
    msg: "{{ ('team/app' | drc.registry.docker_ref(default_index='https://myreg:5000')).registry_url }}"
  # https://myreg:5000

- name: Pin an image by the digest the lookup resolves
  ansible.builtin.set_fact:
    pinned: "{{ (image | drc.registry.docker_ref).full_name }}@{{ lookup('drc.registry.registry_digest', image) }}"
  vars:
    image: alpine:3
"""

RETURN = r"""
_value:
  description: The parsed reference.
  type: dict
  contains:
    index:
      description: The registry, C(name), C(official) (true only for V(docker.io)) and C(scheme).
      type: dict
      sample: {"name": "docker.io", "official": true, "scheme": "https"}
    official:
      description: True for Docker Hub official images (C(library/<name>), one component after C(library/)).
      type: bool
    remote_name:
      description: The repository path on the registry.
      type: str
      sample: library/mongo
    local_name:
      description:
        - The familiar name, as Docker shortens it, which parses back to the same repository.
        - On Docker Hub the registry is left out, and C(library/) too when one component follows it
          (V(library/a/b) stays V(library/a/b)). A Docker Hub path whose first component reads as a
          registry host (V(localhost), or one with a V(.)) keeps V(docker.io/).
      type: str
      sample: mongo
    canonical_name:
      description: The canonical name as node-docker-registry-client defines it.
      type: str
      sample: docker.io/mongo
    full_name:
      description: The fully qualified name.
      type: str
      sample: docker.io/library/mongo
    tag:
      description: The tag; V(latest) when neither tag nor digest is given; null when only a digest is given.
      type: str
    digest:
      description: The digest, or null.
      type: str
    reference:
      description: What goes in C(/v2/<name>/manifests/<reference>), the digest if given, else the tag.
      type: str
    string:
      description: The normalised reference, C(full_name:tag), or C(full_name@digest) when a digest is given.
      type: str
      sample: docker.io/library/mongo:latest
    registry_url:
      description: The API base URL.
      type: str
      sample: https://registry-1.docker.io
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    InvalidReference, parse_registry_host, parse_reference)


def docker_ref(value, default_index=None):
    """Parse an image reference into the documented dict."""
    try:
        if default_index is not None:
            parse_registry_host(default_index)
        return parse_reference(value, default_index=default_index)
    except InvalidReference as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"docker_ref": docker_ref}
