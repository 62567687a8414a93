# Private to the drc.registry collection: no compatibility promise for other collections.
"""Choosing among tags: the `match` filter and semantic-version ordering (not the tags API)."""

from __future__ import annotations

import re

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError

_VERSION_RE = re.compile(r"v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")  # fullmatch


def _prerelease_key(pre: str) -> tuple:
    parts = []
    for item in pre.split("."):
        parts.append((0, int(item), "") if item.isascii() and item.isdigit() else (1, 0, item))
    return tuple(parts)


def semver_key(tag: str) -> tuple:
    """Versions sort by number, a pre-release before its release; other tags first, by name."""
    match = _VERSION_RE.fullmatch(tag)
    if not match:
        return (0, (), 0, (), tag)
    numbers = tuple(int(n) for n in match.group(1).split("."))
    pre = match.group(2)
    return (1, numbers, 0 if pre else 1, _prerelease_key(pre) if pre else (), tag)


def compile_match(match: str | None):
    """The ``match`` option as a compiled pattern (or None); InputError names a bad one."""
    if not match:
        return None
    try:
        return re.compile(match)
    except re.error as exc:
        raise InputError("match %r is not a valid regular expression: %s" % (match, exc))


def select_tags(tags: list, match=None, sort: str = "none") -> list:
    """Keep tags matching a regular expression (searched anywhere), then order them."""
    pattern = compile_match(match) if isinstance(match, str) else match
    if pattern is not None:
        tags = [t for t in tags if pattern.search(t)]
    if sort == "semver":
        return sorted(tags, key=semver_key)
    return list(tags)
