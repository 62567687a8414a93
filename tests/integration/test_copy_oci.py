"""registry_copy to and from OCI layouts (oci: directories and oci-archive: tars): every digest
kept, skopeo reads what we write, we read what skopeo writes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref

MODULE = "drc.registry.registry_copy"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def skopeo_raw(location: str) -> bytes:
    return subprocess.run(["skopeo", "inspect", "--raw", location], check=True, capture_output=True,
                          timeout=120).stdout


def skopeo_copy_all(src: str, dest: str) -> None:
    subprocess.run(["skopeo", "copy", "--all", "--quiet", "--dest-tls-verify=false", "--src-tls-verify=false",
                    src, dest], check=True, capture_output=True, timeout=300)


def leftovers(directory) -> list:
    found = []
    for root, dirs, files in os.walk(directory):
        found += [os.path.join(root, name) for name in dirs + files if name.startswith(".drc-tmp-")]
    return found


def test_registry_to_layouts_and_back(testbed, tmp_path):
    token = testbed.registries["token"]
    open_registry = testbed.registries["open"]
    conn = connection(testbed, token)
    layout, archive = tmp_path / "layout", tmp_path / "images.tar"
    (tmp_path / "play").mkdir()
    out = [("app/multi:oci", "oci:%s:multi" % layout), ("app/docker:1.0", "oci:%s:docker" % layout),
           ("app/big:1.0", "oci-archive:%s:big" % archive), ("app/multi:docker", "oci-archive:%s:multid" % archive)]
    tasks = [{MODULE: dict(src=ref(token, image), dest=dest, src_auth=conn), "register": "out_%d" % n}
             for n, (image, dest) in enumerate(out)]
    tasks += [{MODULE: dict(src=ref(token, image), dest=dest, src_auth=conn), "register": "again_%d" % n}
              for n, (image, dest) in enumerate(out)]
    run = run_playbook(tasks, str(tmp_path / "play"))
    assert run.rc == 0, run.output
    for n, (image, dest) in enumerate(out):
        expected = sha256(testbed.skopeo_raw_manifest(token, image))
        assert run.results["out_%d" % n]["changed"] is True
        assert run.results["out_%d" % n]["digest"] == expected
        assert sha256(skopeo_raw(dest)) == expected, dest  # skopeo reads what we wrote
        assert run.results["again_%d" % n]["changed"] is False
        assert run.results["again_%d" % n]["blobs_uploaded"] == 0
    # the layout is the one skopeo writes: oci-layout, index.json with ref.name annotations
    with open(layout / "oci-layout") as handle:
        assert json.load(handle) == {"imageLayoutVersion": "1.0.0"}
    with open(layout / "index.json") as handle:
        index = json.load(handle)
    assert sorted(e["annotations"]["org.opencontainers.image.ref.name"] for e in index["manifests"]) == ["docker", "multi"]
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert {"oci-layout", "index.json"} <= set(names) and all(not n.startswith("/") for n in names)
    assert leftovers(tmp_path) == [] and [n for n in os.listdir(tmp_path) if n.startswith(".drc-tmp-")] == []
    # skopeo copies every platform out of our layout
    skopeo_copy_all("oci:%s:multi" % layout, "oci:%s:x" % (tmp_path / "skopeo-copy"))
    # and back into registries, every digest kept
    back = [("oci:%s:multi" % layout, "from-layout/multi:1"), ("oci-archive:%s:big" % archive, "from-layout/big:1"),
            ("oci-archive:%s:multid" % archive, "from-layout/multid:1")]
    tasks = [{MODULE: dict(src=src, dest=ref(open_registry, dest), chunk_size=8 * 1024 * 1024), "register": "back_%d" % n}
             for n, (src, dest) in enumerate(back)]
    run = run_playbook(tasks, str(tmp_path / "play"))
    assert run.rc == 0, run.output
    for n, (src, dest) in enumerate(back):
        assert run.results["back_%d" % n]["digest"] == sha256(skopeo_raw(src))
        assert sha256(testbed.skopeo_raw_manifest(open_registry, dest)) == run.results["back_%d" % n]["digest"]


def test_layouts_skopeo_wrote_are_read(testbed, tmp_path):
    """The test bed's own layout was written by a deterministic builder and read by skopeo; here
    skopeo writes a directory and an archive, and we copy both into a registry."""
    registry = testbed.registries["basic"]
    skopeo_copy_all("oci:%s:multi" % testbed.layout, "oci:%s:m" % (tmp_path / "dir"))
    skopeo_copy_all("oci:%s:single" % testbed.layout, "oci-archive:%s:s" % (tmp_path / "a.tar"))
    skopeo_copy_all("oci:%s:single" % testbed.layout, "oci:%s" % (tmp_path / "untagged"))
    conn = connection(testbed, registry)
    cases = [("oci:%s:m" % (tmp_path / "dir"), "from-skopeo/multi:1"),
             ("oci-archive:%s:s" % (tmp_path / "a.tar"), "from-skopeo/single:1"),
             ("oci:%s" % (tmp_path / "untagged"), "from-skopeo/untagged:1")]
    for src, dest in cases:
        run = run_module(MODULE, dict(src=src, dest=ref(registry, dest), dest_auth=conn))
        assert run.rc == 0, run.output
        assert run.result["digest"] == sha256(skopeo_raw(src))
        assert sha256(testbed.skopeo_raw_manifest(registry, dest)) == run.result["digest"]


def test_layout_with_several_images_needs_a_tag(testbed, tmp_path):
    run = run_module(MODULE, dict(src="oci:%s" % testbed.layout, dest=ref(testbed.registries["open"], "x/y:1")))
    assert run.rc != 0
    assert "holds" in run.result["msg"] and "name one with :TAG" in run.result["msg"] and "multi" in run.result["msg"]


def test_check_mode_writes_no_layout(testbed, tmp_path):
    registry = testbed.registries["open"]
    run = run_module(MODULE, dict(src=ref(registry, "app/oci:1.0"), dest="oci:%s:x" % (tmp_path / "lay")), check=True)
    assert run.rc == 0 and run.result["changed"] is True, run.output
    assert not os.path.exists(tmp_path / "lay")
    run = run_module(MODULE, dict(src=ref(registry, "app/oci:1.0"), dest="oci-archive:%s:x" % (tmp_path / "a.tar")),
                     check=True)
    assert run.rc == 0 and run.result["changed"] is True, run.output
    assert os.listdir(tmp_path) == []
