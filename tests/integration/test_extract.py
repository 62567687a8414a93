"""registry_extract on the real registries: images of several layers (overwrites, whiteouts, opaque
directories, symlinks, hard links, a large file) pushed with skopeo, extracted with the module and
compared byte for byte and mode for mode with umoci unpack's rootfs of the same OCI layout."""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import connection, ref
from tests.testbed.images import Layout
from tests.testbed.layered_images import (
    directory, fifo, file, hardlink, layered_image, opaque, owned, push, symlink, tar_bytes, umoci_unpack,
    whiteout)

MODULE = "drc.registry.registry_extract"
BIG = random.Random(31).randbytes(24 * 1024 * 1024)
PATHS = ["/etc", "/usr/bin", "/opt/site", "/data", "/var"]


def layers() -> list:
    first = tar_bytes([
        directory("etc"), directory("etc/app"), file("etc/app/conf", b"version 1\n"),
        file("etc/app/old", b"to be deleted\n"), file("etc/app/keep", b"kept until layer 3\n"),
        symlink("etc/alt", "app"), symlink("etc/abs", "/opt/site"),
        directory("usr"), directory("usr/bin"), file("usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        hardlink("usr/bin/tool-link", "usr/bin/tool"), file("usr/bin/suid", b"suid\n", 0o4755),
        directory("opt"), directory("opt/site"), file("opt/site/index.html", b"<h1>old</h1>\n"),
        directory("opt/site/css"), file("opt/site/css/a.css", b"body{}\n"),
        directory("data"), file("data/big.bin", BIG, 0o640), file("data/was-file", b"a file first\n"),
        directory("var"), directory("var/lib"), file("var/lib/state", b"state\n"),
        file("var/keep", b"var keep\n"), fifo("var/pipe"),
        # read again in a second pass: a hard link to a file outside the paths, and a file that a
        # symlink of a later layer brings into them
        file("srv/orig", b"linked from /pub\n", 0o640), directory("pub"), hardlink("pub/link", "srv/orig"),
        file("real/x", b"reached through a later symlink\n"),
    ])
    second = tar_bytes([
        file("etc/app/conf", b"version 2, longer\n", 0o600), whiteout("etc/app", "old"),
        opaque("opt/site"), file("opt/site/new.html", b"<h1>new</h1>\n"),
        whiteout("var", "lib"), hardlink("usr/bin/tool2", "usr/bin/tool"),
        directory("etc/ro", 0o555), file("etc/ro/inside", b"in a read-only directory\n", 0o444),
    ])
    third = tar_bytes([
        symlink("want", "real"),
        symlink("etc/app/keep", "conf"), directory("data/was-file", 0o750),
        file("data/was-file/now-inside", b"a directory now\n"), file("usr/bin/tool", b"#!/bin/sh\necho v3\n", 0o755),
    ])
    return [first, second, third]


def owned_layers() -> list:
    """Members with owners other than root; the second layer gives srv/app/data new owners."""
    return [tar_bytes([
        directory("srv"), owned(directory("srv/app", 0o750), 1001, 1002),
        owned(file("srv/app/data", b"owned by 1234\n", 0o640), 1234, 5678),
        file("srv/app/root-file", b"root's\n"), owned(symlink("srv/app/link", "data"), 4242, 4343),
    ]), tar_bytes([owned(file("srv/app/data", b"owned by 2345 now\n", 0o640), 2345, 6789)])]


# what owned_layers says: path -> (uid, gid)
IMAGE_OWNERS = {"srv": (0, 0), "srv/app": (1001, 1002), "srv/app/data": (2345, 6789),
                "srv/app/root-file": (0, 0), "srv/app/link": (4242, 4343)}


def tree(root: str) -> dict:
    """{relative path: (type, mode, sha256 or link target)} without following anything."""
    found = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            info = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("directory", oct(stat.S_IMODE(info.st_mode)))
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    found[rel] = ("file", oct(stat.S_IMODE(info.st_mode)), hashlib.sha256(handle.read()).hexdigest())
            else:
                found[rel] = ("other", oct(stat.S_IMODE(info.st_mode)))
    return found


def owners(root: str) -> dict:
    """{relative path: (uid, gid)} without following anything."""
    found = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            info = os.lstat(os.path.join(base, name))
            found[os.path.relpath(os.path.join(base, name), root)] = (info.st_uid, info.st_gid)
    return found


def subtree(root: str, paths: list) -> dict:
    out = {}
    for path in paths:
        rel = path.strip("/")
        for key, value in tree(os.path.join(root, rel)).items():
            out[os.path.join(rel, key)] = value
        info = os.lstat(os.path.join(root, rel))
        out[rel] = ("directory", oct(stat.S_IMODE(info.st_mode)))
    return out


@pytest.fixture(scope="module")
def extracted(testbed, tmp_path_factory):
    work = tmp_path_factory.mktemp("extract")
    layout_path = str(work / "layout")
    layout = Layout(layout_path)
    layered_image(layout, "layers", layers())
    layered_image(layout, "owned-gzip", owned_layers())
    layered_image(layout, "owned-zstd", owned_layers(), compression="zstd")
    layout.save()
    token = testbed.registries["token"]
    push(testbed, token, layout_path, "layers", "extract/layers:1")
    for compression in ("gzip", "zstd"):
        push(testbed, token, layout_path, "owned-" + compression, "extract/owned:" + compression)
    rootfs = umoci_unpack(layout_path, "layers", str(work / "bundle"))
    conn = connection(testbed, token)
    image = ref(token, "extract/layers:1")
    open_registry = testbed.registries["open"]
    dest = work / "dest"
    changed_dest, moded = work / "changed", work / "moded"
    play = work / "play"
    play.mkdir()
    common = dict(conn, reference=image, paths=PATHS)
    tasks = [
        {"name": "check mode first", MODULE: dict(common, dest=str(dest)), "check_mode": True, "diff": True, "register": "check"},
        {MODULE: dict(common, dest=str(dest)), "register": "first", "diff": True},
        {MODULE: dict(common, dest=str(dest)), "register": "again"},
        {MODULE: dict(common, dest=str(changed_dest)), "register": "changed_first"},
        # the same size, other bytes: only a hash tells
        {"ansible.builtin.shell": "printf 'version 2, LONGER\\n' > %s/etc/app/conf" % changed_dest,
         "register": "edit"},
        {MODULE: dict(common, dest=str(changed_dest)), "register": "changed_again", "diff": True},
        {"ansible.builtin.file": {"path": "%s/stray" % changed_dest, "state": "touch"}, "register": "touch"},
        {MODULE: dict(common, dest=str(changed_dest)), "register": "stray_again", "diff": True},
        {MODULE: dict(common, dest=str(moded), paths=["/usr/bin"], mode="0600"), "register": "moded"},
        {MODULE: dict(reference=ref(open_registry, "app/multi:oci"), platform="linux/arm64",
                      paths=["/arch.txt"], dest=str(work / "arm64")), "register": "platform"},
        {MODULE: dict(reference=ref(open_registry, "app/multi:oci"), paths=["/arch.txt"],
                      dest=str(work / "noplatform")), "register": "index_without_platform", "ignore_errors": True},
        {MODULE: dict(common, dest=str(work / "through"), paths=["/etc/alt/conf", "/etc/abs/new.html"]),
         "register": "through_symlinks"},
        {MODULE: dict(common, dest=str(work / "second"), paths=["/pub", "/want/x"]), "register": "second_pass"},
        {MODULE: dict(common, dest=str(work / "missing"), paths=["/etc/app/old"]), "register": "missing",
         "ignore_errors": True},
    ]
    owned_image = dict(conn, reference=ref(token, "extract/owned:gzip"), paths=["/srv"])
    tasks += [
        {MODULE: dict(owned_image, dest=str(work / "owners")), "register": "owners"},
        {MODULE: dict(owned_image, dest=str(work / "owners")), "register": "owners_again"},
        {MODULE: dict(owned_image, dest=str(work / "owners_set"), owner="nobody", group="4444"),
         "register": "owners_set"},
        {MODULE: dict(owned_image, dest=str(work / "owners_set"), owner="nobody", group="4444"),
         "register": "owners_set_again"},
        {MODULE: dict(owned_image, dest=str(work / "owner_only"), owner="4321"), "register": "owner_only"},
        {MODULE: dict(owned_image, dest=str(work / "owners_back"), owner="nobody", group="4444"),
         "register": "owners_back_set"},
        {MODULE: dict(owned_image, dest=str(work / "owners_back")), "register": "owners_back"},
        {MODULE: dict(owned_image, dest=str(work / "zstd"), reference=ref(token, "extract/owned:zstd")),
         "register": "zstd"},
    ]
    for task in tasks[-8:]:  # each is read by its own test: one failure must not hide the others
        task["ignore_errors"] = True
    run = run_playbook(tasks, str(play))
    assert "Traceback" not in run.output, run.output
    return {"run": run, "results": run.results, "rootfs": rootfs, "dest": str(dest), "work": work,
            "changed_dest": str(changed_dest), "moded": str(moded)}


def test_extracted_paths_equal_umoci_rootfs(extracted):
    results = extracted["results"]
    assert results["first"]["changed"] is True, results["first"]
    ours = subtree(extracted["dest"], PATHS)
    theirs = subtree(extracted["rootfs"], PATHS)
    theirs.pop("var/pipe")  # a fifo: umoci makes it, we skip it with a warning
    assert ours == theirs
    # what the layers did, spelled out (so that a shared mistake with umoci would still show)
    assert ours["etc/app/conf"][1] == "0o600" and "etc/app/old" not in ours
    assert ours["etc/app/keep"] == ("symlink", "conf")
    assert sorted(n for n in ours if n.startswith("opt/site/")) == ["opt/site/new.html"]
    assert "var/lib" not in ours and "var/keep" in ours
    assert ours["usr/bin/suid"][1] == "0o4755" and ours["etc/ro"][1] == "0o555"
    assert ours["data/was-file"][0] == "directory"
    with open(os.path.join(extracted["dest"], "data/big.bin"), "rb") as handle:
        assert handle.read() == BIG
    # hard links stay hard links; tool was replaced in layer 3, its links keep layer 1's bytes
    tool_link = os.stat(os.path.join(extracted["dest"], "usr/bin/tool-link"))
    assert tool_link.st_ino == os.stat(os.path.join(extracted["dest"], "usr/bin/tool2")).st_ino
    assert ours["usr/bin/tool-link"][2] == hashlib.sha256(b"#!/bin/sh\necho tool\n").hexdigest()


def test_result_lists_files_and_image_digest(extracted, testbed):
    first = extracted["results"]["first"]
    token = testbed.registries["token"]
    expected_digest = "sha256:" + hashlib.sha256(testbed.skopeo_raw_manifest(token, "extract/layers:1")).hexdigest()
    assert first["digest"] == expected_digest
    files = {f["path"]: f for f in first["files"]}
    assert files["/data/big.bin"] == {"path": "/data/big.bin", "type": "file", "size": len(BIG),
                                      "sha256": hashlib.sha256(BIG).hexdigest(), "mode": "0640"}
    assert files["/etc/alt"]["type"] == "symlink" and files["/etc/alt"]["link_target"] == "app"
    assert files["/etc"]["type"] == "directory"
    assert "/var/pipe" not in files
    assert any("/var/pipe" in w and "fifo" in w for w in first.get("warnings", [])), first


def test_check_mode_lists_what_would_be_written_and_writes_nothing(extracted):
    check = extracted["results"]["check"]
    assert check["changed"] is True
    assert [f["path"] for f in check["files"]] == [f["path"] for f in extracted["results"]["first"]["files"]]
    assert check["files"] == extracted["results"]["first"]["files"]
    assert "/etc/app/conf etc" not in check["diff"]["after"]
    assert "/data/big.bin file 0640 " + hashlib.sha256(BIG).hexdigest() in check["diff"]["after"]
    assert check["diff"]["before"] == ""


def test_second_run_is_idempotent(extracted):
    assert extracted["results"]["again"]["changed"] is False
    assert extracted["results"]["again"]["files"] == extracted["results"]["first"]["files"]


def test_a_changed_file_of_the_same_size_is_put_back(extracted):
    results = extracted["results"]
    assert results["changed_first"]["changed"] is True
    assert results["changed_again"]["changed"] is True
    with open(os.path.join(extracted["changed_dest"], "etc/app/conf"), "rb") as handle:
        assert handle.read() == b"version 2, longer\n"
    diff = results["changed_again"]["diff"]
    conf_lines = [line for line in diff["after"].splitlines() if line.startswith("/etc/app/conf ")]
    assert conf_lines and conf_lines[0] not in diff["before"]
    assert [line for line in diff["before"].splitlines() if line not in diff["after"]] == [
        line for line in diff["before"].splitlines() if line.startswith("/etc/app/conf ")]


def test_a_file_the_image_lacks_is_removed(extracted):
    results = extracted["results"]
    assert results["stray_again"]["changed"] is True
    assert not os.path.exists(os.path.join(extracted["changed_dest"], "stray"))
    diff = results["stray_again"]["diff"]
    assert "/stray file" in diff["before"] and "/stray" not in diff["after"]


def test_mode_option_applies_to_files(extracted):
    moded = extracted["moded"]
    assert extracted["results"]["moded"]["changed"] is True
    assert stat.S_IMODE(os.stat(os.path.join(moded, "usr/bin/tool")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(moded, "usr/bin")).st_mode) == 0o755
    assert all(f["mode"] == "0600" for f in extracted["results"]["moded"]["files"] if f["type"] == "file")


def test_platform_picks_the_child_and_an_index_needs_one(extracted):
    results = extracted["results"]
    with open(os.path.join(str(extracted["work"]), "arm64", "arch.txt"), "rb") as handle:
        assert handle.read() == b"linux/arm64\n"
    failed = results["index_without_platform"]
    assert failed["failed"] is True and "platform" in failed["msg"] and "linux/arm64" in failed["msg"]


def test_paths_through_symlinks_are_resolved_inside_the_image(extracted):
    result = extracted["results"]["through_symlinks"]
    assert result["changed"] is True, result
    base = os.path.join(str(extracted["work"]), "through")
    with open(os.path.join(base, "etc/alt/conf"), "rb") as handle:
        assert handle.read() == b"version 2, longer\n"
    with open(os.path.join(base, "etc/abs/new.html"), "rb") as handle:
        assert handle.read() == b"<h1>new</h1>\n"
    assert not os.path.islink(os.path.join(base, "etc/abs"))


def test_members_outside_the_paths_when_first_read_are_read_again(extracted):
    assert extracted["results"]["second_pass"]["changed"] is True
    base = os.path.join(str(extracted["work"]), "second")
    with open(os.path.join(base, "pub/link"), "rb") as handle:
        assert handle.read() == b"linked from /pub\n"
    assert stat.S_IMODE(os.stat(os.path.join(base, "pub/link")).st_mode) == 0o640
    with open(os.path.join(base, "want/x"), "rb") as handle:
        assert handle.read() == b"reached through a later symlink\n"
    assert sorted(os.listdir(base)) == ["pub", "want"]


def test_a_whited_out_path_is_not_in_the_image(extracted):
    failed = extracted["results"]["missing"]
    assert failed["failed"] is True and "/etc/app/old is not in the image" in failed["msg"]
    assert not os.path.exists(os.path.join(str(extracted["work"]), "missing"))


AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="owners are set only when the module runs as root")


@AS_ROOT
def test_image_owners_are_kept_when_running_as_root(extracted):
    results, work = extracted["results"], str(extracted["work"])
    assert results["owners"]["changed"] is True, results["owners"]
    assert owners(os.path.join(work, "owners")) == IMAGE_OWNERS
    assert results["owners_again"]["changed"] is False, results["owners_again"]
    # a tree with other owners is not what the image holds: put back
    assert results["owners_back_set"]["changed"] is True and results["owners_back"]["changed"] is True
    assert owners(os.path.join(work, "owners_back")) == IMAGE_OWNERS


@AS_ROOT
def test_owner_and_group_options_apply_to_everything_written(extracted):
    results, work = extracted["results"], str(extracted["work"])
    assert results["owners_set"]["changed"] is True, results["owners_set"]
    assert owners(os.path.join(work, "owners_set")) == dict.fromkeys(IMAGE_OWNERS, (65534, 4444))  # nobody
    assert results["owners_set_again"]["changed"] is False, results["owners_set_again"]
    # owner alone: the group stays the image's
    assert owners(os.path.join(work, "owner_only")) == dict(
        (path, (4321, gid)) for path, (_uid, gid) in IMAGE_OWNERS.items())


def test_a_zstd_layer_gives_the_same_tree_as_its_gzip_twin(extracted, testbed):
    results, work = extracted["results"], str(extracted["work"])
    token = testbed.registries["token"]
    media_types = {}
    for compression in ("gzip", "zstd"):
        manifest = json.loads(testbed.skopeo_raw_manifest(token, "extract/owned:" + compression))
        media_types[compression] = set(layer["mediaType"] for layer in manifest["layers"])
    assert media_types == {"gzip": {"application/vnd.oci.image.layer.v1.tar+gzip"},
                           "zstd": {"application/vnd.oci.image.layer.v1.tar+zstd"}}
    zstd = results["zstd"]
    assert zstd.get("failed") is not True and zstd["changed"] is True, zstd
    assert zstd["digest"] != results["owners"]["digest"]
    assert zstd["files"] == results["owners"]["files"]
    assert tree(os.path.join(work, "zstd")) == tree(os.path.join(work, "owners"))
    assert owners(os.path.join(work, "zstd")) == owners(os.path.join(work, "owners"))
    with open(os.path.join(work, "zstd", "srv/app/data"), "rb") as handle:
        assert handle.read() == b"owned by 2345 now\n"
