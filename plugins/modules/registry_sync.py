#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_sync
short_description: Mirror whole repositories by tag rules, copying only what changed
version_added: 0.1.0
description:
  - Lists the tags of each repository of O(repositories) on O(src_registry), keeps those its
    O(repositories[].tags) rules select, and copies each of them to O(dest) whose digest there
    differs from the source's, as M(drc.registry.registry_copy) copies an image (same client code,
    every digest kept, blobs the destination holds skipped).
  - A tag whose destination digest already equals the source's costs one C(HEAD) on each side and
    nothing else. The task reports a change only when something was written.
  - Images are copied concurrently (O(concurrency) at once, several blobs each), every request of
    one registry under a cap of O(concurrency) requests at once. A registry that answers
    C(429 Too Many Requests) is asked less at once from then on, its C(Retry-After) is honoured,
    and rate-limited requests are retried longer than other failures.
  - A blob the destination registry holds in another repository is mounted from there
    (C(POST ?mount=&from=)) instead of uploaded; the run remembers where it put each blob, and
    O(blob_cache) remembers it across runs. A registry that declines a mount gets an upload.
  - One image failing does not stop the others. The task then fails at the end, with
    RV(failed_images) and every other result.
requirements:
  - requests
options:
  src_registry:
    description:
      - The source registry, a host such as V(quay.io), V(docker.io) or V(localhost:5000).
        Write V(http://host:port) for a plain-http registry that is not on loopback.
    type: str
    required: true
  dest:
    description:
      - The destination registry and an optional path prefix, C(registry[/prefix]), for example
        V(reg.internal/mirror). Each repository goes to C(prefix/name) (or C(prefix/rename)).
    type: str
    required: true
  repositories:
    description:
      - The repositories to sync, each with its own tag rules.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The repository's path on O(src_registry), for example V(prometheus/node-exporter).
            On Docker Hub, V(alpine) is V(library/alpine).
        type: str
        required: true
      rename:
        description:
          - The repository's path under O(dest), instead of O(repositories[].name).
        type: str
      tags:
        description:
          - Which tags to sync. Without it, every tag. The rules apply in this order,
            O(repositories[].tags.match), O(repositories[].tags.exclude),
            O(repositories[].tags.semver), then O(repositories[].tags.latest).
        type: dict
        suboptions:
          match:
            description:
              - A regular expression a tag must match whole (Python C(re.fullmatch)).
            type: str
          exclude:
            description:
              - Regular expressions; a tag in which any of them is found (Python C(re.search))
                is left out. V(-rc) leaves out every tag containing C(-rc).
            type: list
            elements: str
          semver:
            description:
              - A version range, comparators that must all hold separated by spaces, for
                example V(>=1.2 <2); C(||) between alternatives; V(^1.2) and V(~1.2) as in npm.
              - Versions are read as the C(sort=semver) option of M(drc.registry.registry_tags_info)
                reads them (V(1.2), V(v1.2.3), V(1.3.0-rc1); V(1.2) equals V(1.2.0)). A
                pre-release sorts just before its release and is inside a range when its version
                is (leave pre-releases out with O(repositories[].tags.exclude)). Tags that are
                not versions fall outside any range.
            type: str
          latest:
            description:
              - Keep only the newest N of the tags the other rules kept. Newest by version when
                O(repositories[].tags.semver) is set, else by the image config's C(created) time
                (for an index, its first child of O(repositories[].tags.platforms)); that costs
                reading each candidate's manifest and config.
            type: int
          platforms:
            description:
              - Copy only these platforms of an index, C(os/architecture[/variant]) each. The
                destination then gets a new index holding just those children (a new digest).
            type: list
            elements: str
  concurrency:
    description:
      - How many images are copied at once (each moving up to 4 blobs at once), and the most
        requests in flight to each registry at once (1 to 32).
    type: int
    default: 8
  format:
    description:
      - V(keep) copies every image as it is, digests kept.
      - V(oci) converts Docker-format images to OCI media types, as
        M(drc.registry.registry_copy)'s O(drc.registry.registry_copy#module:format=oci) does (new
        digests; each entry of RV(images) has C(source_digest) beside C(digest)). The referrers of a
        converted image do not follow it.
    type: str
    choices: [keep, oci]
    default: keep
    version_added: 0.1.0
  sign_key:
    description:
      - Sign every selected tag's image at the destination with this private key (PEM text or a
        file path, as M(drc.registry.registry_sign)'s
        O(drc.registry.registry_sign#module:private_key)), for the destination tag's name, as a
        cosign signature at its C(.sig) tag, beside the signatures that travelled with it.
      - Tags already in sync are signed too (a signature by this key already there is left
        alone), so each costs the reads that find its signatures (the referrers API, the tag
        list, the C(.sig) manifest and its payloads) on top of the two C(HEAD)s.
      - This signs what the source holds, unverified; verify it first
        (M(drc.registry.registry_signature_verify)) where that matters.
      - Needs the Python library C(cryptography) (and C(PyNaCl) for cosign's encrypted keys) on
        the host the module runs on.
    type: str
    version_added: 0.1.0
  sign_key_passphrase:
    description:
      - The passphrase of an encrypted O(sign_key).
    type: str
    version_added: 0.1.0
  blob_cache:
    description:
      - A file remembering, across runs, which repository of each destination registry holds
        each blob, so that a later run mounts it instead of uploading it (as C(skopeo)'s blob-info
        cache does). It is on the host the module runs on.
      - By default C($XDG_CACHE_HOME/drc.registry/blob-locations.json) (C(~/.cache) when
        E(XDG_CACHE_HOME) is not set). V(false) turns it off (the run still remembers
        within itself).
      - The file is bounded (20000 blobs), written to a temporary file and renamed into place,
        ignored when unreadable, and never trusted - a wrong entry costs one declined mount.
    type: raw
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
  - drc.registry.registry.sides
attributes:
  check_mode:
    support: full
    description: Lists the tags, asks both sides for their digests and reports RV(images) with
      the action C(would copy), and C(changed) when a real run would write; writes nothing (nor
      the blob cache).
  diff_mode:
    support: full
    description: Shows each destination repository's tag set before and after.
notes:
  - The connection options (O(username), O(ca_path), ...) apply to both registries unless
    O(src_auth) or O(dest_auth) override them; plain task-level credentials are refused when the
    two registries differ and neither side has its own.
  - Each image copied carries its referrers (signatures, SBOMs, attestations), as
    M(drc.registry.registry_copy) does with its default O(drc.registry.registry_copy#module:referrers=true).
    Referrer tags (cosign's C(sha256-<hex>.sig), C(.att), C(.sbom), the OCI fallback tag
    C(sha256-<hex>)) are never selected as tags of their own. A tag already in sync is not
    looked at further, so a signature added at the source after its image was synced is not
    carried by a later sync (copy that image with M(drc.registry.registry_copy)).
  - To spread a large sync over several hosts, give each host a slice of the repositories (see
    C(docs/sync.md) in the collection).
  - The C(drc.registry.mirror_images) role runs this module for its C(mirror_images_repositories).
seealso:
  - module: drc.registry.registry_copy
  - module: drc.registry.registry_tags_info
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Every 1.x release of two repositories, the newest five, never release candidates
  drc.registry.registry_sync:
    src_registry: quay.io
    dest: registry.example.com/mirror
    repositories:
      - name: prometheus/node-exporter
        tags:
          semver: ">=1.0 <2"
          exclude: ["-rc"]
          latest: 5
      - name: prometheus/prometheus
        rename: monitoring/prometheus
        tags:
          match: 'v2\.5[0-9]\.[0-9]+'
          platforms: [linux/amd64, linux/arm64]
    dest_auth:
      username: mirror
      password: "{{ vault_mirror_password }}"
  register: synced

- name: The three newest tags by build time, every tag of another repository
  drc.registry.registry_sync:
    src_registry: registry.internal:5000
    dest: backup.internal:5000
    repositories:
      - name: team/app
        tags:
          latest: 3
      - name: team/base
    blob_cache: /var/cache/mirror/blob-locations.json
"""

RETURN = r"""
images:
  description:
    - One entry per selected tag, repository by repository, with C(src) and C(dest) (references
      with the tag), C(digest) (the destination's digest once synced), C(source_digest) (the
      source's, different with O(format=oci) or platforms) and C(action), one of C(copied),
      C(already present) or C(would copy) (check mode). Copied images carry their blob counts.
    - With O(sign_key), each also has C(signatures) (as
      RV(drc.registry.registry_sign#module:signatures)) and C(signed) (a signature was written,
      or in check mode would be).
  returned: always
  type: list
  elements: dict
  sample:
    - src: quay.io/prometheus/node-exporter:v1.8.2
      dest: registry.example.com/mirror/prometheus/node-exporter:v1.8.2
      digest: sha256:4cb2b9019f1a4e25b7b1a9ab0b0b7dba2a6e21b0e5e2f3c8ff1b5dfb2c1f4b1e
      action: copied
copied:
  description: How many tags were copied.
  returned: always
  type: int
already_present:
  description: How many tags the destination already held with the source's digest.
  returned: always
  type: int
would_copy:
  description: How many tags would be copied (check mode).
  returned: always
  type: int
failed_count:
  description: How many images (or repositories whose tags could not be listed) failed.
  returned: always
  type: int
failed_images:
  description:
    - The images that failed, each with C(reference) (the source tag, or the repository when its
      tags could not be listed) and C(message). The task fails when this is not empty.
  returned: always
  type: list
  elements: dict
bytes_uploaded:
  description: Bytes of blobs sent to the destination.
  returned: always
  type: int
blobs_uploaded:
  description: Blobs sent to the destination.
  returned: always
  type: int
blobs_mounted:
  description: Blobs mounted from another repository of the destination registry.
  returned: always
  type: int
blobs_skipped:
  description: Blobs the destination repositories already had.
  returned: always
  type: int
manifests_pushed:
  description: Manifests and indexes written.
  returned: always
  type: int
referrers_copied:
  description: Referrers (signatures, SBOMs, attestations) copied with the images.
  returned: always
  type: int
signed:
  description: With O(sign_key), how many tags got a signature by that key (check mode - would get).
  returned: with O(sign_key)
  type: int
  version_added: 0.1.0
throttled:
  description:
    - Per registry that answered C(429 Too Many Requests) during the run, how many times
      (C(rate_limited)) and the lowest cap of requests at once it was given
      (C(lowest_concurrency)).
  returned: when a registry answered 429
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.copy_options import side_argspec
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.sync import DEFAULT_SYNC_CONCURRENCY
from ansible_collections.drc.registry.plugins.module_utils._registry.sync_task import run_sync_task

TAG_RULES = dict(match=dict(type="str"), exclude=dict(type="list", elements="str"),
                 semver=dict(type="str"), latest=dict(type="int"),
                 platforms=dict(type="list", elements="str"))


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            src_registry=dict(type="str", required=True),
            dest=dict(type="str", required=True),
            repositories=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True), rename=dict(type="str"),
                tags=dict(type="dict", options=TAG_RULES))),
            src_auth=side_argspec(),
            dest_auth=side_argspec(),
            concurrency=dict(type="int", default=DEFAULT_SYNC_CONCURRENCY),
            blob_cache=dict(type="raw"),
            format=dict(type="str", default="keep", choices=["keep", "oci"]),
            sign_key=dict(type="str", no_log=True),
            sign_key_passphrase=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    try:
        result = run_sync_task(module.params, module.debug, module.warn, adapter.connections.append,
                               check_mode=module.check_mode, diff=module._diff)
    except (RegistryError, OSError) as exc:
        if isinstance(exc, OSError):
            exc = RegistryError("syncing failed: %s" % exc)
        adapter.fail(exc)
    if result["failed_images"]:
        adapter.fail(RegistryError("%d of %d images failed to sync: %s" % (
            result["failed_count"], result["failed_count"] + len(result["images"]),
            "; ".join("%s: %s" % (f["reference"], f["message"]) for f in result["failed_images"][:5]))),
            **result)
    adapter.exit(**result)


if __name__ == "__main__":
    main()
