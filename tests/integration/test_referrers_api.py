"""The OCI referrers API path, against an in-process registry that follows the distribution spec's
referrers section (tests/testbed/referrers_server.py): no installable registry here has the API
(CNCF Distribution 2.8 answers 404). Pages through Link, the artifactType filter with and without
OCI-Filters-Applied, OCI-Subject on PUT (no fallback tag then), copies to and from the real
registries, and hostile listings: pages that never end, a listing too large, a fallback index that
another writer changes under us."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import connection, ref
from tests.testbed.artifacts import SBOM_TYPE, artifact, fallback_tag
from tests.testbed.referrers_server import ReferrersRegistry

COPY = "drc.registry.registry_copy"
INFO = "drc.registry.registry_referrers_info"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
VULN_TYPE = "application/vnd.example.vulnerability-report+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"


def seed(server: ReferrersRegistry, repository: str = "app") -> dict:
    """An image, its SBOM and vulnerability report, and a signature of the SBOM."""
    config = server.put_blob(json.dumps({"architecture": "amd64", "os": "linux",
                                         "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    layer = server.put_blob(b"layer of " + repository.encode())
    image = server.put_manifest(repository, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar")]}, tag="1")
    out = {"image": image}
    for name, kind, subject in (("sbom", SBOM_TYPE, image), ("vuln", VULN_TYPE, image)):
        raw, blobs = artifact(kind, json.dumps({"of": subject["digest"], "kind": name}).encode(), kind,
                              subject, name)
        for data in blobs.values():
            server.put_blob(data)
        out[name] = server.put_raw(repository, raw)
    raw, blobs = artifact(SIGNATURE_TYPE, b"signature", "application/octet-stream", out["sbom"], "signature")
    for data in blobs.values():
        server.put_blob(data)
    out["signature"] = server.put_raw(repository, raw)
    return out


def many(count: int) -> list:
    return [{"mediaType": OCI_MANIFEST, "digest": "sha256:%064x" % i, "size": 100,
             "artifactType": SBOM_TYPE} for i in range(count)]


@pytest.fixture(scope="module")
def bed(testbed, tmp_path_factory):
    dest = testbed.registries["token"]
    creds = connection(testbed, dest)
    servers = {"api": ReferrersRegistry(page_size=1), "api2": ReferrersRegistry(),
               "unfiltered": ReferrersRegistry(filters=False), "endless": ReferrersRegistry(endless_pages=True),
               "huge": ReferrersRegistry(page_size=2000), "lossy": ReferrersRegistry(api=False),
               "nolist": ReferrersRegistry(api=False, list_tags=False)}
    for server in servers.values():
        server.start()
    seeded = {name: seed(server) for name, server in servers.items() if name not in ("api2", "lossy")}
    servers["huge"].extra = many(1001)
    image = seeded["api"]["image"]["digest"]
    servers["lossy"].lost_tags.add(fallback_tag(image))
    # a cosign tag on a registry that refuses the tag list: found by HEAD
    nolist = seeded["nolist"]
    signature_raw = servers["nolist"].manifests[("app", nolist["signature"]["digest"])][1]
    servers["nolist"].put_raw("app", signature_raw, tag=fallback_tag(nolist["image"]["digest"]) + ".sig")

    def host(name: str, image_path: str = "app:1") -> str:
        return "%s/%s" % (servers[name].host, image_path)

    tasks = [
        {INFO: {"reference": host("api")}, "register": "info"},
        {INFO: {"reference": host("api"), "artifact_type": SBOM_TYPE}, "register": "info_sbom"},
        {INFO: {"reference": host("unfiltered"), "artifact_type": SBOM_TYPE}, "register": "info_unfiltered"},
        {COPY: {"src": host("api"), "dest": host("api2")}, "register": "to_api"},
        {COPY: {"src": host("api"), "dest": host("api2")}, "register": "to_api_again"},
        {INFO: {"reference": host("api2")}, "register": "info_api2"},
        {COPY: {"src": host("api"), "dest": ref(dest, "fromapi/app:1"), "dest_auth": creds}, "register": "to_fallback"},
        {INFO: dict(reference=ref(dest, "fromapi/app:1"), **creds), "register": "info_fallback"},
        {COPY: {"src": host("endless"), "dest": ref(dest, "endless/app:1"), "dest_auth": creds},
         "register": "endless", "ignore_errors": True},
        {INFO: {"reference": host("endless")}, "register": "info_endless", "ignore_errors": True},
        {COPY: {"src": host("huge"), "dest": ref(dest, "huge/app:1"), "dest_auth": creds},
         "register": "huge", "ignore_errors": True},
        {COPY: {"src": host("api"), "dest": host("lossy")}, "register": "lossy", "ignore_errors": True},
        {INFO: {"reference": host("nolist")}, "register": "info_nolist", "ignore_errors": True},
        {INFO: {"reference": host("api", "App:1")}, "register": "bad_reference", "ignore_errors": True},
        {INFO: {"reference": host("api", "app@sha256:12")}, "register": "bad_digest", "ignore_errors": True},
    ]
    run = run_playbook(tasks, str(tmp_path_factory.mktemp("referrers-api")))
    for server in servers.values():
        server.stop()
    assert "Traceback" not in run.output, run.output
    return {"run": run, "servers": servers, "seeded": seeded, "dest": dest}


def result(bed, name: str) -> dict:
    assert name in bed["run"].results, bed["run"].output
    return bed["run"].results[name]


def digests(entries: list) -> list:
    return sorted(e["digest"] for e in entries)


def test_the_api_is_listed_page_by_page(bed):
    info, seeded = result(bed, "info"), bed["seeded"]["api"]
    assert info["referrers_api"] is True and info["digest"] == seeded["image"]["digest"]
    assert digests(info["referrers"]) == sorted([seeded["sbom"]["digest"], seeded["vuln"]["digest"]])
    assert {e["found_by"] for e in info["referrers"]} == {"api"}
    sbom = next(e for e in info["referrers"] if e["digest"] == seeded["sbom"]["digest"])
    assert sbom["artifact_type"] == SBOM_TYPE and sbom["annotations"] == {"org.opencontainers.image.title": "sbom"}
    # one entry per page (page_size=1): the second page came through the Link header
    pages = [p for m, p in bed["servers"]["api"].referrer_requests() if seeded["image"]["digest"] in p]
    assert any("page=1" in p for p in pages)


def test_the_artifact_type_filter_is_sent_and_applied_when_the_registry_did_not(bed):
    assert digests(result(bed, "info_sbom")["referrers"]) == [bed["seeded"]["api"]["sbom"]["digest"]]
    assert any("artifactType=" in p for _m, p in bed["servers"]["api"].referrer_requests())
    # this registry ignores the filter and says so (no OCI-Filters-Applied): we filter
    unfiltered = result(bed, "info_unfiltered")
    assert digests(unfiltered["referrers"]) == [bed["seeded"]["unfiltered"]["sbom"]["digest"]]
    assert any("artifactType=" in p for _m, p in bed["servers"]["unfiltered"].referrer_requests())


def test_a_copy_to_a_registry_with_the_api_relies_on_oci_subject(bed):
    copied, seeded, api2 = result(bed, "to_api"), bed["seeded"]["api"], bed["servers"]["api2"]
    assert copied["changed"] is True and copied["referrers_copied"] == 3
    assert sorted(copied["referrers"]) == sorted(seeded[k]["digest"] for k in ("sbom", "vuln", "signature"))
    # OCI-Subject answered every PUT: no fallback tag written
    assert sorted(tag for (_repo, tag) in api2.tags) == ["1"]
    listed = result(bed, "info_api2")
    assert digests(listed["referrers"]) == digests(result(bed, "info")["referrers"])
    again = result(bed, "to_api_again")
    assert again["changed"] is False and again["referrers_copied"] == 0
    # the second copy wrote nothing: the image and its 3 referrers were PUT once, by the first
    assert len([r for r in api2.requests if r[0] == "PUT" and "/manifests/" in r[1]]) == 4
    assert not [r for r in api2.requests if r[0] in ("DELETE", "PATCH")]


def test_a_copy_from_the_api_to_distribution_writes_the_fallback_index(testbed, bed):
    seeded = bed["seeded"]["api"]
    assert result(bed, "to_fallback")["referrers_copied"] == 3
    info = result(bed, "info_fallback")
    assert info["referrers_api"] is False
    assert digests(info["referrers"]) == digests(result(bed, "info")["referrers"])
    assert {e["found_by"] for e in info["referrers"]} == {"fallback_tag"}
    index = json.loads(testbed.skopeo_raw_manifest(bed["dest"], "fromapi/app:" + fallback_tag(seeded["image"]["digest"])))
    assert sorted(m["digest"] for m in index["manifests"]) == sorted([seeded["sbom"]["digest"], seeded["vuln"]["digest"]])
    assert {m["digest"]: m["artifactType"] for m in index["manifests"]}[seeded["sbom"]["digest"]] == SBOM_TYPE
    signature_index = json.loads(testbed.skopeo_raw_manifest(bed["dest"], "fromapi/app:" + fallback_tag(seeded["sbom"]["digest"])))
    assert [m["digest"] for m in signature_index["manifests"]] == [seeded["signature"]["digest"]]


def no_repository(testbed, registry, repository: str) -> bool:
    try:
        testbed.skopeo_tags(registry, repository)
    except subprocess.CalledProcessError:
        return True
    return False


def test_referrer_pages_that_never_end_are_cut_off_and_nothing_is_written(testbed, bed):
    for name in ("endless", "info_endless"):
        failed = result(bed, name)
        assert failed["failed"] is True
        assert "pages did not end after 32 pages" in failed["msg"], failed["msg"]
    requests = bed["servers"]["endless"].referrer_requests()
    assert 32 <= len(requests) <= 2 * 32 + 4  # bounded: two runs of at most 32 pages
    assert no_repository(testbed, bed["dest"], "endless/app")


def test_a_listing_too_large_is_refused_and_nothing_is_written(testbed, bed):
    failed = result(bed, "huge")
    assert failed["failed"] is True and "more than 1000 referrers" in failed["msg"], failed["msg"]
    assert no_repository(testbed, bed["dest"], "huge/app")


def test_a_fallback_index_another_writer_replaced_is_reported(bed):
    lossy = result(bed, "lossy")
    assert lossy.get("failed") is not True, lossy
    assert any("changed by another writer" in w and bed["seeded"]["api"]["sbom"]["digest"] in w
               for w in lossy.get("warnings", [])), lossy


def test_cosign_tags_are_found_when_the_tag_list_is_refused(bed):
    info, seeded = result(bed, "info_nolist"), bed["seeded"]["nolist"]
    assert info.get("failed") is not True, info
    assert info["referrers_api"] is False
    assert [(e["digest"], e["found_by"], e["tag"]) for e in info["referrers"]] == [
        (seeded["signature"]["digest"], "cosign_tag", fallback_tag(seeded["image"]["digest"]) + ".sig")]
    assert ("GET", "/v2/app/tags/list") in bed["servers"]["nolist"].requests  # asked, refused, then HEAD


@pytest.mark.parametrize("name, words", [
    ("bad_reference", ["App:1", "invalid"]),
    ("bad_digest", ["sha256:12", "invalid"]),
])
def test_a_bad_reference_fails_naming_it(bed, name, words):
    failed = result(bed, name)
    assert failed["failed"] is True and "Traceback" not in failed["msg"]
    assert all(word in failed["msg"] for word in words), failed["msg"]
