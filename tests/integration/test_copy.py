"""registry_copy against the real registries, compared with skopeo: every seeded image kind within
one registry (mounts) and between registries, idempotence, check mode, platforms, chunked uploads."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time

import pytest

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref

MODULE = "drc.registry.registry_copy"
MIB = 1024 * 1024
KINDS = ["app/docker:1.0", "app/oci:1.0", "app/multi:oci", "app/multi:docker"]
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def raw_digest(testbed, registry, image: str) -> str:
    return sha256(testbed.skopeo_raw_manifest(registry, image))


def skopeo_pull(testbed, registry, image: str, directory) -> None:
    """skopeo copies the image out of the registry (every platform): it must find all it needs."""
    args = ["skopeo", "copy", "--all", "--quiet"]
    if registry.tls:
        args.append("--src-cert-dir=%s" % testbed.pki.ca_dir)
    else:
        args.append("--src-tls-verify=false")
    if testbed.creds_for(registry):
        args.append("--src-creds=%s" % testbed.creds_for(registry))
    args += ["docker://%s/%s" % (registry.host, image), "oci:%s:x" % directory]
    subprocess.run(args, check=True, capture_output=True, timeout=300)


def writes(registry, mark) -> list:
    time.sleep(0.2)  # the access log is written after the answer
    return [r for r in registry.requests_since(mark) if r[0] in WRITE_METHODS]


def side(testbed, registry) -> dict:
    return connection(testbed, registry) or None


def copy_task(src, dest, src_registry, dest_registry, testbed, name, **extra) -> dict:
    args = dict(src=src, dest=dest, **extra)
    if side(testbed, src_registry):
        args["src_auth"] = side(testbed, src_registry)
    if side(testbed, dest_registry):
        args["dest_auth"] = side(testbed, dest_registry)
    return {MODULE: args, "register": name}


def test_copy_within_one_registry_mounts_every_kind(testbed, registry, tmp_path):
    tasks = []
    for round_ in ("first", "second"):
        for number, kind in enumerate(KINDS + ["app/big:1.0"]):
            tasks.append({MODULE: dict(src=ref(registry, kind), dest=ref(registry, "mounted/k%d:1" % number),
                                       **connection(testbed, registry)),
                          "register": "%s_%d" % (round_, number)})
    mark = registry.access_log_mark()
    run = run_playbook(tasks, str(tmp_path))
    assert run.rc == 0, run.output
    log = registry.requests_since(mark)
    for number, kind in enumerate(KINDS + ["app/big:1.0"]):
        first, second = run.results["first_%d" % number], run.results["second_%d" % number]
        expected = raw_digest(testbed, registry, kind)
        assert first["changed"] is True and first["digest"] == expected
        assert raw_digest(testbed, registry, "mounted/k%d:1" % number) == expected
        assert first["blobs_mounted"] >= 2 and first["blobs_uploaded"] == 0 and first["bytes_uploaded"] == 0
        assert second["changed"] is False and second["digest"] == expected
        assert second["blobs_uploaded"] == second["blobs_mounted"] == second["manifests_pushed"] == 0
    # the blobs went by mount: no PATCH, and no PUT to an upload
    assert not [r for r in log if r[0] == "PATCH" or (r[0] == "PUT" and "/blobs/uploads/" in r[1])]
    assert [r for r in log if r[0] == "POST" and "mount=" in r[1] and r[2] == 201]


@pytest.mark.parametrize("pair", [("open", "basic"), ("basic", "token"), ("token", "open")])
def test_copy_between_registries(testbed, pair, tmp_path):
    src_registry, dest_registry = (testbed.registries[m] for m in pair)
    kinds = KINDS + (["app/big:1.0"] if pair[0] == "open" else [])
    tasks = []
    for round_ in ("first", "second"):
        for number, kind in enumerate(kinds):
            tasks.append(copy_task(ref(src_registry, kind), ref(dest_registry, "from-%s/k%d:1" % (pair[0], number)),
                                   src_registry, dest_registry, testbed, "%s_%d" % (round_, number),
                                   chunk_size=4 * MIB, blob_cache=False))  # uploads, not mounts from k0
    (tmp_path / "play").mkdir()
    mark = dest_registry.access_log_mark()
    run = run_playbook(tasks[:len(kinds)], str(tmp_path / "play"))
    assert run.rc == 0, run.output
    first_log = dest_registry.requests_since(mark)
    for number, kind in enumerate(kinds):
        result = run.results["first_%d" % number]
        expected = raw_digest(testbed, src_registry, kind)
        assert result["changed"] is True and result["digest"] == expected, result
        assert raw_digest(testbed, dest_registry, "from-%s/k%d:1" % (pair[0], number)) == expected
        assert result["blobs_uploaded"] >= 2 and result["blobs_mounted"] == 0
    if "app/big:1.0" in kinds:
        big = run.results["first_%d" % kinds.index("app/big:1.0")]
        assert big["bytes_uploaded"] > 64 * MIB
        # 64 MiB in 4 MiB chunks: at least 16 PATCH requests, then the closing PUT
        assert len([r for r in first_log if r[0] == "PATCH"]) >= 16
    skopeo_pull(testbed, dest_registry, "from-%s/k%d:1" % (pair[0], KINDS.index("app/multi:oci")),
                tmp_path / "pulled")
    mark = dest_registry.access_log_mark()
    run = run_playbook(tasks[len(kinds):], str(tmp_path / "play"))
    assert run.rc == 0, run.output
    for number in range(len(kinds)):
        result = run.results["second_%d" % number]
        assert result["changed"] is False
        assert result["blobs_uploaded"] == 0 and result["bytes_uploaded"] == 0
    assert writes(dest_registry, mark) == []
    # a new tag in a repository that has the blobs: HEAD finds them, only the manifest is sent
    retag = copy_task(ref(src_registry, KINDS[0]), ref(dest_registry, "from-%s/k0:2" % pair[0]),
                      src_registry, dest_registry, testbed, "retag")
    run = run_playbook([retag], str(tmp_path / "play"))
    assert run.rc == 0, run.output
    result = run.results["retag"]
    assert result["changed"] is True and result["blobs_skipped"] == 2
    assert result["blobs_uploaded"] == result["bytes_uploaded"] == 0 and result["manifests_pushed"] == 1


def test_ad_hoc_copy_between_registries_equals_skopeo(testbed):
    """One ad-hoc command, as users run it: an index from the token registry to the open one, every
    blob uploaded (the smoke subset that every other ansible-core and managed-host Python runs)."""
    src_registry, dest_registry = testbed.registries["token"], testbed.registries["open"]
    index = json.loads(testbed.skopeo_raw_manifest(src_registry, "app/multi:oci"))
    blobs = set()
    for child in index["manifests"]:
        manifest = json.loads(testbed.skopeo_raw_manifest(src_registry, "app/multi@" + child["digest"]))
        blobs.update(descriptor["digest"] for descriptor in [manifest["config"]] + manifest["layers"])
    mark = dest_registry.access_log_mark()
    run = run_module(MODULE, dict(src=ref(src_registry, "app/multi:oci"), dest=ref(dest_registry, "ad-hoc/multi:1"),
                                  src_auth=connection(testbed, src_registry)))
    assert run.rc == 0, run.output
    result = run.result
    expected = raw_digest(testbed, src_registry, "app/multi:oci")
    assert result["changed"] is True and result["digest"] == expected
    assert raw_digest(testbed, dest_registry, "ad-hoc/multi:1") == expected
    assert result["blobs_uploaded"] == len(blobs) and result["blobs_mounted"] == 0
    assert result["manifests_pushed"] == len(index["manifests"]) + 1
    # each blob's upload ends with one PUT
    assert len([r for r in writes(dest_registry, mark) if r[0] == "PUT" and "/blobs/uploads/" in r[1]]) == len(blobs)


def test_check_mode_changes_nothing(testbed, tmp_path):
    src_registry, dest_registry = testbed.registries["basic"], testbed.registries["token"]
    marks = {name: r.access_log_mark() for name, r in testbed.registries.items()}
    task = copy_task(ref(src_registry, "app/multi:oci"), ref(dest_registry, "checked/multi:1"),
                     src_registry, dest_registry, testbed, "checked")
    task["check_mode"] = True
    task["diff"] = True
    run = run_playbook([task], str(tmp_path))
    assert run.rc == 0, run.output
    result = run.results["checked"]
    assert result["changed"] is True
    assert result["digest"] == raw_digest(testbed, src_registry, "app/multi:oci")
    assert result["diff"] == {"before": {"digest": None}, "after": {"digest": result["digest"]}}
    for name, registry in testbed.registries.items():
        assert writes(registry, marks[name]) == [], name
    info = run_module("drc.registry.registry_manifest_info",
                      dict(reference=ref(dest_registry, "checked/multi:1"), **connection(testbed, dest_registry)))
    assert info.rc == 0 and info.result["exists"] is False, info.output


def test_platforms_make_a_new_index(testbed, tmp_path):
    registry = testbed.registries["open"]
    args = dict(src=ref(registry, "app/multi:docker"), dest=ref(registry, "platforms/multi:2"),
                platforms=["linux/arm64", "linux/amd64"])
    run = run_module(MODULE, args)
    assert run.rc == 0, run.output
    source = json.loads(testbed.skopeo_raw_manifest(registry, "app/multi:docker"))
    raw = testbed.skopeo_raw_manifest(registry, "platforms/multi:2")
    copied = json.loads(raw)
    assert run.result["digest"] == sha256(raw) != sha256(testbed.skopeo_raw_manifest(registry, "app/multi:docker"))
    assert copied["mediaType"] == source["mediaType"]
    wanted = [m for m in source["manifests"] if m["platform"]["architecture"] in ("amd64", "arm64")]
    assert copied["manifests"] == wanted  # the source's order and descriptors, the others left out
    assert run.result["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    again = run_module(MODULE, args)
    assert again.rc == 0 and again.result["changed"] is False, again.output
    missing = run_module(MODULE, dict(args, platforms=["linux/s390x"]))
    assert missing.rc != 0 and "platform linux/s390x is not in the index" in missing.result["msg"]
    assert "linux/arm/v7" in missing.result["msg"]


@pytest.mark.parametrize("bad, message", [
    (dict(src="oci:", dest="x/y:1"), "the path of the OCI layout is empty"),
    (dict(src="localhost:5000/a:1", dest="oci:/tmp/x:bad tag"), "invalid location"),
    (dict(src="localhost:5000/a:1", dest="localhost:5000/b:1", chunk_size=10), "chunk_size must be between"),
    (dict(src="localhost:5000/a:1", dest="localhost:5000/b:1", concurrency=0), "concurrency must be between"),
    (dict(src="localhost:5000/a:1", dest="localhost:5000/b:1", platforms=["linux"]), "invalid platform 'linux'"),
    (dict(src="localhost:5000/A:1", dest="localhost:5000/b:1"), "repository name must be lowercase"),
    (dict(src="oci-archive:/nonexistent/a.tar", dest="localhost:5000/b:1"), "no such file /nonexistent/a.tar"),
])
def test_bad_input_fails_clearly(bad, message):
    run = run_module(MODULE, bad)
    assert run.rc != 0
    assert message in run.result["msg"], run.result
    assert "Traceback" not in run.output


def test_a_big_copy_holds_about_one_chunk_in_memory(testbed):
    """The 64 MiB layer streamed from one real registry to another in 4 MiB chunks: the peak of
    Python allocations stays far below the blob's size."""
    import tracemalloc

    from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
        RegistryConnection)
    from ansible_collections.drc.registry.plugins.module_utils._registry.copy import copy_images
    from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
        connection_options)
    from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import (
        open_store, parse_location)

    src_registry, dest_registry = testbed.registries["open"], testbed.registries["token"]
    connections = []

    def opener(value, side, writing):
        options = connection(testbed, src_registry if side == "src" else dest_registry)

        def connect(reference):
            connections.append(RegistryConnection(connection_options(reference, options)))
            return connections[-1]
        return open_store(parse_location(value), connect, writing)

    pairs = [(ref(src_registry, "app/big:1.0"), ref(dest_registry, "memory/big:1"))]
    tracemalloc.start()
    try:
        [result] = copy_images(pairs, opener, chunk_size=4 * MIB, concurrency=4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        for opened in connections:
            opened.close()
    assert "error" not in result, result
    assert result["bytes_uploaded"] > 64 * MIB
    assert peak < 20 * MIB, "peak %.1f MiB" % (peak / MIB)
    assert raw_digest(testbed, dest_registry, "memory/big:1") == result["digest"]
