"""registry_tag, registry_manifest (delete), registry_catalog_info and the info modules' exists:
false, against the real registries, checked with skopeo."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pytest

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref
from tests.testbed.images import Seeder
from tests.testbed.registry import RegistryProcess
from tests.testbed.testbed import SEEDS


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def seed_copy(testbed, registry, source: str, dest: str) -> str:
    """A fresh repository for a test to change, made by skopeo (registry_copy is tested in
    test_copy.py; an Ansible start-up here would cost ten times as much)."""
    return testbed.skopeo_copy(registry, source, dest)


def skopeo_fails(testbed, registry, image: str) -> str:
    command = ["skopeo", "inspect", "--raw"] + testbed.skopeo_args(registry) + [
        "docker://%s/%s" % (registry.host, image)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_tag_adds_tags_idempotently_moving_no_blob(testbed, registry, tmp_path):
    digest = seed_copy(testbed, registry, "app/multi:oci", "tagged/multi:1")
    args = dict(reference=ref(registry, "tagged/multi:1"), tags=["stable", "2.0"], **connection(testbed, registry))
    tasks = [{"drc.registry.registry_tag": args, "check_mode": True, "register": "checked"},
             {"drc.registry.registry_tag": args, "diff": True, "register": "first"},
             {"drc.registry.registry_tag": args, "register": "second"}]
    mark = registry.access_log_mark()
    run = run_playbook(tasks, str(tmp_path))
    assert run.rc == 0, run.output
    time.sleep(0.2)
    checked, first, second = run.results["checked"], run.results["first"], run.results["second"]
    assert checked["changed"] is True and checked["tags_added"] == ["stable", "2.0"]
    assert first["changed"] is True and first["digest"] == digest
    assert first["diff"] == {"before": {"stable": None, "2.0": None}, "after": {"stable": digest, "2.0": digest}}
    assert second["changed"] is False and second["tags_unchanged"] == ["stable", "2.0"]
    assert sorted(testbed.skopeo_tags(registry, "tagged/multi")) == ["1", "2.0", "stable"]
    for tag in ("stable", "2.0"):
        assert sha256(testbed.skopeo_raw_manifest(registry, "tagged/multi:%s" % tag)) == digest
    log = registry.requests_since(mark)
    puts = [r for r in log if r[0] == "PUT"]
    assert sorted(r[1] for r in puts) == ["/v2/tagged/multi/manifests/2.0", "/v2/tagged/multi/manifests/stable"]
    assert not [r for r in log if "/blobs/" in r[1] and r[0] != "GET"]  # no blob moved


def test_tag_moves_a_tag_pointing_elsewhere(testbed):
    registry = testbed.registries["open"]
    seed_copy(testbed, registry, "app/docker:1.0", "moved/app:latest")
    digest = seed_copy(testbed, registry, "app/oci:1.0", "moved/app:1")
    run = run_module("drc.registry.registry_tag", dict(reference=ref(registry, "moved/app@" + digest),
                                                       tags=["latest"]))
    assert run.rc == 0 and run.result["changed"] is True, run.output
    assert sha256(testbed.skopeo_raw_manifest(registry, "moved/app:latest")) == digest


def test_delete_by_tag_then_by_digest(testbed, registry, tmp_path):
    digest = seed_copy(testbed, registry, "app/oci:1.0", "deleted/app:1")
    other = seed_copy(testbed, registry, "app/docker:1.0", "deleted/app:2")
    conn = connection(testbed, registry)
    tasks = [
        {"drc.registry.registry_manifest": dict(reference=ref(registry, "deleted/app:1"), **conn),
         "check_mode": True, "register": "checked"},
        {"drc.registry.registry_manifest": dict(reference=ref(registry, "deleted/app:1"), state="absent", **conn),
         "diff": True, "register": "by_tag"},
        {"drc.registry.registry_manifest": dict(reference=ref(registry, "deleted/app:1"), **conn),
         "register": "tag_again"},
        {"drc.registry.registry_manifest": dict(reference=ref(registry, "deleted/app@" + other), **conn),
         "register": "by_digest"},
        {"drc.registry.registry_manifest": dict(reference=ref(registry, "deleted/app@" + other), **conn),
         "register": "digest_again"},
    ]
    mark = registry.access_log_mark()
    run = run_playbook(tasks, str(tmp_path))
    assert run.rc == 0, run.output
    time.sleep(0.2)
    results = run.results
    assert results["checked"]["changed"] is True and results["checked"]["digest"] == digest
    assert results["by_tag"]["changed"] is True and results["by_tag"]["digest"] == digest
    assert results["by_tag"]["diff"] == {"before": {"digest": digest}, "after": {"digest": None}}
    assert results["tag_again"]["changed"] is False
    assert results["by_digest"]["changed"] is True and results["by_digest"]["digest"] == other
    assert results["digest_again"]["changed"] is False
    deletes = [r for r in registry.requests_since(mark) if r[0] == "DELETE"]
    assert [r[1] for r in deletes] == ["/v2/deleted/app/manifests/" + digest, "/v2/deleted/app/manifests/" + other]
    assert "manifest unknown" in skopeo_fails(testbed, registry, "deleted/app:1")
    assert "manifest unknown" in skopeo_fails(testbed, registry, "deleted/app@" + other)


def test_catalog_lists_every_repository(testbed, registry):
    seeded = sorted(set(name.split(":")[0] for name in SEEDS))
    mark = registry.access_log_mark()
    run = run_module("drc.registry.registry_catalog_info",
                     dict(registry=registry.host, page_size=2, **connection(testbed, registry)))
    assert run.rc == 0, run.output
    assert set(seeded) <= set(run.result["repositories"])
    time.sleep(0.2)  # the access log is written after the answer
    pages = [r for r in registry.requests_since(mark) if r[0] == "GET" and r[1].startswith("/v2/_catalog")]
    assert len(pages) >= len(seeded) // 2  # every Link followed, 2 names a page
    assert len(run.result["repositories"]) == len(set(run.result["repositories"]))
    matched = run_module("drc.registry.registry_catalog_info",
                         dict(registry=registry.host, match="^app/m", **connection(testbed, registry)))
    assert matched.rc == 0 and matched.result["repositories"] == ["app/multi"], matched.output


def test_catalog_without_credentials_fails_on_protected_registries(testbed):
    run = run_module("drc.registry.registry_catalog_info",
                     dict(registry=testbed.registries["basic"].host, ca_path=testbed.pki.ca_cert))
    assert run.rc != 0 and run.result["http_status"] == 401, run.output


def test_info_modules_report_absence(testbed, registry, tmp_path):
    conn = connection(testbed, registry)
    tasks = [
        {"drc.registry.registry_manifest_info": dict(reference=ref(registry, "app/oci:no-such-tag"), **conn),
         "register": "no_tag"},
        {"drc.registry.registry_manifest_info": dict(reference=ref(registry, "no/such-repo:1"), **conn),
         "register": "no_repo"},
        {"drc.registry.registry_manifest_info": dict(reference=ref(registry, "app/oci:1.0"), **conn),
         "register": "present"},
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "no/such-repo"), **conn),
         "register": "no_tags"},
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/oci"), **conn),
         "register": "tags"},
    ]
    run = run_playbook(tasks, str(tmp_path))
    assert run.rc == 0, run.output
    results = run.results
    assert results["no_tag"]["exists"] is False and "digest" not in results["no_tag"]
    assert results["no_repo"]["exists"] is False
    assert results["present"]["exists"] is True and results["present"]["digest"].startswith("sha256:")
    assert results["no_tags"]["exists"] is False and results["no_tags"]["tags"] == []
    assert results["tags"]["exists"] is True and results["tags"]["tags"] == ["1.0"]


def test_other_errors_still_fail(testbed):
    """Absence is an answer; being refused is not."""
    registry = testbed.registries["token"]
    run = run_module("drc.registry.registry_manifest_info", dict(reference=ref(registry, "app/oci:1.0")))
    assert run.rc != 0 and run.result["http_status"] == 401, run.output
    run = run_module("drc.registry.registry_tags_info", dict(repository=ref(registry, "app/oci")))
    assert run.rc != 0 and run.result["http_status"] == 401, run.output


@pytest.fixture(scope="module")
def no_delete_registry(testbed):
    """A real registry with deletion disabled (the default of the CNCF Distribution registry)."""
    registry = RegistryProcess("open", os.path.join(testbed.workdir, "nodelete"))
    with open(registry.config_path) as handle:
        config = handle.read()
    with open(registry.config_path, "w") as handle:
        handle.write(config.replace("  delete:\n    enabled: true\n", "  delete:\n    enabled: false\n"))
    registry.start()
    Seeder(testbed.layout, registry).copy("single", "app/oci:1.0")
    yield registry
    registry.stop()


def test_delete_on_a_registry_with_deletion_disabled_says_so(testbed, no_delete_registry):
    run = run_module("drc.registry.registry_manifest", dict(reference=ref(no_delete_registry, "app/oci:1.0")))
    assert run.rc != 0
    assert run.result["http_status"] == 405
    assert "UNSUPPORTED" in run.result["msg"] and "storage.delete.enabled" in run.result["msg"], run.result
    assert testbed.skopeo_raw_manifest(no_delete_registry, "app/oci:1.0")  # still there


def test_delete_blob_unlinks_it_from_the_repository(testbed):
    from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import head_blob
    from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
        RegistryConnection)
    from ansible_collections.drc.registry.plugins.module_utils._registry.deletion import delete_blob
    from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
        connection_options)
    from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
        parse_image_reference)

    registry = testbed.registries["token"]
    seed_copy(testbed, registry, "app/oci:1.0", "blobdel/app:1")
    layer = json.loads(testbed.skopeo_raw_manifest(registry, "blobdel/app:1"))["layers"][0]
    reference = parse_image_reference(ref(registry, "blobdel/app:1"))
    with RegistryConnection(connection_options(reference, connection(testbed, registry))) as conn:
        assert head_blob(conn, "blobdel/app", layer["digest"]) == layer["size"]
        assert delete_blob(conn, "blobdel/app", layer["digest"]) is True
        assert head_blob(conn, "blobdel/app", layer["digest"]) is None
        assert delete_blob(conn, "blobdel/app", layer["digest"]) is False
        # the other repository's link to the same blob is untouched
        assert head_blob(conn, "app/oci", layer["digest"]) == layer["size"]
