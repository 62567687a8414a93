"""Referrers travel with copies, on the real test-bed registries (CNCF Distribution 2.8: no
referrers API, so fallback tags and cosign tags), seeded from ../shared/fixtures/signatures (images
signed by upstream skopeo 1.9.3) and with an OCI 1.1 SBOM and its signature pushed by the harness.

One playbook copies everything (registry_copy single and list forms, OCI layouts both ways,
mirror_images into a third registry, hostile listings, check mode); a second one copies it all
again and must write nothing. skopeo reads every destination tag back: byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import connection, ref
from tests.testbed.artifacts import SBOM_TYPE, ArtifactPusher, artifact, fallback_tag, push_sbom_and_signature
from tests.testbed.signed_fixtures import cases, fixtures_dir, seed_signed_fixtures, verdicts

COPY = "drc.registry.registry_copy"
VERIFY = "drc.registry.registry_signature_verify"
INFO = "drc.registry.registry_referrers_info"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def auth(testbed, registry) -> dict:
    return connection(testbed, registry) or {}


def copy(testbed, src_registry, src, dest_registry, dest, name, **extra) -> dict:
    args = dict(src=ref(src_registry, src) if src_registry else src,
                dest=ref(dest_registry, dest) if dest_registry else dest, **extra)
    if src_registry is not None and auth(testbed, src_registry):
        args["src_auth"] = auth(testbed, src_registry)
    if dest_registry is not None and auth(testbed, dest_registry):
        args["dest_auth"] = auth(testbed, dest_registry)
    return {COPY: args, "register": name, "ignore_errors": True}


def mirror(testbed, src, dest_registry, prefix: str, images: list, name: str, **extra) -> list:
    role_vars = {"mirror_images_images": [ref(src, image) for image in images],
                 "mirror_images_dest": "%s/%s" % (dest_registry.host, prefix),
                 "mirror_images_dest_auth": auth(testbed, dest_registry)}
    role_vars.update(extra)
    return [{"name": "Mirror", "ansible.builtin.include_role": {"name": "drc.registry.mirror_images"},
             "vars": role_vars},
            {"name": "Keep the result", "ansible.builtin.set_fact": {name: "{{ mirror_images_result }}"},
             "register": name + "_fact"}]


def seed_hostile(testbed, registry, fixtures: dict) -> dict:
    """hx/wrong: the image's fallback index names an SBOM of another image; hx/cycle: the
    signature's own .sig tag points back at the image."""
    image = fixtures["unsigned"]
    raw = image["manifests"][image["digest"]]
    other = fixtures["signed-docker"]
    out = {}
    pusher = ArtifactPusher(testbed, registry, "hx/wrong")
    for blob in _config_and_layer(fixtures, "unsigned"):
        pusher.put_blob(*blob)
    pusher.put_manifest("1", OCI_MANIFEST, raw)
    foreign_subject = {"mediaType": other["media_type"], "digest": other["digest"],
                       "size": len(other["manifests"][other["digest"]])}
    foreign_raw, foreign_blobs = artifact(SBOM_TYPE, b'{"spdxVersion":"SPDX-2.3"}', SBOM_TYPE,
                                          foreign_subject, "sbom of another image")
    for digest, data in foreign_blobs.items():
        pusher.put_blob(digest, data)
    pusher.put_manifest(sha256(foreign_raw), OCI_MANIFEST, foreign_raw)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(foreign_raw),
                            "size": len(foreign_raw), "artifactType": SBOM_TYPE}]}
    pusher.put_manifest(fallback_tag(image["digest"]), "application/vnd.oci.image.index.v1+json",
                        json.dumps(index).encode())
    out["wrong"] = {"image": image["digest"], "foreign": sha256(foreign_raw)}

    signed = fixtures["signed-image"]
    (sig_tag, sig_digest), = signed["sig_tags"].items()
    sig_raw = signed["manifests"][sig_digest]
    pusher = ArtifactPusher(testbed, registry, "hx/cycle")
    for blob in _config_and_layer(fixtures, "signed-image") + _blobs_of(sig_raw, fixtures, "signed-image"):
        pusher.put_blob(*blob)
    pusher.put_manifest("1", OCI_MANIFEST, signed["manifests"][signed["digest"]])
    pusher.put_manifest(sig_tag, OCI_MANIFEST, sig_raw)
    pusher.put_manifest(fallback_tag(sig_digest) + ".sig", OCI_MANIFEST, signed["manifests"][signed["digest"]])
    out["cycle"] = {"image": signed["digest"], "signature": sig_digest,
                    "back_tag": fallback_tag(sig_digest) + ".sig", "sig_tag": sig_tag}
    return out


def _fixture_blob(case: str, digest: str) -> bytes:
    with open(os.path.join(fixtures_dir(), case, "blobs", "sha256", digest.split(":")[1]), "rb") as handle:
        return handle.read()


def _blobs_of(raw: bytes, fixtures: dict, case: str) -> list:
    body = json.loads(raw)
    return [(d["digest"], _fixture_blob(case, d["digest"])) for d in [body["config"]] + body["layers"]]


def _config_and_layer(fixtures: dict, case: str) -> list:
    image = fixtures[case]
    return _blobs_of(image["manifests"][image["digest"]], fixtures, case)


def seed_deep_chain(testbed, registry, fixtures: dict, levels: int = 9) -> list:
    """dp/chain:1, the unsigned image with a chain of ``levels`` OCI 1.1 artifacts, each the
    referrer of the one before (level 1 refers to the image), recorded in fallback tags as a
    referrers-aware client writes them; returns each level's (digest, raw bytes), level 1 first."""
    image = fixtures["unsigned"]
    image_raw = image["manifests"][image["digest"]]
    pusher = ArtifactPusher(testbed, registry, "dp/chain")
    for blob in _config_and_layer(fixtures, "unsigned"):
        pusher.put_blob(*blob)
    pusher.put_manifest("1", OCI_MANIFEST, image_raw)
    subject = {"mediaType": OCI_MANIFEST, "digest": image["digest"], "size": len(image_raw)}
    chain = []
    for level in range(1, levels + 1):
        body, blobs = artifact(SBOM_TYPE, b"level %d" % level, SBOM_TYPE, subject, "level %d" % level)
        subject = pusher.push_referrer(body, blobs)
        chain.append((subject["digest"], body))
    return chain


def seed_buildkit(testbed, registry) -> dict:
    """bk/multi:attested, an index as BuildKit writes it: the three platforms of app/multi:oci and
    an attestation manifest (unknown/unknown, vnd.docker.reference.*) for the amd64 child."""
    testbed.skopeo_copy(registry, "app/multi:oci", "bk/multi:oci")
    index = json.loads(raw(testbed, registry, "bk/multi:oci"))
    amd64 = next(m for m in index["manifests"] if m["platform"]["architecture"] == "amd64")
    pusher = ArtifactPusher(testbed, registry, "bk/multi")
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                            "predicateType": "https://slsa.dev/provenance/v0.2"}).encode()
    config = b'{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}'
    for data in (statement, config):
        pusher.put_blob(sha256(data), data)
    attestation = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                              "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                         "digest": sha256(config), "size": len(config)},
                              "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": sha256(statement),
                                          "size": len(statement),
                                          "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]
                              }, sort_keys=True).encode()
    pusher.put_manifest(sha256(attestation), OCI_MANIFEST, attestation)
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": sha256(attestation), "size": len(attestation),
                               "platform": {"os": "unknown", "architecture": "unknown"},
                               "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                               "vnd.docker.reference.digest": amd64["digest"]}})
    body = json.dumps(index, sort_keys=True).encode()
    pusher.put_manifest("attested", index["mediaType"], body)
    return {"index": sha256(body), "amd64": amd64["digest"], "attestation": sha256(attestation),
            "attestation_raw": attestation}


@pytest.fixture(scope="module")
def bed(testbed, tmp_path_factory):
    src, dest, third = (testbed.registries[m] for m in ("open", "token", "basic"))
    fixtures = seed_signed_fixtures(testbed, src, prefix="rf")
    image = fixtures["signed-image"]
    subject = {"mediaType": OCI_MANIFEST, "digest": image["digest"],
               "size": len(image["manifests"][image["digest"]])}
    artifacts = push_sbom_and_signature(testbed, src, "rf/signed-image", subject)
    hostile = seed_hostile(testbed, src, fixtures)
    buildkit = seed_buildkit(testbed, src)
    chain = seed_deep_chain(testbed, src, fixtures)
    work = tmp_path_factory.mktemp("referrers")
    layout = str(work / "layout")
    every = [("rf/%s:1" % case, "rc/%s:1" % case) for case in cases()]
    images_task = {COPY: {"images": [{"src": ref(src, s), "dest": ref(dest, d)} for s, d in every],
                          "dest_auth": auth(testbed, dest)}, "register": "copy_all", "ignore_errors": True}
    mirrored = ["rf/signed-index:1", "rf/signed-docker:1", "rf/signed-image:1"]
    sig_tag = next(iter(image["sig_tags"]))
    first = [
        images_task,
        copy(testbed, src, "rf/signed-index:1", dest, "nr/signed-index:1", "no_referrers", referrers=False),
        copy(testbed, src, "rf/signed-index:1", dest, "pl/signed-index:1", "platforms", platforms=["linux/amd64"]),
        copy(testbed, src, "rf/signed-image:" + sig_tag, dest, "sp/sig:1", "artifact_platforms",
             platforms=["linux/arm64"]),
        copy(testbed, src, "rf/signed-index:1", None, "oci:%s:1" % layout, "to_layout"),
        copy(testbed, None, "oci:%s:1" % layout, dest, "lay/signed-index:1", "from_layout"),
        copy(testbed, src, "rf/signed-image:1", None, "oci:%s-sbom:1" % layout, "sbom_to_layout"),
        copy(testbed, None, "oci:%s-sbom:1" % layout, dest, "lay/signed-image:1", "sbom_from_layout"),
        copy(testbed, src, "hx/wrong:1", dest, "hx/wrong:1", "wrong_subject"),
        copy(testbed, src, "hx/cycle:1", dest, "hx/cycle:1", "cycle"),
        copy(testbed, src, "dp/chain:1", dest, "dp/chain:1", "deep"),
        dict(copy(testbed, src, "rf/signed-image:1", dest, "ck/signed-image:1", "check"), check_mode=True),
        copy(testbed, src, "bk/multi:attested", dest, "bk/all:1", "buildkit_all"),
        copy(testbed, src, "bk/multi:attested", dest, "bk/amd64:1", "buildkit_amd64", platforms=["linux/amd64"]),
        copy(testbed, src, "bk/multi:attested", dest, "bk/arm64:1", "buildkit_arm64", platforms=["linux/arm64"]),
    ] + mirror(testbed, src, third, "mirror", mirrored, "mirrored") + mirror(
        testbed, src, third, "mirror-none", mirrored, "mirrored_none", mirror_images_referrers=False) + mirror(
        testbed, src, third, "mirror-all", ["rf/%s:1" % case for case in cases()], "mirrored_all")
    info = [
        {INFO: dict(reference=ref(src, "rf/signed-image:1")), "register": "info_src", "ignore_errors": True},
        {INFO: dict(reference=ref(dest, "rc/signed-image:1"), **auth(testbed, dest)), "register": "info_dest",
         "ignore_errors": True},
        {INFO: dict(reference=ref(src, "rf/signed-image@" + image["digest"]), artifact_type=SBOM_TYPE),
         "register": "info_sbom", "ignore_errors": True},
        {INFO: dict(reference=ref(src, "rf/signed-image@" + artifacts["sbom"]["digest"])),
         "register": "info_of_sbom", "ignore_errors": True},
        {INFO: dict(reference=ref(dest, "lay/signed-image:1"), **auth(testbed, dest)),
         "register": "info_from_layout", "ignore_errors": True},
    ]
    # issue 27 with 28: the signatures verify on both copies, as skopeo's verdicts say (signed_prefix
    # registry.example/fx mapped onto the copy's repository prefix)
    key = os.path.join(fixtures_dir(), "keys", "key-a.pub")
    verify = [{VERIFY: dict(reference=ref(registry, "%s/%s:1" % (prefix, case)), keys=[key],
                            signed_prefix="registry.example/fx", prefix="%s/%s" % (registry.host, prefix),
                            **auth(testbed, registry)),
               "register": "verify_%s_%s" % (where, case.replace("-", "_")), "ignore_errors": True}
              for where, registry, prefix in (("copy", dest, "rc"), ("mirror", third, "mirror-all/rf"))
              for case in cases()]
    run = run_playbook(first + info + verify, str(work))
    assert "Traceback" not in run.output, run.output
    time.sleep(0.3)
    marks = {r.mode: r.access_log_mark() for r in (dest, third)}
    again = run_playbook([dict(images_task, register="copy_all_again")]
                         + mirror(testbed, src, third, "mirror", mirrored, "mirrored_again"), str(work / ".."))
    time.sleep(0.3)
    writes = {mode: [r for r in testbed.registries[mode].requests_since(mark) if r[0] in WRITE_METHODS]
              for mode, mark in marks.items()}
    return {"run": run, "again": again, "writes": writes, "fixtures": fixtures, "artifacts": artifacts,
            "hostile": hostile, "buildkit": buildkit, "chain": chain, "src": src, "dest": dest, "third": third, "layout": layout}


def results(bed, name: str) -> dict:
    found = bed["run"].results.get(name) or bed["again"].results.get(name)
    if found is None and (name + "_fact") in bed["run"].results or (name + "_fact") in bed["again"].results:
        found = (bed["run"].results.get(name + "_fact") or bed["again"].results[name + "_fact"])["ansible_facts"][name]
    assert found is not None, bed["run"].output + bed["again"].output
    return found


def raw(testbed, registry, image: str) -> bytes:
    return testbed.skopeo_raw_manifest(registry, image)


def tags(testbed, registry, repository: str) -> list:
    try:
        return testbed.skopeo_tags(registry, repository)
    except subprocess.CalledProcessError:
        return []


def assert_signatures_copied(testbed, registry, repository: str, fixture: dict) -> None:
    """Every .sig manifest of the image, the index and each child, byte for byte under its tag."""
    for tag, digest in fixture["sig_tags"].items():
        assert raw(testbed, registry, "%s:%s" % (repository, tag)) == fixture["manifests"][digest], tag


def test_every_signature_travels_with_registry_copy(testbed, bed):
    result = results(bed, "copy_all")
    assert result.get("failed") is not True, result
    for case, image in zip(cases(), result["images"]):
        fixture = bed["fixtures"][case]
        assert image["changed"] is True and image["digest"] == fixture["digest"]
        assert_signatures_copied(testbed, bed["dest"], "rc/" + case, fixture)
        expected = set(fixture["sig_tags"].values())
        if case == "signed-image":
            expected |= {bed["artifacts"]["sbom"]["digest"], bed["artifacts"]["signature"]["digest"]}
        assert set(image["referrers"]) == expected, case
        assert image["referrers_copied"] == len(expected)
    assert result["referrers_copied"] == sum(len(i["referrers"]) for i in result["images"])
    assert len(bed["fixtures"]["signed-index"]["sig_tags"]) == 4  # the index and its 3 children


def test_a_second_copy_writes_nothing(bed):
    again = results(bed, "copy_all_again")
    assert again["changed"] is False and again["referrers_copied"] == 0, again
    assert all(not image["changed"] for image in again["images"])
    assert bed["writes"]["token"] == []


def test_referrers_false_copies_no_signature(testbed, bed):
    result = results(bed, "no_referrers")
    assert result["changed"] is True and result["referrers"] == [] and result["referrers_copied"] == 0
    assert tags(testbed, bed["dest"], "nr/signed-index") == ["1"]


def test_platforms_copies_the_kept_childs_referrers_and_skips_the_index(testbed, bed):
    result = results(bed, "platforms")
    fixture = bed["fixtures"]["signed-index"]
    assert result.get("failed") is not True, result
    amd64 = fixture["children"][0]
    child_sig = fixture["sig_tags"][fallback_tag(amd64) + ".sig"]
    index_sig = fixture["sig_tags"][fallback_tag(fixture["digest"]) + ".sig"]
    assert result["digest"] != fixture["digest"]
    assert result["referrers"] == [child_sig]
    assert [s["digest"] for s in result["referrers_skipped"]] == [index_sig]
    assert fixture["digest"] in result["referrers_skipped"][0]["reason"]
    assert sorted(tags(testbed, bed["dest"], "pl/signed-index")) == sorted(["1", fallback_tag(amd64) + ".sig"])


def test_platforms_never_filters_a_signature(testbed, bed):
    """A single-platform artifact whose config has no os/architecture is copied unchanged."""
    result = results(bed, "artifact_platforms")
    assert result.get("failed") is not True, result["msg"]
    image = bed["fixtures"]["signed-image"]
    sig_digest = next(iter(image["sig_tags"].values()))
    assert result["digest"] == sig_digest
    assert raw(testbed, bed["dest"], "sp/sig:1") == image["manifests"][sig_digest]


def test_referrers_go_to_an_oci_layout_and_back(testbed, bed, tmp_path):
    for name in ("to_layout", "from_layout", "sbom_to_layout", "sbom_from_layout"):
        assert results(bed, name).get("failed") is not True, results(bed, name)
    fixture = bed["fixtures"]["signed-index"]
    assert_signatures_copied(testbed, bed["dest"], "lay/signed-index", fixture)
    with open(bed["layout"] + "/index.json") as handle:
        entries = json.load(handle)["manifests"]
    names = {e.get("annotations", {}).get("org.opencontainers.image.ref.name"): e["digest"] for e in entries}
    assert {k: v for k, v in names.items() if k != "1"} == fixture["sig_tags"]
    # skopeo reads the layout we wrote (the signed image and a signature by their tags)
    for tag in ["1"] + list(fixture["sig_tags"]):
        inspected = subprocess.run(["skopeo", "inspect", "--raw", "oci:%s:%s" % (bed["layout"], tag)],
                                   check=True, capture_output=True).stdout
        assert sha256(inspected) == names[tag]
    # the SBOM is an index.json entry with its subject; the registry got it back in the fallback index
    with open(bed["layout"] + "-sbom/index.json") as handle:
        sbom_entries = [e for e in json.load(handle)["manifests"] if e["digest"] == bed["artifacts"]["sbom"]["digest"]]
    assert len(sbom_entries) == 1 and sbom_entries[0]["artifactType"] == SBOM_TYPE
    listed = results(bed, "info_from_layout")["referrers"]
    assert set(r["digest"] for r in listed) == set(r["digest"] for r in results(bed, "info_src")["referrers"])


def test_an_oci_11_artifact_and_its_signature_are_listed_alike_on_both_sides(testbed, bed):
    src, dest = results(bed, "info_src"), results(bed, "info_dest")
    assert src.get("failed") is not True and dest.get("failed") is not True, (src, dest)
    assert src["digest"] == dest["digest"] == bed["fixtures"]["signed-image"]["digest"]
    assert src["referrers_api"] is False and dest["referrers_api"] is False

    def key(entry):
        return (entry["digest"], entry["found_by"], entry.get("tag"), entry["artifact_type"], entry["size"])
    assert sorted(map(key, src["referrers"])) == sorted(map(key, dest["referrers"]))
    by_kind = {r["found_by"]: r for r in src["referrers"]}
    assert by_kind["fallback_tag"]["digest"] == bed["artifacts"]["sbom"]["digest"]
    assert by_kind["fallback_tag"]["artifact_type"] == SBOM_TYPE
    assert by_kind["fallback_tag"]["annotations"] == {"org.opencontainers.image.title": "sbom"}
    assert by_kind["cosign_tag"]["tag"].endswith(".sig")
    # the fallback index at the destination lists exactly the source's referrers (same bytes even)
    subject = bed["fixtures"]["signed-image"]["digest"]
    for digest in (subject, bed["artifacts"]["sbom"]["digest"]):
        source_index = json.loads(raw(testbed, bed["src"], "rf/signed-image:" + fallback_tag(digest)))
        dest_index = json.loads(raw(testbed, bed["dest"], "rc/signed-image:" + fallback_tag(digest)))
        assert [m["digest"] for m in dest_index["manifests"]] == [m["digest"] for m in source_index["manifests"]]
    for digest, manifest in bed["artifacts"]["manifests"].items():
        assert raw(testbed, bed["dest"], "rc/signed-image@" + digest) == manifest
    # the filter and the signature of the SBOM
    assert [r["digest"] for r in results(bed, "info_sbom")["referrers"]] == [bed["artifacts"]["sbom"]["digest"]]
    assert [r["digest"] for r in results(bed, "info_of_sbom")["referrers"]] == [bed["artifacts"]["signature"]["digest"]]


def test_mirror_images_carries_signatures_to_another_registry(testbed, bed):
    result = results(bed, "mirrored")
    assert result["changed"] is True, result
    for image in ("signed-index", "signed-docker", "signed-image"):
        assert_signatures_copied(testbed, bed["third"], "mirror/rf/" + image, bed["fixtures"][image])
    assert result["referrers_copied"] == 4 + 1 + 3
    none = results(bed, "mirrored_none")
    assert none["referrers_copied"] == 0
    for image in ("signed-index", "signed-docker", "signed-image"):
        assert tags(testbed, bed["third"], "mirror-none/rf/" + image) == ["1"]
    again = results(bed, "mirrored_again")
    assert again["changed"] is False and again["referrers_copied"] == 0
    assert bed["writes"]["basic"] == []


def test_a_fallback_index_naming_another_images_referrer_is_not_followed(testbed, bed):
    result = results(bed, "wrong_subject")
    hostile = bed["hostile"]["wrong"]
    assert result.get("failed") is not True, result
    assert result["referrers"] == []
    assert any(hostile["foreign"] in w and "its subject is" in w for w in result.get("warnings", [])), result
    # nothing of it at the destination: no fallback tag, no manifest
    assert tags(testbed, bed["dest"], "hx/wrong") == ["1"]


def test_a_referrer_cycle_is_followed_once(testbed, bed):
    result = results(bed, "cycle")
    hostile = bed["hostile"]["cycle"]
    assert result.get("failed") is not True, result
    assert any("cycle" in w for w in result.get("warnings", [])), result
    assert sorted(tags(testbed, bed["dest"], "hx/cycle")) == sorted(["1", hostile["sig_tag"], hostile["back_tag"]])


def test_referrers_are_carried_eight_levels_deep_and_the_ninth_is_reported(testbed, bed):
    """docs/referrers.md "Bounds": depth at most 8, deeper ones reported (a warning), not copied,
    and the copy succeeds. Levels 1-8 arrive byte for byte with their fallback tags."""
    result = results(bed, "deep")
    chain = bed["chain"]
    image = bed["fixtures"]["unsigned"]["digest"]
    assert len(chain) == 9
    assert result.get("failed") is not True and result["changed"] is True, result
    carried = [digest for digest, dummy in chain[:8]]
    assert sorted(result["referrers"]) == sorted(carried) and result["referrers_copied"] == 8, result
    for digest, body in chain[:8]:
        assert raw(testbed, bed["dest"], "dp/chain@" + digest) == body
    ninth = chain[8][0]
    warned = [w for w in result.get("warnings", []) if "more than 8 levels" in w]
    assert len(warned) == 1 and chain[7][0] in warned[0], result.get("warnings")
    with pytest.raises(subprocess.CalledProcessError):
        raw(testbed, bed["dest"], "dp/chain@" + ninth)
    # the fallback tags of the image and levels 1-7 (each lists the next level); none for level 8
    expected = ["1"] + [fallback_tag(d) for d in [image] + carried[:7]]
    assert sorted(tags(testbed, bed["dest"], "dp/chain")) == sorted(expected)


def test_check_mode_reports_the_referrers_and_writes_nothing(testbed, bed):
    result = results(bed, "check")
    assert result["changed"] is True and result["referrers_copied"] == 3, result
    assert tags(testbed, bed["dest"], "ck/signed-image") == []


def test_buildkit_attestations_travel_inside_the_index(testbed, bed):
    buildkit = bed["buildkit"]
    every = results(bed, "buildkit_all")
    assert every["digest"] == buildkit["index"] and every["changed"] is True, every
    assert raw(testbed, bed["dest"], "bk/all@" + buildkit["attestation"]) == buildkit["attestation_raw"]
    # platforms keeps the attestation of a kept child, and only that one
    amd64 = json.loads(raw(testbed, bed["dest"], "bk/amd64:1"))
    assert [m["digest"] for m in amd64["manifests"]] == [buildkit["amd64"], buildkit["attestation"]]
    assert raw(testbed, bed["dest"], "bk/amd64@" + buildkit["attestation"]) == buildkit["attestation_raw"]
    arm64 = json.loads(raw(testbed, bed["dest"], "bk/arm64:1"))
    assert buildkit["attestation"] not in [m["digest"] for m in arm64["manifests"]]
    assert len(arm64["manifests"]) == 1


@pytest.mark.parametrize("where", ["copy", "mirror"])
def test_signatures_verify_on_the_copy_as_skopeo_says(bed, where):
    """After registry_copy and after mirror_images, registry_signature_verify on the destination
    accepts every fixture case verdicts.json accepts and rejects each it rejects."""
    expected = {case: verdict["expected"].startswith("accept") for case, verdict in verdicts()["cases"].items()}
    assert True in expected.values() and False in expected.values()
    got = {}
    for case in cases():
        verified = results(bed, "verify_%s_%s" % (where, case.replace("-", "_")))
        got[case] = not verified.get("failed")
        if got[case]:
            assert verified["digest"] == bed["fixtures"][case]["digest"], (case, verified)
            assert verified["signatures"], (case, verified)
        else:
            assert "Traceback" not in verified.get("msg", ""), (case, verified)
    assert got == expected


def test_a_new_signature_of_an_image_the_destination_holds_is_a_change(testbed, bed, tmp_path):
    """issue 25: the destination holds the image (copied with referrers false) but not its cosign
    signature (a `sha256-<hex>.sig` tag, what a real registry holds). A copy plans the signature,
    so it reports changed and carries it; a copy after that plans nothing."""
    fixture = bed["fixtures"]["signed-image"]
    (sig_tag, sig_digest), = fixture["sig_tags"].items()
    src, dest = bed["src"], bed["dest"]
    run = run_playbook([
        copy(testbed, src, "rf/signed-image:1", dest, "ns/signed-image:1", "image_only", referrers=False),
        copy(testbed, src, "rf/signed-image:1", dest, "ns/signed-image:1", "signature_added"),
        copy(testbed, src, "rf/signed-image:1", dest, "ns/signed-image:1", "nothing_left"),
    ], str(tmp_path))
    image_only, added, left = (run.results[n] for n in ("image_only", "signature_added", "nothing_left"))
    assert image_only["changed"] is True and image_only["referrers_copied"] == 0, image_only
    assert added.get("failed") is not True, added
    assert added["digest"] == fixture["digest"]
    assert added["changed"] is True and added["manifests_pushed"] == 0, added
    assert sig_digest in added["referrers"] and added["referrers_copied"] >= 1, added
    assert raw(testbed, dest, "ns/signed-image:" + sig_tag) == fixture["manifests"][sig_digest]
    assert left["changed"] is False and left["referrers_copied"] == 0, left
