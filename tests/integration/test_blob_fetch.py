"""registry_blob_fetch against real registries: verified, atomic, idempotent, check and diff mode."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref

MODULE = "drc.registry.registry_blob_fetch"


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def layer_of(testbed, registry, image: str) -> dict:
    manifest = json.loads(testbed.skopeo_raw_manifest(registry, image))
    return manifest["layers"][0]


def leftovers(directory) -> list:
    return [name for name in os.listdir(directory) if name.startswith(".drc-blob-")]


def test_fetch_big_layer_then_again_unchanged(testbed, registry, tmp_path):
    """The 64 MiB layer on every registry; the second run downloads nothing."""
    layer = layer_of(testbed, registry, "app/big:1.0")
    dest = tmp_path / "big.tar"
    args = dict(repository=ref(registry, "app/big"), digest=layer["digest"], dest=str(dest),
                mode="0640", **connection(testbed, registry))
    tasks = [{MODULE: args, "register": "first"}, {MODULE: args, "register": "second"}]
    mark = registry.access_log_mark()
    run = run_playbook(tasks, str(tmp_path))
    assert run.rc == 0, run.output
    first, second = run.results["first"], run.results["second"]
    assert first["changed"] is True and second["changed"] is False
    assert first["size"] == layer["size"] == os.path.getsize(dest) > 64 * 1024 * 1024
    assert file_sha256(dest) == layer["digest"] == first["digest"]
    assert oct(os.stat(dest).st_mode & 0o777) == "0o640"
    assert leftovers(tmp_path) == []
    import time
    time.sleep(0.2)
    blob_gets = [r for r in registry.requests_since(mark) if r[0] == "GET" and "/blobs/" in r[1]]
    assert len(blob_gets) == 1  # the second task hashed the file and fetched nothing


def test_dest_directory_names_file_by_digest(testbed, tmp_path):
    registry = testbed.registries["open"]
    layer = layer_of(testbed, registry, "app/oci:1.0")
    run = run_module(MODULE, dict(repository=ref(registry, "app/oci"), digest=layer["digest"],
                                  dest=str(tmp_path)))
    assert run.rc == 0, run.output
    assert run.result["dest"] == str(tmp_path / layer["digest"])
    assert file_sha256(tmp_path / layer["digest"]) == layer["digest"]


def test_check_mode_writes_nothing_and_diff_shows_digests(testbed, tmp_path):
    (tmp_path / "play").mkdir()
    registry = testbed.registries["token"]
    layer = layer_of(testbed, registry, "app/oci:1.0")
    dest = tmp_path / "layer"
    dest.write_bytes(b"old content")
    args = dict(repository=ref(registry, "app/oci"), digest=layer["digest"], dest=str(dest),
                **connection(testbed, registry))
    run = run_playbook([{MODULE: args, "check_mode": True, "diff": True, "register": "fetched"}],
                       str(tmp_path / "play"))
    assert run.rc == 0, run.output
    result = run.results["fetched"]
    assert result["changed"] is True
    assert dest.read_bytes() == b"old content"
    assert leftovers(tmp_path) == []
    diff = result["diff"]
    assert diff["before"]["digest"] == "sha256:" + hashlib.sha256(b"old content").hexdigest()
    assert diff["before"]["size"] == 11
    assert diff["after"] == {"digest": layer["digest"], "size": layer["size"]}


def test_existing_right_content_is_unchanged_even_in_check_mode(testbed, tmp_path):
    """The right file already there: no request at all, the file not replaced, in either mode."""
    registry = testbed.registries["open"]
    layer = layer_of(testbed, registry, "app/oci:1.0")
    dest = tmp_path / "l"
    args = dict(repository=ref(registry, "app/oci"), digest=layer["digest"], dest=str(dest))
    assert run_module(MODULE, args).rc == 0
    before = os.stat(dest)
    mark = registry.access_log_mark()
    for check in (True, False):
        run = run_module(MODULE, args, check=check)
        assert run.rc == 0 and run.result["changed"] is False, run.output
        assert run.result["size"] == layer["size"]
    import time
    time.sleep(0.2)
    assert registry.requests_since(mark) == []  # not even a ping: the local hash decided
    after = os.stat(dest)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("digest, fragment", [
    ("sha256:" + "0" * 64, "404"),
    ("sha256:abc", "exactly 64"),
    ("md5:" + "0" * 32, "not supported"),
])
def test_bad_digest_leaves_destination_untouched(testbed, tmp_path, digest, fragment):
    registry = testbed.registries["basic"]
    dest = tmp_path / "keep"
    dest.write_bytes(b"precious")
    run = run_module(MODULE, dict(repository=ref(registry, "app/oci"), digest=digest, dest=str(dest),
                                  **connection(testbed, registry)))
    assert run.rc != 0
    assert fragment in run.result["msg"], run.result["msg"]
    assert dest.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


def test_missing_directory_is_a_clear_failure(testbed, tmp_path):
    registry = testbed.registries["open"]
    run = run_module(MODULE, dict(repository=ref(registry, "app/oci"), digest="sha256:" + "0" * 64,
                                  dest=str(tmp_path / "no" / "such" / "file")))
    assert run.rc != 0 and "does not exist" in run.result["msg"]
