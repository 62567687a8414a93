"""Media-type detection, digests, and platform matching."""

from __future__ import annotations

import json

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, ManifestError, normalise_platform, parse_platform, platform_matches, select_platform)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import sha256_digest

IMAGE = {"schemaVersion": 2, "config": {"digest": "sha256:" + "1" * 64, "size": 1}, "layers": []}
INDEX = {"schemaVersion": 2, "manifests": [
    {"digest": "sha256:" + "a" * 64, "mediaType": mt.OCI_MANIFEST, "size": 1,
     "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:" + "b" * 64, "mediaType": mt.OCI_MANIFEST, "size": 1,
     "platform": {"os": "linux", "architecture": "arm64"}},
    {"digest": "sha256:" + "c" * 64, "mediaType": mt.OCI_MANIFEST, "size": 1,
     "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
    {"digest": "sha256:" + "d" * 64, "mediaType": mt.OCI_MANIFEST, "size": 1,
     "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}},
]}


@pytest.mark.parametrize("content_type, body, expected", [
    (mt.OCI_INDEX, INDEX, mt.OCI_INDEX),
    ("application/json", INDEX, mt.OCI_INDEX),           # no mediaType in body: structure
    (None, dict(INDEX, mediaType=mt.DOCKER_MANIFEST_LIST), mt.DOCKER_MANIFEST_LIST),
    (mt.DOCKER_MANIFEST + "; charset=utf-8", IMAGE, mt.DOCKER_MANIFEST),
    ("text/plain", IMAGE, mt.OCI_MANIFEST),
    (mt.OCI_INDEX, dict(IMAGE, mediaType=mt.OCI_MANIFEST), mt.OCI_INDEX),  # header first
    ("", {"schemaVersion": 1, "fsLayers": [], "signatures": []}, mt.DOCKER_SCHEMA1_SIGNED),
    ("", {"schemaVersion": 1, "fsLayers": []}, mt.DOCKER_SCHEMA1),
])
def test_media_type_detection(content_type, body, expected):
    raw = json.dumps(body).encode()
    manifest = Manifest(raw, content_type)
    assert manifest.media_type == expected
    assert manifest.digest == sha256_digest(raw)
    assert manifest.size == len(raw)


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "not valid JSON"), (b"[1]", "not a JSON object"), (b'{"a": 1}', "not an image manifest"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_bad_manifests(raw, reason):
    with pytest.raises(ManifestError, match=reason):
        Manifest(raw, "application/json")


def test_accept_lists_every_type_lists_first():
    parts = [p.strip() for p in mt.MANIFEST_ACCEPT.split(",")]
    assert parts[:2] == [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST]
    assert parts[2:4] == [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST]
    assert parts[4].startswith(mt.DOCKER_SCHEMA1_SIGNED) and parts[5].startswith(mt.DOCKER_SCHEMA1)


@pytest.mark.parametrize("text, expected", [
    ("linux/amd64", ("linux", "amd64", None)),
    ("linux/x86_64", ("linux", "amd64", None)),
    ("linux/aarch64", ("linux", "arm64", None)),
    ("linux/arm64/v8", ("linux", "arm64", None)),   # containerd's normal form: v8 is implied
    ("linux/arm64/8", ("linux", "arm64", None)),
    ("linux/arm64/v8.2", ("linux", "arm64", "v8.2")),
    ("Linux/ARM/v6", ("linux", "arm", "v6")),
    ("linux/arm", ("linux", "arm", "v7")),
    ("linux/armel", ("linux", "arm", "v6")),
])
def test_parse_platform(text, expected):
    parsed = parse_platform(text)
    assert (parsed["os"], parsed["architecture"], parsed["variant"]) == expected


@pytest.mark.parametrize("text", ["", "linux", "linux/", "/amd64", "a/b/c/d", None, "linux//v7"])
def test_bad_platform(text):
    with pytest.raises(ValueError, match="invalid platform"):
        parse_platform(text)


def test_normalise_defaults_variants():
    assert normalise_platform({"os": "linux", "architecture": "arm64"})["variant"] == "v8"
    assert normalise_platform({"os": "linux", "architecture": "arm"})["variant"] == "v7"
    assert normalise_platform({"os": "linux", "architecture": "amd64"})["variant"] is None
    assert normalise_platform({"os": "windows", "architecture": "amd64", "os.version": "10"})["os_version"] == "10"


@pytest.mark.parametrize("wanted, digest_char", [
    ("linux/amd64", "a"), ("linux/x86_64", "a"), ("linux/arm64", "b"), ("linux/arm64/v8", "b"),
    ("linux/aarch64", "b"), ("linux/arm", "c"), ("linux/arm/v7", "c"), ("windows/amd64", "d"),
])
def test_select_platform(wanted, digest_char):
    index = Manifest(json.dumps(INDEX).encode(), mt.OCI_INDEX)
    assert select_platform(index, parse_platform(wanted))["digest"] == "sha256:" + digest_char * 64


@pytest.mark.parametrize("wanted", ["linux/arm/v6", "linux/s390x", "darwin/amd64"])
def test_missing_platform_lists_available(wanted):
    index = Manifest(json.dumps(INDEX).encode(), mt.OCI_INDEX)
    with pytest.raises(ManifestError) as caught:
        select_platform(index, parse_platform(wanted))
    assert "available: linux/amd64, linux/arm/v7, linux/arm64/v8, windows(10.0.17763.1)/amd64" in str(caught.value)


def test_os_version_must_match_when_asked():
    wanted = dict(parse_platform("windows/amd64"), os_version="10.0.20348.1")
    candidate = normalise_platform({"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"})
    assert not platform_matches(wanted, candidate)


def test_children_report_normalised_platforms():
    index = Manifest(json.dumps(INDEX).encode(), None)
    children = index.children()
    assert children[1]["platform"] == {"os": "linux", "architecture": "arm64", "variant": "v8", "os_version": None,
                                       "os_features": []}
    assert children[3]["platform"]["os_version"] == "10.0.17763.1"


@pytest.mark.parametrize("entry, fragment", [
    ({"digest": "latest"}, "digest 'latest' is not of the form algorithm:hex"),
    ({"digest": "sha256:" + "a" * 64 + "\n"}, "is not of the form algorithm:hex"),
    ({"digest": "md5:" + "a" * 32}, "algorithm 'md5' is not supported"),
    ({"digest": "sha256:" + "A" * 64}, "lowercase hexadecimal"),
    ({"digest": None}, "None is not of the form"),
    ({}, "None is not of the form"),
    ({"digest": "x" * 100000}, "...(100002 characters)"),   # a hostile value is cut in the message
    ("sha256:" + "a" * 64, "is not a JSON object"),
    # a child's mediaType is the Content-Type it is read with (from a layout): text, or no type
    ({"digest": "sha256:" + "a" * 64, "mediaType": 5}, "its mediaType is not a string"),
])
def test_index_children_must_have_valid_digests(entry, fragment):
    body = dict(INDEX, manifests=INDEX["manifests"][:1] + [entry])
    with pytest.raises(ManifestError) as caught:
        Manifest(json.dumps(body).encode(), mt.OCI_INDEX)
    assert "child 1 of the index" in str(caught.value) and fragment in str(caught.value)
    assert len(str(caught.value)) < 400


def test_an_image_manifest_is_not_checked_for_children():
    body = dict(IMAGE, manifests=[{"digest": "latest"}])
    assert not Manifest(json.dumps(body).encode(), mt.OCI_MANIFEST).is_index


@pytest.mark.parametrize("field", [{"layers": 5}, {"layers": {"a": 1}}, {"config": "sha256:" + "a" * 64}])
def test_an_image_manifest_whose_layers_or_config_has_the_wrong_type_is_refused(field):
    """Each reader walks layers as a list and config as an object: a hostile 5 is refused once."""
    with pytest.raises(ManifestError, match="'layers' that is not a list or a 'config'"):
        Manifest(json.dumps(dict(IMAGE, **field)).encode(), mt.OCI_MANIFEST)
