"""Adversary pass on issue 26 after the hosts.py / atomic_write / adapters refactor.

Each test here is an attack that got through when it was written: it fails until the product is
fixed. Scripted servers (tests/testbed/hostile.py) play the hostile registry; ``*.public.test``
names resolve to a public address that reaches loopback (tests/integration/public_names).
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.testbed.hostile import HostileServer, Reply

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "public_names")
TOKEN = "adversary-bearer-token-3c9d"
PASSWORD = "adversary-secret-51fe"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": sha256(CONFIG), "size": len(CONFIG)},
                       "layers": []}).encode()


def test_pin_images_verify_lock_file_cannot_take_the_bearer_token_elsewhere(tmp_path):
    """The role refuses plain credentials when the lock file chooses the registries, but not
    ``drc_registry_bearer_token``: a lock file edited to name another host gets the token."""
    with HostileServer(lambda request: Reply(401, {"WWW-Authenticate": 'Basic realm="edited"'})) as server:
        lockfile = tmp_path / "images.lock.yml"
        pinned = "%s/app@%s" % (server.host, sha256(MANIFEST))
        lockfile.write_text("images:\n  %s/app:1: %s\n" % (server.host, pinned))
        role_vars = {"pin_images_lockfile": str(lockfile), "pin_images_mode": "verify",
                     "drc_registry_bearer_token": "{{ lookup('env', 'DRC_TEST_SECRET') }}"}
        task = {"name": "Verify", "ansible.builtin.include_role": {"name": "drc.registry.pin_images"},
                "vars": role_vars}
        run = run_playbook([task], str(tmp_path), env={"DRC_TEST_SECRET": TOKEN})
        sent = [r.headers.get("Authorization") for r in server.requests]
    assert not [value for value in sent if value and TOKEN in value], sent
    assert TOKEN not in run.output
    assert run.rc != 0 and "drc_registry_bearer_token) name no registry and are refused" in run.output, run.output


@pytest.mark.parametrize("victim_exists", [True, False], ids=["existing-file", "dangling-link"])
def test_blob_fetch_never_writes_through_a_planted_part_file_link(tmp_path, victim_exists):
    """registry_blob_fetch opens ``.<dest>.<digest prefix>.drc-part`` beside ``dest`` with
    O_CREAT and without O_NOFOLLOW: whoever can write the destination's directory plants that name
    as a symbolic link to a file of the user who runs the task. An existing file gets the blob's
    bytes appended (resumed with Range after its own bytes); a link to no file creates that file
    with the whole blob, and ``dest`` ends up being the link."""
    from tests.integration.test_blob_files import BLOB, BLOB_DIGEST, fetch_args, ranged_blob
    from tests.integration.ansible_runner import run_module
    from tests.integration.test_hostile import registry

    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.conf"
    if victim_exists:
        victim.write_bytes(b"precious\n")
    dest = shared / "blob.bin"
    planted = shared / (".blob.bin.%s.drc-part" % BLOB_DIGEST.split(":")[1][:16])
    os.symlink(str(victim), str(planted))
    path = "/v2/app/blobs/" + BLOB_DIGEST
    with registry({("GET", path): ranged_blob(BLOB), ("HEAD", path): ranged_blob(BLOB)}) as server:
        run = run_module("drc.registry.registry_blob_fetch", fetch_args(server, dest))
    after = victim.read_bytes() if victim.exists() else None
    if victim_exists:
        assert after == b"precious\n", "the file the planted link names was written: %d bytes now" % len(after)
    else:
        assert after is None, "the planted link made the task create %s (%d bytes)" % (victim, len(after))
    assert not os.path.islink(str(dest)), "dest is now the planted link to %s" % os.readlink(str(dest))
    assert "Traceback" not in run.output


@pytest.mark.parametrize("what", ["manifest", "layer"])
def test_a_fifo_in_a_source_layout_is_a_clear_failure_not_a_hang(tmp_path, what):
    """A hostile ``oci:`` layout (unpacked by someone else; making a FIFO needs no privilege) with a
    named pipe where a blob should be (``index.json`` as a FIFO is refused: it is no file).
    ``open_blob`` checks S_ISREG only after ``os.open``, which blocks on a FIFO until a writer
    comes: the task hangs forever (no timeout applies) instead of failing."""
    import subprocess
    import time

    from tests.integration.ansible_runner import BIN, runner_env
    from tests.integration.test_write_side_attacks import LAYER, MANIFEST as LAYOUT_MANIFEST, make_layout

    layout = make_layout(str(tmp_path / "src"))
    blob = LAYOUT_MANIFEST if what == "manifest" else LAYER
    fifo = os.path.join(layout, "blobs", "sha256", sha256(blob).split(":")[1])
    src = "oci:%s:1" % layout
    os.unlink(fifo)
    os.mkfifo(fifo)
    command = [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_copy", "-a",
               json.dumps({"src": src, "dest": "oci:%s:1" % (tmp_path / "dest")})]
    started = time.time()
    process = subprocess.Popen(command, env=runner_env(None), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        process.wait(timeout=45)
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
        with open(fifo, "wb"):  # the module blocks in open(): a writer lets it go on (and end)
            pass
        process.wait(timeout=120)
    output = process.stdout.read()
    assert not hung, "registry_copy from %s still blocked after 45 s (on the FIFO %s)" % (src, fifo)
    assert process.returncode != 0 and "Traceback" not in output, output
    assert time.time() - started < 45


# -- bad input: an uncaught exception, not a failure naming the input ------------------------------
# ansible-core 2.21 shows an exception the module did not catch as "Task failed: Module failed:
# <exception text>" with "exception": "(traceback unavailable)": no "Traceback" anywhere in the
# output, so the suite's `"Traceback" not in run.output` checks cannot see these.
UNCAUGHT = "Task failed: Module failed:"
DEEP = b"[" * 100000 + b"]" * 100000  # 200 kB: well under every body bound


def assert_clean_failure(result: dict, *needles) -> None:
    assert result.get("failed") is True, result
    assert not str(result.get("msg", "")).startswith(UNCAUGHT), result.get("msg")
    for needle in needles:
        assert needle in result["msg"], result["msg"]


def test_deeply_nested_json_from_a_registry_is_a_clean_failure(tmp_path):
    """A hostile registry (or its token service) answers with JSON nested 100000 deep: json.loads
    raises RecursionError, which no ``except ValueError`` catches."""
    deep_digest = sha256(DEEP)

    def answer(request):
        path = request.path.split("?", 1)[0]
        if path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        if path == "/v2/deep/manifests/1":
            return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": deep_digest}, DEEP)
        if path == "/v2/deep/tags/list":
            return Reply(200, {"Content-Type": "application/json"}, DEEP)
        return None

    def token_answer(request):
        if request.path.startswith("/v2/"):
            if request.headers.get("Authorization", "").startswith("Bearer "):
                return Reply(200, {"Content-Type": "application/json"}, b"{}")
            return Reply(401, {"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:%d/token",service="s"'
                               % token.port})
        if request.path.startswith("/token"):
            return Reply(200, {"Content-Type": "application/json"}, DEEP)
        return None

    with HostileServer(answer) as server, HostileServer(token_answer) as token:
        base = "http://127.0.0.1:%d" % server.port
        tasks = [
            {"name": "manifest", "register": "manifest", "ignore_errors": True,
             "drc.registry.registry_manifest_info": {"reference": base + "/deep:1", "retries": 0}},
            {"name": "tags", "register": "tags", "ignore_errors": True,
             "drc.registry.registry_tags_info": {"repository": base + "/deep", "retries": 0}},
            {"name": "token", "register": "token", "ignore_errors": True,
             "drc.registry.registry_tags_info": {"repository": "http://127.0.0.1:%d/app" % token.port,
                                                 "retries": 0}},
        ]
        run = run_playbook(tasks, str(tmp_path))
    failures = {name: run.results[name].get("msg") for name in ("manifest", "tags", "token")
                if str(run.results[name].get("msg", "")).startswith(UNCAUGHT)}
    assert not failures, sorted(failures)


@pytest.mark.parametrize("case", ["media-type-not-a-string", "deep-index-source", "deep-index-dest",
                                  "deep-manifest"])
def test_malformed_layout_json_is_a_clean_failure(tmp_path, case):
    """``index.json`` with ``"mediaType": 5`` (a source): ``'int' object has no attribute 'split'``;
    ``index.json`` or a manifest nested 100000 deep (as source or destination): RecursionError."""
    from tests.integration.test_write_side_attacks import LAYER, MANIFEST as LAYOUT_MANIFEST, make_layout

    layout = str(tmp_path / "layout")
    if case == "media-type-not-a-string":
        make_layout(layout, index={"schemaVersion": 2, "manifests": [{
            "mediaType": 5, "digest": sha256(LAYOUT_MANIFEST), "size": len(LAYOUT_MANIFEST),
            "annotations": {"org.opencontainers.image.ref.name": "1"}}]})
    elif case.startswith("deep-index"):
        make_layout(layout, index=DEEP.decode())
    else:
        make_layout(layout, manifest=DEEP, blobs={sha256(DEEP): DEEP, sha256(LAYER): LAYER})
    other = make_layout(str(tmp_path / "other"))
    src, dest = ("oci:%s:1" % other, "oci:%s:2" % layout) if case == "deep-index-dest" else \
        ("oci:%s:1" % layout, "oci:%s:1" % (tmp_path / "out"))
    task = {"name": "copy", "register": "copy", "ignore_errors": True,
            "drc.registry.registry_copy": {"src": src, "dest": dest}}
    run = run_playbook([task], str(tmp_path))
    assert_clean_failure(run.results["copy"])


def test_a_reference_with_an_impossible_port_is_a_clean_failure(tmp_path):
    """``127.0.0.1:99999/app:1`` passes the reference parser; urllib3 then refuses the URL with
    requests' InvalidURL, which the transport does not catch."""
    task = {"name": "tag", "register": "tag", "ignore_errors": True,
            "drc.registry.registry_tag": {"reference": "127.0.0.1:99999/app:1", "tags": ["x"], "retries": 0}}
    run = run_playbook([task], str(tmp_path))
    assert_clean_failure(run.results["tag"], "99999")


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_an_archive_destination_that_is_a_device_is_refused_not_replaced(tmp_path):
    """``dest: oci-archive:/dev/null:1`` (a careless user, a task run as root): the empty device
    reads as a new archive and the temp tar is renamed over it, so /dev/null becomes a regular
    file for the whole machine (seen while writing this test, on the shared machine; restored with
    mknod). Here a private character device 1,3 in tmp_path stands for it."""
    import stat

    from tests.integration.test_write_side_attacks import make_layout

    device = str(tmp_path / "null")
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    src = make_layout(str(tmp_path / "src"))
    task = {"name": "copy", "register": "copy", "ignore_errors": True,
            "drc.registry.registry_copy": {"src": "oci:%s:1" % src, "dest": "oci-archive:%s:1" % device}}
    run = run_playbook([task], str(tmp_path))
    assert stat.S_ISCHR(os.lstat(device).st_mode), "the device was replaced by a %d-byte regular file" % (
        os.lstat(device).st_size)
    assert_clean_failure(run.results["copy"])


def test_a_public_registry_cannot_pass_as_internal_by_adding_a_loopback_record(tmp_path):
    """hosts.is_internal_host counts a name as internal when *any* address it resolves to is
    internal, and inside_from_outside lets an internal registry name internal targets. The owner of
    a public registry adds ``A 127.0.0.1`` to its own name, after the public address: the
    connection still goes to the public address (the first), but the registry now counts as
    internal, so its realm (which gets the password) and its redirects may point inside."""
    internal = HostileServer(lambda request: Reply(200, {"Content-Type": "application/json"},
                                                   b'{"token":"t"}'))
    internal.start()

    def public_answer(request):
        path = request.path.split("?", 1)[0]
        if path == "/v2/" or path.startswith("/v2/cred/"):
            if request.headers.get("Authorization", "").startswith("Bearer "):
                return Reply(200, {"Content-Type": "application/json"}, b'{"name":"cred/app","tags":[]}')
            return Reply(401, {"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:%d/token",service="s"'
                               % internal.port})
        if path.startswith("/v2/inside/app/manifests/"):
            return Reply(307, {"Location": "http://127.0.0.1:%d/manifest" % internal.port})
        return None

    public = HostileServer(public_answer)
    public.start()
    registry = "http://mixed.public.test:%d" % public.port
    tasks = [
        {"name": "realm", "register": "realm", "ignore_errors": True,
         "drc.registry.registry_tags_info": {"repository": registry + "/cred/app", "username": "alice",
                                             "password": "{{ lookup('env', 'DRC_TEST_SECRET') }}",
                                             "retries": 0, "timeout": 10}},
        {"name": "redirect", "register": "redirect", "ignore_errors": True,
         "drc.registry.registry_manifest_info": {"reference": registry + "/inside/app:1", "retries": 0,
                                                 "timeout": 10}},
    ]
    env = {"PYTHONPATH": SHIM, "DRC_TEST_MIXED_NAMES": "mixed.public.test", "DRC_TEST_SECRET": PASSWORD}
    try:
        run_playbook(tasks, str(tmp_path), env=env)
    finally:
        public.stop()
        internal.stop()
    assert [r for r in public.requests if r.path == "/v2/"], "the public registry was not reached"
    seen = [(r.method, r.path.split("?", 1)[0], r.headers.get("Authorization")) for r in internal.requests]
    assert seen == [], seen


def test_a_sparse_member_in_a_layer_is_bounded_like_an_archives(tmp_path):
    """An ``oci-archive:`` refuses a sparse member (256 MiB in a 10 KiB tar, ``f4_sparse``), but
    registry_extract takes the same member in a *layer*: tarfile expands the hole into zeros, every
    byte is written, so a few KiB of layer fill the disk under ``dest`` (a hole of a TiB is as
    cheap to send). 256 MiB here."""
    import subprocess

    from tests.integration.test_write_side_attacks import manifest_for

    hole = 256 * 1024 * 1024
    source = tmp_path / "rootfs"
    source.mkdir()
    with open(str(source / "hole"), "wb") as handle:
        handle.truncate(hole)
    layer_path = str(tmp_path / "layer.tar")
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", layer_path, "-C", str(source), "hole"], check=True)
    with open(layer_path, "rb") as handle:
        layer = handle.read()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    manifest = manifest_for(config, [(sha256(layer), len(layer))])
    blobs = {sha256(config): config, sha256(layer): layer}

    def answer(request):
        path = request.path.split("?", 1)[0]
        if path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        if path == "/v2/app/manifests/1":
            return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(manifest)}, manifest)
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/v2/app/blobs/") and name in blobs:
            return Reply(200, {"Content-Type": "application/octet-stream"}, blobs[name])
        return None

    dest = tmp_path / "dest"
    with HostileServer(answer) as server:
        task = {"name": "extract", "register": "extract", "ignore_errors": True,
                "drc.registry.registry_extract": {"reference": "http://%s/app:1" % server.host,
                                                  "paths": ["/"], "dest": str(dest), "retries": 0}}
        run = run_playbook([task], str(tmp_path))
    written = 0
    for base, dummy, names in os.walk(str(tmp_path)):
        if base.startswith(str(source)):
            continue
        written += sum(os.lstat(os.path.join(base, n)).st_blocks * 512 for n in names)
    assert written < 32 * len(layer) + 4 * 1024 * 1024, "a %d-byte layer made the task write %d bytes (%s)" % (
        len(layer), written, run.results["extract"].get("msg"))


@pytest.mark.parametrize("case", ["repo-tags-not-a-list", "deep-manifest-json"])
def test_a_malformed_docker_archive_is_a_clean_failure(tmp_path, case):
    """A ``docker save`` tarball whose manifest.json has ``"RepoTags": 5`` (asked for by tag:
    ``'int' object is not iterable``) or is nested 100000 deep (RecursionError)."""
    from tests.integration.test_write_side_attacks import CONFIG as ARCHIVE_CONFIG, LAYER, file_member, tar_of

    entry = {"Config": "config.json", "RepoTags": 5, "Layers": ["layer.tar"]}
    manifest = DEEP if case == "deep-manifest-json" else json.dumps([entry]).encode()
    archive = tar_of(str(tmp_path / "saved.tar"), [file_member("manifest.json", manifest),
                                                   file_member("config.json", ARCHIVE_CONFIG),
                                                   file_member("layer.tar", LAYER)])
    task = {"name": "copy", "register": "copy", "ignore_errors": True,
            "drc.registry.registry_copy": {"src": "docker-archive:%s:app:1" % archive,
                                           "dest": "oci:%s:1" % (tmp_path / "out")}}
    run = run_playbook([task], str(tmp_path))
    assert_clean_failure(run.results["copy"])


def test_a_huge_prune_duration_is_a_clean_failure(tmp_path):
    """``keep.newer_than: 99999999999999999999d`` passes the duration pattern, then timedelta
    raises OverflowError ("Python int too large to convert to C int"), uncaught; no request is
    needed to see it."""
    task = {"name": "prune", "register": "prune", "ignore_errors": True,
            "drc.registry.registry_prune": {"repository": "127.0.0.1:1/app", "retries": 0, "timeout": 3,
                                            "keep": {"newer_than": "99999999999999999999d"}}}
    run = run_playbook([task], str(tmp_path))
    assert_clean_failure(run.results["prune"], "newer_than")


@pytest.mark.parametrize("case", ["gzip-not-gzip", "deflate-garbage", "two-content-lengths", "tags-gzip-not-gzip"])
def test_a_registrys_broken_encoding_is_a_clean_failure(tmp_path, case):
    """A hostile registry answers ``Content-Encoding: gzip`` (or deflate) over bytes that are not,
    or two different Content-Length values: urllib3's DecodeError / InvalidHeader escape every
    ``except`` of the connection (a body cut short is handled; these are not)."""
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(MANIFEST)}
    replies = {
        "gzip-not-gzip": Reply(200, dict(headers, **{"Content-Encoding": "gzip"}), b"not gzip at all"),
        "deflate-garbage": Reply(200, dict(headers, **{"Content-Encoding": "deflate"}), b"\x00\x01garbage"),
        "two-content-lengths": Reply(200, dict(headers, **{"Content-Length": "5, 7"}), MANIFEST, send_length=False),
        "tags-gzip-not-gzip": Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"xx"),
    }

    def answer(request):
        if request.path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        return replies[case]

    with HostileServer(answer) as server:
        if case.startswith("tags"):
            module, args = "drc.registry.registry_tags_info", {"repository": "http://%s/app" % server.host}
        else:
            module, args = "drc.registry.registry_manifest_info", {"reference": "http://%s/app:1" % server.host}
        task = {"name": "read", "register": "read", "ignore_errors": True, module: dict(args, retries=0, timeout=5)}
        run = run_playbook([task], str(tmp_path))
    assert_clean_failure(run.results["read"])


def serve_single_layer(layer: bytes):
    """A scripted registry holding ``app:1``: one uncompressed tar layer."""
    from tests.integration.test_write_side_attacks import manifest_for

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    manifest = manifest_for(config, [(sha256(layer), len(layer))])
    blobs = {sha256(config): config, sha256(layer): layer}

    def answer(request):
        path = request.path.split("?", 1)[0]
        if path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        if path == "/v2/app/manifests/1":
            return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(manifest)}, manifest)
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/v2/app/blobs/") and name in blobs:
            return Reply(200, {"Content-Type": "application/octet-stream"}, blobs[name])
        return None
    return HostileServer(answer)


def test_a_deep_tree_in_an_image_is_a_clean_failure(tmp_path):
    """An image whose layer holds ``a/a/a/.../f`` 1500 directories deep (a 3000-byte name, under
    the 4096-byte bound on names): registry_extract dies of RecursionError ("maximum recursion
    depth exceeded"), uncaught (nothing is left behind)."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a/" * 1500 + "f")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"f\n"))
    dest = str(tmp_path / "dest")
    with serve_single_layer(buffer.getvalue()) as server:
        args = {"reference": "http://%s/app:1" % server.host, "paths": ["/"], "dest": dest, "retries": 0}
        task = {"name": "extract", "register": "extract", "ignore_errors": True, "drc.registry.registry_extract": args}
        run = run_playbook([task], str(tmp_path))
    if run.results["extract"].get("failed"):
        assert_clean_failure(run.results["extract"])
