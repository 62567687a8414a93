# Private to the drc.registry collection: no compatibility promise for other collections.
"""The prune plan: a pure function from a repository's graph (tags, index children, referrers)
and the tags a policy keeps to what is deleted, in which order, and the invariants checked on
that plan before any request that deletes.

The graph (``RepositoryGraph``):
- ``tags``: tag -> digest (every tag, referrer tags included);
- ``children``: digest -> the digests an index lists (absent for an image);
- ``referrers``: subject digest -> the digests of the manifests that refer to it (cosign tags,
  the entries of the fallback tag index, the referrers API);
- ``fallback``: subject digest -> (fallback tag, digest of that index, the digests it lists): a
  referrer list, rewritten (not dropped) when some referrer it lists is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.drc.registry.plugins.module_utils._registry.retention_rules import (
    referrer_subject)


@dataclass
class RepositoryGraph:
    tags: dict
    children: dict = field(default_factory=dict)
    referrers: dict = field(default_factory=dict)
    fallback: dict = field(default_factory=dict)


@dataclass
class Plan:
    kept: list            # {tag, digest, rule, rules}
    deleted: list         # {tag, digest, why}: every tag removed and every untagged manifest deleted
    steps: list           # in the order they are sent: {action: delete|rewrite, digest, why, ...}
    tag_deletes: list     # {tag, digest, why}: the tag alone goes, its manifest stays in use
    protected: set        # digests that must survive (for the invariant check)
    tags_after: list      # the tag set once everything planned has happened

    @property
    def manifest_deletes(self) -> list:
        return [step for step in self.steps if step["action"] == "delete"]

    @property
    def rewrites(self) -> list:
        return [step for step in self.steps if step["action"] == "rewrite"]


class InvariantViolation(Exception):
    """A plan that would break something kept: never sent. A bug, reported as one."""


def _used_by_kept(graph: RepositoryGraph, kept_tags: dict) -> set:
    """Every digest a kept tag reaches: itself, an index's children, referrers of each (their
    fallback index too), transitively."""
    protected: set = set()
    stack = [graph.tags[tag] for tag in kept_tags]
    while stack:
        digest = stack.pop()
        if digest in protected:
            continue
        protected.add(digest)
        stack.extend(graph.children.get(digest, ()))
        stack.extend(graph.referrers.get(digest, ()))
        if digest in graph.fallback:
            stack.append(graph.fallback[digest][1])
    return protected


def plan_prune(graph: RepositoryGraph, kept_tags: dict) -> Plan:
    """What a prune deletes, given the tags the policy keeps (tag -> rules).

    Referrer tags are never in ``kept_tags``: they stay while their subject does (rule
    ``referrer``) and go with it.
    """
    protected = _used_by_kept(graph, kept_tags)
    tags = graph.tags
    unkept = sorted(tag for tag in tags if tag not in kept_tags and referrer_subject(tag) is None)
    steps: list = []
    deleting: set = set()
    why_of: dict = {}
    rewritten: set = set()

    def delete(digest: str, why: str) -> None:
        deleting.add(digest)
        steps.append({"action": "delete", "digest": digest, "why": why})
        why_of[digest] = why

    def visit(digest: str, why: str) -> None:
        """Post-order: an index's children and a manifest's referrers go before it, so that an
        interrupted run leaves what it planned still reachable from a tag (a re-run ends it)."""
        if digest in deleting or digest in protected:
            return
        deleting.add(digest)
        for child in graph.children.get(digest, ()):
            visit(child, "child of the deleted index %s" % digest)
        for referrer in graph.referrers.get(digest, ()):
            visit(referrer, "referrer of the deleted %s" % digest)
        if digest in graph.fallback:
            fallback_tag, index_digest, entries = graph.fallback[digest]
            remaining = [d for d in entries if d not in deleting]
            if remaining:
                # a referrer it lists is kept for something else: the list stays, without the others
                steps.append({"action": "rewrite", "tag": fallback_tag, "digest": index_digest,
                              "subject": digest, "entries": remaining,
                              "why": "referrers fallback index of the deleted %s, rewritten to list "
                                     "only its kept referrers" % digest})
                rewritten.add(fallback_tag)
            elif index_digest not in protected and index_digest not in deleting:
                delete(index_digest, "referrers fallback index of the deleted %s" % digest)
        delete(digest, why)

    for tag in unkept:
        visit(tags[tag], "kept by no rule")

    kept = [{"tag": tag, "digest": tags[tag], "rule": rules[0], "rules": list(rules)}
            for tag, rules in kept_tags.items()]
    deleted: list = []
    tag_deletes: list = []
    for tag in sorted(tags):
        digest = tags[tag]
        if tag in kept_tags:
            continue
        subject = (referrer_subject(tag) or (None,))[0]
        if digest in deleting:
            deleted.append({"tag": tag, "digest": digest, "why": why_of[digest]})
        elif subject is not None and (subject not in deleting or tag in rewritten):
            kept.append({"tag": tag, "digest": digest, "rule": "referrer", "rules": ["referrer"]})
        elif subject is not None:
            tag_deletes.append({"tag": tag, "digest": digest,
                                "why": "referrer tag of the deleted %s; its manifest is still used" % subject})
        else:
            users = sorted(t for t in kept_tags if tags[t] == digest)
            why = ("kept by no rule; its manifest is still used by the kept tag%s %s"
                   % ("s" if len(users) > 1 else "", ", ".join(users)) if users else
                   "kept by no rule; its manifest is still used by a kept index or as a kept referrer")
            tag_deletes.append({"tag": tag, "digest": digest, "why": why})
    tagged = set(tags.values())
    for step in steps:
        # a rewritten fallback index's old version is deleted once the new one is in place
        if step["action"] == "rewrite" or step["digest"] not in tagged:
            deleted.append({"tag": None, "digest": step["digest"], "why": step["why"]})
    kept.sort(key=lambda e: e["tag"])
    gone = {e["tag"] for e in deleted if e["tag"]} | {e["tag"] for e in tag_deletes}
    return Plan(kept=kept, deleted=deleted, steps=steps, tag_deletes=tag_deletes,
                protected=protected, tags_after=sorted(t for t in tags if t not in gone))


def check_invariants(graph: RepositoryGraph, kept_tags: dict, plan: Plan) -> None:
    """Checked before any request that deletes; raises InvariantViolation naming the first broken
    rule. Walks the graph on its own, not through the plan's sets."""
    doomed = {entry["digest"] for entry in plan.manifest_deletes}
    for tag in kept_tags:
        seen: set = set()
        stack = [graph.tags[tag]]
        while stack:
            digest = stack.pop()
            if digest in seen:
                continue
            seen.add(digest)
            if digest in doomed:
                raise InvariantViolation("the plan deletes %s, which the kept tag %s uses" % (digest, tag))
            stack.extend(graph.children.get(digest, ()))
            stack.extend(graph.referrers.get(digest, ()))
    for tag in [e["tag"] for e in plan.tag_deletes] + [e["tag"] for e in plan.deleted if e["tag"]]:
        if tag in kept_tags:
            raise InvariantViolation("the plan removes the kept tag %s" % tag)
    for digest in doomed:
        for referrer in graph.referrers.get(digest, ()):
            if referrer not in doomed and referrer not in plan.protected:
                raise InvariantViolation("the plan deletes %s but leaves its referrer %s" % (digest, referrer))
    for rewrite in plan.rewrites:
        if any(d in doomed for d in rewrite["entries"]) or rewrite["digest"] in doomed:
            raise InvariantViolation("the rewritten fallback index %s lists a deleted referrer" % rewrite["tag"])
