"""Bodies cut short by the server (issue 10, item 6): fetched again, then one clear line; never a
traceback. Through the modules and the lookup, against a scripted server."""

from __future__ import annotations

import json

from tests.integration.ansible_runner import run_expression, run_module
from tests.integration.test_hostile import MANIFEST, OCI_MANIFEST, assert_clean, digest, registry
from tests.testbed.hostile import Reply

TAGS = json.dumps({"name": "app", "tags": ["1", "2"]}).encode()


def cut(body: bytes) -> Reply:
    """Declares the whole body, sends a third of it, closes the connection."""
    return Reply(200, {"Content-Type": OCI_MANIFEST}, body[:len(body) // 3], content_length=len(body))


def then_whole(body: bytes, cuts: int):
    """Cut short ``cuts`` times, then whole."""
    left = [cuts]

    def reply(request):
        if left[0] > 0:
            left[0] -= 1
            return cut(body)
        return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(body)}, body)
    return reply


def test_a_manifest_cut_short_once_is_fetched_again():
    with registry({("GET", "/v2/app/manifests/1"): then_whole(MANIFEST, 1)}) as server:
        run = run_module("drc.registry.registry_manifest_info",
                         {"reference": "http://%s/app:1" % server.host, "retries": 2})
    assert run.rc == 0, run.output
    assert run.result["digest"] == digest(MANIFEST)
    gets = [r for r in server.requests if r.method == "GET" and r.path == "/v2/app/manifests/1"]
    assert len(gets) == 2


def test_a_manifest_always_cut_short_fails_in_one_line():
    with registry({("GET", "/v2/app/manifests/1"): cut(MANIFEST)}) as server:
        run = run_module("drc.registry.registry_manifest_info",
                         {"reference": "http://%s/app:1" % server.host, "retries": 1})
    assert run.rc != 0
    message = run.result["msg"]
    assert "cut short" in message and "2 times" in message and "\n" not in message, message
    assert_clean(run)


def test_a_tag_page_cut_short_fails_in_one_line():
    with registry({("GET", "/v2/app/tags/list"): cut(TAGS)}) as server:
        run = run_module("drc.registry.registry_tags_info",
                         {"repository": "http://%s/app" % server.host, "retries": 0})
    assert run.rc != 0
    assert "cut short" in run.result["msg"], run.result
    assert_clean(run)


def test_the_lookup_fetches_a_cut_index_again():
    path = "/v2/app/manifests/1"
    with registry({("HEAD", path): Reply(200, {"Content-Type": OCI_MANIFEST}, b""),
                   ("GET", path): then_whole(MANIFEST, 2)}) as server:
        run = run_expression("lookup('drc.registry.registry_digest', 'http://%s/app:1', retries=3)"
                             % server.host)
    assert run.rc == 0, run.output
    assert run.result["msg"] == digest(MANIFEST)
    assert_clean(run)
