"""registry_prune against the real test-bed registry (deletes enabled): one playbook prunes several
repositories, each with its expected kept / deleted sets written out here; skopeo then copies
every kept tag completely; a dedicated registry measures what garbage-collect frees after a prune
that was cut short and run again."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import ref
from tests.testbed.proxy import Proxy
from tests.testbed.registry import RegistryProcess
from tests.testbed.retention_images import Pusher
from tests.testbed.signed_fixtures import fixtures_dir, seed_signed_fixtures

UNREACHABLE = "127.0.0.1:9"


def _signature_fixtures_beside_an_ancestor() -> None:
    """signed_fixtures.py looks beside the repository; a scratch copy (the guard runner's, under
    build/mutants/) is deeper: point it at the first ancestor's shared/fixtures/signatures."""
    if os.environ.get("DRC_SIGNATURE_FIXTURES"):
        return
    folder = os.path.dirname(os.path.abspath(__file__))
    while os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
        candidate = os.path.join(folder, "shared", "fixtures", "signatures")
        if os.path.isfile(os.path.join(candidate, "verdicts.json")):
            os.environ["DRC_SIGNATURE_FIXTURES"] = candidate
            return


_signature_fixtures_beside_an_ancestor()
FX = "prune-fx"  # where the signed fixtures go on the open registry


def sig_tag(digest: str, suffix: str = ".sig") -> str:
    return digest.replace(":", "-") + suffix


def seed(testbed, registry) -> dict:
    """Every repository the playbook prunes; returns the digests the expectations name."""
    seeded: dict = {}
    # per-commit tags, one of them also tagged "stable" (two tags on one digest)
    commits = Pusher(testbed, registry, "prune/commits")
    for number, age in enumerate([60, 40, 20, 5, 1], 1):
        seeded["c%d" % number] = commits.image("c%d" % number, age, "c%d" % number)
    commits.tag(seeded["c3"], "stable")
    # semver tags; "latest" shares 2.0.0's digest
    versions = Pusher(testbed, registry, "prune/semver")
    for name in ("1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0-rc.1"):
        seeded[name] = versions.image("v" + name, 30, name)
    versions.tag(seeded["2.0.0"], "latest")
    # a multi-platform index whose amd64 child is also tagged alone, kept through the index
    for repository, key in (("prune/multi-kept", "mk"), ("prune/multi-gone", "mg")):
        multi = Pusher(testbed, registry, repository)
        children = [multi.image("%s-%s" % (key, arch), 3, arch=arch) for arch in ("amd64", "arm64")]
        seeded[key] = multi.index(children, "multi")
        seeded[key + "-children"] = children
        multi.tag(children[0], "amd64")
        seeded[key + "-old"] = multi.image(key + "-old", 90, "old")
    # an image with an SBOM referrer (fallback tag index), the SBOM also tagged "sbom-pinned"
    referred = Pusher(testbed, registry, "prune/referred")
    seeded["subject"] = referred.image("subject", 50, "old")
    seeded["sbom1"] = referred.artifact(seeded["subject"], "one")
    seeded["sbom2"] = referred.artifact(seeded["subject"], "two", "sbom-pinned")
    seeded["fallback"] = referred.fallback_index(seeded["subject"], [seeded["sbom1"], seeded["sbom2"]])
    seeded["new"] = referred.image("new", 1, "new")
    # the images upstream skopeo signed: a signed image kept, a signed index (and children) deleted
    seeded["fx"] = seed_signed_fixtures(testbed, registry, prefix=FX)
    testbed.skopeo_copy(registry, "app/docker:1.0", "%s/signed-image:junk" % FX)
    testbed.skopeo_copy(registry, "app/oci:1.0", "%s/signed-index:keep" % FX)
    return seeded


POLICIES = {
    "commits": dict(repository="prune/commits", delete_match=["^c"], keep={"latest": 1, "newer_than": "10d"}),
    "semver": dict(repository="prune/semver",
                   keep={"semver": ">=1.2.0 <2", "match": ["^latest$"], "latest": 1, "sort": "semver"}),
    "multi_kept": dict(repository="prune/multi-kept", keep={"match": ["^multi$"]}),
    "multi_gone": dict(repository="prune/multi-gone", keep={"match": ["^amd64$"]}),
    "referred": dict(repository="prune/referred", keep={"match": ["^new$", "^sbom-pinned$"]}),
    "signed_image": dict(repository="%s/signed-image" % FX, keep={"match": ["^1$"]}),
    "signed_index": dict(repository="%s/signed-index" % FX, keep={"match": ["^keep$"]}),
}

BAD_INPUT = [
    ("everything", dict(keep={}), "the policy would delete every tag"),
    ("duration", dict(keep={"newer_than": "30 days"}), "keep.newer_than '30 days' is not a duration"),
    ("range", dict(keep={"semver": ">>1"}), "keep.semver '>>1'"),
    ("regex", dict(keep={"latest": 1}, delete_match=["("]), "delete_match '(' is not a valid regular expression"),
    ("sort", dict(keep={"latest": 1, "sort": "name"}), "value of sort must be one of: created, semver"),
    ("tagged", dict(keep={"latest": 1}, repository="%s/app:1" % UNREACHABLE), "must not carry a tag or digest"),
]


@pytest.fixture(scope="module")
def pruned(testbed, tmp_path_factory):
    registry = testbed.registries["open"]
    seeded = seed(testbed, registry)
    proxy = Proxy(registry.url).start()
    tasks = []
    for name, policy in POLICIES.items():
        args = dict(policy, repository="%s/%s" % (proxy.host, policy["repository"]))
        tasks.append({"drc.registry.registry_prune": args, "check_mode": True, "ignore_errors": True,
                      "register": "check_" + name})
    for name, policy in POLICIES.items():
        args = dict(policy, repository=ref(registry, policy["repository"]))
        tasks.append({"drc.registry.registry_prune": args, "diff": True, "ignore_errors": True,
                      "register": "run_" + name})
        tasks.append({"drc.registry.registry_prune": args, "ignore_errors": True, "register": "again_" + name})
    for name, args, _message in BAD_INPUT:
        args = dict({"repository": "%s/app" % UNREACHABLE}, **args)
        tasks.append({"drc.registry.registry_prune": args, "ignore_errors": True, "register": "bad_" + name})
    try:
        run = run_playbook(tasks, str(tmp_path_factory.mktemp("prune")))
    finally:
        proxy.stop()
    # every task ignores errors: each test reads its own result (a failed one has no "kept")
    assert run.results, run.output[-5000:]
    return {"results": run.results, "seeded": seeded, "proxy": proxy.requests, "registry": registry,
            "output": run.output}


def outcome(result: dict) -> tuple:
    """(kept tag -> rule, removed tags, untagged digests deleted, could-not-delete tags)"""
    return ({e["tag"]: e["rule"] for e in result["kept"]},
            sorted(e["tag"] for e in result["deleted"] if e["tag"]),
            sorted(e["digest"] for e in result["deleted"] if not e["tag"]),
            sorted(e["tag"] for e in result["could_not_delete"]))


def test_check_mode_sends_only_reads_and_returns_the_plan(pruned):
    methods = {method for method, _path, _headers in pruned["proxy"]}
    assert methods <= {"GET", "HEAD"}, methods
    assert len(pruned["proxy"]) > 20  # the check runs did go through the proxy
    results = pruned["results"]
    for name in POLICIES:
        check, run = results["check_" + name], results["run_" + name]
        assert check["changed"] is True, name
        assert check["kept"] == run["kept"], name
        # the plan lists what the run deleted, plus the tags it could not delete alone
        planned = [(e["tag"], e["digest"]) for e in check["deleted"]]
        done = [(e["tag"], e["digest"]) for e in run["deleted"]] + [
            (e["tag"], e["digest"]) for e in run["could_not_delete"]]
        assert sorted(planned, key=str) == sorted(done, key=str), name
    assert [e["tag"] for e in results["check_commits"]["deleted"] if e.get("tag_only")] == ["c3"]


def test_per_commit_tags_latest_and_newer_than(pruned):
    result, seeded = pruned["results"]["run_commits"], pruned["seeded"]
    kept, removed, untagged, refused = outcome(result)
    assert kept == {"c5": "latest", "c4": "newer_than", "stable": "not_a_candidate"}
    assert removed == ["c1", "c2"] and untagged == []
    # c3 shares its digest with the kept "stable": Distribution 2.8 cannot delete the tag alone
    assert refused == ["c3"]
    assert "DIGEST_INVALID" in result["could_not_delete"][0]["reason"]
    assert result["could_not_delete"][0]["digest"] == seeded["c3"]["digest"]
    assert result["diff"] == {"before": {"tags": ["c1", "c2", "c3", "c4", "c5", "stable"]},
                              "after": {"tags": ["c3", "c4", "c5", "stable"]}}
    assert next(e["rules"] for e in result["kept"] if e["tag"] == "c5") == ["latest", "newer_than"]


def test_semver_range_match_and_latest_by_version(pruned):
    kept, removed, untagged, refused = outcome(pruned["results"]["run_semver"])
    assert kept == {"2.1.0-rc.1": "latest", "1.2.0": "semver", "latest": "match"}
    assert removed == ["1.0.0", "1.1.0"] and untagged == [] and refused == ["2.0.0"]


def test_a_kept_index_keeps_its_child_tagged_alone(pruned):
    result, seeded = pruned["results"]["run_multi_kept"], pruned["seeded"]
    kept, removed, untagged, refused = outcome(result)
    assert kept == {"multi": "match"}
    assert removed == ["old"] and untagged == []
    assert refused == ["amd64"]  # its manifest is a child of the kept index
    assert "DIGEST_INVALID" in result["could_not_delete"][0]["reason"]
    assert result["could_not_delete"][0]["digest"] == seeded["mk-children"][0]["digest"]


def test_a_deleted_index_takes_its_children_but_not_a_kept_one(pruned):
    seeded = pruned["seeded"]
    kept, removed, untagged, refused = outcome(pruned["results"]["run_multi_gone"])
    assert kept == {"amd64": "match"}
    assert removed == ["multi", "old"] and refused == []
    assert untagged == [seeded["mg-children"][1]["digest"]]  # arm64; amd64 is kept


def test_referrers_go_with_their_subject_and_the_fallback_index_is_rewritten(pruned, testbed):
    result, seeded, registry = pruned["results"]["run_referred"], pruned["seeded"], pruned["registry"]
    kept, removed, untagged, refused = outcome(result)
    fallback = sig_tag(seeded["subject"]["digest"], "")
    assert kept == {"new": "match", "sbom-pinned": "match", fallback: "referrer"}
    assert removed == ["old"] and refused == []
    # the unpinned SBOM went with its subject; the old fallback index was replaced
    assert untagged == sorted([seeded["sbom1"]["digest"], seeded["fallback"]["digest"]])
    index = json.loads(testbed.skopeo_raw_manifest(registry, "prune/referred:" + fallback))
    assert [e["digest"] for e in index["manifests"]] == [seeded["sbom2"]["digest"]]


def test_signed_index_goes_with_every_child_and_signature(pruned):
    case = pruned["seeded"]["fx"]["signed-index"]
    kept, removed, untagged, refused = outcome(pruned["results"]["run_signed_index"])
    assert kept == {"keep": "match"}
    assert len(case["sig_tags"]) == 4  # the index's and each of its three children's
    assert removed == sorted(["1"] + list(case["sig_tags"])) and refused == []
    assert untagged == sorted(case["children"])


def verify_signature(testbed, registry, repository: str, digest: str) -> None:
    """The .sig of a kept image, checked as cosign would: payload blob digest, ECDSA signature by
    key A over those bytes, then the digest it names (test-side; Debian's skopeo cannot verify)."""
    sig = json.loads(testbed.skopeo_raw_manifest(registry, "%s:%s" % (repository, sig_tag(digest))))
    with open(os.path.join(fixtures_dir(), "keys", "key-a.pub"), "rb") as handle:
        key = serialization.load_pem_public_key(handle.read())
    layer = sig["layers"][0]
    with testbed.raw_request(registry, "GET", "/v2/%s/blobs/%s" % (repository, layer["digest"]), repository) as answer:
        payload = answer.read()
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == digest


def test_a_kept_signed_image_keeps_a_verifying_signature(pruned, testbed):
    case, registry = pruned["seeded"]["fx"]["signed-image"], pruned["registry"]
    kept, removed, untagged, refused = outcome(pruned["results"]["run_signed_image"])
    assert kept == {"1": "match", sig_tag(case["digest"]): "referrer"}
    assert removed == ["junk"] and untagged == [] and refused == []
    verify_signature(testbed, registry, case["repository"], case["digest"])


def test_a_second_run_changes_nothing(pruned):
    for name in POLICIES:
        again, run = pruned["results"]["again_" + name], pruned["results"]["run_" + name]
        assert again["changed"] is False and again["deleted"] == [], name
        assert again["tags_before"] == again["tags_after"] == run["tags_after"], name
        assert again["could_not_delete"] == run["could_not_delete"], name


def skopeo_copy_all(testbed, registry, image: str, dest: str) -> subprocess.CompletedProcess:
    command = ["skopeo", "copy", "--all", "--quiet"] + [
        a.replace("--", "--src-", 1) for a in testbed.skopeo_args(registry)] + [
        "docker://%s/%s" % (registry.host, image), "oci:%s:x" % dest]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_every_kept_tag_still_copies_completely_and_deleted_ones_are_gone(pruned, testbed, tmp_path):
    registry = pruned["registry"]
    for name, policy in POLICIES.items():
        result = pruned["results"]["run_" + name]
        assert sorted(testbed.skopeo_tags(registry, policy["repository"])) == result["tags_after"], name
        for entry in result["kept"] + result["could_not_delete"]:
            done = skopeo_copy_all(testbed, registry, "%s:%s" % (policy["repository"], entry["tag"]),
                                   str(tmp_path / name))
            assert done.returncode == 0, (name, entry["tag"], done.stderr)
        for entry in result["deleted"]:
            reference = "%s@%s" % (policy["repository"], entry["digest"])
            done = skopeo_copy_all(testbed, registry, reference, str(tmp_path / "gone"))
            assert done.returncode != 0 and "manifest unknown" in done.stderr, (name, entry)


@pytest.mark.parametrize("name, message", [(n, m) for n, _a, m in BAD_INPUT], ids=[n for n, _a, _m in BAD_INPUT])
def test_bad_input_fails_naming_it_before_any_request(pruned, name, message):
    result = pruned["results"]["bad_" + name]
    assert result["failed"] is True
    assert message in result["msg"], result["msg"]
    assert "Traceback" not in pruned["output"]


# -- a dedicated registry: a prune cut after the k-th DELETE, then garbage collection -------------

class CutAfterDeletes(Proxy):
    """Forwards everything until ``k`` DELETEs have been answered; from the next DELETE on, every
    request's connection is closed unanswered, as if the prune had been killed there."""

    def __init__(self, upstream: str, k: int) -> None:
        super().__init__(upstream)
        self.k, self.deletes, self.cut = k, 0, False

    def handle(self, handler, body):
        with self._lock:
            if handler.command == "DELETE" and not self.cut:
                self.deletes += 1
                self.cut = self.deletes > self.k
            cut = self.cut
        if cut:
            handler.close_connection = True
            handler.connection.close()
            return None
        return super().handle(handler, body)


def blob_bytes(storage: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(os.path.join(storage, "docker", "registry", "v2", "blobs")):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f == "data")
    return total


def test_a_cut_prune_keeps_every_kept_tag_and_gc_frees_the_deleted_blobs(testbed, tmp_path):
    registry = RegistryProcess("open", str(tmp_path / "gc-registry")).start()
    try:
        pusher = Pusher(testbed, registry, "gc/app")
        images = {"c%d" % n: pusher.image("gc-c%d" % n, 10 - n, "c%d" % n, layer_size=256 * 1024)
                  for n in range(1, 7)}
        pusher.signature(images["c1"])
        children = [pusher.image("gc-%s" % arch, 9, arch=arch, layer_size=128 * 1024) for arch in ("amd64", "arm64")]
        images["multi"] = pusher.index(children, "cmulti")  # the oldest: created as its newest child
        policy = dict(delete_match=["^c"], keep={"latest": 2}, retries=0)
        gone = ["c1", "c2", "c3", "c4", "cmulti"]
        proxy = CutAfterDeletes(registry.url, k=2).start()
        try:
            cut = run_playbook([{"drc.registry.registry_prune": dict(policy, repository="%s/gc/app" % proxy.host),
                                 "ignore_errors": True, "register": "cut"}], str(tmp_path))
        finally:
            proxy.stop()
        result = cut.results["cut"]
        assert result["failed"] is True, result
        assert "the prune stopped there, after deleting" in result["msg"], result["msg"]
        assert len(result["deleted"]) == 2 and proxy.deletes == 3
        # every kept tag is intact after the cut
        for tag in ("c5", "c6"):
            done = skopeo_copy_all(testbed, registry, "gc/app:" + tag, str(tmp_path / "after-cut"))
            assert done.returncode == 0, done.stderr
        again = run_playbook([{"drc.registry.registry_prune": dict(policy, repository=ref(registry, "gc/app")),
                               "register": "again"}], str(tmp_path))
        assert again.rc == 0, again.output
        result = again.results["again"]
        assert sorted(e["tag"] for e in result["kept"]) == ["c5", "c6"]
        assert result["tags_after"] == ["c5", "c6"]
        assert not set(gone) & set(testbed.skopeo_tags(registry, "gc/app"))

        kept_blobs = {d for tag in ("c5", "c6") for d in [images[tag]["digest"]] + images[tag]["parts"]}
        expected = sum(size for digest, size in pusher.blob_sizes.items() if digest not in kept_blobs)
        registry.stop()
        before = blob_bytes(registry.storage)
        subprocess.run(["docker-registry", "garbage-collect", registry.config_path], check=True,
                       capture_output=True, timeout=120)
        freed = before - blob_bytes(registry.storage)
        print("garbage-collect freed %d bytes of %d (expected %d)" % (freed, before, expected))
        assert freed == expected
        registry.start()
        for tag in ("c5", "c6"):
            done = skopeo_copy_all(testbed, registry, "gc/app:" + tag, str(tmp_path / "after-gc"))
            assert done.returncode == 0, done.stderr
    finally:
        registry.stop()


def test_deletes_disabled_stop_the_run_with_the_registrys_message(testbed, tmp_path):
    registry = RegistryProcess("open", str(tmp_path / "no-delete"))
    with open(registry.config_path) as handle:
        config = handle.read()
    with open(registry.config_path, "w") as handle:
        handle.write(config.replace("  delete:\n    enabled: true", "  delete:\n    enabled: false"))
    registry.start()
    try:
        pusher = Pusher(testbed, registry, "nodelete/app")
        for n in (1, 2):
            pusher.image("nd%d" % n, 5 - n, "v%d" % n)
        run = run_playbook([{"drc.registry.registry_prune": dict(repository=ref(registry, "nodelete/app"),
                                                                 keep={"latest": 1}),
                             "ignore_errors": True, "register": "refused"}], str(tmp_path))
        result = run.results["refused"]
        assert result["failed"] is True
        assert "405 Method Not Allowed: UNSUPPORTED" in result["msg"], result["msg"]
        assert "storage.delete.enabled" in result["msg"]
        assert result["deleted"] == [] and result["http_status"] == 405
        assert sorted(testbed.skopeo_tags(registry, "nodelete/app")) == ["v1", "v2"]
    finally:
        registry.stop()
