#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_copy
short_description: Copy an image between registries, OCI image layouts and Docker archives
version_added: 0.1.0
description:
  - Copies the image or index that O(src) names to O(dest), keeping every digest. The manifests
    are sent byte for byte, children before the index, and the destination registry must report
    the same digest.
  - Blobs the destination already has are skipped (C(HEAD) first). Within one registry they are
    mounted from the source repository; a registry that declines the mount gets an upload.
  - Blobs are streamed from the source to the destination, several at once, hashed on the way
    (the source is read and hashed on a second thread while the upload sends), and the upload is
    completed only once the bytes hash to the blob's digest. A blob goes in one C(PATCH) request
    (or one C(PUT) up to 4 MiB), or in O(chunk_size) pieces; an upload that fails is resumed
    from the byte range the registry reports. Memory use is a few MiB per blob in flight,
    whatever the blob's size.
  - Either side may be an OCI image layout as C(skopeo) writes it, C(oci:PATH[:TAG]) (a directory)
    or C(oci-archive:PATH[:TAG]) (the same as a tar file). Files are written under temporary
    names and renamed once verified.
  - Either side may also be a Docker archive, C(docker-archive:PATH[:NAME:TAG]), the tar that
    C(docker save) writes and C(docker load) and C(podman load) read, for hosts without a
    registry. It holds single-platform images only.
  - Other transports of C(skopeo) (C(dir:), C(docker-daemon:), C(containers-storage:), ...) are
    refused with a message naming them.
  - With O(format=oci), Docker-format images are converted to OCI media types, as
    C(skopeo copy --format oci) does, for tools that read only OCI types from a layout.
  - Signatures, SBOMs and attestations travel with the image (O(referrers)), the referrers of
    every manifest copied, found through the OCI referrers API, the OCI fallback tag
    C(sha256-<hex>) and cosign's C(.sig), C(.att) and C(.sbom) tags, and theirs in turn.
  - The task reports no change, and sends nothing, when O(dest) already holds the manifest and
    every referrer.
requirements:
  - requests
options:
  src:
    description:
      - What to copy. An image reference (V(quay.io/org/app:1.2), V(localhost:5000/app@sha256:...),
        optionally prefixed with V(docker://)), an OCI image layout, V(oci:PATH[:TAG]) or
        V(oci-archive:PATH[:TAG]), or a Docker archive, V(docker-archive:PATH[:NAME:TAG]).
      - A layout without a tag, or a Docker archive without a name, must hold exactly one image.
      - A Docker archive is read in place (a compressed one is decompressed into a temporary
        directory in the system's first, as an C(oci-archive:) is unpacked). Its image has no registry manifest; the copy makes one (Docker schema 2, as
        C(skopeo) does) from the config and the layers, so its digest is the copy's own.
      - Required unless O(images) is given.
    type: str
  dest:
    description:
      - Where to copy it, in the same forms as O(src). A reference without tag means V(latest);
        a reference by digest must name the digest the copy has.
      - A layout directory is created if needed, with any missing parent directories (an
        archive's directory must exist); in an existing layout or archive, other tags are kept
        and O(dest)'s tag is replaced.
      - A Docker archive gets the image under C(NAME:TAG) (untagged without a name), beside the other
        images it holds (one that had this name loses it). An index must be narrowed to one
        platform with O(platforms). The archive is written whole to a temporary file beside it
        and renamed into place.
      - Required unless O(images) is given.
    type: str
  images:
    description:
      - Several copies in one task, instead of O(src) and O(dest). Each is done as O(src) to O(dest)
        would be, with the task's O(platforms), O(src_auth), O(dest_auth) and connection options.
      - The whole list shares one connection per side, registry and credentials, and one token
        for every repository of the list; several images are copied at once, O(concurrency)
        blobs in flight in all. Copies that involve an OCI layout run one after the other.
      - Two entries may not name the same O(images[].dest).
      - The result then has RV(images) and the totals of the counts, not RV(digest).
      - Every entry is tried, whatever happened to the others. When any fails, the task fails,
        with RV(images) for every entry (what was written stays written, and C(changed) says so)
        and RV(failed_images).
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      src:
        description: What to copy, as O(src).
        type: str
        required: true
      dest:
        description: Where to copy it, as O(dest).
        type: str
        required: true
  platforms:
    description:
      - Copy only these platforms of an index, C(os/architecture[/variant]) each, for example
        V(linux/amd64). The destination then gets a new index holding just those children, whose
        digest differs from the source index's.
      - For a single-platform image, its platform must be one of these; it is copied unchanged.
      - By default every platform of an index is copied and the index keeps its digest.
      - A signature, SBOM or attestation (a manifest with an C(artifactType), a C(subject), a
        config that is not an image config, or a config without os and architecture) is never
        filtered by platform; it is copied as it is.
    type: list
    elements: str
  chunk_size:
    description:
      - Send blobs larger than this (bytes) in C(PATCH) requests of at most this size each, for
        registries or proxies that limit the size of a request body.
      - By default each blob goes in one request, streamed from the source, as C(skopeo) and
        C(docker push) send it. Either way no piece is held in memory.
    type: int
  concurrency:
    description:
      - How many blobs are copied at once.
    type: int
    default: 4
  blob_cache:
    description:
      - A file remembering, across runs, which repository of each destination registry holds
        each blob, so that a blob the destination registry holds in another repository is mounted
        from there instead of uploaded (as C(skopeo)'s blob-info cache does). The same file as
        M(drc.registry.registry_sync)'s O(drc.registry.registry_sync#module:blob_cache).
      - By default C($XDG_CACHE_HOME/drc.registry/blob-locations.json) (C(~/.cache) when
        E(XDG_CACHE_HOME) is not set) on the host the module runs on. V(false) turns it off.
      - The file is bounded, written atomically and never trusted; a wrong entry costs one
        declined mount.
    type: raw
    version_added: 0.1.0
  sign_key:
    description:
      - Sign what was copied at O(dest), in the same run, with this private key (PEM text or a
        file path), as M(drc.registry.registry_sign) does with its O(drc.registry.registry_sign#module:private_key),
        for the name of O(dest); a signature by this key already there is left alone.
      - Only with registries as destinations (O(dest), or every O(images[].dest)). In the
        O(images) form each image is signed at its own destination and its entry of RV(images)
        has C(signatures); the images are then copied one after another (their blobs still
        O(concurrency) at once), so that no copy merging its referrers into a C(.sig) races
        another image's signature there.
      - This signs what the source holds, unverified; verify it first
        (M(drc.registry.registry_signature_verify)) where that matters.
    type: str
    version_added: 0.1.0
  sign_key_passphrase:
    description:
      - The passphrase of an encrypted O(sign_key).
    type: str
    version_added: 0.1.0
  referrers:
    description:
      - Copy the referrers of every manifest copied (the index and each child), signatures, SBOMs
        and attestations, and their own referrers (a signature of an SBOM), at most 8 levels
        deep, each with all its blobs.
      - They are found, on a registry, through the OCI referrers API, then the OCI fallback tag
        C(sha256-<hex>) (an index of referrers), then cosign's tags C(sha256-<hex>.sig),
        C(.att) and C(.sbom) (one tag listing per repository shows which exist); in an OCI
        layout, as C(index.json) entries with a C(subject) and tags of those names.
      - They are written as the destination supports. Cosign's tags as tags of the same name; a
        manifest with a C(subject) is pushed and, unless the registry answers with C(OCI-Subject)
        (it has the referrers API), added to the subject's fallback index (read, merged with every
        entry already there, written, read again; a concurrent writer that dropped ours is
        reported as a warning); in an OCI layout, as an C(index.json) entry.
      - A listed referrer whose C(subject) is another manifest is not copied (a warning says so).
        Nothing is written before every referrer has been read from O(src).
      - BuildKit attestation manifests are children of the image's index and are always copied
        with it (with O(platforms), those of the kept children).
      - With O(platforms) and an index, the copy is a new index; the referrers of the kept
        children are copied, those of the source index are listed in RV(referrers_skipped).
    type: bool
    default: true
  format:
    description:
      - V(keep) copies the manifests byte for byte, every digest kept.
      - V(oci) converts Docker media types to OCI ones, as C(skopeo copy --format oci) does; a
        Docker manifest list becomes an OCI index, a Docker image manifest an OCI image manifest,
        the config and layer descriptors get the OCI types (a gzip layer
        C(application/vnd.oci.image.layer.v1.tar+gzip), an uncompressed one
        C(application/vnd.oci.image.layer.v1.tar), a foreign one the non-distributable type).
        The config and layer blobs are unchanged; converted manifests have new digests,
        RV(digest) is the new one and RV(source_digest) the source's, and RV(converted) lists
        them all. Manifests already in OCI types are kept as they are.
      - Referrers of the source (signatures, SBOMs, attestations) name the source digests and
        cannot describe converted manifests; those of converted manifests are not copied but
        listed in RV(referrers_skipped) with the reason.
    type: str
    choices: [keep, oci]
    default: keep
    version_added: 0.1.0
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
  - drc.registry.registry.sides
attributes:
  check_mode:
    support: full
    description: Reads the source and asks the destination what it holds; writes nothing anywhere.
  diff_mode:
    support: full
    description: Shows the digest O(dest) names before and after.
notes:
  - The connection options (O(username), O(ca_path), ...) apply to both registries unless
    O(src_auth) or O(dest_auth) override them.
  - Docker schema 1 manifests are not copied.
  - An C(oci-archive:) source is unpacked into a temporary directory first (C(.drc-tmp-unpack-*) in
    the system's, so it needs room for the archive; one a killed run left is removed by the next
    run that unpacks an archive); a C(oci-archive:) destination is assembled in a temporary
    directory beside it and renamed into place.
  - Two tasks writing the same OCI layout at the same time are not supported.
  - Docker-format images (Docker manifest lists and schema 2 manifests) are written to an OCI
    layout as they are, digest kept, unless O(format=oci). C(skopeo) 1.9, C(podman) 4.3 and
    C(umoci) 0.4.7 find only OCI-format images by tag in a layout; use O(format=oci) for them.
  - A Docker archive is read under the same rules as an OCI archive; at most 100000 members, no
    sparse member, every name inside the archive, the members it uses regular files (links are
    never followed), a compressed archive decompressed to at most 32 times its size.
  - Layers that registries do not distribute (foreign or non-distributable layers with C(urls))
    are referenced, not copied, as skopeo does by default.
seealso:
  - module: drc.registry.registry_referrers_info
  - module: drc.registry.registry_signature_verify
    description: Verifies on the destination the signatures O(referrers) copied or O(sign_key) made.
  - module: drc.registry.registry_sign
  - module: drc.registry.registry_tag
  - module: drc.registry.registry_manifest_info
  - plugin: drc.registry.registry_digest
    plugin_type: lookup
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Mirror a multi-platform image into a private registry
  drc.registry.registry_copy:
    src: docker.io/library/alpine:3.20
    dest: registry.example.com/mirror/alpine:3.20
    dest_auth:
      username: mirror
      password: "{{ vault_mirror_password }}"

- name: Only the amd64 and arm64 images (a new index, with its own digest)
  drc.registry.registry_copy:
    src: quay.io/org/app:1.4
    dest: registry.example.com/org/app:1.4
    platforms:
      - linux/amd64
      - linux/arm64

- name: Mirror several images in one task (one connection and one token per registry)
  drc.registry.registry_copy:
    images:
      - src: docker.io/library/alpine:3.20
        dest: registry.example.com/mirror/library/alpine:3.20
      - src: quay.io/prometheus/node-exporter:v1.8.2
        dest: registry.example.com/mirror/prometheus/node-exporter:v1.8.2
    # Sources on two registries: credentials by host in auths (src_auth would go to both)
    auths:
      docker.io:
        username: hub-user
        password: "{{ vault_hub_token }}"
      registry.example.com:
        username: mirror
        password: "{{ vault_mirror_password }}"
  register: mirrored

- name: Export to an OCI archive that skopeo and podman can load
  drc.registry.registry_copy:
    src: registry.example.com/org/app:1.4
    dest: oci-archive:/srv/images/app.tar:1.4

- name: A layout that skopeo, podman and umoci read by tag (Docker types converted to OCI)
  drc.registry.registry_copy:
    src: docker.io/library/alpine:3.20
    dest: oci:/srv/layouts/alpine:3.20
    platforms:
      - linux/amd64
    format: oci

- name: Export one platform to a docker save archive for a host without a registry
  drc.registry.registry_copy:
    src: registry.example.com/org/app:1.4
    dest: docker-archive:/srv/images/app.tar:org/app:1.4
    platforms:
      - linux/amd64

- name: Import from an OCI layout directory
  drc.registry.registry_copy:
    src: oci:/srv/layouts/app:1.4
    dest: registry.example.com/org/app:1.4
"""

RETURN = r"""
digest:
  description: The digest of the manifest or index O(dest) holds.
  returned: success, without O(images)
  type: str
  sample: sha256:28e0e25261dccaeaf5f7fa93db0a5eef69aae598b08adbbeb9bbbee23dd76ab3
media_type:
  description: Its media type.
  returned: success, without O(images)
  type: str
  sample: application/vnd.oci.image.index.v1+json
source_digest:
  description:
    - The digest of the source's manifest or index; with O(format=oci) it differs from RV(digest)
      when the copy was converted (and with O(platforms), from the source index's digest).
  returned: success, without O(images)
  type: str
  version_added: 0.1.0
converted:
  description:
    - With O(format=oci), each manifest that was converted, children first, the top last, as
      C(source_digest) and C(digest) (the new one).
  returned: success, with O(format=oci), without O(images)
  type: list
  elements: dict
  version_added: 0.1.0
failed_images:
  description:
    - With O(images), the entries that failed, each with C(index), C(src), C(dest) and C(msg).
      When it is not empty the task fails.
  returned: with O(images)
  type: list
  elements: dict
  version_added: 0.1.0
platforms:
  description: The platforms of the index copied.
  returned: when the copy is an index
  type: list
  elements: str
  sample: ["linux/amd64", "linux/arm64/v8"]
src:
  description: O(src), normalised.
  returned: success, without O(images)
  type: str
dest:
  description: O(dest), normalised.
  returned: success, without O(images)
  type: str
images:
  description:
    - With O(images), one result per entry, in order, each with the keys a single copy returns
      (C(src), C(dest), C(changed), C(digest), C(source_digest), C(media_type), C(platforms) for
      an index, the counts, C(referrers), C(referrers_copied), C(referrers_skipped) and, with
      O(sign_key), C(signatures)), C(copied) (this entry wrote, its signature included) and
      C(failed); a failed entry has C(index), C(src), C(dest),
      C(failed=true), C(copied=false) and C(msg) instead.
  returned: with O(images)
  type: list
  elements: dict
  version_added: 0.1.0
copied:
  description: With O(images), how many entries changed their destination.
  returned: with O(images)
  type: int
  version_added: 0.1.0
blobs_uploaded:
  description: Blobs sent to O(dest) (for a layout, written); with O(images), the total.
  returned: success
  type: int
blobs_mounted:
  description: Blobs mounted from the source repository of the same registry.
  returned: success
  type: int
blobs_skipped:
  description: Blobs O(dest) already had.
  returned: success
  type: int
bytes_uploaded:
  description: Bytes of blobs sent (chunks resent after a failure count again).
  returned: success
  type: int
manifests_pushed:
  description: Manifests and indexes of the image written to O(dest) (referrers not counted).
  returned: success
  type: int
signatures:
  description:
    - With O(sign_key), the signature at O(dest), as RV(drc.registry.registry_sign#module:signatures).
    - In the O(images) form, each entry of RV(images) has its own.
  returned: success, with O(sign_key) and O(src)/O(dest)
  type: list
  elements: dict
  version_added: 0.1.0
referrers:
  description:
    - The digests of the referrers of the image (every level) that O(dest) now holds, copied or
      already there. With O(images), in each entry of RV(images).
  returned: success, without O(images)
  type: list
  elements: str
  version_added: 0.1.0
referrers_copied:
  description: How many referrers were written to O(dest) (would be, in check mode); with
    O(images), the total.
  returned: success
  type: int
  version_added: 0.1.0
referrers_skipped:
  description:
    - Referrers not copied, with the reason (C(digest), C(found_by), C(reason)), those of a
      source index that O(platforms) replaced by a new index, those of manifests that
      O(format=oci) converted, every referrer when O(dest) is a Docker archive (it holds images
      only), and a cosign tag the destination holds as something other than a manifest of layers
      (left as it is). A cosign tag the destination holds with other layers is merged into, never
      overwritten. With O(images), in each entry of RV(images).
  returned: success, without O(images)
  type: list
  elements: dict
  version_added: 0.1.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec, connection_options
from ansible_collections.drc.registry.plugins.module_utils._registry.blob_cache import (
    BlobLocations, cache_path_option)
from ansible_collections.drc.registry.plugins.module_utils._registry.copy import (
    DEFAULT_CONCURRENCY, copy_images)
from ansible_collections.drc.registry.plugins.module_utils._registry.copy_list import (
    SharedConnections, announce, involves_files, list_result, parse_pairs, store_opener)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.copy_options import (
    check_copy_options, check_task_credentials, side_argspec, side_options)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_format import FORMATS
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import (
    is_registry, location_display, parse_location)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            src=dict(type="str"),
            dest=dict(type="str"),
            images=dict(type="list", elements="dict", options=dict(
                src=dict(type="str", required=True), dest=dict(type="str", required=True))),
            src_auth=side_argspec(),
            dest_auth=side_argspec(),
            platforms=dict(type="list", elements="str"),
            chunk_size=dict(type="int"),
            concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
            blob_cache=dict(type="raw"),
            sign_key=dict(type="str", no_log=True),
            sign_key_passphrase=dict(type="str", no_log=True),
            referrers=dict(type="bool", default=True),
            format=dict(type="str", default="keep", choices=list(FORMATS)),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("images", "src"), ("images", "dest")],
        required_one_of=[("images", "src")],
        required_together=[("src", "dest")],
    )
    adapter = RegistryModule(module)
    params = module.params
    single = params["images"] is None  # src and dest: a list of one, reported as one copy

    def make_options(reference, side):
        return connection_options(reference, side_options(params, params[side + "_auth"]))

    connections = SharedConnections(make_options, adapter.open)  # closed by exit / fail
    try:
        platforms = check_copy_options(params["chunk_size"], params["concurrency"], params["platforms"])
        if single:
            pairs = [(parse_location(params["src"]), parse_location(params["dest"]))]
        else:
            pairs = parse_pairs(params["images"])
        check_task_credentials(params, [(side, location) for pair in pairs
                                        for side, location in zip(("src", "dest"), pair)])
        locations = BlobLocations(cache_path_option(params["blob_cache"]), warn=module.warn)
        after = None
        if params["sign_key"]:  # signing (and cryptography) loaded only when asked for
            after = signer(params, [dest for _src, dest in pairs], module.check_mode)
        if not single:
            announce(pairs, connections)
        outcomes = copy_images(pairs, store_opener(connections, locations), platforms,
                               chunk_size=params["chunk_size"], concurrency=params["concurrency"],
                               check_mode=module.check_mode, referrers=params["referrers"],
                               warn=module.warn, image_format=params["format"],
                               # with sign_key, one image after another: a copy merging its referrers
                               # into a .sig would race with another entry's signature there
                               serial=involves_files(pairs) or after is not None, after=after)
        if any(outcome.get("changed") for outcome in outcomes) and not module.check_mode:
            locations.save()
    except (RegistryError, OSError) as exc:
        if isinstance(exc, OSError):  # a layout's file system
            exc = RegistryError("copying %s failed: %s" % (
                "%s to %s" % (params["src"], params["dest"]) if single else "images", exc))
        adapter.fail(exc)
    if single:
        exit_single(module, adapter, outcomes[0])
    else:
        exit_list(module, adapter, outcomes)


def signer(params: dict, dest_locations: list, check_mode: bool):
    """registry_copy's ``sign_key``: the key loaded and checked (every destination a registry)
    before anything is copied; each image signed at its destination once its copy is done."""
    from ansible_collections.drc.registry.plugins.module_utils._registry import signing
    key = signing.copy_signing_key(params["sign_key"], params["sign_key_passphrase"],
                                   [(is_registry(dest), location_display(dest)) for dest in dest_locations])

    def sign(source, dest, result: dict) -> None:
        signed = signing.sign_copy(dest, key, result, check_mode)
        result.update(signatures=signed["signatures"], changed=result["changed"] or signed["changed"])
    return sign


def exit_single(module, adapter, result: dict) -> None:
    params = module.params
    if "error" in result:
        exc = result["error"]
        if isinstance(exc, OSError):  # a layout's file system
            exc = RegistryError("copying %s to %s failed: %s" % (params["src"], params["dest"], exc))
        adapter.fail(exc)
    before = result.pop("before_digest")
    if module._diff:
        result["diff"] = {"before": {"digest": before}, "after": {"digest": result["digest"]}}
    adapter.exit(**result)


def exit_list(module, adapter, outcomes: list) -> None:
    """The O(images) form: every entry's result; the task fails when any entry failed."""
    params = module.params
    result = list_result(params["images"], outcomes)
    before = [image.pop("before_digest", None) for image in result["images"]]
    if result["failed_images"]:
        # What was written stays written: the task fails, saying what was copied and what failed.
        adapter.fail(RegistryError("%d of %d images failed: %s" % (
            len(result["failed_images"]), len(params["images"]),
            "; ".join(f["msg"] for f in result["failed_images"]))), **result)
    if module._diff:
        result["diff"] = {"before": {i["dest"]: b for i, b in zip(result["images"], before)},
                          "after": {i["dest"]: i["digest"] for i in result["images"]}}
    adapter.exit(**result)


if __name__ == "__main__":
    main()
