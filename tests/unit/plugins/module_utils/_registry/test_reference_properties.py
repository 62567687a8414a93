"""Property-based tests of the reference parser: whatever the input, it parses to something that
re-parses to itself, or it is rejected with InvalidReference, never any other exception."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    InvalidReference, parse_reference)

EXAMPLES = 10_000

# Characters that matter to the grammar, plus some that never belong, weighted towards the former.
ALPHABET = string.ascii_lowercase + string.digits + "._-/:@" + "AZ[]" + " \t\u00e9"
component = st.from_regex(r"[a-z0-9]{1,6}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,4}){0,2}", fullmatch=True)
domain = st.one_of(
    st.just("localhost"), st.from_regex(r"[a-z0-9]{1,5}\.[a-z]{2,3}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,5}(?:\.[a-z]{2,3})?:[0-9]{1,5}", fullmatch=True), st.just("[::1]:5000"))
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
hex_digest = st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True)


@st.composite
def plausible_references(draw):
    parts = []
    if draw(st.booleans()):
        parts.append(draw(domain) + "/")
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


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_arbitrary_strings_parse_or_are_rejected(text):
    check(text)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(plausible_references())
def test_plausible_references_round_trip(text):
    check(text)


@settings(max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=30))
def test_any_unicode_is_handled(text):
    check(text)
