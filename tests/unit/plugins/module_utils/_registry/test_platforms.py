"""Platform choice as containerd's platforms.Only makes it: normalisation, exact variants, ordered
fallbacks, os.features and os.version. Table-driven; each table row is one index and one wish."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import platforms as P


def child(text: str, os_version: str | None = None, features: list | None = None, **extra) -> dict:
    """An index entry's platform object from ``os/arch[/variant]`` written as the index writes it."""
    parts = text.split("/")
    platform = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        platform["variant"] = parts[2]
    if os_version is not None:
        platform["os.version"] = os_version
    if features is not None:
        platform["os.features"] = features
    platform.update(extra)
    return platform


def pick(index: list, wanted: str, os_version: str | None = None) -> int | None:
    matcher = P.only(P.with_os_version(P.parse(wanted), os_version))
    return matcher.best([P.from_descriptor(entry) for entry in index])


# (index children, wanted platform, index of the child containerd picks or None)
CHOICES = [
    # amd64: a plain wish never takes a vN>1 child, wherever it is listed
    ([child("linux/amd64/v3"), child("linux/amd64")], "linux/amd64", 1),
    ([child("linux/amd64/v3")], "linux/amd64", None),
    ([child("linux/amd64/v2")], "linux/amd64", None),
    ([child("linux/amd64/v3")], "linux/amd64/v3", 0),
    ([child("linux/amd64/v3")], "linux/amd64/v4", 0),
    ([child("linux/amd64/v2"), child("linux/amd64/v3"), child("linux/amd64")], "linux/amd64/v3", 1),
    ([child("linux/amd64"), child("linux/amd64/v2")], "linux/amd64/v3", 1),
    ([child("linux/amd64"), child("linux/amd64/v2")], "linux/amd64/v2", 1),
    ([child("linux/amd64/v3"), child("linux/amd64/v1")], "linux/amd64", 1),   # v1 is plain amd64
    ([child("linux/amd64")], "linux/amd64/v1", 0),
    ([child("linux/amd64")], "linux/amd64/v4", 0),
    # amd64 then 386
    ([child("linux/386"), child("linux/amd64")], "linux/amd64", 1),
    ([child("linux/386")], "linux/amd64", 0),
    ([child("linux/386")], "linux/amd64/v3", 0),
    ([child("linux/amd64")], "linux/386", None),
    # arm: exact variant, then down to v5
    ([child("linux/arm/v6")], "linux/arm", 0),
    ([child("linux/arm/v6")], "linux/arm/v7", 0),
    ([child("linux/arm/v5")], "linux/arm", 0),
    ([child("linux/arm/v7")], "linux/arm/v6", None),
    ([child("linux/arm/v6"), child("linux/arm/v7")], "linux/arm", 1),
    ([child("linux/arm/v5"), child("linux/arm/v6")], "linux/arm/v8", 1),
    ([child("linux/arm/v5"), child("linux/arm/v7")], "linux/arm/v8", 1),
    ([child("linux/arm/v8"), child("linux/arm/v7")], "linux/arm/v8", 0),
    ([child("linux/arm")], "linux/arm/v7", 0),                   # a child without variant is v7
    ([child("linux/arm/v6")], "linux/arm/v5", None),
    # arm64: its own variants, then 32-bit arm v8 .. v5
    ([child("linux/arm/v7"), child("linux/arm64")], "linux/arm64", 1),
    ([child("linux/arm/v7")], "linux/arm64", 0),
    ([child("linux/arm/v6"), child("linux/arm/v7")], "linux/arm64", 1),
    ([child("linux/arm/v5")], "linux/arm64", 0),
    ([child("linux/arm/v8"), child("linux/arm/v7")], "linux/arm64", 0),
    ([child("linux/arm64/v8")], "linux/arm64", 0),
    ([child("linux/arm64")], "linux/arm64/v8", 0),
    ([child("linux/arm64/v8"), child("linux/arm64/v8.1")], "linux/arm64/v8.2", 1),
    ([child("linux/arm64/v8.1")], "linux/arm64", None),
    ([child("linux/arm64/v8.5"), child("linux/arm64/v8.6")], "linux/arm64/v9", 0),
    ([child("linux/arm64/v8.6")], "linux/arm64/v9", None),
    ([child("linux/arm64/v8.6")], "linux/arm64/v9.1", 0),
    ([child("linux/arm64/v9")], "linux/arm64/v9.0", 0),
    ([child("linux/arm64")], "linux/arm/v7", None),               # 32-bit never takes 64-bit
    # other architectures: exact only
    ([child("linux/s390x"), child("linux/ppc64le")], "linux/ppc64le", 1),
    ([child("linux/riscv64")], "linux/arm64", None),
    ([child("windows/amd64")], "linux/amd64", None),
    # aliases on either side
    ([child("linux/x86_64")], "linux/amd64", 0),
    ([child("linux/x86-64")], "linux/amd64", 0),
    ([child("Linux/AMD64")], "linux/amd64", 0),
    ([child("linux/amd64")], "linux/x86_64", 0),
    ([child("linux/aarch64")], "linux/arm64", 0),
    ([child("linux/aarch64/8")], "linux/arm64/v8", 0),
    ([child("linux/arm64")], "linux/aarch64", 0),
    ([child("linux/armhf")], "linux/arm/v7", 0),
    ([child("linux/armel")], "linux/arm/v6", 0),
    ([child("linux/armel")], "linux/arm", 0),
    ([child("linux/arm/v7")], "linux/armhf", 0),
    ([child("linux/arm/v7")], "linux/armel", None),
    ([child("linux/i386")], "linux/386", 0),
    ([child("linux/i386")], "linux/amd64", 0),
    ([child("linux/386")], "linux/i386", 0),
    ([child("linux/arm/7")], "linux/arm/v7", 0),
    ([child("macos/arm64")], "darwin/arm64", 0),
    ([child("darwin/arm64")], "macos/arm64", 0),
    # os.features: a child declaring features nobody asked for is not taken
    ([child("linux/amd64", features=["sse4"]), child("linux/amd64")], "linux/amd64", 1),
    ([child("linux/amd64", features=["sse4"])], "linux/amd64", None),
    ([child("linux/amd64"), child("linux/amd64", features=["sse4"])], "linux(+sse4)/amd64", 1),
    ([child("linux/amd64", features=["a", "b"])], "linux(+a)/amd64", None),
    ([child("linux/amd64", features=["b", "a", "a"])], "linux(+b+a)/amd64", 0),
    ([child("linux/amd64", features=["sse4"]), child("linux/386")], "linux(+sse4)/amd64", 0),
    ([child("linux/386", features=["x"]), child("linux/amd64")], "linux(+x)/amd64", 1),  # rank first
    ([child("windows/amd64", features=["win32k"])], "windows/amd64", 0),   # win32k never counts
    ([child("windows/amd64", features=["win32k", "x"])], "windows/amd64", None),
    ([child("linux/amd64", features=["win32k"])], "linux/amd64", None),    # only on Windows
    # hostile or incomplete platform objects never match, never raise
    ([{"os": 5, "architecture": ["amd64"]}, child("linux/amd64")], "linux/amd64", 1),
    ([{}, "linux/amd64", None, child("linux/amd64", features="sse4")], "linux/amd64", 3),
]


@pytest.mark.parametrize("index, wanted, expected", CHOICES,
                         ids=["%s<-%s" % (w, ",".join(P.to_string(P.from_descriptor(c)) for c in i))
                              for i, w, _e in CHOICES])
def test_choice(index, wanted, expected):
    assert pick(index, wanted) == expected


WINDOWS = [child("windows/amd64", "10.0.17763.6054"), child("windows/amd64", "10.0.20348.2582"),
           child("windows/amd64", "10.0.26100.1000")]


@pytest.mark.parametrize("index, host, expected", [
    (WINDOWS, None, 0),                          # not asked: the first Windows child
    (WINDOWS, "10.0.17763.5000", 0),             # before 20348: the same build only
    (WINDOWS, "10.0.17763", 0),
    (WINDOWS, "10.0.20348.2700", 1),
    (WINDOWS, "10.0.22621.1", 1),                # Windows 11 runs the 20348 LTSC image
    (WINDOWS, "10.0.26100.1", 1),                # 26100 runs 20348 .. 26100: index order decides
    (WINDOWS[::-1], "10.0.26100.1", 0),
    (WINDOWS, "10.0.26200.1", 2),                # later hosts: from the 26100 LTSC on
    (WINDOWS[:1], "10.0.20348.1", None),
    (WINDOWS[:1], "10.0.17134.1", None),
    (WINDOWS[1:2], "10.0.17763.1", None),        # an older host never runs a newer image
    (WINDOWS[1:2], "6.3.20348.1", None),         # major.minor must be equal
    ([child("windows/amd64"), WINDOWS[1]], "10.0.17763.1", 0),   # no os.version: matches
    ([child("windows/amd64", "garbage")], "10.0.17763.1", None),
    ([child("windows/amd64", "10.0.20348.1.7")], "10.0.20348.2", 0),   # fields after build: ignored
    ([child("linux/amd64", "5.10"), child("linux/amd64", "6.1")], "6.1", 1),   # others: exact
    ([child("linux/amd64", "5.10")], "5.1", None),
    ([child("linux/amd64")], "5.10", None),
    ([child("linux/amd64", "5.10")], None, 0),   # not asked: ignored, as containerd does
])
def test_os_version(index, host, expected):
    wanted = "windows/amd64" if index and index[-1]["os"] == "windows" else "linux/amd64"
    assert pick(index, wanted, host) == expected


def test_os_version_in_the_specifier():
    assert pick(WINDOWS, "windows(10.0.20348.2700)/amd64") == 1
    assert P.parse("windows(10.0.20348%2E1)/amd64").os_version == "10.0.20348.1"


# The acceptable list, best first: containerd's vector.
@pytest.mark.parametrize("wanted, expected", [
    ("linux/amd64", ["linux/amd64", "linux/386"]),
    ("linux/amd64/v1", ["linux/amd64", "linux/386"]),
    ("linux/amd64/v2", ["linux/amd64/v2", "linux/amd64", "linux/386"]),
    ("linux/amd64/v4", ["linux/amd64/v4", "linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]),
    ("linux/386", ["linux/386"]),
    ("linux/arm", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v8", ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v6", ["linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v5", ["linux/arm/v5"]),
    ("linux/arm64", ["linux/arm64/v8", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v8.2", ["linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64/v8",
                          "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v9.1", ["linux/arm64/v9.1", "linux/arm64/v9"]
     + ["linux/arm64/v8.%d" % n for n in range(6, 0, -1)] + ["linux/arm64/v8"]
     + ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v9.7", ["linux/arm64/v9.%d" % n for n in range(7, 0, -1)] + ["linux/arm64/v9"]
     + ["linux/arm64/v8.%d" % n for n in range(9, 0, -1)] + ["linux/arm64/v8"]
     + ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/s390x", ["linux/s390x"]),
    ("windows(10.0.20348)/amd64", ["windows(10.0.20348)/amd64", "windows(10.0.20348)/386"]),
])
def test_acceptable_order(wanted, expected):
    assert [P.to_string(p) for p in P.acceptable(P.parse(wanted))] == expected


@pytest.mark.parametrize("os_name, arch, variant, expected", [
    ("Linux", "X86_64", "", ("linux", "amd64", "")),
    ("linux", "amd64", "v1", ("linux", "amd64", "")),
    ("linux", "amd64", "V3", ("linux", "amd64", "v3")),
    ("linux", "i386", "anything", ("linux", "386", "")),
    ("linux", "386", "sse2", ("linux", "386", "sse2")),
    ("linux", "aarch64", "", ("linux", "arm64", "")),
    ("linux", "arm64", "8", ("linux", "arm64", "")),
    ("linux", "arm64", "v8.0", ("linux", "arm64", "")),
    ("linux", "arm64", "9", ("linux", "arm64", "v9")),
    ("linux", "arm64", "v9.0", ("linux", "arm64", "v9")),
    ("linux", "arm64", "v8.3", ("linux", "arm64", "v8.3")),
    ("linux", "armhf", "v5", ("linux", "arm", "v7")),
    ("linux", "armel", "", ("linux", "arm", "v6")),
    ("linux", "arm", "", ("linux", "arm", "v7")),
    ("linux", "arm", "7", ("linux", "arm", "v7")),
    ("linux", "arm", "6", ("linux", "arm", "v6")),
    ("linux", "arm", "5", ("linux", "arm", "v5")),
    ("linux", "arm", "8", ("linux", "arm", "v8")),
    ("MacOS", "arm64", "", ("darwin", "arm64", "")),
    ("windows", "AMD64", "", ("windows", "amd64", "")),
])
def test_normalise(os_name, arch, variant, expected):
    got = P.normalise(P.Platform(os_name, arch, variant))
    assert (got.os, got.architecture, got.variant) == expected


def test_features_are_sorted_and_deduplicated():
    assert P.normalise(P.Platform("linux", "amd64", "", "", ("b", "a", "b"))).os_features == ("a", "b")


@pytest.mark.parametrize("text, fragment", [
    ("", "expected os/architecture"), (None, "expected os/architecture"), ("linux", "expected"),
    ("linux/", "must be letters"), ("/amd64", "the os ''"), ("a/b/c/d", "expected"),
    ("linux//v7", "must be letters"), ("linux/amd64\n", "must be letters"), ("linux\n/amd64", "the os"),
    ("linux/*", "wildcards"), ("linux/arm64/v10", "arm64 variant 'v10'"),
    ("linux/amd64 ", "must be letters"), ("linux/amd\uff16\uff14", "must be letters"),
    ("linux(%zz)/amd64", "percent-encoding"), ("windows(10.0)/amd64", "Windows version"),
    ("lin ux/amd64", "the os"),
])
def test_bad_specifiers(text, fragment):
    with pytest.raises(ValueError) as caught:
        P.parse(text)
    assert fragment in str(caught.value)
    assert "invalid" in str(caught.value) and repr(text) in str(caught.value)


@pytest.mark.parametrize("wanted, os_version, fragment", [
    ("windows/amd64", "10.0", "Windows version"),
    ("windows/amd64", "10.0.99999", "Windows version"),
    ("windows/amd64", "10.0.20348\n", "printable ASCII"),
    ("windows/amd64", "10.0.\u0662\u0660\u0663\u0664\u0668", "printable ASCII"),
    ("windows/amd64", "", "non-empty"),
    ("linux/amd64", "5.10\n", "non-empty printable"),
    ("linux/amd64", "5 10", "non-empty printable"),
    ("windows(10.0.17763)/amd64", "10.0.20348", "contradicts"),
])
def test_bad_os_version(wanted, os_version, fragment):
    with pytest.raises(ValueError) as caught:
        P.with_os_version(P.parse(wanted), os_version)
    assert fragment in str(caught.value)


def test_display_writes_implied_variants():
    assert P.display(P.from_descriptor(child("linux/aarch64")))["variant"] == "v8"
    assert P.display(P.from_descriptor(child("linux/arm")))["variant"] == "v7"
    assert P.display(P.from_descriptor(child("linux/amd64/v1")))["variant"] is None
    shown = P.display(P.from_descriptor(child("windows/amd64", "10.0.1.2", ["win32k"])))
    assert shown == {"os": "windows", "architecture": "amd64", "variant": None, "os_version": "10.0.1.2",
                     "os_features": ["win32k"]}
    assert P.to_string(P.from_display(shown)) == "windows(10.0.1.2+win32k)/amd64"
