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
# The stalled answer sends this much, then pauses: more than one 1 MiB read of the client, so a
# whole chunk reaches the part file before the run is killed.
STALL_AT = 1536 * 1024
BLOB_DIGEST = digest(BLOB)


def ranged_blob(body: bytes, stall_first: list | None = None):
    """Serve ``body`` honouring ``Range: bytes=N-``; the first answer may stall after one byte."""
    def reply(request):
        if request.method == "HEAD":
            return Reply(200, {}, b"", content_length=len(body))
        start = 0
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes="):
            start = int(wanted[len("bytes="):].rstrip("-"))
        if stall_first:
            stall_first.pop()
            return Reply(200, {}, body, stall=600, stall_at=STALL_AT)
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


def writers_of(directory) -> list:
    """Pids of the processes holding a part file in ``directory`` open (the module's process,
    which Ansible does not always run in the group of the ``ansible`` command)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
            targets = [os.readlink("/proc/%s/fd/%s" % (pid, fd)) for fd in fds]
        except OSError:
            continue
        if any(t.startswith(str(directory) + "/") and t.endswith(".drc-part") for t in targets):
            pids.append(int(pid))
    return pids


def started_writing(directory) -> bool:
    return any(n.endswith(".drc-part") and os.path.getsize(directory / n) for n in os.listdir(directory))


@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_download_resumes_and_leaves_only_the_blob(tmp_path, kill_signal):
    path = "/v2/app/blobs/" + BLOB_DIGEST
    with registry({("GET", path): ranged_blob(BLOB, stall_first=[True]),
                   ("HEAD", path): ranged_blob(BLOB)}) as server:
        command = [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_blob_fetch",
                   "-a", json.dumps(fetch_args(server, tmp_path))]
        first = subprocess.Popen(command, env=ansible_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline and not started_writing(tmp_path):
            time.sleep(0.1)
        writers = writers_of(tmp_path)
        os.killpg(first.pid, kill_signal)
        for pid in writers:  # the run is killed: its module process too, wherever it runs
            try:
                os.kill(pid, kill_signal)
            except ProcessLookupError:
                pass
        first.wait(timeout=30)
        deadline = time.time() + 30
        while time.time() < deadline and writers_of(tmp_path):
            time.sleep(0.1)
        left = os.listdir(tmp_path)
        assert len(left) == 1 and left[0].endswith(".drc-part"), left  # what a killed run leaves

        second = run_module("drc.registry.registry_blob_fetch", fetch_args(server, tmp_path))
    assert second.rc == 0, second.output
    assert os.listdir(tmp_path) == [BLOB_DIGEST]
    assert (tmp_path / BLOB_DIGEST).read_bytes() == BLOB
    ranges = [r.headers.get("Range") for r in server.requests if r.method == "GET" and r.path == path]
    # resumed from what the killed run had written (whole chunks, none of them past the stall)
    assert ranges[-1] and ranges[-1].startswith("bytes=") and ranges[-1].endswith("-"), ranges
    offset = int(ranges[-1][len("bytes="):-1])
    assert 0 < offset <= STALL_AT, ranges


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


def test_a_full_disk_is_named_and_not_retried(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.fail("this test needs /dev/full to simulate a full disk")
    # /dev/full cannot hold a part file beside it, so write through a directory whose part file is
    # a symlink to /dev/full: every write fails with ENOSPC, as on a full file system.
    path = "/v2/app/blobs/" + BLOB_DIGEST
    part = tmp_path / (".%s.%s.drc-part" % ("blob", BLOB_DIGEST.split(":")[1][:16]))
    os.symlink("/dev/full", part)
    with registry({("GET", path): ranged_blob(BLOB)}) as server:
        run = run_module("drc.registry.registry_blob_fetch",
                         fetch_args(server, tmp_path / "blob", retries=3))
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
