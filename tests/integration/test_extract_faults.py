"""registry_extract against a scripted registry, for faults a real one cannot be made to produce on
cue: killed in the middle of a layer that stalls (dest stays as it was; the next run removes the
temporary directory the killed one left and puts the tree in place), and a layer whose bytes do
not match its digest."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import signal
import subprocess
import tarfile
import time

from tests.integration.ansible_runner import BIN, ansible_env, run_module
from tests.integration.test_hostile import digest, manifest_reply, registry
from tests.testbed.hostile import Reply

BIG = random.Random(7).randbytes(4 * 1024 * 1024)


def layer() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("big.bin")
        info.size, info.mode = len(BIG), 0o644
        archive.addfile(info, io.BytesIO(BIG))
    return gzip.compress(buffer.getvalue(), compresslevel=1)


LAYER = layer()
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(b"{}"), "size": 2},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(LAYER),
                "size": len(LAYER)}]}).encode()


def routes(stall: list) -> dict:
    def blob(_request):
        if stall:
            stall.pop()
            return Reply(200, {}, LAYER, stall=600, stall_at=2 * 1024 * 1024)
        return Reply(200, {}, LAYER)
    return {("GET", "/v2/app/manifests/1"): manifest_reply(MANIFEST),
            ("GET", "/v2/app/blobs/" + digest(LAYER)): blob}


def workspaces(parent) -> list:
    return [name for name in os.listdir(parent) if name.startswith(".dest.drc-extract-")]


def writing(parent) -> bool:
    for name in workspaces(parent):
        content = os.path.join(parent, name, "content")
        if os.path.isdir(content) and any(os.path.getsize(os.path.join(content, n)) for n in os.listdir(content)):
            return True
    return False


def holders(parent) -> set:
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                if ".drc-extract-" in os.readlink("/proc/%s/fd/%s" % (pid, fd)) and \
                        os.readlink("/proc/%s/fd/%s" % (pid, fd)).startswith(str(parent)):
                    pids.add(int(pid))
        except OSError:
            continue
    return pids


def kill(command_pid: int, parent) -> None:
    """SIGKILL to the command and to the module process, which runs outside its process group."""
    pids = holders(parent)
    os.killpg(command_pid, signal.SIGKILL)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 30
    while time.time() < deadline and holders(parent):
        time.sleep(0.1)


def test_a_killed_run_leaves_dest_as_it_was_and_the_next_cleans_up(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "before.txt").write_bytes(b"what dest held\n")
    with registry(routes(stall=[True])) as server:
        args = {"reference": "http://%s/app:1" % server.host, "paths": ["/big.bin"], "dest": str(dest),
                "timeout": 600, "retries": 0}
        command = [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_extract",
                   "-a", json.dumps(args)]
        first = subprocess.Popen(command, env=ansible_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline and not writing(tmp_path):
            time.sleep(0.1)
        assert writing(tmp_path)
        kill(first.pid, tmp_path)
        first.wait(timeout=30)
        assert sorted(os.listdir(dest)) == ["before.txt"]  # dest as it was
        assert len(workspaces(tmp_path)) == 1  # what a killed run leaves
        second = run_module("drc.registry.registry_extract", args)
    assert second.rc == 0, second.output
    assert workspaces(tmp_path) == [] and sorted(os.listdir(tmp_path)) == ["dest"]
    assert sorted(os.listdir(dest)) == ["big.bin"]
    assert (dest / "big.bin").read_bytes() == BIG


def test_a_layer_that_does_not_match_its_digest_is_refused_and_dest_unchanged(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "before.txt").write_bytes(b"what dest held\n")
    other = bytearray(LAYER)
    other[-6] ^= 0xFF  # the gzip trailer's CRC: a tar that still reads, bytes that do not hash
    answers = routes(stall=[])
    answers[("GET", "/v2/app/blobs/" + digest(LAYER))] = Reply(200, {}, bytes(other))
    with registry(answers) as server:
        run = run_module("drc.registry.registry_extract", {
            "reference": "http://%s/app:1" % server.host, "paths": ["/big.bin"], "dest": str(dest),
            "retries": 0})
    assert run.rc != 0 and "Traceback" not in run.output
    assert "hashes to" in run.output and digest(LAYER) in run.output, run.output
    assert sorted(os.listdir(dest)) == ["before.txt"] and sorted(os.listdir(tmp_path)) == ["dest"]
