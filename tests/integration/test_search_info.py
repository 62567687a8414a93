"""drc.registry.registry_search_info against the scripted v1 index (tests/testbed/v1server.py)."""

from __future__ import annotations

import pytest

from tests.integration.ansible_runner import run_module
from tests.testbed.v1server import SEARCH_HITS, V1Pair


@pytest.fixture(scope="module")
def index():
    with V1Pair() as bed:
        yield bed


def search_pages(bed):
    return [r.path for r in bed.log if r.path.startswith("/v1/search")]


@pytest.mark.parametrize("limit, expected, pages", [(None, SEARCH_HITS, 3), (12, 12, 2), (3, 3, 1)])
def test_search_follows_pages_until_limit(index, limit, expected, pages):
    index.log.clear()
    args = {"query": "tool", "registry": index.index.url}
    if limit is not None:
        args["limit"] = limit
    run = run_module("drc.registry.registry_search_info", args)
    assert run.rc == 0, run.output
    results = run.result["results"]
    assert [r["name"] for r in results] == ["tools/tool-%02d" % i for i in range(expected)]
    assert results[0] == {"name": "tools/tool-00", "description": "tool number 0", "star_count": 100,
                          "is_official": True, "is_automated": False}
    assert results[1]["is_automated"] is True and results[1]["is_official"] is False
    assert run.result["registry"] == index.index.url
    sent = search_pages(index)
    assert len(sent) == pages
    assert sent[0] == "/v1/search?q=tool&n=%d&page=1" % (limit or 25)


def test_search_of_a_loopback_host_without_scheme(index):
    run = run_module("drc.registry.registry_search_info",
                     {"query": "thing", "registry": index.index.host})
    assert run.rc == 0, run.output
    assert [r["name"] for r in run.result["results"]] == ["other/thing"]


@pytest.mark.parametrize("args, message", [
    ({"query": "tool", "limit": 0}, "limit must be between 1 and 100, got 0"),
    ({"query": "tool", "limit": 101}, "limit must be between 1 and 100, got 101"),
    ({"query": " "}, "query must not be empty"),
    ({"query": "tool", "registry": "ftp://x.example"}, "scheme 'ftp' is not supported"),
])
def test_search_bad_input(index, args, message):
    index.log.clear()
    args.setdefault("registry", index.index.url)
    run = run_module("drc.registry.registry_search_info", args)
    assert run.rc != 0
    assert message in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output
    assert not search_pages(index)
