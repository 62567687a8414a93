"""registry_sync on the real test bed: repositories of semver, non-semver and -rc tags sharing a base
layer and a multi-platform index, seeded with skopeo into the open registry and synced into the
token-auth registry; every rule kind with the tag set it must give written out, the destination
read back with skopeo; faults in one image (a corrupted blob, a 500 on one manifest) and 429s
through the test bed's proxy; the blob cache across runs; the mirror_images role's repository form.

A signed image (the upstream-skopeo-signed fixture of tests/testbed/signed_fixtures.py) keeps its
signatures through a sync.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from tests.integration.ansible_runner import TARGET_PYTHON, run_module, run_playbook
from tests.testbed.proxy import Fault, FaultProxy
from tests.testbed.signed_fixtures import seed_signed_fixtures
from tests.testbed.sync_fixtures import MULTI_TAGS, SYNC_REPOSITORIES, build_sync_layout, seed_sync_repositories

MODULE = "drc.registry.registry_sync"
VERSIONS = [tag for tag, _created in SYNC_REPOSITORIES["versions"]]
NAMES = [tag for tag, _created in SYNC_REPOSITORIES["names"]]

# case -> (repository, tags rules, the tag set the rules must give)
RULE_CASES = {
    "match": ("versions", {"match": r"1\.2\..*"}, {"1.2.0", "1.2.5"}),
    "match_is_full": ("versions", {"match": r"1\.2"}, set()),
    "exclude": ("versions", {"exclude": ["-rc", "^latest$"]}, {"1.0.0", "1.2.0", "1.2.5", "1.3.0", "v1.4", "2.0.0"}),
    "semver": ("versions", {"semver": ">=1.2 <2"}, {"1.2.0", "1.2.5", "1.3.0-rc1", "1.3.0", "v1.4"}),
    "semver_latest": ("versions", {"semver": ">=1.2 <2", "exclude": ["-rc"], "latest": 2}, {"1.3.0", "v1.4"}),
    "semver_caret": ("versions", {"semver": "^2"}, {"2.0.0", "2.1.0-rc1"}),
    # by the configs' created times (2.0.0 and latest share one; the names break the tie)
    "latest_by_created": ("versions", {"latest": 3}, {"2.0.0", "latest", "2.1.0-rc1"}),
    "latest_names": ("names", {"latest": 2}, {"alpha", "edge"}),
    "every_tag": ("names", None, set(NAMES)),
    "index": ("multi", None, set(MULTI_TAGS)),
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def bed(testbed, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sync")
    layout = build_sync_layout(str(workdir / "layout"))
    source = testbed.registries["open"]
    seed_sync_repositories(layout, source, "sync")
    signed = seed_signed_fixtures(testbed, source, prefix="sf")["signed-image"]
    return {"signed": signed, "testbed": testbed, "workdir": workdir, "source": source, "dest": testbed.registries["token"]}


def dest_auth(testbed) -> dict:
    return {"username": testbed.username, "password": testbed.password, "ca_path": testbed.pki.ca_cert}


def source_digest(bed, path: str) -> str:
    return sha256(bed["testbed"].skopeo_raw_manifest(bed["source"], path))


def dest_tags(bed, repository: str) -> set:
    try:
        return set(bed["testbed"].skopeo_tags(bed["dest"], repository))
    except subprocess.CalledProcessError:
        return set()


def dest_digest(bed, path: str) -> str:
    return sha256(bed["testbed"].skopeo_raw_manifest(bed["dest"], path))


@pytest.fixture(scope="module")
def answers(bed):
    """Every case as a task of one playbook; each test reads its own registered result."""
    testbed, source, dest = bed["testbed"], bed["source"], bed["dest"]
    workdir = bed["workdir"]
    auth = dest_auth(testbed)
    cache = str(workdir / "cache" / "blobs.json")
    wrong_cache = str(workdir / "wrong-cache.json")
    base_key = dest.url  # the API base URL the entries are bound to
    names_manifest = json.loads(testbed.skopeo_raw_manifest(source, "sync/names:alpha"))
    base_digest = names_manifest["layers"][0]["digest"]
    with open(wrong_cache, "w") as handle:  # the base layer "is" in a repository that does not exist
        json.dump({"version": 1, "entries": [[base_key, base_digest, ["nowhere/at-all"]]]}, handle)
    garbage_cache = str(workdir / "garbage-cache.json")
    with open(garbage_cache, "wb") as handle:
        handle.write(b"\x00{not json")

    def sync(name, repositories, prefix=None, **extra):
        args = dict(src_registry=source.host, dest="%s/%s" % (dest.host, prefix or "s-" + name.replace("_", "-")),
                    repositories=repositories, dest_auth=auth, blob_cache=False)
        args.update(extra)
        return {"name": name, MODULE: args, "register": name, "ignore_errors": True}

    tasks = []
    for name, (repository, rules, _expected) in RULE_CASES.items():
        entry = {"name": "sync/" + repository}
        if rules is not None:
            entry["tags"] = rules
        tasks.append(sync(name, [entry]))
    tasks.append(sync("signed", [{"name": "sf/signed-image"}]))
    tasks.append(sync("index_again", [{"name": "sync/multi"}], prefix="s-index"))
    tasks.append(sync("platforms", [{"name": "sync/multi", "tags": {"match": r"1\.0", "platforms": ["linux/arm64"]}}]))
    tasks.append(sync("rename", [{"name": "sync/names", "rename": "elsewhere/renamed", "tags": {"match": "beta"}}]))
    check = sync("checked", [{"name": "sync/versions"}])
    check["check_mode"] = True
    tasks.append(check)
    tasks.append(sync("diff_seed", [{"name": "sync/names", "tags": {"match": "alpha"}}], prefix="s-diff"))
    diff = sync("diffed", [{"name": "sync/names"}], prefix="s-diff")
    diff["diff"] = True
    tasks.append(diff)
    tasks.append(sync("shared_layers", [{"name": "sync/names"}, {"name": "sync/versions"}], concurrency=4))
    tasks.append(sync("cache_first", [{"name": "sync/names", "tags": {"match": "alpha"}}], blob_cache=cache))
    tasks.append(sync("cache_second", [{"name": "sync/versions", "tags": {"match": "1.0.0"}}], blob_cache=cache))
    tasks.append(sync("cache_wrong", [{"name": "sync/versions", "tags": {"match": "1.0.0"}}], blob_cache=wrong_cache))
    tasks.append(sync("cache_garbage", [{"name": "sync/versions", "tags": {"match": "1.0.0"}}],
                      blob_cache=garbage_cache))
    tasks.append({"name": "copy_cache", "drc.registry.registry_copy": {
        "src": "%s/sync/versions:1.2.0" % source.host, "dest": "%s/copy-cache/app:1" % dest.host,
        "dest_auth": auth, "blob_cache": cache}, "register": "copy_cache", "ignore_errors": True})
    # faults: a corrupted blob in one image, a 500 on another's manifest, 429s on a third
    beta = json.loads(testbed.skopeo_raw_manifest(source, "sync/names:beta"))
    faults = [Fault("corrupt", "GET", "/blobs/" + beta["layers"][1]["digest"], times=50),
              Fault("status", "HEAD", "/v2/sync/names/manifests/gamma", status=500, times=50),
              Fault("status", "GET", "/v2/sync/names/manifests/gamma", status=500, times=50)]
    broken = FaultProxy(source.url, faults).start()
    limited = FaultProxy(source.url, [
        Fault("status", "HEAD", "/v2/sync/versions/manifests/", status=429, headers=[("Retry-After", "1")], times=3),
        Fault("status", "GET", "/v2/sync/versions/blobs/", status=429, headers=[("Retry-After", "1")], times=2)]).start()
    bed["proxies"] = {"broken": broken, "limited": limited}
    try:
        tasks.append(sync("faults", [{"name": "sync/names"}], src_registry=broken.host, src_auth={"retries": 0}))
        tasks.append(sync("rate_limited", [{"name": "sync/versions", "tags": {"semver": ">=1 <2"}}],
                          src_registry=limited.host))
        for name, repositories, extra in (
                ("bad_semver", [{"name": "sync/versions", "tags": {"semver": "newer than 1"}}], {}),
                ("bad_regex", [{"name": "sync/versions", "tags": {"match": "(1"}}], {}),
                ("bad_latest", [{"name": "sync/versions", "tags": {"latest": 0}}], {}),
                ("src_with_path", [{"name": "versions"}], {"src_registry": source.host + "/sync"}),
                ("bad_concurrency", [{"name": "sync/versions"}], {"concurrency": 0}),
                ("same_dest_twice", [{"name": "sync/names"}, {"name": "sync/versions", "rename": "sync/names"}], {}),
                ("unknown_repository", [{"name": "sync/nothing-here"}, {"name": "sync/names", "tags": {"match": "edge"}}], {})):
            tasks.append(sync(name, repositories, **extra))
        tasks.append({"name": "role", "ansible.builtin.include_role": {"name": "drc.registry.mirror_images"},
                      "vars": {"mirror_images_repositories": [
                          {"name": "%s/sync/names" % source.host, "tags": {"match": "alpha|beta"}},
                          {"name": "%s/sync/versions" % source.host, "rename": "role/versions",
                           "tags": {"semver": ">=2"}}],
                          "mirror_images_dest": "%s/s-role" % dest.host, "mirror_images_dest_auth": auth}})
        tasks.append({"name": "role_result", "ansible.builtin.set_fact": {"role_sync": "{{ mirror_images_sync_results }}"},
                      "register": "role_result"})
        mark = dest.access_log_mark()
        run = run_playbook(tasks, str(workdir), env={"HOME": testbed.workdir})
        bed["dest_requests"] = dest.requests_since(mark)
    finally:
        broken.stop()
        limited.stop()
    assert "Traceback" not in run.output, run.output
    missing = {t["register"] for t in tasks if "register" in t} - set(run.results)
    assert not missing, run.output
    run.results["_cache"] = cache
    run.results["_base_digest"] = base_digest
    return run.results


@pytest.mark.parametrize("case", list(RULE_CASES))
def test_each_rule_gives_its_tag_set(bed, answers, case):
    repository, _rules, expected = RULE_CASES[case]
    result = answers[case]
    assert result.get("failed") is not True, result
    prefix = "s-" + case.replace("_", "-")
    assert {i["src"].rsplit(":", 1)[1] for i in result["images"]} == expected
    assert all(i["action"] == "copied" for i in result["images"]), result["images"]
    assert result["copied"] == len(expected) and result["changed"] is bool(expected)
    assert dest_tags(bed, "%s/sync/%s" % (prefix, repository)) == expected
    for image in result["images"]:  # digests kept, as skopeo reads both sides
        tag = image["src"].rsplit(":", 1)[1]
        digest = source_digest(bed, "sync/%s:%s" % (repository, tag))
        assert image["digest"] == digest == dest_digest(bed, "%s/sync/%s:%s" % (prefix, repository, tag))
        assert image["dest"] == "%s/%s/sync/%s:%s" % (bed["dest"].host, prefix, repository, tag)


def test_index_synced_whole_then_already_present(bed, answers):
    raw = json.loads(bed["testbed"].skopeo_raw_manifest(bed["dest"], "s-index/sync/multi:1.0"))
    assert len(raw["manifests"]) == 3
    again = answers["index_again"]
    assert again["changed"] is False and again["copied"] == 0 and again["already_present"] == 2
    assert {i["action"] for i in again["images"]} == {"already present"}
    assert again["bytes_uploaded"] == 0 and again["manifests_pushed"] == 0


def test_platforms_make_a_new_index(bed, answers):
    result = answers["platforms"]
    assert result["copied"] == 1, result
    raw = bed["testbed"].skopeo_raw_manifest(bed["dest"], "s-platforms/sync/multi:1.0")
    assert sha256(raw) == result["images"][0]["digest"] != source_digest(bed, "sync/multi:1.0")
    children = json.loads(raw)["manifests"]
    assert [c["platform"]["architecture"] for c in children] == ["arm64"]


def test_rename(bed, answers):
    assert answers["rename"]["copied"] == 1
    assert dest_tags(bed, "s-rename/elsewhere/renamed") == {"beta"}
    assert dest_tags(bed, "s-rename/sync/names") == set()


def test_check_mode_writes_nothing(bed, answers):
    result = answers["checked"]
    # changed says what a real run would do, as registry_copy and registry_prune say it in check mode
    assert result["would_copy"] == len(VERSIONS) and result["copied"] == 0 and result["changed"] is True
    assert {i["action"] for i in result["images"]} == {"would copy"}
    assert dest_tags(bed, "s-checked/sync/versions") == set()


def test_diff_shows_the_tag_sets(bed, answers):
    result = answers["diffed"]
    repository = "%s/s-diff/sync/names" % bed["dest"].host
    assert result["diff"]["before"] == {repository: ["alpha"]}
    assert result["diff"]["after"] == {repository: sorted(NAMES)}
    assert result["copied"] == 3 and result["already_present"] == 1


def test_shared_base_layer_is_sent_once_then_mounted(answers):
    result = answers["shared_layers"]
    images = len(NAMES) + len(VERSIONS)
    assert result["copied"] == images
    # each image: its own config and top layer; the base once, mounted into the second repository
    assert result["blobs_uploaded"] == 2 * images + 1
    assert result["blobs_mounted"] == 1


def test_blob_cache_mounts_across_runs(bed, answers):
    first, second = answers["cache_first"], answers["cache_second"]
    assert first["blobs_uploaded"] == 3 and first["blobs_mounted"] == 0
    assert second["blobs_uploaded"] == 2 and second["blobs_mounted"] == 1
    with open(answers["_cache"]) as handle:
        entries = json.load(handle)["entries"]
    base = [e for e in entries if e[1] == answers["_base_digest"]]
    assert base and base[0][0] == bed["dest"].url
    # the registry_copy case (after these two) added its repository too
    assert set(base[0][2]) == {"s-cache-first/sync/names", "s-cache-second/sync/versions", "copy-cache/app"}
    assert dest_digest(bed, "s-cache-second/sync/versions:1.0.0") == source_digest(bed, "sync/versions:1.0.0")


@pytest.mark.parametrize("case", ["cache_wrong", "cache_garbage"])
def test_a_wrong_or_broken_cache_only_costs_an_upload(bed, answers, case):
    result = answers[case]
    assert result.get("failed") is not True, result
    assert result["blobs_mounted"] == 0 and result["blobs_uploaded"] == 3
    prefix = "s-" + case.replace("_", "-")
    mounts = [r for r in bed["dest_requests"] if r[0] == "POST" and r[1].startswith("/v2/%s/" % prefix)
              and "mount=" in r[1]]
    # the wrong entry was tried (and declined); the unreadable file gave none
    assert len(mounts) == (1 if case == "cache_wrong" else 0)
    assert all("from=nowhere%2Fat-all" in r[1] for r in mounts)
    assert dest_digest(bed, prefix + "/sync/versions:1.0.0") == source_digest(bed, "sync/versions:1.0.0")


def test_registry_copy_uses_the_blob_cache(bed, answers):
    result = answers["copy_cache"]
    assert result["changed"] is True and result["blobs_mounted"] == 1 and result["blobs_uploaded"] == 2
    assert dest_digest(bed, "copy-cache/app:1") == source_digest(bed, "sync/versions:1.2.0")


def test_a_fault_in_one_image_leaves_the_others_synced(bed, answers):
    result = answers["faults"]
    proxy = bed["proxies"]["broken"].host
    assert result["failed"] is True
    failed = {f["reference"]: f["message"] for f in result["failed_images"]}
    assert set(failed) == {"%s/sync/names:beta" % proxy, "%s/sync/names:gamma" % proxy}
    assert "500" in failed["%s/sync/names:gamma" % proxy]
    assert "hashes to" in failed["%s/sync/names:beta" % proxy]
    assert "sync/names:beta" in result["msg"] and "sync/names:gamma" in result["msg"]
    assert {i["src"].rsplit(":", 1)[1] for i in result["images"]} == {"alpha", "edge"}
    assert dest_tags(bed, "s-faults/sync/names") == {"alpha", "edge"}
    for tag in ("alpha", "edge"):
        assert dest_digest(bed, "s-faults/sync/names:" + tag) == source_digest(bed, "sync/names:" + tag)


def test_429_slows_the_run_down_without_failing(bed, answers):
    result = answers["rate_limited"]
    assert result.get("failed") is not True, result
    proxy = bed["proxies"]["limited"]
    assert [k for k in proxy.injected if k[0] == "status"], "no 429 was sent"
    throttled = result["throttled"][proxy.host]
    assert throttled["rate_limited"] >= 3 and throttled["lowest_concurrency"] < 8
    expected = {"1.0.0", "1.2.0", "1.2.5", "1.3.0-rc1", "1.3.0", "v1.4"}
    assert dest_tags(bed, "s-rate-limited/sync/versions") == expected


@pytest.mark.parametrize("case, words", [
    ("bad_semver", ["repositories[0].tags.semver", "not a version"]),
    ("bad_regex", ["repositories[0].tags.match", "regular expression"]),
    ("bad_latest", ["repositories[0].tags.latest", "1 or more"]),
    ("src_with_path", ["src_registry", "registry host alone"]),
    ("bad_concurrency", ["concurrency", "between 1 and 32"]),
    ("same_dest_twice", ["repositories[0] and repositories[1]", "both sync to"]),
])
def test_bad_input_is_a_clear_failure(answers, case, words):
    result = answers[case]
    assert result["failed"] is True
    for word in words:
        assert word in result["msg"], result["msg"]
    assert "Traceback" not in json.dumps(result)


def test_an_unknown_repository_fails_alone(bed, answers):
    result = answers["unknown_repository"]
    assert result["failed"] is True
    assert [f["reference"] for f in result["failed_images"]] == ["%s/sync/nothing-here" % bed["source"].host]
    assert dest_tags(bed, "s-unknown-repository/sync/names") == {"edge"}


def test_mirror_images_role_syncs_repositories(bed, answers):
    results = answers["role_result"]["ansible_facts"]["role_sync"]
    assert len(results) == 1 and results[0]["copied"] == 4
    assert dest_tags(bed, "s-role/sync/names") == {"alpha", "beta"}
    assert dest_tags(bed, "s-role/role/versions") == {"2.0.0", "2.1.0-rc1"}


def test_unchanged_tags_cost_one_head_each_side(bed, answers):
    """After the index case, a second sync of sync/multi: the tag list and one HEAD per tag at the
    source, one HEAD per tag at the destination (and each side's ping), nothing else."""
    testbed, source, dest = bed["testbed"], bed["source"], bed["dest"]
    marks = source.access_log_mark(), dest.access_log_mark()
    run = run_module(MODULE, dict(src_registry=source.host, dest="%s/s-index" % dest.host,
                                  repositories=[{"name": "sync/multi"}], dest_auth=dest_auth(testbed),
                                  blob_cache=False))
    assert run.rc == 0, run.output
    assert run.result["changed"] is False and run.result["already_present"] == len(MULTI_TAGS)
    # (the pings are left out: other tests may ping the same registries meanwhile)
    at_source = [r[:2] for r in source.requests_since(marks[0]) if "/sync/multi/" in r[1]]
    at_dest = [r[:2] for r in dest.requests_since(marks[1]) if "/s-index/" in r[1]]
    heads = sorted(("HEAD", "/v2/sync/multi/manifests/" + tag) for tag in MULTI_TAGS)
    assert sorted(at_source) == sorted([("GET", "/v2/sync/multi/tags/list")] + heads)
    assert sorted(at_dest) == sorted(("HEAD", "/v2/s-index/sync/multi/manifests/" + t) for t in MULTI_TAGS)


SLICED_PLAYBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               "docs", "playbooks", "sync-sliced.yml")


def test_two_hosts_slices_give_the_same_destination_as_one_run(bed, tmp_path):
    """docs/playbooks/sync-sliced.yml with two inventory hosts (both local), then with one: the two
    destinations hold the same tags with the same digests, and each host synced its own slice."""
    from tests.integration.ansible_runner import BIN, runner_env
    testbed, source, dest = bed["testbed"], bed["source"], bed["dest"]
    repositories = [{"name": "sync/versions", "tags": {"semver": ">=1.2 <2", "exclude": ["-rc"]}},
                    {"name": "sync/names", "tags": {"latest": 2}}, {"name": "sync/multi"}]
    runs = {}
    for label, hosts in (("two", ["worker1", "worker2"]), ("one", ["worker1"])):
        inventory = tmp_path / ("%s.ini" % label)
        inventory.write_text("[sync_workers]\n" + "".join(
            "%s ansible_connection=local ansible_python_interpreter=%s\n" % (h, TARGET_PYTHON) for h in hosts))
        variables = tmp_path / ("%s.json" % label)
        variables.write_text(json.dumps({
            "sync_src_registry": source.host, "sync_dest": "%s/sliced-%s" % (dest.host, label),
            "sync_repositories": repositories, "sync_dest_auth": dest_auth(testbed),
            "sync_blob_cache_dir": str(tmp_path / ("cache-" + label))}))
        done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), SLICED_PLAYBOOK,
                               "-e", "@" + str(variables), "--forks", "2"], capture_output=True, text=True,
                              env=runner_env({"ANSIBLE_INVENTORY_ENABLED": "ini"}), timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        runs[label] = done.stdout
    # worker1 took versions and multi, worker2 names; each wrote its own cache
    assert "worker1: sync/versions, sync/multi: 6 copied" in runs["two"], runs["two"]
    assert "worker2: sync/names: 2 copied" in runs["two"], runs["two"]
    assert sorted(os.listdir(tmp_path / "cache-two")) == ["worker1.json", "worker2.json"]

    def destination(label):
        held = {}
        for repository in ("sync/versions", "sync/names", "sync/multi"):
            for tag in dest_tags(bed, "sliced-%s/%s" % (label, repository)):
                held["%s:%s" % (repository, tag)] = dest_digest(bed, "sliced-%s/%s:%s" % (label, repository, tag))
        return held
    two, one = destination("two"), destination("one")
    assert two == one and len(two) == 4 + 2 + 2
    assert all(digest == source_digest(bed, path) for path, digest in two.items())


def test_a_new_repository_costs_no_blob_heads(bed, answers):
    """Syncing into a repository that did not exist: one tag list to learn so, then no HEAD per
    blob (only this run can have put a blob there). Into an existing one (the diff case's second
    run), blobs are HEADed as registry_copy does."""
    new = [r for r in bed["dest_requests"] if r[1].startswith("/v2/s-every-tag/")]
    assert [r for r in new if r[0] == "GET" and r[1].endswith("/tags/list")] == [
        ("GET", "/v2/s-every-tag/sync/names/tags/list", 404)]
    assert not [r for r in new if r[0] == "HEAD" and "/blobs/" in r[1]]
    assert len([r for r in new if r[0] == "PUT" and "/manifests/" in r[1]]) == len(NAMES)
    existing = [r for r in bed["dest_requests"] if r[1].startswith("/v2/s-diff/") and r[0] == "HEAD" and "/blobs/" in r[1]]
    assert existing


def test_a_signed_image_keeps_its_signatures(bed, answers):
    """The signature tags are not synced as tags of their own, yet every one arrives, byte for
    byte, as a referrer of the image it signs."""
    result, fixture = answers["signed"], bed["signed"]
    assert result.get("failed") is not True, result
    assert [(i["src"].rsplit(":", 1)[1], i["digest"]) for i in result["images"]] == [("1", fixture["digest"])]
    assert fixture["sig_tags"] and result["referrers_copied"] == len(fixture["sig_tags"])
    repository = "s-signed/sf/signed-image"
    assert dest_tags(bed, repository) == {"1"} | set(fixture["sig_tags"])
    for tag, digest in fixture["sig_tags"].items():
        raw = bed["testbed"].skopeo_raw_manifest(bed["dest"], "%s:%s" % (repository, tag))
        assert raw == fixture["manifests"][digest] and sha256(raw) == digest
