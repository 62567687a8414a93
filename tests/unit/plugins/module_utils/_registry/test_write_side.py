"""The write side's pure pieces, and uploads against a scripted server for what a real registry
does not do (a registry that reports less than it acknowledged, wrong digests, lying mounts)."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import signal
import tarfile
import tempfile

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import BytesSource
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    DigestHasher, ThreadedHasher)
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions, RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.copy import (
    filter_platforms, image_blobs)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.copy_options import (
    check_copy_options, side_options)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, parse_platform)
from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import (
    LockedTempDir, OciLayout, extract_archive, remove_debris)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import (
    parse_layout_location, parse_location)
from ansible_collections.drc.registry.plugins.module_utils._registry.uploads import (
    parse_range, push_blob, with_query)
from tests.testbed.hostile import HostileServer, Reply

KIB = 1024


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("value, received", [
    ("0-1023", 1024), ("bytes=0-99", 100), ("0-0", 0), (None, None), ("", None), ("5-10", None),
    ("0-x", None), ("garbage", None),
])
def test_parse_range(value, received):
    assert parse_range(value) == received


def test_with_query_keeps_the_registrys_state():
    url = with_query("http://r/v2/a/blobs/uploads/u?_state=abc%3D&x=1", digest="sha256:00")
    assert url == "http://r/v2/a/blobs/uploads/u?_state=abc%3D&x=1&digest=sha256%3A00"


@pytest.mark.parametrize("threaded", [False, True])
def test_stream_hasher_hashes_each_byte_once_in_order(threaded):
    hasher = ThreadedHasher("sha256") if threaded else DigestHasher("sha256")
    hasher.feed(0, b"abcdef")
    hasher.feed(3, b"defgh")  # re-read overlap: only "gh" is new
    hasher.feed(8, b"")
    hasher.feed(2, b"cd")  # all hashed already
    assert hasher.size == 8
    with pytest.raises(RegistryError):
        hasher.feed(10, b"x")  # a gap is a bug, never silently hashed
    assert hasher.digest() == sha256(b"abcdefgh")
    hasher.close()


@pytest.mark.parametrize("task, override, expected", [
    # a side naming a credential takes all of them from its override
    ({"username": "task", "password": "task-pw"}, {"username": "side"},
     {"username": "side", "password": None, "identity_token": None}),
    ({"username": "task", "password": "task-pw"}, {"identity_token": "tok"},
     {"username": None, "password": None, "identity_token": "tok"}),
    # a side without credentials keeps the task's, and overrides only what it names
    ({"username": "task", "password": "task-pw", "validate_certs": True}, {"validate_certs": False},
     {"username": "task", "password": "task-pw", "validate_certs": False}),
    ({"username": "task", "password": "task-pw"}, None, {"username": "task", "password": "task-pw"}),
    # unset keys of a side (None) do not erase the task's
    ({"timeout": 5.0}, {"timeout": None, "retries": 1}, {"timeout": 5.0, "retries": 1}),
])
def test_side_options(task, override, expected):
    merged = side_options(task, override)
    for key, value in expected.items():
        assert merged[key] == value, key


@pytest.mark.parametrize("value, expected", [
    ("oci:/tmp/lay", ("oci", "/tmp/lay", None)),
    ("oci:/tmp/lay:v1", ("oci", "/tmp/lay", "v1")),
    ("oci-archive:relative.tar:latest", ("oci-archive", "relative.tar", "latest")),
    ("localhost:5000/app:1", None),
    ("docker://x", None),
])
def test_parse_layout_location(value, expected):
    assert parse_layout_location(value) == expected


@pytest.mark.parametrize("value, message", [
    ("oci:", "path of the OCI layout is empty"),
    ("oci:/tmp/x:", "tag ''"),
    ("oci:/tmp/x:a/b", "tag 'a/b'"),
    ("", "invalid location"),
])
def test_bad_locations(value, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse_location(value)


def test_docker_prefix_is_a_registry_reference():
    kind, reference = parse_location("docker://quay.io/org/app:1")
    assert kind == "registry" and reference.string == "quay.io/org/app:1"


@pytest.mark.parametrize("chunk, concurrency, platforms, message", [
    (10, 4, None, "chunk_size must be between"),
    (1 << 20, 0, None, "concurrency must be between"),
    (1 << 20, 17, None, "concurrency must be between"),
    (1 << 20, 4, [], "at least one platform"),
    (1 << 20, 4, ["linux"], "invalid platform 'linux'"),
])
def test_copy_option_checks(chunk, concurrency, platforms, message):
    with pytest.raises(InputError, match=re.escape(message)):
        check_copy_options(chunk, concurrency, platforms)


INDEX = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "annotations": {"a": "b"},
                    "manifests": [
                        {"mediaType": "m", "digest": "sha256:" + "1" * 64, "size": 1,
                         "platform": {"os": "linux", "architecture": "amd64"}},
                        {"mediaType": "m", "digest": "sha256:" + "2" * 64, "size": 2,
                         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                        {"mediaType": "m", "digest": "sha256:" + "3" * 64, "size": 3,
                         "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]}).encode()


def test_filter_platforms_keeps_the_index_order_and_fields():
    index = Manifest(INDEX, "application/vnd.oci.image.index.v1+json")
    picked = filter_platforms(index, [parse_platform("linux/arm64"), parse_platform("linux/amd64")])
    body = json.loads(picked.raw)
    assert [m["digest"][-1] for m in body["manifests"]] == ["1", "2"]
    assert body["annotations"] == {"a": "b"} and picked.media_type == index.media_type
    assert picked.digest == sha256(picked.raw) != index.digest
    with pytest.raises(RegistryError, match="linux/s390x is not in the index.*linux/arm/v7"):
        filter_platforms(index, [parse_platform("linux/s390x")])


def test_image_blobs_skip_foreign_layers():
    manifest = Manifest(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "c", "digest": "sha256:" + "a" * 64, "size": 5},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": "sha256:" + "b" * 64, "size": 9, "urls": ["https://x/y"]},
                   {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": "sha256:" + "c" * 64, "size": 7}]}).encode(), None)
    assert [b["digest"][-1] for b in image_blobs(manifest)] == ["a", "c"]
    broken = Manifest(json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "a" * 64},
                                  "layers": []}).encode(), None)
    with pytest.raises(RegistryError, match="without a valid digest and size"):
        image_blobs(broken)


# -- OCI layouts --------------------------------------------------------------------------------
def test_layout_tags_and_atomic_blobs(tmp_path):
    layout = OciLayout(str(tmp_path / "lay"))
    layout.prepare()
    data = b"x" * 5000
    layout.write_blob_stream(sha256(data), len(data), BytesSource(data))
    assert layout.has_blob(sha256(data), len(data))
    layout.set_tag("v1", {"mediaType": "m", "digest": sha256(data), "size": len(data)})
    layout.set_tag("v2", {"mediaType": "m", "digest": sha256(data), "size": len(data)})
    layout.set_tag("v1", {"mediaType": "m", "digest": sha256(b"other"), "size": 5})
    entries = layout.entries()
    assert [(e["annotations"]["org.opencontainers.image.ref.name"], e["digest"]) for e in entries] == [
        ("v2", sha256(data)), ("v1", sha256(b"other"))]
    with pytest.raises(InputError, match="holds 2 images: name one with :TAG"):
        layout.find(None)
    # content that does not match its digest never lands under the digest's name
    with pytest.raises(DigestMismatch):
        layout.write_blob_stream(sha256(b"expected"), 8, BytesSource(b"tampered"))
    assert not layout.has_blob(sha256(b"expected"))
    with pytest.raises(DigestMismatch):
        layout.write_blob_stream(sha256(b"short"), 5, BytesSource(b"shorter than declared"))
    blob_dir = tmp_path / "lay" / "blobs" / "sha256"
    assert sorted(os.listdir(blob_dir)) == [sha256(data).split(":")[1]]  # no temporary file left


class FailingSource:
    """A source that breaks after some bytes, as a killed or broken copy would."""

    what = "a failing source"

    def open(self, offset):
        class Reader:
            calls = 0

            def read(self, count):
                self.calls += 1
                if self.calls > 2:
                    raise OSError(5, "Input/output error")
                return b"y" * 100

            def close(self):
                pass
        return Reader()


def test_layout_blob_write_interrupted_leaves_nothing(tmp_path):
    layout = OciLayout(str(tmp_path / "lay"))
    layout.prepare()
    with pytest.raises(RegistryError, match="Input/output error"):
        layout.write_blob_stream("sha256:" + "d" * 64, 1000, FailingSource())
    assert os.listdir(tmp_path / "lay" / "blobs" / "sha256") == []


def test_a_temp_dir_another_run_takes_before_the_lock_is_not_used(tmp_path, monkeypatch):
    """Between mkdtemp and the lock, another run's remove_debris may take the new directory for
    debris: locked by it (being removed), or already removed. Neither is used; a third is."""
    made, other_run = [], []
    real_mkdtemp = tempfile.mkdtemp

    def racing_mkdtemp(*args, **kwargs):
        path = real_mkdtemp(*args, **kwargs)
        made.append(path)
        if len(made) == 1:  # the other run holds it (a lock of another open file: a conflict)
            fd = os.open(path, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            other_run.append(fd)
        elif len(made) == 2:  # the other run has removed it
            os.rmdir(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", racing_mkdtemp)
    temp = LockedTempDir(str(tmp_path))
    monkeypatch.undo()
    try:
        assert len(made) == 3 and temp.path == made[2] and os.path.isdir(temp.path)
        assert remove_debris(str(tmp_path)) == []  # both held: by the other run, by this one
        os.close(other_run.pop())
        assert remove_debris(str(tmp_path)) == [made[0]]  # the other run's, once it let go
        assert os.path.isdir(temp.path)
    finally:
        for fd in other_run:
            os.close(fd)
        temp.close()
    assert os.listdir(tmp_path) == []


def test_a_temp_file_another_run_takes_before_the_lock_is_not_used(tmp_path, monkeypatch):
    """The same race for a layout's temp files: the first one another run's sweep removes before
    this run locks it, the second it holds locked. The blob is written through a third."""
    from ansible_collections.drc.registry.plugins.module_utils._registry import oci_layout
    layout = OciLayout(str(tmp_path / "lay"))
    layout.prepare()
    blobs = tmp_path / "lay" / "blobs" / "sha256"
    real_lock, taken, other_run = oci_layout._lock, [], []

    def racing_lock(fd):
        path = os.readlink("/proc/self/fd/%d" % fd)
        taken.append(path)
        if len(taken) == 1:
            os.unlink(path)  # the other run's sweep removed it
        elif len(taken) == 2:
            other = os.open(path, os.O_RDONLY)  # the other run's sweep holds it
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            other_run.append(other)
        return real_lock(fd)

    monkeypatch.setattr(oci_layout, "_lock", racing_lock)
    data = b"a manifest, say"
    assert layout.write_blob_bytes(sha256(data), data)
    monkeypatch.undo()
    try:
        assert len(taken) == 3
        assert (blobs / sha256(data).split(":")[1]).read_bytes() == data
        assert sorted(os.listdir(blobs)) == sorted([os.path.basename(taken[1]), sha256(data).split(":")[1]])
    finally:
        for fd in other_run:
            os.close(fd)
    assert remove_debris(str(blobs)) == [taken[1]]


def test_archive_members_outside_the_layout_are_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    (tmp_path / "out").mkdir()
    with pytest.raises(RegistryError, match="outside the layout"):
        extract_archive(str(archive), str(tmp_path / "out"))
    assert not (tmp_path / "escaped").exists()


# -- uploads against a scripted server -----------------------------------------------------------
def connect(server, retries=2) -> RegistryConnection:
    return RegistryConnection(ConnectionOptions(registry=server.host, scheme="http",
                                                scheme_written=True, retries=retries))


class ScriptedUploads:
    """A registry's upload endpoints, with knobs for misbehaviour."""

    def __init__(self, lie_digest=False, regress_to=None, mount=None):
        self.received = bytearray()
        self.lie_digest = lie_digest
        self.regress_to = regress_to  # after the first PATCH, claim to hold only this many bytes
        self.mount = mount
        self.patches = 0

    def __call__(self, request):
        path = request.path
        if path == "/v2/":
            return Reply(200)
        if request.method == "HEAD" and "/blobs/" in path:
            return Reply(404)
        if request.method == "POST" and "/blobs/uploads/" in path:
            if "mount=" in path and self.mount is not None:
                return Reply(201, {"Docker-Content-Digest": self.mount, "Location": "/v2/a/blobs/x"})
            self.received = bytearray()
            return Reply(202, {"Location": "/v2/a/blobs/uploads/u1?_state=s0"})
        if request.method == "PATCH":
            self.patches += 1
            start = int(request.headers["Content-Range"].split("-")[0])
            assert start == len(self.received), (start, len(self.received))
            self.received += request.body
            if self.regress_to is not None and self.patches == 2:
                del self.received[self.regress_to:]
                return Reply(500)
            return Reply(202, {"Location": "/v2/a/blobs/uploads/u1?_state=s%d" % self.patches,
                               "Range": "0-%d" % (len(self.received) - 1)})
        if request.method == "GET" and "/blobs/uploads/" in path:
            return Reply(204, {"Location": "/v2/a/blobs/uploads/u1?_state=st",
                               "Range": "0-%d" % (len(self.received) - 1)})
        if request.method == "PUT" and "/blobs/uploads/" in path:
            digest = re.search(r"digest=([^&]+)", path).group(1).replace("%3A", ":")
            self.received += request.body
            answered = sha256(b"lie") if self.lie_digest else sha256(bytes(self.received))
            return Reply(201, {"Docker-Content-Digest": answered if digest else ""})
        if request.method == "DELETE":
            return Reply(204)
        return None


def test_registry_reporting_less_than_it_acknowledged_is_fed_from_there():
    """A 500 on the 2nd chunk, and the status says the registry lost part of the 1st: the source
    is read again from the reported offset, and the blob still hashes right."""
    data = os.urandom(300 * KIB)
    script = ScriptedUploads(regress_to=50 * KIB)
    with HostileServer(script) as server:
        result = push_blob(connect(server), "a", sha256(data), len(data), BytesSource(data),
                           chunk_size=100 * KIB)
    assert bytes(script.received) == data
    assert result["action"] == "uploaded" and result["resumed"] == 1


def test_a_registry_storing_another_digest_is_an_error():
    data = os.urandom(10 * KIB)
    with HostileServer(ScriptedUploads(lie_digest=True)) as server:
        with pytest.raises(DigestMismatch, match="stored blob"):
            push_blob(connect(server), "a", sha256(data), len(data), BytesSource(data))


def test_a_source_not_matching_its_digest_is_never_completed():
    data = os.urandom(300 * KIB)
    script = ScriptedUploads()
    with HostileServer(script) as server:
        with pytest.raises(DigestMismatch, match="refusing to upload"):
            push_blob(connect(server), "a", sha256(b"something else"), len(data), BytesSource(data),
                      chunk_size=100 * KIB)
        assert [r.method for r in server.requests if "/blobs/uploads/" in r.path][-1] == "DELETE"
        assert not [r for r in server.requests if r.method == "PUT"]


def test_a_mount_answered_with_another_digest_is_an_error():
    data = b"abc"
    with HostileServer(ScriptedUploads(mount=sha256(b"other"))) as server:
        with pytest.raises(DigestMismatch, match="mounted"):
            push_blob(connect(server), "a", sha256(data), len(data), BytesSource(data), mount_from="b")


def test_starting_an_upload_is_retried_after_a_temporary_failure():
    data = b"small blob"
    script = ScriptedUploads()
    failures = {"left": 1}

    def answer(request):
        if request.method == "POST" and failures["left"]:
            failures["left"] -= 1
            return Reply(503)
        return script(request)

    with HostileServer(answer) as server:
        result = push_blob(connect(server), "a", sha256(data), len(data), BytesSource(data))
        posts = [r for r in server.requests if r.method == "POST"]
    assert result["action"] == "uploaded" and bytes(script.received) == data and len(posts) == 2


def test_a_registry_that_never_takes_a_whole_chunk_is_given_up_on():
    """Every PATCH answered 202 with a Range that stays put: bounded, then a clear failure."""
    data = os.urandom(200 * KIB)

    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        if request.method == "HEAD":
            return Reply(404)
        if request.method == "POST":
            return Reply(202, {"Location": "/v2/a/blobs/uploads/u1"})
        if request.method == "PATCH":
            return Reply(202, {"Location": "/v2/a/blobs/uploads/u1", "Range": "0-99"})
        if request.method == "DELETE":
            return Reply(204)
        return None

    with HostileServer(answer) as server:
        with pytest.raises(RegistryError, match="keeps reporting 100 of the 102400 bytes"):
            push_blob(connect(server), "a", sha256(data), len(data), BytesSource(data), chunk_size=100 * KIB)
        assert len([r for r in server.requests if r.method == "PATCH"]) == 4
        assert server.requests[-1].method == "DELETE"


# -- streamed uploads: one PATCH per blob, read and hashed ahead on a thread -------------------------
MIB = 1024 * KIB


def test_a_large_blob_goes_in_one_streamed_patch():
    """Above the monolithic size and without chunk_size: POST, one PATCH with the whole blob
    (Content-Length and Content-Range of all of it), the closing PUT: as skopeo sends it."""
    data = os.urandom(5 * MIB + 7)
    script = ScriptedUploads()
    with HostileServer(script) as server:
        result = push_blob(connect(server), "a", sha256(data), len(data), BytesSource(data))
        patches = [r for r in server.requests if r.method == "PATCH"]
        methods = [r.method for r in server.requests if "/blobs/" in r.path]
    assert bytes(script.received) == data and result == {"action": "uploaded", "bytes": len(data),
                                                         "resumed": 0, "restarted": 0}
    assert methods == ["HEAD", "POST", "PATCH", "PUT"]
    assert patches[0].headers["Content-Length"] == str(len(data))
    assert patches[0].headers["Content-Range"] == "0-%d" % (len(data) - 1)


def first_patch_fails(script: ScriptedUploads, kept: int):
    """The scripted registry, except that the first PATCH keeps ``kept`` bytes and fails (500)."""
    failed = {"done": False}

    def answer(request):
        if request.method == "PATCH" and not failed["done"]:
            failed["done"] = True
            script.received = bytearray(request.body[:kept])
            return Reply(500)
        return script(request)
    return answer


@pytest.mark.parametrize("kept", [MIB, 2 * MIB + 777])
def test_a_streamed_patch_cut_short_is_resumed_from_the_registrys_range(kept):
    """The registry keeps the first bytes of the one PATCH and fails it: the status GET says so,
    and a second PATCH sends the rest, the source read again from there. Resumed at a byte
    between two hash checkpoints (2 MiB + 777), the bytes from the checkpoint to there are read
    again and hashed, not sent; either way the upload completes with exactly the blob."""
    data = os.urandom(6 * MIB)
    script = ScriptedUploads()
    answer = first_patch_fails(script, kept)

    with HostileServer(answer) as server:
        result = push_blob(connect(server), "a", sha256(data), len(data), BytesSource(data))
        ranges = [r.headers["Content-Range"] for r in server.requests if r.method == "PATCH"]
    assert bytes(script.received) == data
    assert ranges == ["0-%d" % (len(data) - 1), "%d-%d" % (kept, len(data) - 1)]
    assert result["resumed"] == 1 and result["bytes"] == 2 * len(data) - kept


class ChangingSource:
    """The blob at the first open; other bytes at every later one (a layout file rewritten, or a
    source registry answering Range requests with something else)."""

    what = "a changing source"

    def __init__(self, data: bytes) -> None:
        self.data, self.opens = data, 0

    def open(self, offset: int):
        self.opens += 1
        data = self.data if self.opens == 1 else bytes(b ^ 0xFF for b in self.data)
        handle = io.BytesIO(data)
        handle.seek(offset)
        return handle


@pytest.mark.parametrize("kept", [MIB, MIB + 12345])
def test_bytes_read_again_after_a_failed_patch_are_hashed_again(kept):
    """The first PATCH fails after the registry kept some bytes; the source, read again for the
    rest, gives other bytes than it did the first time: what would be sent no longer hashes to
    the digest, so the upload is refused and never completed (the bytes read ahead and hashed the
    first time do not stand in for the ones sent now)."""
    data = os.urandom(6 * MIB)
    script = ScriptedUploads()
    answer = first_patch_fails(script, kept)

    source = ChangingSource(data)
    with HostileServer(answer) as server:
        with pytest.raises(DigestMismatch, match="refusing to upload content that does not match"):
            push_blob(connect(server), "a", sha256(data), len(data), source)
        methods = [r.method for r in server.requests if "/blobs/" in r.path]
    assert source.opens >= 2 and "PUT" not in methods and methods[-1] == "DELETE"


def test_a_source_failing_while_streaming_cancels_the_upload():
    """The source breaks in the middle of the PATCH: its error is reported (not the registry's),
    the session is cancelled, nothing is completed."""
    script = ScriptedUploads()
    with HostileServer(script) as server:
        with pytest.raises(RegistryError, match="cannot read a failing source: Input/output error"):
            push_blob(connect(server), "a", "sha256:" + "e" * 64, 5 * MIB, FailingSource())
        methods = [r.method for r in server.requests if "/blobs/" in r.path]
    assert methods[-1] == "DELETE" and "PUT" not in methods


@pytest.mark.parametrize("what", ["fifo", "directory"])
def test_an_archive_dest_that_is_no_regular_file_is_refused(tmp_path, what):
    """The new archive is renamed over its destination: a FIFO, a directory or a device there
    (/dev/null) is refused before anything is written (sec26 B7; the device case runs as root in
    tests/integration/test_adversary_sec26.py)."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.oci_layout import (
        check_archive_dest)
    path = str(tmp_path / "dest")
    if what == "fifo":
        os.mkfifo(path)
    else:
        os.mkdir(path)
    with pytest.raises(InputError, match="exists and is not a regular file"):
        check_archive_dest(path, "oci-archive:%s" % path)
    check_archive_dest(str(tmp_path / "absent"), "oci-archive:absent")


def _blocked(signum, frame):
    raise AssertionError("open() blocked on the FIFO for 20 s")


def test_a_fifo_in_a_layout_is_refused_without_blocking(tmp_path, request):
    """open() of a FIFO blocks until a writer comes: a layout's blobs and index.json are opened
    without blocking and refused as no regular file (sec26 B4)."""
    layout = OciLayout(str(tmp_path))
    layout.prepare()
    data = b"{}"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    layout.write_blob_bytes(digest, data)
    os.unlink(layout.blob_file(digest))
    os.mkfifo(layout.blob_file(digest))
    signal.signal(signal.SIGALRM, _blocked)  # a blocking open() fails the test, never hangs it
    signal.alarm(20)
    request.addfinalizer(lambda: signal.alarm(0))
    with pytest.raises(RegistryError, match="refusing the blob %s, which is not a regular file" % digest):
        layout.open_blob(digest)
    os.mkfifo(str(tmp_path / "index.json"))
    with pytest.raises(RegistryError, match="index.json: not a regular file"):
        layout.read_index()


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive"])
def test_an_archive_store_refuses_a_fifo_dest_before_writing(tmp_path, transport):
    """Both archive stores check their destination when they open it, before any temp file."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import open_store
    path = str(tmp_path / "dest")
    os.mkfifo(path)
    with pytest.raises(InputError, match="exists and is not a regular file"):
        open_store(parse_location("%s:%s:1" % (transport, path)), None, writing=True)
    assert os.listdir(str(tmp_path)) == ["dest"]
