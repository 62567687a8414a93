"""RegistryConnection's shared pieces against a scripted server: options, paginate, bounded GETs."""

from __future__ import annotations

import json

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions, RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
    connection_options)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.tags import list_tags
from tests.testbed.hostile import HostileServer, Reply


def connect(server, retries=2) -> RegistryConnection:
    return RegistryConnection(ConnectionOptions(registry=server.host, scheme="http",
                                                scheme_written=True, retries=retries))


@pytest.mark.parametrize("written, scheme, scheme_written, api_url", [
    ("alpine:3", "https", False, "https://registry-1.docker.io"),
    ("quay.io/org/app:1", "https", False, "https://quay.io"),
    ("http://localhost:5000/app", "http", True, "http://localhost:5000"),
    ("https://localhost:5000/app", "https", True, "https://localhost:5000"),
    ("localhost:5000/app", "https", False, "https://localhost:5000"),
])
def test_options_carry_the_registry_and_whether_a_scheme_was_written(
        written, scheme, scheme_written, api_url):
    options = connection_options(parse_image_reference(written), {"timeout": 5.0, "retries": 1})
    assert (options.scheme, options.scheme_written, options.api_url) == (scheme, scheme_written,
                                                                         api_url)
    assert (options.timeout, options.retries) == (5.0, 1)


def test_options_bind_explicit_credentials_to_the_named_registry():
    options = connection_options(parse_image_reference("quay.io/org/app"),
                                 {"username": "u", "password": "p"})
    assert options.registry == "quay.io"
    assert (options.credentials.username, options.credentials.password) == ("u", "p")


@pytest.mark.parametrize("bad, named", [
    ({"timeout": 0}, "timeout"), ({"retries": -1}, "retries"),
    ({"client_key": "/k"}, "client_key"), ({"password": "p"}, "password"),
])
def test_option_checks_name_the_option(bad, named):
    with pytest.raises(InputError, match=named):
        connection_options(parse_image_reference("quay.io/org/app"), bad)


def test_credentials_repr_never_shows_the_secret():
    assert "s3cret" not in repr(ConnectionOptions(credentials=Credentials("u", "s3cret")))


def pages_server(pages: list, link_style: str = "relative"):
    """Serve ``pages`` (lists of tags) with Link headers, recording the paths asked for."""
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        if not request.path.startswith("/v2/app/tags/list"):
            return None
        index = int(request.path.split("cursor=")[1]) if "cursor=" in request.path else 0
        headers = {"Content-Type": "application/json"}
        if index + 1 < len(pages):
            target = "/v2/app/tags/list?cursor=%d" % (index + 1)
            if link_style == "absolute":
                target = server.url + target
            headers["Link"] = '<%s>; rel="next"' % target
        return Reply(200, headers, json.dumps({"name": "app", "tags": pages[index]}).encode())
    server = HostileServer(answer)
    return server


@pytest.mark.parametrize("link_style", ["relative", "absolute"])
def test_paginate_follows_every_link_once(link_style):
    pages = [["a", "b"], ["c"], ["d", "e", "f"]]
    with pages_server(pages, link_style) as server:
        tags = list_tags(connect(server), "app")
    assert tags == ["a", "b", "c", "d", "e", "f"]
    asked = [r.path for r in server.requests if r.path.startswith("/v2/app")]
    assert asked == ["/v2/app/tags/list", "/v2/app/tags/list?cursor=1", "/v2/app/tags/list?cursor=2"]


def test_paginate_stops_at_the_page_cap():
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(200, {"Link": '</v2/app/tags/list?again=%d>; rel="next"' % len(server.requests)},
                     b'{"tags": ["x"]}')
    with HostileServer(answer) as server:
        pages = connect(server).paginate("/v2/app/tags/list", [], "the list", 1024, max_pages=5)
        with pytest.raises(RegistryError, match="stopped after 5 pages"):
            list(pages)


def test_paginate_bounds_the_sum_of_all_pages():
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(200, {"Link": '</v2/app/tags/list?p=%d>; rel="next"' % len(server.requests)},
                     json.dumps({"tags": ["t" * 500]}).encode())
    with HostileServer(answer) as server:
        pages = connect(server).paginate("/v2/app/tags/list", [], "the list", 1024, max_total=4000)
        with pytest.raises(RegistryError, match="more than the 4000 bytes allowed in all"):
            list(pages)
    assert len([r for r in server.requests if r.path != "/v2/"]) == 8  # 7 pages fit, the 8th not


def test_a_page_that_is_not_a_json_object_is_named():
    with pages_server([["a"]]) as server:
        server.answer = lambda r: Reply(200) if r.path == "/v2/" else Reply(200, {}, b"[1, 2]")
        with pytest.raises(RegistryError, match="is not a JSON object"):
            list_tags(connect(server), "app")


def test_a_body_cut_short_is_fetched_again_then_reported_in_one_line():
    body = json.dumps({"tags": ["a", "b"]}).encode()
    cut = Reply(200, {}, body[:5], content_length=len(body))
    whole = Reply(200, {}, body)
    replies = [cut, cut, whole]

    def answer(request):
        return Reply(200) if request.path == "/v2/" else replies.pop(0)
    with HostileServer(answer) as server:
        assert list_tags(connect(server, retries=2), "app") == ["a", "b"]

    def always_cut(request):
        return Reply(200) if request.path == "/v2/" else cut
    with HostileServer(always_cut) as server:
        with pytest.raises(RegistryError) as caught:
            list_tags(connect(server, retries=1), "app")
    message = str(caught.value)
    assert "cut short" in message and "2 times" in message and "\n" not in message


def test_request_sends_a_body_and_a_stream_is_sent_once():
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(503) if request.method == "PUT" else None
    with HostileServer(answer) as server:
        connection = connect(server, retries=2)
        with pytest.raises(RegistryError, match="503"):
            connection.request("PUT", "/v2/app/manifests/1", [], body=b"{}", ok=(201,))
        puts = [r for r in server.requests if r.method == "PUT"]
        assert len(puts) == 3 and all(r.body == b"{}" for r in puts)  # bytes: retried
        with pytest.raises(RegistryError, match="503"):
            connection.request("PUT", "/v2/app/manifests/2", [], body=iter([b"{", b"}"]),
                               ok=(201,))
        streamed = [r for r in server.requests if r.path.endswith("/2")]
        assert len(streamed) == 1  # a stream cannot be replayed: never retried


@pytest.mark.parametrize("headers, body, send_length", [
    ({"Content-Encoding": "gzip"}, b"not gzip at all", True),
    ({"Content-Encoding": "deflate"}, b"\x00\x01garbage", True),
    ({"Content-Length": "5, 7"}, b'{"tags": []}', False),
], ids=["gzip-not-gzip", "deflate-garbage", "two-content-lengths"])
def test_an_answer_that_cannot_be_read_is_a_registry_error_naming_the_url(headers, body, send_length):
    """urllib3's DecodeError (requests' ContentDecodingError) and InvalidHeader are not connection
    errors: each becomes a RegistryError naming the URL, never an exception of its own."""
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(200, dict(headers, **{"Content-Type": "application/json"}), body, send_length=send_length)
    with HostileServer(answer) as server:
        with pytest.raises(RegistryError) as caught:
            list_tags(connect(server, retries=0), "app")
    assert "/v2/app/tags/list" in str(caught.value), caught.value


def test_an_error_answer_whose_body_cannot_be_decoded_is_still_its_status():
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(404, {"Content-Encoding": "gzip", "Content-Type": "application/json"}, b"not gzip")
    with HostileServer(answer) as server:
        with pytest.raises(RegistryError) as caught:
            list_tags(connect(server, retries=0), "app")
    assert caught.value.status == 404, caught.value
