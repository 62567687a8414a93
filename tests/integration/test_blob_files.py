"""registry_blob_fetch's files: a killed run resumes and leaves nothing behind, downloads are bounded
by the declared or given size, a full disk is named as such (issue 10, items 8-10)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from tests.integration.ansible_runner import BIN, ansible_env, run_module
from tests.integration.test_hostile import assert_clean, digest, registry
from tests.testbed.hostile import Reply

BLOB = os.urandom(3 * 1024 * 1024)
BLOB_DIGEST = digest(BLOB)


def ranged_blob(body: bytes, stall_first: list | None = None):
    """Serve ``body`` honouring ``Range: bytes=N-``; the first answer may stall after 2 MiB (more
    than one of the client's 1 MiB reads, so that something reaches the part file)."""
    def reply(request):
        if request.method == "HEAD":
            return Reply(200, {}, b"", content_length=len(body))
        start = 0
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes="):
            start = int(wanted[len("bytes="):].rstrip("-"))
        if stall_first:
            stall_first.pop()
            return Reply(200, {}, body, stall=600, stall_at=2 * 1024 * 1024)
        if start:
            return Reply(206, {"Content-Range": "bytes %d-%d/%d" % (start, len(body) - 1, len(body))},
                         body[start:])
        return Reply(200, {}, body)
    return reply


def fetch_args(server, dest, **extra) -> dict:
    args = {"repository": "http://%s/app" % server.host, "digest": BLOB_DIGEST, "dest": str(dest),
            "retries": 0}
    args.update(extra)
    return args


def started_writing(directory) -> bool:
    return any(n.endswith(".drc-part") and os.path.getsize(directory / n) for n in os.listdir(directory))


def processes_holding(directory) -> set:
    """PIDs with a part file of ``directory`` open: the module process itself, which Ansible runs
    outside the process group of the ``ansible`` command."""
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                target = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                if target.startswith(str(directory)) and target.endswith(".drc-part"):
                    pids.add(int(pid))
        except OSError:
            continue
    return pids


def kill_download(command_pid: int, directory, kill_signal) -> None:
    holders = processes_holding(directory)
    os.killpg(command_pid, kill_signal)
    for pid in holders:
        try:
            os.kill(pid, kill_signal)
        except ProcessLookupError:
            pass
    deadline = time.time() + 30
    while time.time() < deadline and processes_holding(directory):
        time.sleep(0.1)


@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_download_resumes_and_leaves_only_the_blob(tmp_path, kill_signal):
    path = "/v2/app/blobs/" + BLOB_DIGEST
    with registry({("GET", path): ranged_blob(BLOB, stall_first=[True]),
                   ("HEAD", path): ranged_blob(BLOB)}) as server:
        command = [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_blob_fetch",
                   "-a", json.dumps(fetch_args(server, tmp_path, timeout=600))]
        first = subprocess.Popen(command, env=ansible_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline and not started_writing(tmp_path):
            time.sleep(0.1)
        kill_download(first.pid, tmp_path, kill_signal)
        first.wait(timeout=30)
        left = os.listdir(tmp_path)
        assert len(left) == 1 and left[0].endswith(".drc-part"), left  # what a killed run leaves
        kept = os.path.getsize(tmp_path / left[0])
        assert 0 < kept < len(BLOB)

        second = run_module("drc.registry.registry_blob_fetch", fetch_args(server, tmp_path))
    assert second.rc == 0, second.output
    assert os.listdir(tmp_path) == [BLOB_DIGEST]
    assert (tmp_path / BLOB_DIGEST).read_bytes() == BLOB
    ranges = [r.headers.get("Range") for r in server.requests if r.method == "GET" and r.path == path]
    assert ranges[-1] == "bytes=%d-" % kept, ranges  # resumed where the killed run had stopped


def test_a_stale_part_of_other_content_is_removed(tmp_path):
    path = "/v2/app/blobs/" + BLOB_DIGEST
    stale = tmp_path / (".%s.%s.drc-part" % (BLOB_DIGEST, "0" * 16))
    stale.write_bytes(b"left by a killed run for other content")
    with registry({("GET", path): ranged_blob(BLOB)}) as server:
        run = run_module("drc.registry.registry_blob_fetch", fetch_args(server, tmp_path))
    assert run.rc == 0, run.output
    assert os.listdir(tmp_path) == [BLOB_DIGEST]


@pytest.mark.parametrize("declared_by", ["size option", "content-length", "head"])
def test_a_body_larger_than_declared_is_not_read_past_the_size(tmp_path, declared_by):
    small = b"tiny!"
    flood = small + b"x" * (64 * 1024 * 1024)
    small_digest = digest(small)
    path = "/v2/app/blobs/" + small_digest

    def flood_reply(request):
        if request.method == "HEAD":
            return Reply(200, {}, b"", content_length=len(small))
        if declared_by == "content-length":
            return Reply(200, {}, flood, content_length=len(small) + 10)
        return Reply(200, {}, flood, send_length=False)

    extra = {"digest": small_digest}
    if declared_by == "size option":
        extra["size"] = len(small)
    dest = tmp_path / "blob"
    dest.write_bytes(b"precious")
    with registry({("GET", path): flood_reply, ("HEAD", path): flood_reply}) as server:
        run = run_module("drc.registry.registry_blob_fetch", fetch_args(server, dest, **extra))
    assert run.rc != 0, run.output
    if declared_by == "content-length":
        # The HTTP framing stops the body at its Content-Length (15 bytes: the 5 right ones and
        # 10 of the flood): those bytes are refused by their digest, nothing past them is read.
        assert "refusing content that does not match its digest" in run.result["msg"], run.result
    else:
        assert "larger than the %d bytes" % len(small) in run.result["msg"], run.result
    assert dest.read_bytes() == b"precious" and os.listdir(tmp_path) == ["blob"]
    assert_clean(run)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_is_named_and_not_retried(tmp_path):
    # A 1 MiB file system for a 3 MiB blob: the part file's writes fail with ENOSPC. (A part file
    # planted as a link to /dev/full did this once; a planted part is now removed, never followed.)
    import subprocess
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    path = "/v2/app/blobs/" + BLOB_DIGEST
    try:
        assert len(BLOB) > 1024 * 1024
        with registry({("GET", path): ranged_blob(BLOB)}) as server:
            run = run_module("drc.registry.registry_blob_fetch",
                             fetch_args(server, small / "blob", retries=3))
        left = os.listdir(str(small))
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert left == [], left
    assert run.rc != 0
    assert "No space left on device" in run.result["msg"], run.result
    assert "interrupted" not in run.result["msg"]
    gets = [r for r in server.requests if r.method == "GET" and r.path == path]
    assert len(gets) == 1, len(gets)  # a write error is not a network error: no retry


def test_existing_right_content_is_not_downloaded_again(tmp_path):
    path = "/v2/app/blobs/" + BLOB_DIGEST
    (tmp_path / BLOB_DIGEST).write_bytes(BLOB)
    with registry({("GET", path): ranged_blob(BLOB)}) as server:
        run = run_module("drc.registry.registry_blob_fetch", fetch_args(server, tmp_path))
    assert run.rc == 0 and run.result["changed"] is False
    assert not [r for r in server.requests if r.path == path]
    assert hashlib.sha256((tmp_path / BLOB_DIGEST).read_bytes()).hexdigest() == BLOB_DIGEST[7:]
