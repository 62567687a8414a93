"""Property-based tests of the reference parser: whatever the input, it parses to something that
re-parses to itself, whose familiar name (``local_name``) names the same repository again, or it
is rejected with InvalidReference, never any other exception."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    InvalidReference, parse_reference)

EXAMPLES = 10_000

# Coverage adds nothing here (the table-driven tests cover the parser) and doubles hypothesis's time.
pytestmark = pytest.mark.no_cover

# Characters that matter to the grammar, plus some that never belong, weighted towards the former.
ALPHABET = string.ascii_lowercase + string.digits + "._-/:@" + "AZ[]" + " \t\u00e9"
LOWER_ALNUM = string.ascii_lowercase + string.digits
alnum = st.text(alphabet=LOWER_ALNUM, min_size=1, max_size=5)
separator = st.sampled_from([".", "_", "__", "-", "--"])
component = st.builds(lambda first, rest: first + "".join(sep + part for sep, part in rest),
                      alnum, st.lists(st.tuples(separator, alnum), max_size=2))
port = st.integers(min_value=1, max_value=65535).map(lambda p: ":%d" % p)
domain = st.one_of(
    st.just("localhost"), st.just("[::1]:5000"),
    st.builds(lambda a, tld, p: a + "." + tld + p, alnum, st.sampled_from(["io", "com", "example"]),
              st.one_of(st.just(""), port)),
    st.builds(lambda a, p: a + p, alnum, port))
tag = st.builds(lambda first, rest: first + rest,
                st.sampled_from(string.ascii_letters + string.digits + "_"),
                st.text(alphabet=string.ascii_letters + string.digits + "_.-", max_size=20))
# 32 random bytes in one draw, not 64 draws of a hex digit: the same digests, generated much faster
hex_digest = st.binary(min_size=32, max_size=32).map(lambda raw: "sha256:" + raw.hex())


# Docker Hub, written every way it can be, and names whose first component looks like a host.
hub = st.sampled_from(["docker.io/", "index.docker.io/", "docker.io/library/", "library/",
                       "docker.io/localhost/", "docker.io/a.b/"])


@st.composite
def plausible_references(draw):
    parts = []
    if draw(st.booleans()):
        parts.append(draw(st.one_of(domain, hub.map(lambda h: h[:-1]))) + "/")
    parts.append("/".join(draw(st.lists(component, min_size=1, max_size=3))))
    if draw(st.booleans()):
        parts.append(":" + draw(tag))
    if draw(st.booleans()):
        parts.append("@" + draw(hex_digest))
    text = "".join(parts)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["http://", "https://"])) + text if "/" in text else text
    return text


def check(text: str) -> None:
    try:
        parsed = parse_reference(text)
    except InvalidReference as exc:
        assert str(exc).startswith("invalid ")
        return
    again = parse_reference(parsed["string"])
    assert again["string"] == parsed["string"]
    assert again["full_name"] == parsed["full_name"]
    assert again["reference"] == parsed["reference"]
    assert again["digest"] == parsed["digest"]
    check_familiar(parsed)


def check_familiar(parsed: dict) -> None:
    """The familiar name, parsed again with no default index, is the same repository."""
    familiar = parse_reference(parsed["local_name"])
    assert familiar["full_name"] == parsed["full_name"], (parsed["local_name"], parsed["full_name"])
    assert familiar["index"]["name"] == parsed["index"]["name"]
    assert familiar["remote_name"] == parsed["remote_name"]
    # the canonical name names it too
    assert parse_reference(parsed["canonical_name"])["full_name"] == parsed["full_name"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_arbitrary_strings_parse_or_are_rejected(text):
    check(text)


@settings(max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(plausible_references())
def test_plausible_references_round_trip(text):
    check(text)


@settings(max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=30))
def test_any_unicode_is_handled(text):
    check(text)


@settings(max_examples=3_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(hub, st.lists(component, min_size=1, max_size=3), st.one_of(st.just(""), tag.map(lambda t: ":" + t)))
def test_docker_hub_familiar_names_name_the_same_repository(prefix, components, suffix):
    check(prefix + "/".join(components) + suffix)


@settings(max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(domain, st.just("docker.io")), st.lists(component, min_size=1, max_size=3),
       st.sampled_from([None, "myreg:5000", "https://reg.example.com", "http://localhost:5000", "docker.io",
                        "myreg", "https://Myreg"]))
def test_familiar_names_with_a_default_index(host, components, default_index):
    for text in (host + "/" + "/".join(components), "/".join(components)):
        try:
            parsed = parse_reference(text, default_index=default_index)
        except InvalidReference:
            continue
        check_familiar(parsed)
