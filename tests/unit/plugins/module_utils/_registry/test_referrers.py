"""Referrers' pure pieces, table-driven: tag names, listing entries, filters, artifacts and
BuildKit attestations under ``platforms``."""

from __future__ import annotations

import json

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.copy import (
    filter_platforms, is_artifact)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, parse_platform)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import OciLayout
from ansible_collections.drc.registry.plugins.module_utils._registry.referrers import (
    LayoutReferrers, artifact_type_of, entry_from_descriptor, fallback_tag, keep)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
D1, D2, D3, D4 = ("sha256:" + c * 64 for c in "1234")


def manifest(**fields) -> Manifest:
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D4, "size": 2}}
    body.update(fields)
    return Manifest(json.dumps(body).encode(), OCI_MANIFEST)


@pytest.mark.parametrize("digest, tag", [
    (D1, "sha256-" + "1" * 64),
    ("sha512:" + "a" * 128, "sha512-" + "a" * 128),
])
def test_fallback_tag(digest, tag):
    assert fallback_tag(digest) == tag


@pytest.mark.parametrize("descriptor, problem", [
    ({"digest": "sha256:12", "size": 1}, "valid digest"),
    ({"digest": D1, "size": -1}, "valid digest and size"),
    ({"digest": D1, "size": "1"}, "valid digest and size"),
    ({"digest": D1, "size": True}, "valid digest and size"),
    ("not an object", "not a JSON object"),
])
def test_listing_entries_need_a_digest_and_a_size(descriptor, problem):
    with pytest.raises(RegistryError, match=problem):
        entry_from_descriptor(descriptor, "api", "the listing")


def test_listing_entries_keep_what_the_contract_names():
    entry = entry_from_descriptor({"digest": D1, "size": 10, "mediaType": OCI_MANIFEST,
                                   "artifactType": "application/spdx+json", "annotations": {"a": "b"},
                                   "extra": "dropped"}, "fallback_tag", "the listing")
    assert entry == {"digest": D1, "size": 10, "media_type": OCI_MANIFEST,
                     "artifact_type": "application/spdx+json", "annotations": {"a": "b"},
                     "found_by": "fallback_tag"}


@pytest.mark.parametrize("artifact_type, expected", [
    (None, [(D1, None), (D2, None), (D1, "t.sig")]),
    ("application/spdx+json", [(D1, None)]),
    ("nothing/else", []),
])
def test_keep_filters_and_drops_repeats(artifact_type, expected):
    entries = [{"digest": D1, "artifact_type": "application/spdx+json"},
               {"digest": D2, "artifact_type": "other"},
               {"digest": D1, "artifact_type": "application/spdx+json"},  # found twice (api, fallback)
               {"digest": D1, "artifact_type": "x", "tag": "t.sig"}]
    assert [(e["digest"], e.get("tag")) for e in keep(entries, artifact_type)] == expected


@pytest.mark.parametrize("fields, expected", [
    ({"artifactType": "application/spdx+json"}, "application/spdx+json"),
    ({}, "application/vnd.oci.image.config.v1+json"),  # the spec's rule: the config's media type
])
def test_artifact_type_of(fields, expected):
    assert artifact_type_of(manifest(**fields)) == expected


@pytest.mark.parametrize("fields, artifact", [
    ({}, False),
    ({"artifactType": "application/spdx+json"}, True),
    ({"subject": {"mediaType": OCI_MANIFEST, "digest": D1, "size": 1}}, True),
    ({"config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": D4, "size": 2}}, True),
    ({"config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D4, "size": 2}}, False),
])
def test_is_artifact(fields, artifact):
    assert is_artifact(manifest(**fields)) is artifact


def test_platforms_keep_the_attestations_of_kept_children_only():
    attestation = {"vnd.docker.reference.type": "attestation-manifest"}
    index = Manifest(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": D1, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": D2, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": OCI_MANIFEST, "digest": D3, "size": 1, "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": dict(attestation, **{"vnd.docker.reference.digest": D1})},
        {"mediaType": OCI_MANIFEST, "digest": D4, "size": 1, "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": dict(attestation, **{"vnd.docker.reference.digest": D2})},
    ]}).encode(), OCI_INDEX)
    picked = json.loads(filter_platforms(index, [parse_platform("linux/amd64")]).raw)
    assert [m["digest"] for m in picked["manifests"]] == [D1, D3]


def test_a_layout_lists_its_referrers_by_subject_and_by_cosign_tag(tmp_path):
    layout = OciLayout(str(tmp_path))
    layout.prepare()
    sbom = manifest(artifactType="application/spdx+json", subject={"mediaType": OCI_MANIFEST, "digest": D1, "size": 1})
    other = manifest(artifactType="application/spdx+json", subject={"mediaType": OCI_MANIFEST, "digest": D2, "size": 1})
    signature = manifest(annotations={"kind": "sig"})
    for item in (sbom, other, signature):
        layout.write_blob_bytes(item.digest, item.raw)
    layout.add_entry({"mediaType": OCI_MANIFEST, "digest": sbom.digest, "size": sbom.size})
    layout.add_entry({"mediaType": OCI_MANIFEST, "digest": other.digest, "size": other.size})
    assert layout.add_entry({"mediaType": OCI_MANIFEST, "digest": other.digest, "size": other.size}) is False
    layout.set_tag(fallback_tag(D1) + ".sig", {"mediaType": OCI_MANIFEST, "digest": signature.digest,
                                               "size": signature.size})
    found = LayoutReferrers(layout).referrers(D1)
    assert [(e["digest"], e["found_by"], e.get("tag")) for e in found] == [
        (sbom.digest, "layout_index", None), (signature.digest, "cosign_tag", fallback_tag(D1) + ".sig")]
    assert LayoutReferrers(layout).referrers(D1, "application/spdx+json") == found[:1]
