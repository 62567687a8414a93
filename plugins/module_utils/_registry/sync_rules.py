# Private to the drc.registry collection: no compatibility promise for other collections.
"""registry_sync's tag rules, as pure functions of tag names: ``match`` (a full match), ``exclude``,
a ``semver`` range and the ``latest`` N. Versions are read as tag_selection.py reads them
(``1.2``, ``v1.2.3``, ``1.3.0-rc1``); tags that are not versions fall outside any range.
"""

from __future__ import annotations

import re

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.tag_selection import (
    _VERSION_RE, _prerelease_key)

_COMPARATOR_RE = re.compile(r"(>=|<=|==|=|>|<|\^|~)?(.+)")
RULE_KEYS = ("match", "exclude", "semver", "latest")


def version_key(tag: str) -> tuple | None:
    """A comparable key for a version tag (``1.2`` equals ``1.2.0``; a pre-release sorts before
    its release), or None for a tag that is not a version."""
    found = _VERSION_RE.fullmatch(tag)
    if not found:
        return None
    numbers = [int(n) for n in found.group(1).split(".")]
    numbers += [0] * (max(3, len(numbers)) - len(numbers))
    while len(numbers) > 3 and numbers[-1] == 0:
        numbers.pop()
    pre = found.group(2)
    return (tuple(numbers), 0 if pre else 1, _prerelease_key(pre) if pre else ())


def _bump(key: tuple, place: int) -> tuple:
    """The first version above every version that keeps ``place`` leading numbers of ``key``."""
    numbers = list(key[0][:place + 1])
    numbers[place] += 1
    numbers += [0] * (3 - len(numbers))
    return (tuple(numbers), 0, ((0, 0, ""),))  # X.Y.Z-0: below every pre-release of X.Y.Z


def _comparators(text: str, written: str) -> list:
    out = []
    for item in text.split():
        found = _COMPARATOR_RE.fullmatch(item)
        operator, version = found.group(1) or "=", found.group(2)
        key = version_key(version)
        if key is None:
            raise InputError("semver %r: %r is not a version (write comparators such as >=1.2 <2)"
                             % (written, version))
        places = len(_VERSION_RE.fullmatch(version).group(1).split("."))
        if operator == "^":  # same first non-zero number
            place = next((i for i, n in enumerate(key[0][:places]) if n), min(places, 3) - 1)
            out += [(">=", key), ("<", _bump(key, place))]
        elif operator == "~":  # same major.minor (same major when only the major is written)
            out += [(">=", key), ("<", _bump(key, min(places, 2) - 1))]
        else:
            out.append(("==" if operator == "=" else operator, key))
    return out


def parse_semver_range(text: str) -> list:
    """``>=1.2 <2`` (all must hold), ``||`` between alternatives, ``^1.2`` and ``~1.2``:
    a list of alternatives, each a list of (operator, key)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("semver must be a range such as '>=1.2 <2', got %r" % (text,))
    alternatives = []
    for part in text.split("||"):
        if not part.strip():
            raise InputError("semver %r has an empty alternative around ||" % text)
        alternatives.append(_comparators(part, text))
    return alternatives


_OPERATORS = {"==": lambda a, b: a == b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
              ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def in_range(tag: str, alternatives: list) -> bool:
    key = version_key(tag)
    if key is None:
        return False
    return any(all(_OPERATORS[op](key, bound) for op, bound in comparators)
               for comparators in alternatives)


def _compile(pattern, what: str):
    if not isinstance(pattern, str):
        raise InputError("%s must be a regular expression (a string), got %r" % (what, pattern))
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError("%s %r is not a valid regular expression: %s" % (what, pattern, exc))


class TagRules:
    """One repository's ``tags`` rules, checked once; ``select`` applies them to tag names."""

    def __init__(self, rules: dict | None, where: str) -> None:
        rules = rules or {}
        unknown = sorted(set(rules) - set(RULE_KEYS) - {"platforms"})
        if unknown:
            raise InputError("%s.tags: unknown rule %s (known: %s)"
                             % (where, ", ".join(unknown), ", ".join(RULE_KEYS + ("platforms",))))
        match = rules.get("match")
        self.match = _compile(match, where + ".tags.match") if match is not None else None
        exclude = rules.get("exclude") or []
        if isinstance(exclude, str):
            exclude = [exclude]
        self.exclude = [_compile(p, where + ".tags.exclude") for p in exclude]
        semver = rules.get("semver")
        self.semver = None
        if semver is not None:
            try:
                self.semver = parse_semver_range(semver)
            except InputError as exc:
                raise InputError("%s.tags.%s" % (where, exc))
        latest = rules.get("latest")
        if latest is not None and (isinstance(latest, bool) or not isinstance(latest, int) or latest < 1):
            raise InputError("%s.tags.latest must be a whole number of 1 or more, got %r" % (where, latest))
        self.latest = latest

    @property
    def needs_created(self) -> bool:
        """``latest`` without ``semver`` orders by the image config's ``created`` time."""
        return self.latest is not None and self.semver is None

    def filter(self, tags: list) -> list:
        """match, exclude and semver, in the registry's order."""
        out = []
        for tag in tags:
            if self.match is not None and not self.match.fullmatch(tag):
                continue
            if any(pattern.search(tag) for pattern in self.exclude):
                continue
            if self.semver is not None and not in_range(tag, self.semver):
                continue
            out.append(tag)
        return out

    def newest(self, tags: list, created: dict | None = None) -> list:
        """The ``latest`` N of the filtered tags (all of them without ``latest``): by version
        when ``semver`` is set, else by ``created`` (tags without one count as oldest, ties by name)."""
        if self.latest is None:
            return list(tags)
        if self.semver is not None:
            ordered = sorted(tags, key=lambda t: (version_key(t), t))
        else:
            created = created or {}
            ordered = sorted(tags, key=lambda t: (created.get(t) is not None, created.get(t) or 0.0, t))
        return ordered[-self.latest:]
