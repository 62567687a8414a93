"""The image tree registry_extract builds: whiteouts, opaque directories, names and symlinks
resolved inside the image's root, member names and paths refused. Table-driven: each row is a list
of layers (each a list of members) and the paths the final tree holds."""

from __future__ import annotations

import io
import tarfile

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import image_tree as it
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.image_fs import parse_paths
from ansible_collections.drc.registry.plugins.module_utils._registry.layer_archive import (
    LayerArchive, LayerError)


def apply(layers: list) -> it.ImageTree:
    """Members: ("f", name) file, ("d", name) directory, ("l", name, target) symlink,
    ("w", name) a whiteout or opaque marker (its name as in the tar)."""
    tree = it.ImageTree()
    for number, members in enumerate(layers):
        for member in members:
            kind, name = member[0], member[1]
            parts = it.clean_components(name)
            if kind == "w":
                tree.whiteout(parts, number, name)
            elif kind == "d":
                tree.add(parts, it.Entry(it.DIRECTORY, number), name)
            elif kind == "l":
                tree.add(parts, it.Entry(it.SYMLINK, number, linkname=member[2]), name)
            else:
                tree.add(parts, it.Entry(it.FILE, number, content=(number, name)), name)
    return tree


def listing(tree: it.ImageTree) -> list:
    found = []

    def walk(node, prefix):
        for name, child in sorted(node.children.items()):
            path = prefix + "/" + name
            found.append(path + ("@%d" % child.entry.layer if child.entry.kind == it.FILE else
                                 "->" + child.entry.linkname if child.entry.kind == it.SYMLINK else "/"))
            if child.children is not None:
                walk(child, path)
    walk(tree.root, "")
    return found


CASES = [
    ("a later layer overwrites",
     [[("f", "a")], [("f", "a")]], ["/a@1"]),
    ("a whiteout deletes a lower file",
     [[("f", "d/a"), ("f", "d/b")], [("w", "d/.wh.a")]], ["/d/", "/d/b@0"]),
    ("a whiteout deletes a lower directory and all below",
     [[("f", "d/sub/a")], [("w", "d/.wh.sub")]], ["/d/"]),
    ("a whiteout spares what its own layer wrote, before or after it",
     [[("f", "d/a")], [("f", "d/a"), ("w", "d/.wh.a")]], ["/d/", "/d/a@1"]),
    ("an opaque directory hides the lower contents, keeps its own layer's",
     [[("f", "d/old"), ("f", "d/sub/x")], [("f", "d/new"), ("w", "d/.wh..wh..opq")]], ["/d/", "/d/new@1"]),
    ("opaque then new contents in a later layer",
     [[("f", "d/old")], [("w", "d/.wh..wh..opq")], [("f", "d/late")]], ["/d/", "/d/late@2"]),
    ("a whiteout of something absent changes nothing",
     [[("f", "a")], [("w", ".wh.b")]], ["/a@0"]),
    ("dot-dot in a name stops at the root",
     [[("f", "../../../../etc/x")]], ["/etc/", "/etc/x@0"]),
    ("an absolute name is relative to the root",
     [[("f", "/etc/y")]], ["/etc/", "/etc/y@0"]),
    ("a parent symlink to an absolute path is followed from the image's root",
     [[("l", "d/out", "/tmp/host")], [("f", "d/out/x")]],
     ["/d/", "/d/out->/tmp/host", "/tmp/", "/tmp/host/", "/tmp/host/x@1"]),
    ("a parent symlink climbing out stops at the root",
     [[("l", "up", "../../../../../..")], [("f", "up/x")]], ["/up->../../../../../..", "/x@1"]),
    ("a member over a symlink replaces it, never writes through it",
     [[("l", "link", "/etc/passwd")], [("f", "link")]], ["/link@1"]),
    ("a file replacing a directory drops its contents",
     [[("f", "d/a")], [("f", "d")]], ["/d@1"]),
    ("a directory over a directory keeps its contents",
     [[("f", "d/a")], [("d", "d")]], ["/d/", "/d/a@0"]),
]


@pytest.mark.parametrize("layers,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layers_make_the_tree(layers, expected):
    assert listing(apply(layers)) == expected


def test_a_symlink_loop_is_refused_naming_the_member():
    with pytest.raises(it.ImageTreeError, match="a/x: too many levels of symbolic links"):
        apply([[("l", "a", "b"), ("l", "b", "a")], [("f", "a/x")]])


def test_lookup_resolves_parents_and_keeps_a_final_symlink():
    tree = apply([[("f", "real/conf"), ("l", "etc/alt", "/real"), ("l", "rel", "real/conf")]])
    assert tree.lookup(["etc", "alt", "conf"], "p").entry.content == (0, "real/conf")
    assert tree.lookup(["rel"], "p").entry.kind == it.SYMLINK
    assert tree.lookup(["nothing", "here"], "p") is None


@pytest.mark.parametrize("paths,message", [
    (["etc"], "not an absolute path"),
    (["/etc/../../x"], "'..' component"),
    (["/a\x00b"], "NUL"),
    (["/" + "x" * 5000], "longer than 4096"),
    (["/etc", "/etc/ssl"], "inside '/etc'"),
    (["/etc", "/etc/"], "the same path as"),
    ([], "non-empty list"),
])
def test_bad_paths_are_refused_naming_them(paths, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        parse_paths(paths)


class _Stream(io.BytesIO):
    def drain(self) -> None:
        self.read()


def _layer(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _pax(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo("placeholder")
    info.pax_headers = {"path": name}
    return info


@pytest.mark.parametrize("info,message", [
    (_pax("a\x00b"), "its name contains a NUL byte"),
    (_pax("d/" + "n" * 4100), "its name is longer than 4096 bytes"),
])
def test_member_names_are_refused(info, message):
    archive = LayerArchive(_Stream(_layer(info, b"x")), "tar", "layer 1")
    with pytest.raises(LayerError, match="layer 1: refusing member .*" + message):
        list(archive)


def test_an_oversized_extended_header_is_refused_before_it_is_read():
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 64 * 1024 * 1024
    with pytest.raises(LayerError, match="layer 1: an extended tar header of 67108864 bytes"):
        list(LayerArchive(_Stream(info.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * 2048), "tar", "layer 1"))


def _files_layer() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in ("a", "b"):
            info = tarfile.TarInfo(name)
            info.size = 64 * 1024
            archive.addfile(info, io.BytesIO(name.encode() * info.size))
    return buffer.getvalue()


def _read_all(archive: LayerArchive) -> dict:
    return dict((info.name, b"".join(archive.read_member(info))) for _ordinal, info in archive)


def test_a_zstd_layer_reads_as_its_tar():
    import zstandard
    raw = _files_layer()
    from_zstd = _read_all(LayerArchive(_Stream(zstandard.ZstdCompressor().compress(raw)), "zstd", "layer 1"))
    assert from_zstd == _read_all(LayerArchive(_Stream(raw), "tar", "layer 1"))
    assert sorted(from_zstd) == ["a", "b"] and from_zstd["b"] == b"b" * 64 * 1024


@pytest.mark.parametrize("damage", ["gzip-bytes", "cut"])
def test_a_zstd_layer_that_is_no_zstd_is_refused_naming_the_layer(damage):
    """Bytes under a zstd media type that zstandard cannot decompress: a LayerError, never
    zstandard's own exception (which would reach Ansible as a traceback)."""
    import gzip
    import zstandard
    raw = _files_layer()
    if damage == "gzip-bytes":
        data = gzip.compress(raw)
    else:  # a frame whose end is overwritten
        data = zstandard.ZstdCompressor().compress(raw)[:-600] + b"\xff" * 600
    with pytest.raises(LayerError, match="layer 1 is not a valid tar archive"):
        _read_all(LayerArchive(_Stream(data), "zstd", "layer 1"))


def test_a_sparse_member_is_refused_naming_the_layer_and_member(tmp_path):
    """Its holes would be written out whole: a few KiB of layer would fill the disk (sec26 B8)."""
    import shutil
    import subprocess
    if shutil.which("tar") is None:
        pytest.skip("GNU tar makes the sparse member")
    with open(str(tmp_path / "hole"), "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    layer = tmp_path / "layer.tar"
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(layer), "-C", str(tmp_path), "hole"], check=True)
    archive = LayerArchive(_Stream(layer.read_bytes()), "tar", "layer 1")
    with pytest.raises(LayerError, match="layer 1: refusing member .*hole.*: a sparse file"):
        list(archive)


def test_a_tree_deeper_than_the_bound_is_refused_naming_the_member():
    """A deep member made the tree's recursive walks die of RecursionError (sec26 B13)."""
    deepest = "a/" * (it.MAX_DEPTH - 1) + "f"
    assert listing(apply([[("f", deepest)]]))[-1] == "/" + deepest + "@0"
    with pytest.raises(it.ImageTreeError, match="a/f: deeper than %d directories" % it.MAX_DEPTH):
        apply([[("f", "a/" * it.MAX_DEPTH + "f")]])


def test_a_tree_made_deep_through_a_symlink_is_refused():
    """Short names, deep places: each parent symlink adds its target's depth."""
    link = ("l", "x", "/" + "a/" * 200)
    with pytest.raises(it.ImageTreeError, match="deeper than %d directories" % it.MAX_DEPTH):
        apply([[link], [("f", "x/" + "b/" * 100 + "f")]])
