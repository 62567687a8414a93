# Private to the drc.registry collection: no compatibility promise for other collections.
"""Retention rules: which tags a policy keeps (``keep``, ``delete_match``), and which tags are
referrer tags that no rule ever touches. Pure: tag names and creation times in, decisions out."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.tag_selection import (
    _VERSION_RE, semver_key)

# cosign's attachment tags (sha256-<hex>.sig/.att/.sbom) and the OCI referrers fallback tag
# (<alg>-<hex>): they belong to their subject, never to a retention rule.
REFERRER_TAG_RE = re.compile(r"^(sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})(\.(sig|att|sbom))?$")

RULES = ("latest", "match", "newer_than", "semver")
SORTS = ("created", "semver")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_DURATION_DAYS = 365000  # a thousand years


def referrer_subject(tag: str) -> tuple | None:
    """(subject digest, kind) for a referrer tag: kind is ``sig``, ``att``, ``sbom`` or
    ``fallback`` (the OCI fallback tag index); None for an ordinary tag."""
    found = REFERRER_TAG_RE.match(tag)
    if not found:
        return None
    algorithm, hexpart = found.group(1).split("-", 1)
    return "%s:%s" % (algorithm, hexpart), found.group(3) or "fallback"


def parse_duration(value: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``1d12h``, ``90m``, ``45s``; InputError names a bad one."""
    text = str(value).strip().lower()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise InputError("keep.newer_than %r is not a duration: write a number and a unit "
                         "(w, d, h, m, s), for example 30d or 1d12h" % value)
    # A bound before int() and timedelta: 20 digits overflow timedelta, 5000 are refused by int(),
    # and "now - newer_than" must stay after the year 1.
    seconds = sum(int(n[-12:]) * _DURATION_UNITS[u] for n, u in parts)
    if any(n.lstrip("0")[:-12] for n, _u in parts) or seconds > MAX_DURATION_DAYS * 86400:
        raise InputError("keep.newer_than %r is longer than %d days, the most allowed"
                         % (value, MAX_DURATION_DAYS))
    return timedelta(seconds=seconds)


def _version(text: str) -> tuple | None:
    """(major, minor, patch, pre-release key) of a version tag, or None."""
    found = _VERSION_RE.fullmatch(text)
    if not found:
        return None
    numbers = [int(n) for n in found.group(1).split(".")][:3]
    numbers += [0] * (3 - len(numbers))
    return tuple(numbers) + (semver_key(text)[2:4],)


_RELEASE = (1, ())  # the pre-release key of a release: above each of its pre-releases
_FLOOR = (0, 0, 0, (0, ()))  # below every version
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?\s*v?((?:\d+|[xX*])(?:\.(?:\d+|[xX*])){0,2})$")


def _comparators(term: str, whole: str) -> list:
    """One space-separated term of a range -> [(operator, (major, minor, patch, pre key))]."""
    found = _COMPARATOR.match(term)
    if not found:
        raise InputError("keep.semver %r: cannot read %r (use comparators such as >=1.2.0 <2, "
                         "^1.4, ~1.4.2, 1.x, joined by spaces, alternatives by ||)" % (whole, term))
    operator, fixed = found.group(1) or "=", []
    for part in found.group(2).split("."):
        if part in ("x", "X", "*"):
            break
        fixed.append(int(part))
    if len(fixed) == 3 and operator not in ("^", "~"):
        return [(operator, tuple(fixed) + (_RELEASE,))]
    if not fixed:  # *, x: every version
        return [(">=", _FLOOR)]
    if operator == "^":
        bump = next((i for i, n in enumerate(fixed) if n != 0), len(fixed) - 1)
    elif operator == "~":
        bump = min(1, len(fixed) - 1)
    else:
        bump = len(fixed) - 1
    low = _pad(fixed)
    high = _pad(fixed[:bump] + [fixed[bump] + 1])
    return {"=": [(">=", low), ("<", high)], "^": [(">=", low), ("<", high)],
            "~": [(">=", low), ("<", high)], ">=": [(">=", low)], "<": [("<", low)],
            ">": [(">=", high)], "<=": [("<", high)]}[operator]


def _pad(numbers: list) -> tuple:
    """The lowest version starting with these numbers (below its own pre-releases)."""
    return tuple(numbers + [0] * (3 - len(numbers))) + (_FLOOR[3],)


def parse_semver_range(text: str) -> list:
    """A range as alternatives (``||``) of comparator lists; InputError names a bad one."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("keep.semver must be a version range such as '>=1.2.0 <2' or '^1.4'")
    alternatives = []
    for alternative in text.split("||"):
        terms = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alternative.strip()).split()
        if not terms:
            raise InputError("keep.semver %r has an empty alternative" % text)
        comparators = []
        for term in terms:
            comparators.extend(_comparators(term, text))
        alternatives.append(comparators)
    return alternatives


def in_semver_range(tag: str, alternatives: list) -> bool:
    version = _version(tag)
    if version is None:
        return False
    tests = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
             "<": lambda a, b: a < b, "=": lambda a, b: a == b}
    return any(all(tests[op](version, bound) for op, bound in comparators)
               for comparators in alternatives)


def _compile(patterns, option: str) -> list:
    compiled = []
    for pattern in patterns or []:
        try:
            compiled.append(re.compile(pattern))
        except (re.error, TypeError) as exc:
            raise InputError("%s %r is not a valid regular expression: %s" % (option, pattern, exc))
    return compiled


class Policy:
    """A checked ``keep`` dict and ``delete_match`` list."""

    def __init__(self, keep: dict | None, delete_match: list | None = None) -> None:
        keep = dict(keep or {})
        unknown = sorted(set(keep) - set(RULES) - {"sort"})
        if unknown:
            raise InputError("keep has unknown keys %s; the rules are %s, with sort"
                             % (", ".join(unknown), ", ".join(RULES)))
        self.latest = keep.get("latest")
        if self.latest is not None:
            if isinstance(self.latest, bool) or not str(self.latest).isdigit():
                raise InputError("keep.latest must be a whole number of tags, 0 or more; got %r"
                                 % (self.latest,))
            self.latest = int(self.latest)
        self.sort = keep.get("sort") or "created"
        if self.sort not in SORTS:
            raise InputError("keep.sort must be one of %s; got %r" % (", ".join(SORTS), self.sort))
        match = keep.get("match")
        self.match = _compile([match] if isinstance(match, str) else match, "keep.match")
        self.newer_than = (parse_duration(keep["newer_than"])
                           if keep.get("newer_than") not in (None, "") else None)
        self.semver = parse_semver_range(keep["semver"]) if keep.get("semver") else None
        self.delete_match = _compile(delete_match, "delete_match")
        if not any((self.latest, self.match, self.newer_than, self.semver, self.delete_match)):
            raise InputError("the policy would delete every tag: give keep rules (latest, match, "
                             "newer_than, semver) or delete_match to say which tags may go")

    @property
    def needs_created(self) -> bool:
        """Whether the images' creation times are needed (their configs fetched)."""
        return self.newer_than is not None or bool(self.latest and self.sort == "created")

    def is_candidate(self, tag: str) -> bool:
        if referrer_subject(tag) is not None:
            return False
        return not self.delete_match or any(p.search(tag) for p in self.delete_match)

    def kept_tags(self, tags: list, created: dict, now: datetime) -> dict:
        """tag -> the rules that keep it, for every tag kept (referrer tags are not considered:
        they go with their subject). ``created``: tag -> aware datetime or None."""
        kept: dict = {}
        candidates = []
        for tag in tags:
            if referrer_subject(tag) is not None:
                continue
            if not self.is_candidate(tag):
                kept[tag] = ["not_a_candidate"]
            else:
                candidates.append(tag)

        def keep(tag: str, rule: str) -> None:
            kept.setdefault(tag, []).append(rule)

        if self.latest:
            if self.sort == "semver":
                ordered = sorted(candidates, key=semver_key, reverse=True)
            else:
                oldest = datetime.min.replace(tzinfo=now.tzinfo)
                ordered = sorted(candidates, key=lambda t: (created.get(t) or oldest, t), reverse=True)
            for tag in ordered[:self.latest]:
                keep(tag, "latest")
        for tag in candidates:
            if any(p.search(tag) for p in self.match):
                keep(tag, "match")
            if self.newer_than is not None and created.get(tag) and created[tag] >= now - self.newer_than:
                keep(tag, "newer_than")
            if self.semver is not None and in_semver_range(tag, self.semver):
                keep(tag, "semver")
        return kept


def parse_created(value) -> datetime | None:
    """An image config's ``created`` (RFC 3339) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python 3.9's fromisoformat takes at most 6 fractional digits
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment
