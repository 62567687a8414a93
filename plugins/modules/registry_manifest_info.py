#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_manifest_info
short_description: Fetch an image manifest or index, its digest, platforms and config
version_added: 0.1.0
description:
  - Fetches the manifest a registry serves for an image reference, verifies it, and reports its
    digest, media type, the platforms of a multi-platform index, and optionally the image config.
  - Accepts Docker schema 2 manifests and manifest lists, OCI manifests and indexes, and the
    deprecated Docker schema 1 (reported with a warning).
requirements:
  - requests
options:
  reference:
    description:
      - The image reference, for example V(alpine:3), V(quay.io/org/app@sha256:...) or
        V(http://localhost:5000/app:1). A reference without tag means V(latest).
    type: str
    required: true
  platform:
    description:
      - Describe the child of a multi-platform index for this platform,
        C(os/architecture[/variant]), for example V(linux/arm64) or V(linux/arm/v7).
      - The child is the one containerd (C(ctr pull --platform)) would pick. Names are normalised
        (V(x86_64) is V(amd64), V(aarch64) is V(arm64), V(armhf) is V(arm/v7), V(armel) is
        V(arm/v6), V(i386) is V(386); V(arm64) means V(v8) and V(arm) means V(v7) when no variant
        is given). A variant must match exactly, then these fall back, best first;
        V(amd64/v3) takes V(amd64/v2), V(amd64) then V(386) (plain V(amd64) never takes an
        V(amd64/v3) child); V(arm/v7) takes V(arm/v6) then V(arm/v5); V(arm64) takes 32-bit
        V(arm/v8) down to V(arm/v5).
      - A child declaring C(os.features) is only taken when they are all asked for, with
        containerd's syntax C(os(os.version+feature+...\)/architecture[/variant]) (on Windows
        C(win32k) never counts).
      - For a single-platform image, its config must match the platform.
    type: str
  os_version:
    description:
      - With O(platform), ask for this C(os.version) too.
      - For Windows, the version of the host, C(major.minor.build[.revision]) (for example
        V(10.0.20348.2700)), matched as containerd does; a child without C(os.version) matches,
        otherwise major and minor must be equal and, before build 20348, the build too; from
        build 20348 on, children built for the previous long-term release up to the host's build
        match.
      - For other systems, the child's C(os.version) must be exactly this string.
    type: str
  config:
    description:
      - Also fetch, verify and return the image config (labels, environment, creation time,
        architecture...) of an image manifest.
    type: bool
    default: false
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.api_version
  - drc.registry.registry.actiongroup
  - drc.registry.registry.info_module
seealso:
  - plugin: drc.registry.registry_digest
    plugin_type: lookup
    description: Resolve references to digests on the controller, with HEAD requests only.
  - plugin: drc.registry.docker_ref
    plugin_type: filter
  - module: drc.registry.registry_blob_fetch
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Digest and platforms of a multi-platform image
  drc.registry.registry_manifest_info:
    reference: alpine:3
  register: alpine

- name: The arm64 image of it, with its config
  drc.registry.registry_manifest_info:
    reference: alpine:3
    platform: linux/arm64
    config: true
  register: alpine_arm64

- name: The Windows Server 2022 image of a multi-platform image
  drc.registry.registry_manifest_info:
    reference: mcr.microsoft.com/windows/nanoserver:ltsc2022
    platform: windows/amd64
    os_version: 10.0.20348.2700
  register: nanoserver

- name: Pin the deployment to the digest
  ansible.builtin.debug:
    msg: "image: {{ alpine.pinned }}"
"""

RETURN = r"""
exists:
  description:
    - Whether the registry has the manifest. V(false) (not a failure) when the registry answers
      that the manifest or the repository is unknown; then only RV(exists) and RV(reference)
      are returned.
  returned: always
  type: bool
  version_added: 0.1.0
digest:
  description: The digest of the manifest described (the child's with O(platform)).
  returned: when the v2 API answered
  type: str
  sample: sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b
media_type:
  description: Its media type.
  returned: when the v2 API answered
  type: str
  sample: application/vnd.oci.image.index.v1+json
size:
  description: Its size in bytes.
  returned: when the v2 API answered
  type: int
manifest:
  description: The manifest or index, parsed.
  returned: when the v2 API answered
  type: dict
platforms:
  description: For an index or manifest list, one entry per child.
  returned: when the manifest described is an index or manifest list
  type: list
  elements: dict
  contains:
    digest:
      description: The child's digest.
      type: str
    media_type:
      description: The child's media type.
      type: str
    size:
      description: The child's size.
      type: int
    platform:
      description: C(os), C(architecture), C(variant), C(os_version) and C(os_features) (a list),
        normalised.
      type: dict
config:
  description: The image config.
  returned: when O(config=true) and the manifest is an image manifest
  type: dict
index_digest:
  description: The digest of the index the platform was chosen from.
  returned: when O(platform) is given and the reference is an index
  type: str
reference:
  description: The normalised reference.
  returned: success
  type: str
  sample: docker.io/library/alpine:3
pinned:
  description: C(<full name>@<digest>), ready to deploy.
  returned: when the v2 API answered
  type: str
  sample: docker.io/library/alpine@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b
deprecated:
  description: True for a Docker schema 1 manifest.
  returned: when the v2 API answered
  type: bool
image_id:
  description: The v1 image id the tag points at.
  returned: when the v1 API answered
  type: str
  sample: 5f2f9c7a33e1d1c2b4a0e0f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4
ancestry:
  description: The image ids of the image and its parents, the image first, as the registry gives them.
  returned: when the v1 API answered
  type: list
  elements: str
image_json:
  description: The image's JSON as the registry serves it (its v1 configuration).
  returned: when the v1 API answered
  type: dict
api_version:
  description: Which registry API answered, V(v1) or V(v2).
  returned: success
  type: str
  sample: v2
rate_limit:
  description: The registry's rate-limit headers, when it sends them.
  returned: when the registry sends them
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import is_not_found
from ansible_collections.drc.registry.plugins.module_utils._registry.images import describe_image
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import manifest_path
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import parse_platform
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters import v1_modules
from ansible_collections.drc.registry.plugins.module_utils._registry import v1_results


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            reference=dict(type="str", required=True),
            platform=dict(type="str"),
            os_version=dict(type="str"),
            config=dict(type="bool", default=False),
            api_version=v1_modules.API_VERSION_OPTION,
        ),
        required_by={"os_version": "platform"},
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    reference = None
    try:
        platform = (parse_platform(params["platform"], params["os_version"])
                    if params["platform"] is not None else None)
        reference = parse_image_reference(params["reference"])
        connection = adapter.connect(reference)
        legacy = v1_modules.select(module, reference, connection)
        if legacy:
            adapter.exit(**v1_results.manifest_info(legacy, reference, params, module.warn))
        result = describe_image(connection, reference, platform, params["config"],
                                warn=module.warn)
    except RegistryError as exc:
        # Absence of the manifest asked for is an answer; a missing child or config is not.
        top = manifest_path(reference.repository, reference.api_reference) if reference else None
        if reference and is_not_found(exc) and (exc.url or "").split("?", maxsplit=1)[0].endswith(top):
            adapter.exit(changed=False, exists=False, reference=reference.string, api_version="v2")
        adapter.fail(exc)
    adapter.exit(changed=False, exists=True, api_version="v2", **result)


if __name__ == "__main__":
    main()
