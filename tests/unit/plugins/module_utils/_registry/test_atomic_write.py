"""The one safe write: the target is either as it was or whole, and nothing is left beside it."""

from __future__ import annotations

import os

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import atomic_write
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError


def test_a_write_replaces_the_target_and_leaves_nothing_beside_it(tmp_path):
    dest = tmp_path / "out"
    dest.write_bytes(b"old")
    got = atomic_write.write_beside(str(dest), lambda handle: handle.write(b"new") and "done")
    assert got == "done" and dest.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("part", [False, True])
def test_a_failing_write_leaves_the_target_as_it_was(tmp_path, part):
    dest = tmp_path / "out"
    dest.write_bytes(b"old")
    registered = []

    def fail(handle):
        handle.write(b"half")
        raise RegistryError("cut short")

    with pytest.raises(RegistryError, match="cut short"):
        atomic_write.write_beside(str(dest), fail, register=registered.append,
                                  part=atomic_write.part_path(str(dest), "sha256:ab") if part else None)
    assert dest.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out"]
    assert len(registered) == 1 and registered[0].endswith(atomic_write.PART_SUFFIX)


def test_a_disk_error_is_named(tmp_path):
    def full(handle):
        raise OSError(28, "No space left on device")

    with pytest.raises(RegistryError, match="No space left on device"):
        atomic_write.write_beside(str(tmp_path / "out"), full)
    assert os.listdir(tmp_path) == []


def test_a_move_that_declines_removes_the_file(tmp_path):
    dest = tmp_path / "out"
    dest.write_bytes(b"same")
    atomic_write.write_beside(str(dest), lambda handle: handle.write(b"same"), move=lambda part, d: None)
    assert os.listdir(tmp_path) == ["out"]


def test_a_part_file_is_resumed_and_other_parts_removed(tmp_path):
    dest = str(tmp_path / "blob")
    part = atomic_write.part_path(dest, "sha256:" + "1" * 64)
    stale = atomic_write.part_path(dest, "sha256:" + "2" * 64)
    with open(part, "wb") as handle:
        handle.write(b"first ")
    with open(stale, "wb") as handle:
        handle.write(b"other")

    def resume(handle):
        handle.seek(0, os.SEEK_END)
        handle.write(b"second")

    atomic_write.write_beside(dest, resume, part=part)
    with open(dest, "rb") as handle:
        assert handle.read() == b"first second"
    assert os.listdir(tmp_path) == ["blob"]


def test_a_small_file_is_written_with_its_mode(tmp_path):
    dest = tmp_path / "auth.json"
    dest.write_bytes(b"{}")
    os.chmod(dest, 0o644)
    atomic_write.write_file_atomically(str(dest), b'{"auths": {}}')
    assert dest.read_bytes() == b'{"auths": {}}'
    assert dest.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["auth.json"]


def test_a_fresh_write_removes_what_a_killed_run_left_but_not_a_part_in_use(tmp_path):
    dest = str(tmp_path / "layer")
    left = tmp_path / ".layer.killed.drc-part"
    left.write_bytes(b"debris")
    in_use = atomic_write.open_part(str(tmp_path / ".layer.busy.drc-part"))
    try:
        atomic_write.write_beside(dest, lambda handle: handle.write(b"layer"))
        assert sorted(os.listdir(tmp_path)) == [".layer.busy.drc-part", "layer"]
    finally:
        in_use.close()


@pytest.mark.parametrize("plant", ["symlink", "dangling-symlink", "fifo", "hard-link", "directory"])
def test_a_planted_part_is_replaced_never_written_through(tmp_path, plant):
    """Whoever can write dest's directory plants the part's name (sec26 B3): it is removed, never
    followed, opened or written, and the write goes through a new file of its own."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    dest = shared / "out"
    part = atomic_write.part_path(str(dest), "sha256:" + "ab" * 32)
    if plant == "symlink":
        os.symlink(str(victim), part)
    elif plant == "dangling-symlink":
        os.symlink(str(tmp_path / "created"), part)
    elif plant == "fifo":
        os.mkfifo(part)
    elif plant == "hard-link":
        os.link(str(victim), part)
    else:
        os.mkdir(part)
    atomic_write.write_beside(str(dest), lambda handle: handle.write(b"new"), part=part)
    assert dest.read_bytes() == b"new" and not os.path.islink(str(dest))
    assert victim.read_bytes() == b"precious\n"
    assert not (tmp_path / "created").exists()
    assert os.listdir(str(shared)) == ["out"]
