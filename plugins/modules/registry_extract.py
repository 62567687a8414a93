#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_extract
short_description: Extract files out of a container image in a registry, as the container would see them
version_added: 0.1.0
description:
  - Reads the image's layers from the registry in order, each streamed and verified by its digest,
    applies the OCI whiteouts (C(.wh.<name>) deletes a path of the layers below, C(.wh..wh..opq)
    hides what they had in a directory), and writes the requested O(paths) under O(dest), the files
    a container started from the image would see. No container engine, no daemon; memory does not
    grow with the size of a layer.
  - Each requested path lands at the same place under O(dest) (V(/etc/ssl/certs) becomes
    C(<dest>/etc/ssl/certs)). A directory is copied recursively; a symbolic link is written as a
    symbolic link with its target as stored in the image, never followed. Symbolic links in the
    image above a requested path are resolved inside the image, the image's root being C(/).
  - O(dest) belongs to the task. The new tree is built in a temporary directory beside O(dest) and
    swapped into place in one step; what was in O(dest) before goes. When O(dest) already holds
    exactly that tree (same contents by SHA-256, same modes and, when running as root, owners),
    nothing is written and the task reports no change. A failed or killed run leaves O(dest) as it
    was; a temporary directory a killed run left, C(.<name>.drc-extract-*), is removed by the next
    run.
  - Nothing is ever written outside O(dest) - not through C(..) or absolute names in the layers, a
    symbolic link in the image pointing out, a hard link, or a path in O(paths). Device files and
    fifos are skipped with a warning. What happens to each kind of hostile layer is listed in the
    collection's C(docs/extract.md).
  - Layers compressed with zstd need the Python library C(zstandard) on the host that runs the
    module; without it the task fails naming the layer's media type.
requirements:
  - requests
  - zstandard (only for layers compressed with zstd)
options:
  reference:
    description:
      - The image, by tag or digest, for example V(alpine:3), V(quay.io/org/app@sha256:...) or
        V(http://localhost:5000/app:1). A reference without tag means V(latest).
    type: str
    required: true
  platform:
    description:
      - The platform to take from a multi-platform index, C(os/architecture[/variant]), chosen as
        in M(drc.registry.registry_manifest_info) (containerd's rules). Required when O(reference)
        names an index; for a single-platform image its config must match.
    type: str
  os_version:
    description:
      - With O(platform), ask for this C(os.version) too, as in M(drc.registry.registry_manifest_info).
    type: str
  paths:
    description:
      - Absolute paths inside the image to extract; each a file, a symbolic link or a directory
        (copied with everything under it). V(/) extracts the whole file system.
      - A path may not contain C(..) nor lie inside another path of the list.
    type: list
    elements: str
    required: true
  dest:
    description:
      - The directory that receives the paths. Its parent directory must exist. If O(dest) is a
        symbolic link, the directory it points to is used.
    type: path
    required: true
  owner:
    description:
      - Owner (name or uid) of everything written. Without it, files get the image's owners when
        the module runs as root, and the user running the module otherwise.
    type: str
  group:
    description:
      - Group (name or gid) of everything written, as for O(owner).
    type: str
  mode:
    description:
      - Mode of every regular file written, in octal (V('0644')); directories and symbolic links
        keep the image's. Without it, files keep the image's modes (setuid and setgid bits
        included).
    type: raw
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
attributes:
  check_mode:
    support: full
    description: Reads the layers and reports what would be written (RV(files)) and whether O(dest) would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the paths, types, modes and SHA-256 of O(dest) before and after; added, changed and removed files are the lines that differ.
seealso:
  - module: drc.registry.registry_manifest_info
    description: Inspect the image (layers, platforms, config) first.
  - module: drc.registry.registry_blob_fetch
    description: Download one layer as it is, verified.
  - plugin: drc.registry.registry_digest
    plugin_type: lookup
    description: Pin the image's digest on the controller.
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: The CA bundle of an image, onto this host
  drc.registry.registry_extract:
    reference: registry.example.com/base/debian:12
    platform: linux/amd64
    paths:
      - /etc/ssl/certs/ca-certificates.crt
    dest: /srv/ca

- name: A static site and a binary, owned by www-data
  drc.registry.registry_extract:
    reference: "registry.example.com/team/site@{{ site_digest }}"
    paths:
      - /usr/share/nginx/html
      - /usr/local/bin/site-tool
    dest: /var/www/site
    owner: www-data
    group: www-data
  register: site

- name: What changed
  ansible.builtin.debug:
    msg: "{{ site.files | map(attribute='path') | list }}"
"""

RETURN = r"""
digest:
  description: The digest of the image manifest the files came from (the platform's child for an index).
  returned: success
  type: str
  sample: sha256:4abcf20661432fb2d719aaf90656f55c287f8ca915dc1c92ec14ff61e67fbaf8
dest:
  description: The directory written (O(dest) with symbolic links resolved).
  returned: success
  type: str
files:
  description: Every path extracted (or that would be, in check mode), parents before children.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The path inside the image, which is also its place under RV(dest).
      type: str
      sample: /etc/ssl/certs/ca-certificates.crt
    type:
      description: V(file), V(directory) or V(symlink).
      type: str
    size:
      description: Bytes of a file; the length of a symbolic link's target; 0 for a directory.
      type: int
    sha256:
      description: SHA-256 of a file's content, in hexadecimal; null for the other types.
      type: str
    mode:
      description: The mode written, in octal.
      type: str
      sample: "0644"
    link_target:
      description: A symbolic link's target, as stored in the image.
      type: str
      returned: for symbolic links
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.extract_options import file_options
from ansible_collections.drc.registry.plugins.module_utils._registry.image_fs import extract
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import parse_platform
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_image_reference


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            reference=dict(type="str", required=True),
            platform=dict(type="str"),
            os_version=dict(type="str"),
            paths=dict(type="list", elements="str", required=True),
            dest=dict(type="path", required=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
        ),
        required_by={"os_version": "platform"},
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        platform = (parse_platform(params["platform"], params["os_version"])
                    if params["platform"] is not None else None)
        options = file_options(params["owner"], params["group"], params["mode"])
        reference = parse_image_reference(params["reference"])
        result = extract(adapter.connect(reference), reference, platform, params["paths"],
                         params["dest"], options, module.check_mode, module._diff, module.warn)
    except RegistryError as exc:
        adapter.fail(exc)
    adapter.exit(**result)


if __name__ == "__main__":
    main()
