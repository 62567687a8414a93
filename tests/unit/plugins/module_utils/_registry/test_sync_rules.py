"""registry_sync's tag rules and version ranges, as tables; and the blob cache file's bounds."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import blob_cache
from ansible_collections.drc.registry.plugins.module_utils._registry.blob_cache import (
    BlobLocations, read_entries, write_entries)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.sync import created_seconds, split_registry
from ansible_collections.drc.registry.plugins.module_utils._registry.sync_rules import (
    TagRules, in_range, parse_semver_range)

TAGS = ["1.0.0", "1.2", "1.2.5", "1.3.0-rc1", "1.3.0", "v1.4", "2.0.0", "2.1.0-rc1", "latest", "edge", "1.2.0-rc.2"]


@pytest.mark.parametrize("rules, expected", [
    ({"match": r"1\.2.*"}, ["1.2", "1.2.5", "1.2.0-rc.2"]),
    ({"match": r"1\.2"}, ["1.2"]),  # a full match: 1.2.5 does not match 1\.2
    ({"exclude": ["-rc"]}, ["1.0.0", "1.2", "1.2.5", "1.3.0", "v1.4", "2.0.0", "latest", "edge"]),
    # 1.2.0-rc.2 comes before 1.2 (= 1.2.0): outside >=1.2
    ({"semver": ">=1.2 <2"}, ["1.2", "1.2.5", "1.3.0-rc1", "1.3.0", "v1.4"]),
    ({"semver": ">1.2 <=2.0"}, ["1.2.5", "1.3.0-rc1", "1.3.0", "v1.4", "2.0.0"]),
    ({"semver": "<1.1 || >=2.1.0-rc1"}, ["1.0.0", "2.1.0-rc1"]),
    ({"semver": "^1.2"}, ["1.2", "1.2.5", "1.3.0-rc1", "1.3.0", "v1.4"]),
    ({"semver": "~1.2"}, ["1.2", "1.2.5"]),
    ({"semver": "=1.2.0"}, ["1.2"]),
    ({"semver": ">=0"}, [t for t in TAGS if t not in ("latest", "edge")]),  # not versions: outside any range
    ({"semver": ">=1.2 <2", "exclude": ["-rc"], "latest": 2}, ["1.3.0", "v1.4"]),
    ({}, TAGS),
])
def test_rules_select(rules, expected):
    selected = TagRules(rules, "repositories[0]")
    tags = selected.newest(selected.filter(TAGS))
    assert sorted(tags) == sorted(expected)


def test_latest_by_version_and_by_created():
    by_version = TagRules({"semver": ">=1", "latest": 3}, "r")
    assert by_version.newest(by_version.filter(TAGS)) == ["v1.4", "2.0.0", "2.1.0-rc1"]
    by_created = TagRules({"latest": 2}, "r")
    assert by_created.needs_created and not by_version.needs_created
    created = {"a": 3.0, "b": 1.0, "c": 2.0, "d": None}
    assert by_created.newest(["a", "b", "c", "d"], created) == ["c", "a"]


@pytest.mark.parametrize("text, words", [
    ("newer than 1", ["not a version"]), ("", ["range"]), (">=1 ||", ["empty alternative"])])
def test_bad_ranges(text, words):
    with pytest.raises(InputError) as caught:
        parse_semver_range(text)
    assert all(word in str(caught.value) for word in words)


@pytest.mark.parametrize("rules, word", [
    ({"match": "(1"}, "tags.match"), ({"exclude": ["[a"]}, "tags.exclude"), ({"latest": 0}, "tags.latest"),
    ({"latest": True}, "tags.latest"), ({"newest": 1}, "unknown rule")])
def test_bad_rules_name_the_rule(rules, word):
    with pytest.raises(InputError) as caught:
        TagRules(rules, "repositories[3]")
    assert "repositories[3]" in str(caught.value) and word in str(caught.value)


def test_non_versions_are_outside_every_range():
    alternatives = parse_semver_range(">=0")
    assert not in_range("latest", alternatives) and in_range("0.0.1", alternatives)


@pytest.mark.parametrize("value, seconds", [
    ("2024-01-02T00:00:00Z", 1704153600.0), ("2024-01-02T02:00:00+02:00", 1704153600.0),
    ("2024-01-02T00:00:00.5Z", 1704153600.5), ("yesterday", None), (None, None)])
def test_created_times(value, seconds):
    assert created_seconds(value) == seconds


@pytest.mark.parametrize("value, parts", [
    ("reg.example.com/mirror/x", ("", "reg.example.com", "mirror/x")),
    ("http://localhost:5000", ("http://", "localhost:5000", "")), ("quay.io/", ("", "quay.io", ""))])
def test_split_registry(value, parts):
    assert split_registry(value, "dest") == parts


# -- the blob cache file ------------------------------------------------------------------------
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def test_cache_round_trip_and_registry_binding(tmp_path):
    path = str(tmp_path / "c" / "blobs.json")
    first = BlobLocations(path)
    first.record("https://one.example", DIGEST, "team/app")
    first.save()
    again = BlobLocations(path)
    assert again.holder("https://one.example", DIGEST, "other/repo") == "team/app"
    # bound to its registry: another registry never learns the repository name
    assert again.holder("https://two.example", DIGEST, "other/repo") is None
    assert again.holder("https://one.example", OTHER, "other/repo") is None
    # not for the repository itself, and never "placed" by this run from the file alone
    assert again.holder("https://one.example", DIGEST, "team/app") is None
    assert not again.placed("https://one.example", DIGEST, "team/app")
    assert os.listdir(tmp_path / "c") == ["blobs.json"]  # no temporary file left


def test_cache_ignores_entries_it_cannot_trust(tmp_path):
    path = str(tmp_path / "blobs.json")
    with open(path, "w") as handle:
        json.dump({"version": 1, "entries": [
            ["https://one.example", DIGEST, ["../../etc", "ok/repo", "UPPER/case", "a?mount=x"]],
            ["ftp://one.example", OTHER, ["ok/repo"]],
            ["https://one.example", "sha256:short", ["ok/repo"]]]}, handle)
    entries = read_entries(path)
    assert entries == {("https://one.example", DIGEST): ["ok/repo"]}


def test_cache_file_is_bounded(tmp_path, monkeypatch):
    path = str(tmp_path / "blobs.json")
    with open(path, "w") as handle:  # valid, but larger than a cache may be: not read
        handle.write(json.dumps({"version": 1, "entries": [["https://r.example", DIGEST, ["a/b"]]]}))
        handle.write(" " * (blob_cache.MAX_FILE_BYTES + 10))
    assert read_entries(path) == {}
    monkeypatch.setattr(blob_cache, "MAX_ENTRIES", 3)
    write_entries(path, {("https://r.example", "sha256:%064x" % n): ["a/b"] for n in range(10)})
    kept = read_entries(path)
    assert [key[1] for key in kept] == ["sha256:%064x" % n for n in (7, 8, 9)]  # the newest


@pytest.mark.parametrize("value, expected", [(False, None), ("false", None), ("/x/y.json", "/x/y.json")])
def test_cache_option(value, expected):
    assert blob_cache.cache_path_option(value) == expected
    assert blob_cache.cache_path_option(None).endswith(os.path.join("drc.registry", "blob-locations.json"))
