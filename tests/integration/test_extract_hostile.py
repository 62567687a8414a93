"""registry_extract against hostile images pushed to the real registry: nothing is ever written
outside dest (a sentinel directory beside it stays empty), and each hostile member is either
refused with a failure naming it (dest unchanged, no debris) or resolved inside dest as the
container would see it (docs/extract.md lists which, per case)."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import ref
from tests.testbed.images import Layout
from tests.testbed.layered_images import (
    directory, file, hardlink, layered_image, push, sha256, symlink, tar_bytes)

MODULE = "drc.registry.registry_extract"
MANY = 100_000


def pax_named(name: str, data: bytes = b"x") -> tuple:
    """A member whose PAX header carries the name (NUL bytes and long names survive there)."""
    info = tarfile.TarInfo("placeholder")
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    info.pax_headers = {"path": name}
    return (info, data)


def device(name: str) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.devmajor, info.devminor = tarfile.CHRTYPE, 0o666, 1, 3
    return (info, None)


def bomb_layer() -> bytes:
    """A member whose header claims 1 GiB, followed by 1 MiB and the end of the layer."""
    info = tarfile.TarInfo("bomb.bin")
    info.size, info.mode = 1024 * 1024 * 1024, 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * (1024 * 1024) + b"\0" * 1024


def many_layer() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        top = tarfile.TarInfo("many")
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(top)
        for number in range(MANY):
            info = tarfile.TarInfo("many/f%06d" % number)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"%d" % (number % 10)))
    return buffer.getvalue()


def images(sentinel: str) -> dict:
    """tag -> (layers, paths). ``sentinel`` is the absolute path of the directory beside dest."""
    outside = os.path.relpath(sentinel, "/")  # the sentinel, as a path from the root
    return {
        "dotdot": ([tar_bytes([file("../../../../../../../../../../%s/dotdot" % outside, b"dotdot")])], ["/"]),
        "absolute": ([tar_bytes([file("%s/absolute" % sentinel, b"absolute")])], ["/"]),
        "parent-symlink": ([
            tar_bytes([symlink("escape", sentinel), symlink("up", "../../../../../../../../../.." + sentinel)]),
            tar_bytes([file("escape/through-absolute", b"a"), file("up/through-relative", b"r")]),
        ], ["/"]),
        "final-symlink": ([
            tar_bytes([symlink("link", "%s/final" % sentinel), symlink("dir", sentinel)]),
            tar_bytes([file("link", b"replaces the symlink, never written through it")]),
        ], ["/"]),
        "symlink-kept": ([tar_bytes([symlink("out", "%s/kept" % sentinel)])], ["/"]),
        "hardlink-out": ([tar_bytes([hardlink("stolen", "../../../../../../../../%s/secret" % outside)])], ["/"]),
        "hardlink-inside": ([tar_bytes([directory("etc"), file("etc/shadow", b"image shadow\n", 0o600),
                                        hardlink("copy", "../../../../etc/shadow")])], ["/"]),
        "paths-through-symlink": ([tar_bytes([symlink("escape", sentinel)]),
                                   tar_bytes([file("escape/inside", b"inside the image")])], ["/escape/inside"]),
        "nul-name": ([tar_bytes([pax_named("nul\x00name")])], ["/"]),
        "long-name": ([tar_bytes([pax_named("d/" + "n" * 5000)])], ["/"]),
        "bomb": ([bomb_layer()], ["/"]),
        "not-a-tar": ([os.urandom(64 * 1024)], ["/"]),
        "loop": ([tar_bytes([symlink("a", "b"), symlink("b", "a")]), tar_bytes([file("a/x", b"x")])], ["/"]),
        "device": ([tar_bytes([directory("dev"), device("dev/null"), file("dev/ok", b"ok")])], ["/dev"]),
        "many": ([many_layer()], ["/many/f099999"]),
    }


REFUSED = {  # tag -> what the failure must say
    "hardlink-out": ["stolen", "hard link", "not in the image"],
    "nul-name": ["nul\\x00name", "NUL"],
    "long-name": ["longer than 4096 bytes"],
    "bomb": ["bomb.bin", "layer 1"],
    "not-a-tar": ["not a valid tar archive", "layer 1"],
    "loop": ["too many levels of symbolic links", "a/x"],
    "size-lie": ["larger than its declared", "blob sha256:"],
    "zstd-missing": ["application/vnd.oci.image.layer.v1.tar+zstd", "zstandard"],
    "zstd-not-zstd": ["is not a valid tar archive", "zstd"],
    "paths-dotdot": ["..", "paths"],
}


def prefill(dest) -> None:
    os.makedirs(dest)
    with open(os.path.join(dest, "before.txt"), "w") as handle:
        handle.write("what dest held before\n")


def manifest_with(layout_path: str, tag: str, change) -> tuple:
    """(raw manifest, media type) of a tag of the layout, changed by ``change(body)``."""
    with open(os.path.join(layout_path, "index.json")) as handle:
        index = json.load(handle)
    entry = [e for e in index["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
    with open(os.path.join(layout_path, "blobs", "sha256", entry["digest"].split(":")[1])) as handle:
        body = json.load(handle)
    change(body)
    return json.dumps(body).encode(), body["mediaType"]


@pytest.fixture(scope="module")
def hostile(testbed, tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    sentinel = str(work / "sentinel")
    os.makedirs(sentinel)
    with open(os.path.join(sentinel, "secret"), "w") as handle:
        handle.write("host secret\n")
    registry = testbed.registries["open"]
    layout_path = str(work / "layout")
    layout = Layout(layout_path)
    cases = images(sentinel)
    for tag, (layers, _paths) in cases.items():
        layered_image(layout, tag, layers, compression="tar" if tag in ("not-a-tar", "bomb") else "gzip")
    layout.save()
    for tag in cases:
        push(testbed, registry, layout_path, tag, "hostile-extract/%s:1" % tag)
    # manifests that lie, put with raw HTTP over blobs skopeo pushed: a layer larger than its
    # declared size, a zstd media type
    for tag, change in (("size-lie", lambda b: b["layers"][0].update(size=b["layers"][0]["size"] - 100)),
                        ("zstd-missing", lambda b: b["layers"][0].update(
                            mediaType="application/vnd.oci.image.layer.v1.tar+zstd"))):
        raw, media_type = manifest_with(layout_path, "final-symlink", change)
        with testbed.raw_request(registry, "PUT", "/v2/hostile-extract/final-symlink/manifests/%s" % tag,
                                 "hostile-extract/final-symlink", data=raw,
                                 headers={"Content-Type": media_type}):
            pass
        cases[tag] = (None, ["/"])
    cases["zstd-not-zstd"] = (None, ["/"])  # the same gzip bytes as zstd-missing, zstandard there
    # zstd-missing runs on a Python without zstandard: a package of that name that fails to import
    hidden = work / "no-zstandard" / "zstandard"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    play = work / "play"
    play.mkdir()
    tasks, dests = [], {}
    for tag, (_layers, paths) in cases.items():
        image = "hostile-extract/%s:1" % tag if tag not in ("size-lie", "zstd-missing", "zstd-not-zstd") \
            else "hostile-extract/final-symlink:%s" % tag.replace("not-zstd", "missing")
        dest = str(work / "dests" / tag / "dest")
        os.makedirs(os.path.dirname(dest))
        if tag in REFUSED:
            prefill(dest)
        dests[tag] = dest
        tasks.append({MODULE: dict(reference=ref(registry, image), paths=paths, dest=dest),
                      "register": tag.replace("-", "_"), "ignore_errors": True})
        if tag == "zstd-missing":
            path = "%s%s{{ lookup('ansible.builtin.env', 'PYTHONPATH') }}" % (hidden.parent, os.pathsep)
            tasks[-1]["environment"] = {"PYTHONPATH": path}
    dests["paths-dotdot"] = str(work / "dests" / "paths-dotdot" / "dest")
    os.makedirs(os.path.dirname(dests["paths-dotdot"]))
    prefill(dests["paths-dotdot"])
    tasks.append({MODULE: dict(reference=ref(registry, "hostile-extract/dotdot:1"),
                               paths=["/../../../sentinel"], dest=dests["paths-dotdot"]),
                  "register": "paths_dotdot", "ignore_errors": True})
    run = run_playbook(tasks, str(play))
    assert "Traceback" not in run.output, run.output[-5000:]
    return {"results": run.results, "dests": dests, "sentinel": sentinel, "work": work}


def result(hostile, tag: str) -> dict:
    return hostile["results"][tag.replace("-", "_")]


def test_nothing_outside_dest_ever(hostile):
    assert sorted(os.listdir(hostile["sentinel"])) == ["secret"]
    with open(os.path.join(hostile["sentinel"], "secret")) as handle:
        assert handle.read() == "host secret\n"
    for tag, dest in hostile["dests"].items():
        beside = sorted(os.listdir(os.path.dirname(dest)))
        assert beside in (["dest"], []), (tag, beside)  # no temporary directory left either


@pytest.mark.parametrize("tag", sorted(REFUSED))
def test_refused_with_a_failure_naming_it_and_dest_unchanged(hostile, tag):
    failed = result(hostile, tag)
    assert failed.get("failed") is True, failed
    for words in REFUSED[tag]:
        assert words in failed["msg"], (words, failed["msg"])
    dest = hostile["dests"][tag]
    assert sorted(os.listdir(dest)) == ["before.txt"]


def read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def test_dotdot_and_absolute_names_land_inside_dest(hostile):
    inside = os.path.relpath(hostile["sentinel"], "/")
    assert result(hostile, "dotdot")["changed"] is True
    assert read(os.path.join(hostile["dests"]["dotdot"], inside, "dotdot")) == b"dotdot"
    assert read(os.path.join(hostile["dests"]["absolute"], inside, "absolute")) == b"absolute"


def test_a_symlink_parent_is_resolved_inside_the_image(hostile):
    dest = hostile["dests"]["parent-symlink"]
    inside = os.path.relpath(hostile["sentinel"], "/")
    assert result(hostile, "parent-symlink")["changed"] is True
    # both links lead to the sentinel's path inside the image: the members land there, in dest
    assert read(os.path.join(dest, inside, "through-absolute")) == b"a"
    assert read(os.path.join(dest, inside, "through-relative")) == b"r"
    assert os.readlink(os.path.join(dest, "escape")) == hostile["sentinel"]  # written as stored


def test_a_final_symlink_is_replaced_never_written_through(hostile):
    dest = hostile["dests"]["final-symlink"]
    assert read(os.path.join(dest, "link")) == b"replaces the symlink, never written through it"
    assert not os.path.islink(os.path.join(dest, "link"))
    assert os.readlink(os.path.join(dest, "dir")) == hostile["sentinel"]
    assert os.readlink(os.path.join(hostile["dests"]["symlink-kept"], "out")) == hostile["sentinel"] + "/kept"


def test_a_hard_link_resolves_inside_the_image(hostile):
    dest = hostile["dests"]["hardlink-inside"]
    assert read(os.path.join(dest, "copy")) == b"image shadow\n"
    assert os.stat(os.path.join(dest, "copy")).st_ino == os.stat(os.path.join(dest, "etc/shadow")).st_ino


def test_a_path_through_an_image_symlink_stays_in_dest(hostile):
    dest = hostile["dests"]["paths-through-symlink"]
    assert read(os.path.join(dest, "escape", "inside")) == b"inside the image"
    assert not os.path.islink(os.path.join(dest, "escape"))


def test_devices_are_skipped_with_a_warning(hostile):
    done = result(hostile, "device")
    assert done["changed"] is True and [f["path"] for f in done["files"]] == ["/dev", "/dev/ok"]
    assert any("/dev/null" in w and "character device" in w for w in done["warnings"])
    assert sorted(os.listdir(os.path.join(hostile["dests"]["device"], "dev"))) == ["ok"]


def test_a_layer_of_100000_files_gives_the_one_asked_for(hostile):
    done = result(hostile, "many")
    assert done["changed"] is True, done
    assert done["files"] == [{"path": "/many/f099999", "type": "file", "size": 1, "mode": "0644",
                              "sha256": sha256(b"9").split(":")[1]}]
    assert os.listdir(os.path.join(hostile["dests"]["many"], "many")) == ["f099999"]
