"""Tag filtering and semver ordering."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.tag_selection import select_tags


@pytest.mark.parametrize("tags, match, sort, expected", [
    (["b", "a", "c"], None, "none", ["b", "a", "c"]),
    (["1.10.0", "1.2.0", "1.9.1"], None, "semver", ["1.2.0", "1.9.1", "1.10.0"]),
    (["v2", "latest", "v10", "1.0-rc1", "1.0", "edge"], None, "semver",
     ["edge", "latest", "1.0-rc1", "1.0", "v2", "v10"]),
    (["1.0.0-beta.2", "1.0.0-beta.10", "1.0.0-alpha", "1.0.0"], None, "semver",
     ["1.0.0-alpha", "1.0.0-beta.2", "1.0.0-beta.10", "1.0.0"]),
    (["3.18", "3.19-rc", "latest", "3.2"], r"^\d+\.\d+$", "semver", ["3.2", "3.18"]),
    (["a1", "b2", "a3"], "a", "none", ["a1", "a3"]),
])
def test_select_tags(tags, match, sort, expected):
    assert select_tags(tags, match, sort) == expected


def test_bad_regex_is_named():
    with pytest.raises(ValueError, match=r"match '\(' is not a valid regular expression"):
        select_tags(["a"], "(")
