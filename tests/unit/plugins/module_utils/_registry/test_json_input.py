"""JSON from outside: every way json.loads fails on hostile input is a NotJSON (a ValueError)."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import parse_error_body
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import (
    MAX_DEPTH, NotJSON, parse_json)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    Manifest, ManifestError)

DEEP = b"[" * 100000 + b"]" * 100000


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"[]" + b"}" * (depth - 1)


def test_json_nested_past_the_interpreter_stack_is_not_json():
    with pytest.raises(NotJSON, match="nests too deep"):
        parse_json(DEEP)
    with pytest.raises(ValueError):  # what every caller's `except ValueError` catches
        parse_json(DEEP.decode())


def test_json_nested_past_max_depth_is_refused_and_up_to_it_read():
    assert parse_json(nested(MAX_DEPTH))["a"]
    with pytest.raises(NotJSON, match="more than %d levels" % MAX_DEPTH):
        parse_json(nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("raw, reason", [
    (b"[" + b"7" * 5000 + b"]", "4300 digits"),  # int() refuses it with a plain ValueError
    (b'{"a": "\xff"}', "not UTF-8"),
    (b"{", "line 1 column 2"),
    (b"", "line 1 column 1"),
])
def test_what_is_not_json_says_why(raw, reason):
    with pytest.raises(NotJSON, match=reason) as caught:
        parse_json(raw)
    assert "\\xff" not in str(caught.value)  # a byte of a key file is never shown


def test_a_hooks_own_error_reaches_its_caller():
    class Duplicate(ValueError):
        pass

    def refuse(pairs):
        raise Duplicate("a repeated key")
    with pytest.raises(Duplicate):
        parse_json(b'{"a": 1}', object_pairs_hook=refuse)


def test_a_deep_manifest_and_a_deep_error_body_are_clean():
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest(DEEP, None)
    assert parse_error_body(DEEP[:64 * 1024]) == []
