"""format: oci, the media type mapping as a table, and docker-archive locations."""

from __future__ import annotations

import json

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import parse_location
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError, RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import Manifest
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_format import to_oci

D = "sha256:" + "a" * 64


def image(media_type: str, config_type: str, layer_types: list) -> Manifest:
    body = {"schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": config_type, "size": 2, "digest": D},
            "layers": [{"mediaType": t, "size": 1, "digest": D} for t in layer_types]}
    return Manifest(json.dumps(body).encode(), media_type)


@pytest.mark.parametrize("docker, oci", [
    ("application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
    ("application/vnd.docker.image.rootfs.diff.tar", "application/vnd.oci.image.layer.v1.tar"),
    ("application/vnd.docker.image.rootfs.diff.tar.zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
    ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
     "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
    ("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
])
def test_layer_types_map_to_oci(docker, oci):
    source = image(mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG, [docker])
    (converted,), mapping = to_oci([source])
    assert converted.media_type == converted.body["mediaType"] == mt.OCI_MANIFEST
    assert converted.body["config"] == {"mediaType": mt.OCI_CONFIG, "size": 2, "digest": D}
    assert converted.body["layers"] == [{"mediaType": oci, "size": 1, "digest": D}]
    assert mapping == {source.digest: converted.digest} and converted.digest != source.digest


def test_an_oci_image_keeps_its_bytes():
    source = image(mt.OCI_MANIFEST, mt.OCI_CONFIG, ["application/vnd.oci.image.layer.v1.tar+gzip"])
    (converted,), mapping = to_oci([source])
    assert converted is source and mapping == {}


def test_an_index_points_at_its_converted_children():
    child = image(mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG, ["application/vnd.docker.image.rootfs.diff.tar.gzip"])
    body = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": [
        {"mediaType": mt.DOCKER_MANIFEST, "size": child.size, "digest": child.digest,
         "platform": {"os": "linux", "architecture": "amd64"}}]}
    index = Manifest(json.dumps(body).encode(), mt.DOCKER_MANIFEST_LIST)
    (new_child, new_index), mapping = to_oci([child, index])
    assert new_index.media_type == mt.OCI_INDEX
    assert new_index.body["manifests"] == [{"mediaType": mt.OCI_MANIFEST, "size": new_child.size,
                                            "digest": new_child.digest,
                                            "platform": {"os": "linux", "architecture": "amd64"}}]
    assert mapping == {child.digest: new_child.digest, index.digest: new_index.digest}


def test_an_unknown_layer_type_is_refused():
    source = image(mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG, ["application/x-something"])
    with pytest.raises(RegistryError, match="no OCI equivalent"):
        to_oci([source])


@pytest.mark.parametrize("value, expected", [
    ("docker-archive:/x.tar", ("docker-archive", "/x.tar", None)),
    ("docker-archive:/x.tar:alpine", ("docker-archive", "/x.tar", "alpine:latest")),
    ("docker-archive:/x.tar:docker.io/library/alpine:3", ("docker-archive", "/x.tar", "alpine:3")),
    ("docker-archive:/x.tar:localhost:5000/a/b:1", ("docker-archive", "/x.tar", "localhost:5000/a/b:1")),
])
def test_docker_archive_locations(value, expected):
    assert parse_location(value) == expected


@pytest.mark.parametrize("value, message", [
    ("dir:/tmp/x", "transport dir: is not supported (supported: docker://, oci:, oci-archive:, docker-archive:)"),
    ("containers-storage:app", "transport containers-storage: is not supported"),
    ("docker-archive:", "the path of the docker-archive is empty"),
    ("docker-archive:/x.tar:alpine@sha256:" + "a" * 64, "not by digest"),
])
def test_locations_refused(value, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_location(value)
