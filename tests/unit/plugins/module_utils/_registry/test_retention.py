"""The prune plan as a table: rules -> kept tags, graph + kept tags -> deletions, and the invariant
check on plans that would break something kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.retention_plan import (
    InvariantViolation, Plan, RepositoryGraph, check_invariants, plan_prune)
from ansible_collections.drc.registry.plugins.module_utils._registry.retention_rules import (
    Policy, in_semver_range, parse_created, parse_duration, parse_semver_range, referrer_subject)

NOW = datetime(2026, 12, 4, tzinfo=timezone.utc)


def d(name: str) -> str:
    """A readable fake digest: sha256 of 64 hex chars made from a short name."""
    return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


def sig(name: str, kind: str = ".sig") -> str:
    return "sha256-" + d(name).split(":")[1] + kind


# -- rules ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("30d", 30 * 86400), ("12h", 43200), ("2w", 14 * 86400), ("1d12h", 129600), ("90m", 5400),
    ("45s", 45), ("0d", 0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "d", "30 days", "-3d", "3y", "1.5d"])
def test_bad_duration_is_named(text):
    with pytest.raises(InputError, match="keep.newer_than"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["99999999999999999999d", "365001d", "52143w", "9" * 5000 + "s"])
def test_a_duration_past_a_thousand_years_is_named(text):
    """20 digits overflowed timedelta, 5000 int(); "now - newer_than" must stay after the year 1."""
    with pytest.raises(InputError, match="keep.newer_than .* longer than 365000 days"):
        parse_duration(text)
    assert parse_duration("365000d") == timedelta(days=365000)


@pytest.mark.parametrize("rng, inside, outside", [
    (">=1.2.0 <2", ["1.2.0", "v1.9.9", "1.10.0"], ["1.1.9", "2.0.0", "1.2.0-rc1", "latest"]),
    ("^1.4", ["1.4.0", "1.9.3"], ["1.3.9", "2.0.0"]),
    ("^0.3.1", ["0.3.1", "0.3.9"], ["0.4.0", "0.3.0"]),
    ("~1.4.2", ["1.4.2", "1.4.9"], ["1.5.0", "1.4.1"]),
    ("1.x", ["1.0.0", "1.99.1", "1.2"], ["2.0.0", "0.9.0"]),
    ("1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
    ("=2.0.0", ["2.0.0", "v2.0.0"], ["2.0.1", "2.0.0-rc.1"]),
    (">1.2 <=1.4", ["1.3.0", "1.4.5"], ["1.2.9", "1.5.0"]),
    ("<1.0.0 || >=3", ["0.9.0", "3.0.0", "4.1.0"], ["1.0.0", "2.5.0"]),
    ("*", ["0.0.1", "9.0.0"], ["main"]),
    (">= 1.0.0", ["1.0.0"], ["0.9.9"]),
])
def test_semver_ranges(rng, inside, outside):
    parsed = parse_semver_range(rng)
    assert [t for t in inside if in_semver_range(t, parsed)] == inside
    assert [t for t in outside if in_semver_range(t, parsed)] == []


@pytest.mark.parametrize("rng", ["", "abc", ">>1", "1.2.3.4.5", "||"])
def test_bad_semver_range_is_named(rng):
    with pytest.raises(InputError, match="keep.semver"):
        parse_semver_range(rng)


@pytest.mark.parametrize("tag, expected", [
    (sig("a"), (d("a"), "sig")), (sig("a", ".att"), (d("a"), "att")),
    (sig("a", ".sbom"), (d("a"), "sbom")), (sig("a", ""), (d("a"), "fallback")),
    ("sha256-abc.sig", None), ("latest", None), (sig("a", ".sig2"), None), ("x" + sig("a"), None)])
def test_referrer_tags(tag, expected):
    assert referrer_subject(tag) == expected


@pytest.mark.parametrize("value, expected", [
    ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
    ("2024-01-01T10:00:00.123456789+02:00", datetime(2024, 1, 1, 8, 0, 0, 123456, tzinfo=timezone.utc)),
    ("2024-01-01T00:00:00", None), ("yesterday", None), (None, None), (5, None)])
def test_parse_created(value, expected):
    assert parse_created(value) == expected


DAY = timedelta(days=1)
CREATED = {"c1": NOW - 40 * DAY, "c2": NOW - 20 * DAY, "c3": NOW - 10 * DAY, "c4": NOW - 1 * DAY,
           "v1.0.0": NOW - 50 * DAY, "v1.2.0": NOW - 45 * DAY, "v2.0.0": NOW - 5 * DAY,
           "v10.0.0": NOW - 60 * DAY, "latest": NOW - 36 * timedelta(hours=1), "artifact": None}
TAGS = sorted(CREATED) + [sig("x")]


@pytest.mark.parametrize("keep, delete_match, expected", [
    ({"latest": 2}, None, {"c4": ["latest"], "latest": ["latest"]}),
    ({"latest": 2, "sort": "semver"}, None, {"v10.0.0": ["latest"], "v2.0.0": ["latest"]}),
    ({"match": ["^v1\\."]}, None, {"v1.0.0": ["match"], "v1.2.0": ["match"]}),
    ({"newer_than": "15d"}, None, {"c3": ["newer_than"], "c4": ["newer_than"], "latest": ["newer_than"],
                                   "v2.0.0": ["newer_than"]}),
    ({"semver": ">=1.1.0 <3"}, None, {"v1.2.0": ["semver"], "v2.0.0": ["semver"]}),
    ({"latest": 1}, ["^c"], dict({"c4": ["latest"]}, **{t: ["not_a_candidate"] for t in (
        "artifact", "latest", "v1.0.0", "v1.2.0", "v10.0.0", "v2.0.0")})),
    ({}, ["^c[12]$"], {t: ["not_a_candidate"] for t in CREATED if t not in ("c1", "c2")}),
    ({"latest": 1, "match": ["^c4$"], "newer_than": "2d"}, None,
     {"c4": ["latest", "match", "newer_than"], "latest": ["newer_than"]}),
])
def test_policy_keeps(keep, delete_match, expected):
    kept = Policy(keep, delete_match).kept_tags(TAGS, CREATED, NOW)
    assert kept == expected
    assert sig("x") not in kept  # a referrer tag is never a candidate nor kept by a rule


@pytest.mark.parametrize("keep, delete_match, message", [
    ({}, None, "the policy would delete every tag"),
    ({"latest": 0}, [], "the policy would delete every tag"),
    ({"latest": -1}, None, "keep.latest must be a whole number"),
    ({"latest": True}, None, "keep.latest must be a whole number"),
    ({"latest": 1, "sort": "name"}, None, "keep.sort must be one of created, semver"),
    ({"keep_last": 3}, None, "keep has unknown keys keep_last"),
    ({"match": ["("]}, None, "keep.match '\\(' is not a valid regular expression"),
    ({"latest": 1}, ["["], "delete_match '\\[' is not a valid regular expression"),
])
def test_bad_policy_is_named(keep, delete_match, message):
    with pytest.raises(InputError, match=message):
        Policy(keep, delete_match)


# -- the plan ---------------------------------------------------------------------------------------

def graph_of(tags, children=None, referrers=None, fallback=None):
    return RepositoryGraph(tags={t: d(v) for t, v in tags.items()},
                           children={d(k): [d(c) for c in v] for k, v in (children or {}).items()},
                           referrers={d(k): [d(r) for r in v] for k, v in (referrers or {}).items()},
                           fallback={d(k): (sig(k, ""), d(v[0]), [d(e) for e in v[1]])
                                     for k, v in (fallback or {}).items()})


def names(digests) -> list:
    inverse = {d(n): n for n in "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    inverse.update({d(n): n for n in ("idx", "idx2", "ch1", "ch2", "s1", "s2", "fb", "r1", "r2")})
    return [inverse.get(x, x) for x in digests]


# name, tags (tag -> digest name), children, referrers, fallback, kept tags,
#   expected: manifest deletes in order, tags removed with their manifest, tag-only removals, rewrites
PLANS = [
    ("per-commit tags, keep one",
     {"c1": "a", "c2": "b", "c3": "c"}, {}, {}, {}, ["c3"],
     ["a", "b"], ["c1", "c2"], [], []),
    ("two tags on one digest, one kept: the tag alone goes",
     {"1.0": "a", "stable": "a", "0.9": "b"}, {}, {}, {}, ["stable"],
     ["b"], ["0.9"], ["1.0"], []),
    ("two tags on one digest, neither kept: one delete",
     {"1.0": "a", "old": "a", "2.0": "b"}, {}, {}, {}, ["2.0"],
     ["a"], ["1.0", "old"], [], []),
    ("a kept index's child tagged alone: the tag goes, the child stays",
     {"multi": "idx", "amd64": "ch1"}, {"idx": ["ch1", "ch2"]}, {}, {}, ["multi"],
     [], [], ["amd64"], []),
    ("a deleted index whose child is kept alone: the child stays, the other child goes",
     {"multi": "idx", "amd64": "ch1"}, {"idx": ["ch1", "ch2"]}, {}, {}, ["amd64"],
     ["ch2", "idx"], ["multi"], [], []),
    ("a deleted index: children first, then the index",
     {"multi": "idx", "keep": "a"}, {"idx": ["ch1", "ch2"]}, {}, {}, ["keep"],
     ["ch1", "ch2", "idx"], ["multi"], [], []),
    ("a child shared by a kept and a deleted index stays",
     {"old": "idx", "new": "idx2"}, {"idx": ["ch1", "ch2"], "idx2": ["ch2"]}, {}, {}, ["new"],
     ["ch1", "idx"], ["old"], [], []),
    ("a signed image deleted: its signature before it",
     {"old": "a", sig("a"): "s1", "new": "b", sig("b"): "s2"}, {}, {"a": ["s1"], "b": ["s2"]}, {}, ["new"],
     ["s1", "a"], [sig("a"), "old"], [], []),
    ("a signed index deleted: every child's signature too",
     {"old": "idx", sig("idx"): "s1", sig("ch1"): "s2", "new": "b"}, {"idx": ["ch1"]},
     {"idx": ["s1"], "ch1": ["s2"]}, {}, ["new"],
     ["s2", "ch1", "s1", "idx"], [sig("ch1"), sig("idx"), "old"], [], []),
    ("fallback tag index: its referrers, then the index, then the subject",
     {"old": "a", sig("a", ""): "fb", "new": "b"}, {}, {"a": ["r1", "r2"]}, {"a": ("fb", ["r1", "r2"])}, ["new"],
     ["r1", "r2", "fb", "a"], ["old", sig("a", "")], [], []),
    ("fallback index still listing a kept referrer: rewritten, not dropped",
     {"old": "a", sig("a", ""): "fb", "sbom": "r2", "new": "b"}, {}, {"a": ["r1", "r2"]},
     {"a": ("fb", ["r1", "r2"])}, ["new", "sbom"],
     ["r1", "a"], ["old"], [], [(sig("a", ""), ["r2"])]),
    ("a kept subject keeps its fallback index and referrers",
     {"new": "a", sig("a", ""): "fb", sig("a"): "s1", "old": "b"}, {}, {"a": ["r1", "s1"]},
     {"a": ("fb", ["r1"])}, ["new"],
     ["b"], ["old"], [], []),
    ("a signature kept for another tag: the .sig tag alone goes with its subject",
     {"old": "a", sig("a"): "s1", "pinned-sig": "s1", "new": "b"}, {}, {"a": ["s1"]}, {}, ["new", "pinned-sig"],
     ["a"], ["old"], [sig("a")], []),
    ("a referrer shared by a kept and a deleted subject stays",
     {"old": "a", "new": "b"}, {}, {"a": ["r1", "s1"], "b": ["r1"]}, {}, ["new"],
     ["s1", "a"], ["old"], [], []),
    ("everything kept: nothing to do",
     {"a": "a", "b": "b"}, {}, {}, {}, ["a", "b"],
     [], [], [], []),
]


@pytest.mark.parametrize("name, tags, children, referrers, fallback, kept, deletes, removed, tag_only, rewrites",
                         PLANS, ids=[p[0] for p in PLANS])
def test_plan(name, tags, children, referrers, fallback, kept, deletes, removed, tag_only, rewrites):
    graph = graph_of(tags, children, referrers, fallback)
    kept_tags = {t: ["match"] for t in kept}
    plan = plan_prune(graph, kept_tags)
    assert names(s["digest"] for s in plan.manifest_deletes) == deletes
    assert sorted(e["tag"] for e in plan.deleted if e["tag"]) == sorted(removed)
    assert [e["tag"] for e in plan.tag_deletes] == tag_only
    assert [(r["tag"], names(r["entries"])) for r in plan.rewrites] == rewrites
    assert plan.tags_after == sorted(set(tags) - set(removed) - set(tag_only))
    assert {e["tag"] for e in plan.kept} == set(tags) - set(removed) - set(tag_only)
    check_invariants(graph, kept_tags, plan)  # the plans above are all sound


def test_every_untagged_deletion_is_listed_with_its_reason():
    graph = graph_of({"old": "idx", "new": "b"}, {"idx": ["ch1"]})
    plan = plan_prune(graph, {"new": ["latest"]})
    assert [(e["tag"], names([e["digest"]])[0], e["why"]) for e in plan.deleted] == [
        ("old", "idx", "kept by no rule"), (None, "ch1", "child of the deleted index %s" % d("idx"))]
    assert plan.kept == [{"tag": "new", "digest": d("b"), "rule": "latest", "rules": ["latest"]}]


def bad(steps) -> Plan:
    return Plan(kept=[], deleted=[], steps=steps, tag_deletes=[], protected=set(), tags_after=[])


@pytest.mark.parametrize("steps, message", [
    ([{"action": "delete", "digest": d("a"), "why": ""}], "the kept tag keep uses"),
    ([{"action": "delete", "digest": d("ch1"), "why": ""}], "the kept tag keep uses"),
    ([{"action": "delete", "digest": d("s1"), "why": ""}], "the kept tag keep uses"),
    ([{"action": "delete", "digest": d("b"), "why": ""}], "leaves its referrer"),
])
def test_invariants_refuse_a_plan_that_breaks_something_kept(steps, message):
    graph = graph_of({"keep": "idx", "other": "a", "old": "b"}, {"idx": ["ch1", "a"]},
                     {"ch1": ["s1"], "b": ["s2"]})
    with pytest.raises(InvariantViolation, match=message):
        check_invariants(graph, {"keep": ["match"]}, bad(steps))
