"""Property-based tests of what we accept from a server or a person as a digest or a number:
whole strings only (never a trailing newline), ASCII digits only (never ``²`` or ``١``)."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    DigestHasher, InvalidDigest, digest_of, is_digest, parse_decimal_header, validate_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import Manifest, ManifestError
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    InvalidReference, parse_registry_host, parse_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import parse_retry_after

# Coverage adds nothing here (the table-driven tests cover these functions) and doubles hypothesis's time.
pytestmark = pytest.mark.no_cover

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck))
LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

# Random bytes in one draw, written in hex (not one draw per hex digit: the same digests, much faster).
good_digest = st.sampled_from(sorted(LENGTHS)).flatmap(
    lambda alg: st.binary(min_size=LENGTHS[alg] // 2, max_size=LENGTHS[alg] // 2)
    .map(lambda raw: "%s:%s" % (alg, raw.hex())))
# Line ends and other white space a header or a JSON string may carry.
trailer = st.sampled_from(["\n", "\r\n", "\r", " ", "\t", "\x00", "\u2028", "\x85", "\x0b", "\x0c"])
non_ascii_digit = st.characters(categories=("Nd", "No")).filter(lambda c: not ("0" <= c <= "9"))


@settings(max_examples=1_000, **SETTINGS)
@given(good_digest)
def test_every_well_formed_digest_is_accepted(digest):
    assert is_digest(digest)
    assert validate_digest(digest) == digest
    assert parse_reference("app@" + digest)["digest"] == digest


@settings(max_examples=1_000, **SETTINGS)
@given(good_digest, trailer, st.booleans())
def test_a_digest_with_anything_around_it_is_refused(digest, extra, before):
    text = extra + digest if before else digest + extra
    assert not is_digest(text)
    with pytest.raises(InvalidDigest) as caught:
        validate_digest(text)
    assert repr(text) in str(caught.value)


@settings(max_examples=1_000, **SETTINGS)
@given(good_digest, non_ascii_digit, st.integers(min_value=0, max_value=127))
def test_a_digest_with_a_unicode_digit_is_refused(digest, digit, position):
    algorithm, hex_ = digest.split(":")
    position %= len(hex_)
    assert not is_digest("%s:%s%s%s" % (algorithm, hex_[:position], digit, hex_[position + 1:]))


@settings(max_examples=1_500, **SETTINGS)
@given(st.text(max_size=140))
def test_is_digest_is_exactly_the_grammar(text):
    algorithm, dummy, hex_ = text.partition(":")
    expected = (algorithm in LENGTHS and len(hex_) == LENGTHS[algorithm]
                and all(c in "0123456789abcdef" for c in hex_))
    assert is_digest(text) is expected


@settings(max_examples=1_000, **SETTINGS)
@given(st.binary(max_size=512), st.sampled_from(sorted(LENGTHS)), st.integers(min_value=1, max_value=64))
def test_streaming_hasher_equals_one_shot(data, algorithm, chunk):
    hasher = DigestHasher(algorithm)
    for start in range(0, len(data), chunk):
        hasher.update(data[start:start + chunk])
    assert hasher.digest() == digest_of(data, algorithm) == "%s:%s" % (
        algorithm, hashlib.new(algorithm, data).hexdigest())
    assert hasher.size == len(data) and hasher.matches(digest_of(data, algorithm))
    assert is_digest(hasher.digest())


@settings(max_examples=1_000, **SETTINGS)
@given(st.integers(min_value=0, max_value=10 ** 18 - 1), st.sampled_from(["", " ", "\t", "  \t"]))
def test_ascii_decimal_headers_are_read(number, ows):
    assert parse_decimal_header(ows + str(number) + ows) == number
    assert parse_retry_after(str(number)) == float(number)


@settings(max_examples=1_500, **SETTINGS)
@given(st.text(max_size=24))
def test_decimal_headers_are_ascii_digits_or_nothing(text):
    value = parse_decimal_header(text)
    stripped = text.strip(" \t")
    ascii_decimal = bool(stripped) and len(stripped) <= 18 and all("0" <= c <= "9" for c in stripped)
    assert (value is not None) is ascii_decimal
    if value is not None:
        assert value == int(stripped)
    parse_retry_after(text)  # never raises, whatever the server sent


@settings(max_examples=1_000, **SETTINGS)
@given(st.lists(st.one_of(st.sampled_from("0123456789"), non_ascii_digit), min_size=1, max_size=6)
       .filter(lambda chars: any(not ("0" <= c <= "9") for c in chars)).map("".join))
def test_unicode_digits_are_never_a_number(text):
    assert parse_decimal_header(text) is None
    assert parse_retry_after(text) is None


@settings(max_examples=500, **SETTINGS)
@given(st.integers(min_value=0, max_value=10 ** 6), trailer.filter(lambda t: t not in (" ", "\t")))
def test_decimal_header_with_a_line_end_is_refused(number, extra):
    assert parse_decimal_header(str(number) + extra) is None


@settings(max_examples=1_000, **SETTINGS)
@given(st.sampled_from(["myreg:5000", "reg.example.com", "localhost", "[::1]:5000", "https://myreg:5000"]),
       trailer)
def test_registry_index_with_a_line_end_is_refused(index, extra):
    parse_registry_host(index)
    with pytest.raises(InvalidReference):
        parse_registry_host(index + extra)


@settings(max_examples=1_000, **SETTINGS)
@given(st.one_of(good_digest.map(lambda d: d + "\n"), st.text(max_size=80).filter(lambda t: not is_digest(t)),
                 st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)))
def test_an_index_child_with_a_bad_digest_is_refused(bad):
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"digest": "sha256:" + "a" * 64, "mediaType": mt.OCI_MANIFEST, "size": 1, "platform": {}},
        {"digest": bad, "mediaType": mt.OCI_MANIFEST, "size": 1,
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    with pytest.raises(ManifestError) as caught:
        Manifest(index, mt.OCI_INDEX)
    message = str(caught.value)
    assert "child 1 of the index" in message
    assert any(reason in message for reason in ("algorithm:hex", "not supported", "lowercase hexadecimal"))
