# Private to the drc.registry collection: no compatibility promise for other collections.
"""Parse, normalise and match platforms the way containerd does (``platforms.Only``).

Standard library only. The rules follow containerd's platforms package (its ``Normalize``,
``Only`` and ``Less``); the code is ours.

Choosing a child of an index for a wanted platform:

1. Normalise both sides: lowercase; ``macos`` is ``darwin``; ``x86_64``/``x86-64`` are ``amd64``
   and ``amd64/v1`` is plain ``amd64``; ``aarch64`` is ``arm64`` and ``arm64/v8`` (``8``,
   ``v8.0``) is plain ``arm64``, ``9``/``9.0``/``v9.0`` are ``v9``; ``armhf`` is ``arm/v7``,
   ``armel`` is ``arm/v6``; plain ``arm`` is ``arm/v7`` and ``5``/``6``/``7``/``8`` are ``vN``;
   ``i386`` is ``386`` without variant; os.features are sorted, duplicates dropped.
2. The wanted platform expands into an ordered list of acceptable platforms, best first:
   ``amd64/vN`` then ``vN-1`` ... ``v1`` (plain ``amd64``), then ``386``; ``arm/vN`` then down to
   ``v5``; ``arm64/v8.x`` then ``v8.x-1`` ... ``v8``, ``arm64/v9.x`` then ``v9`` and
   ``v8.x+5`` ... ``v8`` (the same table as containerd), then 32-bit ``arm/v8`` ... ``v5``.
   An ``arm64`` variant outside that table accepts nothing, as in containerd.
3. Each acceptable platform matches a child with exactly the same os, architecture and variant
   (an ``amd64`` wish never takes an ``amd64/v3`` child), whose os.features are all among the
   wanted ones (a child declaring features nobody asked for is not taken; for Windows the
   ``win32k`` feature is ignored), and whose os.version passes the rule below.
4. Of the matching children the best is the one matching the earliest acceptable platform; at
   equal rank the one with more os.features; then the first in the index.

os.version: for Windows, the wanted version is the host's (``major.minor.build[.revision]``).
A child without os.version matches; otherwise major and minor must be equal, and the child's build
must equal the host's below build 20348 (Windows Server 2022), or, from 20348 on, lie between the
previous LTSC build (20348 or 26100) and the host's build. containerd ignores os.version for other
systems; we go one step further only when a version is asked for: the child's os.version must then
be exactly that string.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

# A platform specifier component, and the os component with its optional (version+feature...).
_COMPONENT_RE = re.compile(r"[A-Za-z0-9_.-]+")
_OS_RE = re.compile(r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?")
_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DECIMAL_RE = re.compile(r"[0-9]+")
_OS_VERSION_RE = re.compile(r"[\x21-\x7e]+")
_WINDOWS_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(?:\.[0-9]+)?")

SYNTAX = "os/architecture[/variant], e.g. linux/amd64 or linux/arm/v7"

# arm64 variants and the arm64 variants each can run, best first (containerd's table).
_ARM64_MAJOR_MINORS = {"v8.%d" % minor: ((8, minor),) for minor in range(10)}
_ARM64_MAJOR_MINORS.update({"v9.%d" % minor: ((9, minor), (8, min(minor + 5, 9))) for minor in range(8)})
_ARM64_MAJOR_MINORS["v8"] = _ARM64_MAJOR_MINORS["v8.0"]
_ARM64_MAJOR_MINORS["v9"] = _ARM64_MAJOR_MINORS["v9.0"]

# Windows builds: the first with stable-ABI compatibility, and the LTSC builds from there on.
_WINDOWS_LTSC_2022 = 20348
_WINDOWS_COMPAT_LTSC = (20348, 26100)


class Platform(NamedTuple):
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple = ()


def _text(value) -> str:
    """A descriptor field: strings only (a hostile index may put anything there)."""
    return value if isinstance(value, str) else ""


def normalise_os(os_name: str) -> str:
    os_name = os_name.lower()
    return "darwin" if os_name == "macos" else os_name


def normalise_arch(arch: str, variant: str) -> tuple:
    """(architecture, variant) in containerd's canonical form."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
        return "arm", variant
    return arch, variant


def normalise(platform: Platform) -> Platform:
    arch, variant = normalise_arch(platform.architecture, platform.variant)
    return Platform(normalise_os(platform.os), arch, variant, platform.os_version,
                    tuple(sorted(set(platform.os_features))))


def from_descriptor(value) -> Platform:
    """A platform object of an index entry or an image config, as written (not normalised)."""
    if not isinstance(value, dict):
        value = {}
    features = value.get("os.features")
    features = tuple(f for f in features if isinstance(f, str)) if isinstance(features, list) else ()
    return Platform(_text(value.get("os")), _text(value.get("architecture")), _text(value.get("variant")),
                    _text(value.get("os.version")), features)


def _decode_option(value: str, specifier: str) -> str:
    if "%" in value:
        if _PERCENT_RE.search(value):
            raise ValueError("invalid platform %r: %r is not a valid percent-encoding" % (specifier, value))
        return unquote(value)
    return value


def parse(specifier) -> Platform:
    """``os[(os.version[+os.feature]...)]/architecture[/variant]``, normalised.

    The syntax is containerd's, minus its guesses from the local host: both os and architecture
    must be written. Raises ValueError naming the input.
    """
    if not isinstance(specifier, str) or not specifier.strip():
        raise ValueError("invalid platform %r: expected %s" % (specifier, SYNTAX))
    if "*" in specifier:
        raise ValueError("invalid platform %r: wildcards are not supported" % specifier)
    parts = specifier.split("/")
    if len(parts) not in (2, 3):
        raise ValueError("invalid platform %r: expected %s" % (specifier, SYNTAX))
    os_match = _OS_RE.fullmatch(parts[0])
    if os_match is None:
        raise ValueError("invalid platform %r: the os %r must be letters, digits, '_' or '-', with an "
                         "optional (os.version+feature...)" % (specifier, parts[0]))
    for part in parts[1:]:
        if _COMPONENT_RE.fullmatch(part) is None:
            raise ValueError("invalid platform %r: %r must be letters, digits, '.', '_' or '-'"
                             % (specifier, part))
    features = []
    for raw in (os_match.group(3) or "").split("+")[1:]:
        feature = _decode_option(raw, specifier)
        if feature:
            features.append(feature)
    platform = normalise(Platform(os_match.group(1), parts[1], parts[2] if len(parts) == 3 else "",
                                  "", tuple(features)))
    if platform.architecture == "arm64" and platform.variant and platform.variant not in _ARM64_MAJOR_MINORS:
        raise ValueError("invalid platform %r: arm64 variant %r is none of v8, v8.1 ... v8.9, v9, "
                         "v9.1 ... v9.7" % (specifier, platform.variant))
    os_version = _decode_option(os_match.group(2) or "", specifier)
    try:
        return with_os_version(platform, os_version) if os_version else platform
    except ValueError as exc:
        raise ValueError("invalid platform %r: %s" % (specifier, exc))


def with_os_version(platform: Platform, os_version: str | None) -> Platform:
    """The platform asking for an os.version; a Windows one must be major.minor.build[.revision]."""
    if os_version is None:
        return platform
    if not isinstance(os_version, str) or _OS_VERSION_RE.fullmatch(os_version) is None:
        raise ValueError("invalid os_version %r: it must be non-empty printable ASCII without spaces"
                         % (os_version,))
    if platform.os_version and platform.os_version != os_version:
        raise ValueError("os_version %r contradicts the os.version %r written in the platform"
                         % (os_version, platform.os_version))
    if platform.os == "windows" and _windows_version(os_version) is None:
        raise ValueError("invalid os_version %r: a Windows version is major.minor.build[.revision] "
                         "with major and minor up to 255 and build up to 65535, e.g. 10.0.20348.2700"
                         % os_version)
    return platform._replace(os_version=os_version)


def _windows_version(text: str, strict: bool = True) -> tuple | None:
    """(major, minor, build) of a Windows os.version, or None when it is not one.

    ``strict`` (what a person writes): major.minor.build[.revision]. Otherwise (what an index
    says) like containerd: the first three dot-separated fields, whatever follows.
    """
    if not isinstance(text, str):
        return None
    if strict and _WINDOWS_VERSION_RE.fullmatch(text) is None:
        return None
    fields = text.split(".")
    if len(fields) < 3 or not all(_DECIMAL_RE.fullmatch(f) for f in fields[:3]):
        return None
    major, minor, build = (int(n) for n in fields[:3])
    if major > 255 or minor > 255 or build > 65535:
        return None
    return major, minor, build


def _windows_compatible(host: tuple, container: tuple | None) -> bool:
    if container is None or host[:2] != container[:2]:
        return False
    if host[2] < _WINDOWS_LTSC_2022:
        return container[2] == host[2]
    oldest = _WINDOWS_LTSC_2022
    for ltsc in reversed(_WINDOWS_COMPAT_LTSC):
        if host[2] > ltsc:
            oldest = ltsc
            break
    return oldest <= container[2] <= host[2]


def _os_version_matches(wanted: Platform, candidate: Platform) -> bool:
    if not wanted.os_version:
        return True
    if wanted.os == "windows":
        host = _windows_version(wanted.os_version)
        if host is None or not candidate.os_version:
            return True
        return _windows_compatible(host, _windows_version(candidate.os_version, strict=False))
    return candidate.os_version == wanted.os_version


def matches_exactly(wanted: Platform, candidate: Platform) -> bool:
    """containerd's single-platform matcher: ``wanted`` normalised, ``candidate`` as written."""
    wanted = normalise(wanted)
    if wanted.os == "windows" and "win32k" in candidate.os_features:
        features = list(candidate.os_features)
        features.remove("win32k")
        candidate = candidate._replace(os_features=tuple(features))
    have = normalise(candidate)
    return all((have.os == wanted.os, have.architecture == wanted.architecture,
                have.variant == wanted.variant, _os_version_matches(wanted, candidate),
                set(have.os_features) <= set(wanted.os_features)))


def acceptable(wanted: Platform) -> list:
    """The platforms a wanted one accepts, best first (containerd's ``Only`` vector)."""
    wanted = normalise(wanted)

    def same(arch: str, variant: str) -> Platform:
        return wanted._replace(architecture=arch, variant=variant)

    if wanted.architecture == "amd64":
        out = [wanted]
        level = _variant_number(wanted.variant)
        if level is not None and level > 1:
            out += [same("amd64", "v%d" % n) for n in range(level - 1, 0, -1)]
        return out + [same("386", "")]
    if wanted.architecture == "arm":
        out = [wanted]
        level = _variant_number(wanted.variant)
        if level is not None and level > 5:
            out += [same("arm", "v%d" % n) for n in range(level - 1, 4, -1)]
        return out
    if wanted.architecture == "arm64":
        variant = wanted.variant or "v8"
        if variant not in _ARM64_MAJOR_MINORS:
            return []
        out = []
        for major, top in _ARM64_MAJOR_MINORS[variant]:
            out += [same("arm64", "v%d.%d" % (major, minor) if minor else "v%d" % major)
                    for minor in range(top, -1, -1)]
        arm_variant = "v8" if variant.startswith(("v8", "v9")) else variant
        return out + acceptable(same("arm", arm_variant))
    return [wanted]


def _variant_number(variant: str) -> int | None:
    """``v3`` or ``3`` -> 3, as Go's Atoi after trimming one ``v``; None otherwise."""
    text = variant[1:] if variant.startswith("v") else variant
    return int(text) if _DECIMAL_RE.fullmatch(text) else None


class Matcher:
    """``platforms.Only(wanted)``: which platforms it accepts, and how it ranks them."""

    def __init__(self, wanted: Platform) -> None:
        self.wanted = normalise(wanted)
        self.accepted = acceptable(self.wanted)

    def rank(self, candidate: Platform) -> int | None:
        """Position of the first acceptable platform ``candidate`` matches, or None."""
        for position, accepted in enumerate(self.accepted):
            if matches_exactly(accepted, candidate):
                return position
        return None

    def match(self, candidate: Platform) -> bool:
        return self.rank(candidate) is not None

    def best(self, candidates: list) -> int | None:
        """Index of the best candidate (None entries never match), or None when none matches."""
        ranked = []
        for index, candidate in enumerate(candidates):
            position = None if candidate is None else self.rank(candidate)
            if position is not None:
                ranked.append((position, -len(candidate.os_features), index))
        return min(ranked)[2] if ranked else None


def only(wanted: Platform) -> Matcher:
    return Matcher(wanted)


def display(platform: Platform) -> dict:
    """The reported form: normalised, with the implied variants written (arm64 v8, arm v7)."""
    p = normalise(platform)
    variant = p.variant
    if not variant and p.architecture == "arm64":
        variant = "v8"
    return {"os": p.os, "architecture": p.architecture, "variant": variant or None,
            "os_version": p.os_version or None, "os_features": list(p.os_features)}


def from_display(value: dict) -> Platform:
    """Back from the reported form (``os_version``/``os_features`` keys) or a descriptor's keys."""
    features = value.get("os_features", value.get("os.features"))
    features = features if isinstance(features, (list, tuple)) else ()
    return Platform(_text(value.get("os")), _text(value.get("architecture")), _text(value.get("variant")),
                    _text(value.get("os_version") or value.get("os.version")),
                    tuple(f for f in features if isinstance(f, str)))


def to_string(platform: Platform) -> str:
    """``os[(version+features)]/arch[/variant]`` for messages, implied variants written."""
    shown = display(platform)
    text = shown["os"] or "unknown"
    if shown["os_version"] or shown["os_features"]:
        text += "(%s%s)" % (shown["os_version"] or "", "".join("+" + f for f in shown["os_features"]))
    text += "/" + (shown["architecture"] or "unknown")
    if shown["variant"]:
        text += "/" + shown["variant"]
    return text
