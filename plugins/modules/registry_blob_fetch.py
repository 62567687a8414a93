#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_blob_fetch
short_description: Download a blob from a container registry to a file, verified, atomically
version_added: 0.1.0
description:
  - Streams a blob (a layer or a config) to a file, hashing it as it arrives, and moves it into
    place only when its digest and size are right. Memory use does not grow with the blob's size.
  - When O(dest) already holds content with that digest nothing is downloaded and the task
    reports no change.
  - An interrupted download is resumed with an HTTP C(Range) request when the registry allows it.
    On any failure the destination is left as it was and no temporary file remains.
  - The download is written to a part file beside the destination, C(.<name>.<digest prefix>.drc-part).
    If the task is killed, the next run resumes from that file (and removes it in any case).
  - Redirects to another host (S3, a CDN) are followed without the registry credentials.
requirements:
  - requests
options:
  repository:
    description:
      - The repository holding the blob, for example V(alpine) or V(http://localhost:5000/app).
    type: str
    required: true
  digest:
    description:
      - The blob's digest, C(algorithm:hex), for example V(sha256:...).
      - Exactly one of O(digest) and O(image_id) is required.
    type: str
  image_id:
    description:
      - A legacy v1 image id (64 hexadecimal characters); download that image's layer through the
        v1 API. The layer is verified when the registry gives its checksum
        (C(X-Docker-Checksum-Payload)).
      - Exactly one of O(digest) and O(image_id) is required.
    type: str
    version_added: 0.1.0
  dest:
    description:
      - The file to write. An existing directory means a file named by the digest (or the
        image id) inside it.
      - The directory must exist.
    type: path
    required: true
  size:
    description:
      - The blob's size in bytes, as its descriptor gives it (for example C(layer.size) from
        M(drc.registry.registry_manifest_info)). The download stops as soon as the registry sends
        more, and fails when it sends less.
      - Without it, the size the registry declares bounds the download in the same way.
    type: int
    version_added: 0.1.0
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.api_version
  - drc.registry.registry.actiongroup
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the digest and size before and after.
seealso:
  - module: drc.registry.registry_manifest_info
    description: Find the layer and config digests of an image.
  - plugin: drc.registry.registry_digest
    plugin_type: lookup
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Find the layers of an image
  drc.registry.registry_manifest_info:
    reference: alpine:3
    platform: linux/amd64
  register: alpine

- name: Download its first layer
  drc.registry.registry_blob_fetch:
    repository: alpine
    digest: "{{ alpine.manifest.layers[0].digest }}"
    size: "{{ alpine.manifest.layers[0].size }}"
    dest: /var/cache/layers/
    mode: "0644"
"""

RETURN = r"""
dest:
  description: The file written (or that would be written).
  returned: success
  type: str
  sample: /var/cache/layers/sha256:4abcf2066143...
digest:
  description: The blob's digest.
  returned: when the v2 API answered
  type: str
image_id:
  description: The v1 image whose layer was fetched.
  returned: when the v1 API answered
  type: str
checksum:
  description: C(sha256:<hex>) of the layer's bytes (null in check mode when nothing tells it).
  returned: when the v1 API answered
  type: str
verified:
  description: Whether the layer matched a checksum the registry gave.
  returned: when the v1 API answered
  type: bool
api_version:
  description: Which registry API answered, V(v1) or V(v2).
  returned: success
  type: str
  sample: v2
size:
  description: The blob's size in bytes (null in check mode when the registry does not say).
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import fetch_blob, head_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.downloads import (
    blob_destination, write_verified_file)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import validate_digest
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_repository
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters import v1_modules


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            repository=dict(type="str", required=True),
            digest=dict(type="str"),
            image_id=dict(type="str"),
            api_version=v1_modules.API_VERSION_OPTION,
            dest=dict(type="path", required=True),
            size=dict(type="int"),
        ),
        supports_check_mode=True,
        add_file_common_args=True,
        required_one_of=[("digest", "image_id")],
        mutually_exclusive=[("digest", "image_id")],
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        if params["image_id"] is not None or params["api_version"] == "v1":
            adapter.exit(**v1_modules.blob_fetch(module, adapter, params["repository"]))
        digest = validate_digest(params["digest"])
        size = params["size"]
        if size is not None and size < 0:
            raise InputError("size must be 0 or more, got %d" % size)
        reference = parse_repository(params["repository"])
        connection = None

        def connect():
            nonlocal connection
            connection = connection or adapter.connect(reference)
            return connection

        def probe_size():
            found = head_blob(connect(), reference.repository, digest)
            if found is None:
                raise RegistryError("blob %s is not in %s" % (digest, reference.full_name))
            return found

        result = write_verified_file(
            module, blob_destination(params["dest"], digest), digest,
            lambda out: fetch_blob(connect(), reference.repository, digest, out, size),
            probe_size)
        result["api_version"] = "v2"
    except RegistryError as exc:
        adapter.fail(exc)
    adapter.exit(**result)


if __name__ == "__main__":
    main()
