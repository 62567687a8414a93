"""Issue 32, interop: ``format: oci`` layouts that skopeo and umoci read by tag, ``docker-archive:``
as a source and a destination (judged by skopeo and podman load), unsupported transports named,
and the ``images`` form's partial failures. One playbook for the file; each test reads its case."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import ref
from tests.testbed.artifacts import push_sbom_and_signature

MODULE = "drc.registry.registry_copy"
DOCKER_TYPES = ("application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tool(*command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), check=False, capture_output=True, timeout=timeout, text=True)


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return tool("skopeo", *args)


def podman(root, *args: str) -> subprocess.CompletedProcess:
    return tool("podman", "--storage-driver", "vfs", "--root", os.path.join(root, "root"), "--runroot",
                os.path.join(root, "run"), "--cgroup-manager", "cgroupfs", "--events-backend", "none", *args)


def hostile_archives(directory) -> dict:
    """docker-archives that break the archive rules, each with manifest.json naming its members."""
    made = {}

    def write(name: str, members: list, manifest: dict | None = None) -> str:
        path = os.path.join(directory, name + ".tar")
        with tarfile.open(path, "w") as tar:
            body = json.dumps([manifest or {"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l.tar"]}]).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        made[name] = path
        return path

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
    config_info = tarfile.TarInfo("c.json")
    config_info.size = len(config)
    link = tarfile.TarInfo("l.tar")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    write("link", [(config_info, config), (link, None)])
    outside = tarfile.TarInfo("../c.json")
    outside.size = len(config)
    write("outside", [(outside, config)], {"Config": "../c.json", "RepoTags": ["x:1"], "Layers": []})
    # a sparse member: GNU tar's --sparse of a 64 MiB hole
    sparse_dir = os.path.join(directory, "sparse_src")
    os.mkdir(sparse_dir)
    with open(os.path.join(sparse_dir, "l.tar"), "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    with open(os.path.join(sparse_dir, "c.json"), "wb") as handle:
        handle.write(config)
    with open(os.path.join(sparse_dir, "manifest.json"), "w") as handle:
        json.dump([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l.tar"]}], handle)
    made["sparse"] = os.path.join(directory, "sparse.tar")
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", made["sparse"], "-C", sparse_dir,
                    "manifest.json", "c.json", "l.tar"], check=True)
    # a gzip bomb: 64 MiB of zeros in a gzip of some 64 KiB
    made["bomb"] = os.path.join(directory, "bomb.tar.gz")
    with gzip.open(made["bomb"], "wb") as handle:
        zeros = tarfile.TarInfo("l.tar")
        zeros.size = 64 * 1024 * 1024
        with tarfile.open(fileobj=handle, mode="w") as tar:
            tar.addfile(zeros, io.BytesIO(bytes(zeros.size)))
    return made


def leftovers(directory) -> list:
    return [name for name in os.listdir(directory) if name.startswith(".drc-tmp-")]


@pytest.fixture(scope="module")
def bed(testbed, tmp_path_factory):
    work = tmp_path_factory.mktemp("interop")
    registry = testbed.registries["open"]
    paths = {name: str(work / name) for name in (
        "layout", "layout_multi", "archive.tar", "images.tar", "from_skopeo.tar", "back", "play",
        "skopeo_copy", "partial")}
    os.mkdir(paths["play"])
    # skopeo writes a docker-archive of a Docker-format image: our copy must read it.
    made = skopeo("copy", "--quiet", "--src-tls-verify=false", "docker://%s" % ref(registry, "app/docker:1.0"),
                  "docker-archive:%s:drc/skopeo:1" % paths["from_skopeo.tar"])
    assert made.returncode == 0, made.stderr
    src = {name: ref(registry, name) for name in ("app/docker:1.0", "app/multi:docker", "app/oci:1.0")}
    # a Docker-format image with an SBOM (and a signature of the SBOM) referring to it
    made = skopeo("copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                  "docker://" + src["app/docker:1.0"], "docker://" + ref(registry, "interop/signed:1"))
    assert made.returncode == 0, made.stderr
    raw = testbed.skopeo_raw_manifest(registry, "interop/signed:1")
    signed = push_sbom_and_signature(testbed, registry, "interop/signed", {
        "mediaType": json.loads(raw)["mediaType"], "digest": sha256(raw), "size": len(raw)})
    cases = {
        # format: oci, to a layout directory and an archive, single image and index
        "oci_single": dict(src=src["app/docker:1.0"], dest="oci:%s:docker" % paths["layout"], format="oci"),
        "oci_single_again": dict(src=src["app/docker:1.0"], dest="oci:%s:docker" % paths["layout"], format="oci"),
        "oci_multi": dict(src=src["app/multi:docker"], dest="oci:%s:multi" % paths["layout_multi"], format="oci"),
        "oci_archive": dict(src=src["app/docker:1.0"], dest="oci-archive:%s:docker" % paths["archive.tar"],
                            format="oci"),
        "keep_default": dict(src=src["app/docker:1.0"], dest="oci:%s:kept" % paths["layout"]),
        # docker-archive as a destination: two images in one archive; an index needs one platform
        "darchive_docker": dict(src="docker://" + src["app/docker:1.0"],
                                dest="docker-archive:%s:app/docker:1.0" % paths["images.tar"]),
        "darchive_oci": dict(src=src["app/oci:1.0"], dest="docker-archive:%s:app/oci:1.0" % paths["images.tar"]),
        "darchive_again": dict(src=src["app/oci:1.0"], dest="docker-archive:%s:app/oci:1.0" % paths["images.tar"]),
        "darchive_index": dict(src=src["app/multi:docker"],
                               dest="docker-archive:%s:app/multi:1" % paths["images.tar"]),
        "darchive_platform": dict(src=src["app/multi:docker"], platforms=["linux/arm64"],
                                  dest="docker-archive:%s:app/multi:arm64" % paths["images.tar"]),
        # docker-archive as a source: skopeo's, and ours back into a registry
        "from_skopeo": dict(src="docker-archive:%s" % paths["from_skopeo.tar"],
                            dest=ref(registry, "interop/from-skopeo:1")),
        "from_skopeo_oci": dict(src="docker-archive:%s:drc/skopeo:1" % paths["from_skopeo.tar"],
                                dest="oci:%s:s" % paths["back"], format="oci"),
        "from_ours": dict(src="docker-archive:%s:app/docker:1.0" % paths["images.tar"],
                          dest=ref(registry, "interop/from-ours:1")),
        "archive_no_such_name": dict(src="docker-archive:%s:nope:1" % paths["images.tar"],
                                     dest="oci:%s:x" % paths["back"]),
        # referrers cannot follow a converted image, nor go into a docker-archive
        "referrers_converted": dict(src=ref(registry, "interop/signed:1"), dest="oci:%s:signed" % paths["back"],
                                    format="oci"),
        "referrers_kept": dict(src=ref(registry, "interop/signed:1"), dest="oci:%s:signed-kept" % paths["back"]),
        "referrers_darchive": dict(src=ref(registry, "interop/signed:1"),
                                   dest="docker-archive:%s:signed:1" % paths["images.tar"]),
        # transports
        "dir_transport": dict(src="dir:/tmp/x", dest="oci:%s:x" % paths["back"]),
        "daemon_transport": dict(src=src["app/oci:1.0"], dest="docker-daemon:app:1"),
        # the images form: one copied, one failing, one copied after it
        "partial": dict(images=[
            {"src": src["app/oci:1.0"], "dest": ref(registry, "interop/partial:a")},
            {"src": ref(registry, "no/such:1"), "dest": ref(registry, "interop/partial:b")},
            {"src": src["app/docker:1.0"], "dest": "docker-archive:%s/p.tar:p:1" % paths["partial"]}]),
    }
    os.mkdir(paths["partial"])
    # what a killed copy into a docker-archive leaves beside it: a staging directory, a temp tar
    os.makedirs(os.path.join(str(work), ".drc-tmp-killed", "blobs", "sha256"))
    with open(os.path.join(str(work), ".drc-tmp-killed.tar"), "wb") as handle:
        handle.write(b"half an archive")
    os.mkdir(work / "hostile")
    for name, path in hostile_archives(str(work / "hostile")).items():
        cases["hostile_" + name] = dict(src="docker-archive:%s" % path, dest="oci:%s:h" % (work / "hostile_out"))
    tasks = [{"name": name, MODULE: args, "register": name, "ignore_errors": True} for name, args in cases.items()]
    # registry_sync converts too
    tasks.append({"name": "sync_oci", "drc.registry.registry_sync": dict(
        src_registry=registry.host, dest="%s/interop/synced" % registry.host, format="oci", blob_cache=False,
        repositories=[{"name": "app/docker", "tags": {"match": "^1\\.0$"}}]), "register": "sync_oci",
        "ignore_errors": True})
    # the mirror_images role passes mirror_images_format on
    tasks += [{"name": "mirror with format oci", "ansible.builtin.include_role": {"name": "drc.registry.mirror_images"},
               "vars": {"mirror_images_images": ["http://" + src["app/docker:1.0"]],
                        "mirror_images_dest": "http://%s/interop/mirror" % registry.host,
                        "mirror_images_format": "oci"}},
              {"ansible.builtin.debug": {"var": "mirror_images_result"}, "register": "role_format"}]
    # The modules' $TMPDIR, where a compressed docker-archive source is decompressed; the bomb's
    # own, so that no later run's sweep of killed runs' debris hides what it left.
    os.makedirs(work / "tmp" / "bomb")
    for task in tasks:
        if task.get("name") == "hostile_bomb":
            task["environment"] = {"TMPDIR": str(work / "tmp" / "bomb")}
    run = run_playbook(tasks, paths["play"], env={"HOME": testbed.workdir, "TMPDIR": str(work / "tmp")})
    assert set(run.results) == set(cases) | {"role_format", "sync_oci"}, run.output
    assert "Traceback" not in run.output, run.output
    return {"signed": signed, "results": run.results, "paths": paths, "registry": registry, "testbed": testbed, "work": work}


def ok(bed, name: str) -> dict:
    result = bed["results"][name]
    assert not result.get("failed"), result
    return result


def test_format_oci_single_read_by_skopeo_and_umoci(bed):
    result = ok(bed, "oci_single")
    raw = bed["testbed"].skopeo_raw_manifest(bed["registry"], "app/docker:1.0")
    assert json.loads(raw)["mediaType"] in DOCKER_TYPES
    assert result["source_digest"] == sha256(raw)
    assert result["digest"] != result["source_digest"]
    assert result["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert result["converted"] == [{"source_digest": sha256(raw), "digest": result["digest"]}]
    layout = bed["paths"]["layout"]
    inspected = skopeo("inspect", "--raw", "oci:%s:docker" % layout)
    assert inspected.returncode == 0, inspected.stderr
    assert sha256(inspected.stdout.encode()) == result["digest"]
    body = json.loads(inspected.stdout)
    assert body["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert {layer["mediaType"] for layer in body["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    # the blobs keep their digests: same layers as the source
    assert [layer["digest"] for layer in body["layers"]] == [layer["digest"] for layer in json.loads(raw)["layers"]]
    bundle = bed["work"] / "bundle_single"
    unpacked = tool("umoci", "unpack", "--rootless", "--image", "%s:docker" % layout, str(bundle))
    assert unpacked.returncode == 0, unpacked.stderr
    assert (bundle / "rootfs" / "hello.txt").read_bytes() == b"hello from drc\n"
    copied = skopeo("copy", "--all", "--quiet", "oci:%s:docker" % layout, "oci:%s:copy" % bed["paths"]["skopeo_copy"])
    assert copied.returncode == 0, copied.stderr
    described = skopeo("inspect", "oci:%s:docker" % layout)
    assert described.returncode == 0 and json.loads(described.stdout)["Digest"] == result["digest"], described


def test_format_oci_second_run_unchanged(bed):
    assert ok(bed, "oci_single_again")["changed"] is False
    assert ok(bed, "oci_single_again")["digest"] == ok(bed, "oci_single")["digest"]


def test_format_oci_index_read_by_skopeo_copy_all(bed):
    result = ok(bed, "oci_multi")
    assert result["media_type"] == "application/vnd.oci.image.index.v1+json"
    raw = bed["testbed"].skopeo_raw_manifest(bed["registry"], "app/multi:docker")
    assert result["source_digest"] == sha256(raw)
    children = len(json.loads(raw)["manifests"])
    assert len(result["converted"]) == children + 1
    layout = bed["paths"]["layout_multi"]
    copied = skopeo("copy", "--all", "--quiet", "oci:%s:multi" % layout, "oci:%s:multi" % bed["paths"]["skopeo_copy"])
    assert copied.returncode == 0, copied.stderr
    index = json.loads(skopeo("inspect", "--raw", "oci:%s:multi" % bed["paths"]["skopeo_copy"]).stdout)
    assert [m["digest"] for m in index["manifests"]] == [c["digest"] for c in result["converted"][:-1]]
    # (umoci 0.4.7 unpacks single images only: an index tag is "ambiguous" to it, whatever its types)


def test_format_oci_archive_read_by_skopeo_and_umoci(bed):
    result = ok(bed, "oci_archive")
    archive = bed["paths"]["archive.tar"]
    inspected = skopeo("inspect", "--raw", "oci-archive:%s:docker" % archive)
    assert inspected.returncode == 0, inspected.stderr
    assert sha256(inspected.stdout.encode()) == result["digest"]
    described = skopeo("inspect", "oci-archive:%s:docker" % archive)
    assert described.returncode == 0 and json.loads(described.stdout)["Digest"] == result["digest"], described
    copied = skopeo("copy", "--all", "--quiet", "oci-archive:%s:docker" % archive,
                    "oci:%s:from-archive" % bed["paths"]["skopeo_copy"])
    assert copied.returncode == 0, copied.stderr
    unpacked_layout = bed["work"] / "archive_layout"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked_layout, filter="data")
    bundle = bed["work"] / "bundle_archive"
    unpacked = tool("umoci", "unpack", "--rootless", "--image", "%s:docker" % unpacked_layout, str(bundle))
    assert unpacked.returncode == 0, unpacked.stderr
    assert (bundle / "rootfs" / "hello.txt").exists()
    assert leftovers(os.path.dirname(archive)) == []


def test_format_keep_is_the_default(bed):
    result = ok(bed, "keep_default")
    assert result["digest"] == result["source_digest"] == ok(bed, "oci_single")["source_digest"]
    assert "converted" not in result


def test_docker_archive_read_by_skopeo_and_podman_load(bed):
    for name in ("darchive_docker", "darchive_oci", "darchive_platform"):
        assert ok(bed, name)["changed"] is True
    archive = bed["paths"]["images.tar"]
    for name, source in (("app/docker:1.0", "app/docker:1.0"), ("app/oci:1.0", "app/oci:1.0")):
        inspected = skopeo("inspect", "docker-archive:%s:%s" % (archive, name))
        assert inspected.returncode == 0, inspected.stderr
        raw = json.loads(bed["testbed"].skopeo_raw_manifest(bed["registry"], source))
        config = json.loads(bed["testbed"].skopeo(bed["registry"], "inspect", source, "--raw", "--config"))
        assert json.loads(inspected.stdout)["Layers"] == config["rootfs"]["diff_ids"]
        assert len(raw["layers"]) == len(config["rootfs"]["diff_ids"])
    root = tempfile.mkdtemp(prefix="drc-pm-")  # podman wants a runroot of at most 50 characters
    try:
        loaded = podman(root, "load", "-i", archive)
        images = podman(root, "images", "--format", "{{.Repository}}:{{.Tag}}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert loaded.returncode == 0, loaded.stderr
    assert images.returncode == 0, images.stderr
    # the next copy beside it removed what a killed run had left there
    names = set(images.stdout.split())
    assert {"localhost/app/docker:1.0", "localhost/app/oci:1.0", "localhost/app/multi:arm64"} <= names, names
    assert leftovers(os.path.dirname(archive)) == []


def test_docker_archive_second_run_unchanged(bed):
    assert ok(bed, "darchive_again")["changed"] is False


def test_docker_archive_index_needs_one_platform(bed):
    result = bed["results"]["darchive_index"]
    assert result["failed"] is True
    assert "single-platform" in result["msg"] and "platforms" in result["msg"], result["msg"]
    assert "linux/amd64" in result["msg"]


def test_docker_archive_from_skopeo_same_layer_digests(bed):
    result = ok(bed, "from_skopeo")
    layers = json.loads(skopeo("inspect", "docker-archive:%s" % bed["paths"]["from_skopeo.tar"]).stdout)["Layers"]
    pushed = json.loads(bed["testbed"].skopeo_raw_manifest(bed["registry"], "interop/from-skopeo:1"))
    assert [layer["digest"] for layer in pushed["layers"]] == layers
    assert result["digest"] == sha256(bed["testbed"].skopeo_raw_manifest(bed["registry"], "interop/from-skopeo:1"))
    converted = ok(bed, "from_skopeo_oci")
    body = json.loads(skopeo("inspect", "--raw", "oci:%s:s" % bed["paths"]["back"]).stdout)
    assert sha256(json.dumps(body, separators=(",", ":")).encode()) == converted["digest"]
    assert [layer["digest"] for layer in body["layers"]] == layers
    assert {layer["mediaType"] for layer in body["layers"]} == {"application/vnd.oci.image.layer.v1.tar"}


def test_docker_archive_ours_read_back_keeps_layers(bed):
    ok(bed, "from_ours")
    source = json.loads(bed["testbed"].skopeo_raw_manifest(bed["registry"], "app/docker:1.0"))
    pushed = json.loads(bed["testbed"].skopeo_raw_manifest(bed["registry"], "interop/from-ours:1"))
    assert [layer["digest"] for layer in pushed["layers"]] == [layer["digest"] for layer in source["layers"]]
    assert pushed["config"]["digest"] == source["config"]["digest"]


def test_docker_archive_unknown_name(bed):
    result = bed["results"]["archive_no_such_name"]
    assert result["failed"] is True and "no image named nope:1" in result["msg"], result["msg"]


def test_unsupported_transports_named(bed):
    for name, transport in (("dir_transport", "dir"), ("daemon_transport", "docker-daemon")):
        result = bed["results"][name]
        assert result["failed"] is True
        assert result["msg"] == ("transport %s: is not supported (supported: docker://, oci:, oci-archive:, "
                                 "docker-archive:)" % transport), result["msg"]


def test_images_partial_failure_reports_each(bed):
    result = bed["results"]["partial"]
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["copied"] == 2
    assert [(i["dest"], i["copied"], i["failed"]) for i in result["images"]] == [
        (ref(bed["registry"], "interop/partial:a"), True, False),
        (ref(bed["registry"], "interop/partial:b"), False, True),
        ("docker-archive:%s/p.tar:p:1" % bed["paths"]["partial"], True, False)]
    assert "no/such" in result["images"][1]["msg"] and result["images"][1]["http_status"] == 404
    assert len(result["failed_images"]) == 1
    failure = result["failed_images"][0]
    assert failure["index"] == 1 and "no/such" in failure["msg"], failure
    assert result["blobs_uploaded"] >= 2
    assert "1 of 3 images failed" in result["msg"]


@pytest.mark.parametrize("name, message", [
    ("link", "a link or special file (links are not followed)"),
    ("outside", "it is outside the archive"),
    ("sparse", "a sparse file has no place in a docker-archive"),
    ("bomb", "unpacks to more than 33554432 bytes"),
])
def test_hostile_docker_archives_are_refused(bed, name, message):
    result = bed["results"]["hostile_" + name]
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert not os.path.exists(bed["work"] / "hostile_out" / "index.json")
    assert leftovers(bed["work"] / "tmp") == [] and os.listdir(bed["work"] / "tmp" / "bomb") == []


def test_referrers_of_a_converted_image_are_reported_skipped(bed):
    sbom, signature = bed["signed"]["sbom"]["digest"], bed["signed"]["signature"]["digest"]
    kept = ok(bed, "referrers_kept")  # the same copy without format: the SBOM travels
    assert sbom in kept["referrers"] and kept["referrers_skipped"] == []
    converted = ok(bed, "referrers_converted")
    assert converted["digest"] != converted["source_digest"]
    assert converted["referrers"] == [] and converted["referrers_copied"] == 0
    skipped = {entry["digest"]: entry["reason"] for entry in converted["referrers_skipped"]}
    assert sbom in skipped and "converted to OCI" in skipped[sbom], converted["referrers_skipped"]
    darchive = ok(bed, "referrers_darchive")
    skipped = {entry["digest"]: entry["reason"] for entry in darchive["referrers_skipped"]}
    assert {sbom, signature} <= set(skipped) and "holds no referrers" in skipped[sbom], skipped


def test_mirror_images_role_passes_format_on(bed):
    image = bed["results"]["role_format"]["mirror_images_result"]["images"][0]
    source = bed["testbed"].skopeo_raw_manifest(bed["registry"], "app/docker:1.0")
    assert image["source_digest"] == sha256(source) != image["digest"]
    mirrored = bed["testbed"].skopeo_raw_manifest(bed["registry"], "interop/mirror/app/docker:1.0")
    assert sha256(mirrored) == image["digest"]
    assert json.loads(mirrored)["mediaType"] == "application/vnd.oci.image.manifest.v1+json"


def test_registry_sync_converts_with_format_oci(bed):
    result = ok(bed, "sync_oci")
    (image,) = result["images"]
    source = bed["testbed"].skopeo_raw_manifest(bed["registry"], "app/docker:1.0")
    assert image["source_digest"] == sha256(source) != image["digest"]
    synced = bed["testbed"].skopeo_raw_manifest(bed["registry"], "interop/synced/app/docker:1.0")
    assert sha256(synced) == image["digest"]
    assert json.loads(synced)["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
