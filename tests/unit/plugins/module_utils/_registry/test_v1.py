"""The v1 client: pure helpers, and the connection against the scripted v1 index + registry pair."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
import requests

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.v1 import (
    OriginCookiePolicy, V1Connection, index_url_for, layer_checksum, parse_endpoints,
    search_entry, validate_image_id)
from tests.testbed.hostile import HostileServer, Reply
from tests.testbed.v1server import PASSWORD, USERNAME, V1Pair

HEX = "a" * 64


@pytest.mark.parametrize("value, scheme, expected", [
    (None, "https", []),
    ("", "https", []),
    ("reg.example", "https", ["https://reg.example"]),
    ("a.example, b.example:5000", "http", ["http://a.example", "http://b.example:5000"]),
    ("a.example,,", "https", ["https://a.example"]),
])
def test_parse_endpoints(value, scheme, expected):
    assert parse_endpoints(value, scheme) == expected


@pytest.mark.parametrize("index_host, endpoint, ok", [
    ("index.example", "reg.example", True),
    ("index.example", "127.0.0.1:5000", False),
    ("index.example", "localhost", False),
    ("index.example", "10.1.2.3", False),
    ("index.example", "[::1]:5000", False),
    ("index.example", "169.254.169.254", False),
    ("127.0.0.1", "127.0.0.1:5001", True),
    ("10.0.0.5", "10.0.0.6", True),
    # names are resolved, as for a v2 token realm: a public name for loopback is internal
    ("index.example", "sneaky.example:5000", False),
    ("index.example", "[::ffff:6464:64c8]", False),  # ::ffff:100.100.100.200
    ("corp-index.example", "sneaky.example", True),
])
def test_a_public_index_cannot_send_the_token_inside(index_host, endpoint, ok):
    def resolve(host):  # nothing is contacted
        return {"index.example": ["93.184.216.34"], "reg.example": ["93.184.216.35"],
                "sneaky.example": ["127.0.0.1"], "corp-index.example": ["10.0.0.5"]}.get(host, [])

    if ok:
        assert parse_endpoints(endpoint, "https", index_host, resolve) == ["https://" + endpoint]
    else:
        with pytest.raises(RegistryError, match="internal address named by a public index"):
            parse_endpoints(endpoint, "https", index_host, resolve)


@pytest.mark.parametrize("value", ["http://evil.example", "user@host", "host/path", "a b"])
def test_parse_endpoints_refuses_what_is_not_a_host(value):
    with pytest.raises(RegistryError, match="not a host"):
        parse_endpoints(value, "https")


@pytest.mark.parametrize("headers, expected", [
    ({}, None),
    ({"X-Docker-Checksum-Payload": "sha256:" + HEX}, "sha256:" + HEX),
    ({"X-Docker-Checksum-Payload": "SHA256:" + HEX.upper()}, "sha256:" + HEX),
    ({"X-Docker-Checksum-Payload": "tarsum+sha256:" + HEX}, None),
    ({"X-Docker-Checksum-Payload": "sha256:abc"}, None),
    ({"X-Docker-Checksum-Payload": "md5:x, sha256:" + HEX}, "sha256:" + HEX),
])
def test_layer_checksum(headers, expected):
    assert layer_checksum(requests.structures.CaseInsensitiveDict(headers)) == expected


@pytest.mark.parametrize("value, ok", [
    (HEX, True), ("A" * 64, False), ("a" * 63, False), ("sha256:" + HEX, False), (None, False),
])
def test_validate_image_id(value, ok):
    if ok:
        assert validate_image_id(value) == value
    else:
        with pytest.raises(ValueError, match="not a v1 image id"):
            validate_image_id(value)


@pytest.mark.parametrize("item, expected", [
    ({"name": "a/b", "description": None, "star_count": 3, "is_official": True, "is_automated": False},
     {"name": "a/b", "description": "", "star_count": 3, "is_official": True, "is_automated": False}),
    ({"name": "c", "star_count": True, "is_official": "yes"},
     {"name": "c", "description": "", "star_count": 0, "is_official": False, "is_automated": False}),
])
def test_search_entry(item, expected):
    assert search_entry(item) == expected


@pytest.mark.parametrize("index, base, expected", [
    ({"name": "docker.io", "official": True, "scheme": "https"}, None, "https://index.docker.io"),
    ({"name": "r.example:5000", "official": False, "scheme": "https"}, None, "https://r.example:5000"),
    ({"name": "127.0.0.1:5000", "official": False, "scheme": "https"}, "http://127.0.0.1:5000/",
     "http://127.0.0.1:5000"),
])
def test_index_url_for(index, base, expected):
    assert index_url_for(index, base) == expected


def test_cookies_go_back_only_to_the_origin_that_set_them():
    """Two ports of one host: a browser would share the cookie; we must not."""
    def setter(request):
        return Reply(200, {"Set-Cookie": "session=abc; Path=/"}, b"{}")

    with HostileServer(setter) as first, HostileServer(lambda r: Reply(200, {}, b"{}")) as second:
        session = requests.Session()
        session.cookies.set_policy(OriginCookiePolicy())
        session.get(first.url + "/set")
        session.get(first.url + "/again")
        session.get(second.url + "/other")
        assert first.requests[1].headers.get("Cookie") == "session=abc"
        assert "Cookie" not in second.requests[0].headers


def test_a_domain_cookie_of_an_endpoint_never_reaches_the_index():
    """An endpoint's ``Domain=`` cookie stays with the host that set it (the real cookie jar and
    policy requests uses; nothing is contacted)."""
    import email.message
    import http.cookiejar
    import urllib.request

    class Answer:
        def __init__(self, headers):
            self.message = email.message.Message()
            for name, value in headers:
                self.message[name] = value

        def info(self):
            return self.message

    jar = http.cookiejar.CookieJar(OriginCookiePolicy())
    endpoint = urllib.request.Request("https://reg.example.com/v1/images/abc/json")
    jar.extract_cookies(Answer([("Set-Cookie", "session=abc; Domain=example.com; Path=/")]), endpoint)
    assert len(jar) == 1
    again = urllib.request.Request("https://reg.example.com/v1/images/abc/ancestry")
    jar.add_cookie_header(again)
    assert again.get_header("Cookie") == "session=abc"
    for other in ("https://index.example.com/v1/search", "https://example.com/v1/search",
                  "https://evilreg.example.com/v1/x"):
        request = urllib.request.Request(other)
        jar.add_cookie_header(request)
        assert request.get_header("Cookie") is None, other


# -- the connection against the v1 pair ----------------------------------------------------------
@pytest.fixture
def pair():
    with V1Pair() as bed:
        yield bed


def connect(bed, creds=None) -> V1Connection:
    return V1Connection(bed.index.url, creds or Credentials(), retries=0)


def test_ping(pair):
    assert connect(pair).ping()["standalone"] is False
    assert [r.path for r in pair.log] == ["/v1/_ping"]


def test_tags_token_and_cookie_flow(pair):
    conn = connect(pair)
    tags = conn.tags("public/app")
    assert tags == {t: image.id for t, image in pair.repositories["public/app"].tags.items()}
    assert conn.tag("public/app", "1.0") == pair.repositories["public/app"].tags["1.0"].id
    conn.search("tool", 1)  # the index again, after the registry set its cookie
    index_requests = pair.requests_to("index")
    registry_requests = pair.requests_to("registry")
    images = [r for r in index_requests if r.path.endswith("/images")]
    assert len(images) == 1 and images[0].header("X-Docker-Token") == "true"
    token = [t for t, name in pair.tokens.items() if name == "public/app"][0]
    assert [r.header("Authorization") for r in registry_requests] == ["Token " + token] * 2
    assert registry_requests[0].header("Cookie") is None
    assert registry_requests[1].header("Cookie", ).startswith("session=")
    assert index_requests[-1].path.startswith("/v1/search")
    assert all(r.header("Cookie") is None for r in index_requests)


def test_ancestry_json_and_layer(pair):
    conn = connect(pair)
    top = pair.repositories["public/app"].tags["2.0"]
    assert conn.ancestry("public/app", top.id) == [top.id, top.parent.id, top.parent.parent.id]
    data, checksum, size = conn.image_json("public/app", top.id)
    assert data == top.json and checksum == top.checksum and size == len(top.layer)
    base = top.parent.parent
    out = io.BytesIO()
    got = conn.fetch_layer("public/app", base.id, out, *conn.image_json("public/app", base.id)[1:])
    assert out.getvalue() == base.layer and got["verified"] is True
    assert got["checksum"] == "sha256:" + hashlib.sha256(base.layer).hexdigest()


def test_corrupt_layer_is_refused(pair):
    conn = connect(pair)
    mid = pair.repositories["public/app"].tags["1.0"]
    pair.corrupt.add(mid.id)
    _data, checksum, size = conn.image_json("public/app", mid.id)
    with pytest.raises(RegistryError, match="hashes to .* not the sha256:"):
        conn.fetch_layer("public/app", mid.id, io.BytesIO(), checksum, size)


def test_private_repository_needs_credentials_at_the_index_only(pair):
    with pytest.raises(RegistryError) as failure:
        connect(pair).tags("private/secret")
    assert failure.value.status == 401 and "no credentials were found" in str(failure.value)
    assert "Requires authorization" in str(failure.value)
    pair.log.clear()
    conn = connect(pair, Credentials(USERNAME, PASSWORD, source="options"))
    assert list(conn.tags("private/secret")) == ["1.0"]
    basic = "Basic " + base64.b64encode(("%s:%s" % (USERNAME, PASSWORD)).encode()).decode()
    assert [r.header("Authorization") for r in pair.requests_to("index")
            if r.path.endswith("/images")] == [basic]
    for request in pair.requests_to("registry"):
        assert request.header("Authorization").startswith("Token signature=")
        assert PASSWORD not in repr(request.headers)


def test_unknown_tag_and_repository(pair):
    conn = connect(pair)
    with pytest.raises(RegistryError, match="404 Not Found: Tag not found"):
        conn.tag("public/app", "nope")
    with pytest.raises(RegistryError, match="404 Not Found: Repository not found"):
        conn.tags("public/nothing")


@pytest.mark.parametrize("limit, expected_pages", [(25, 3), (12, 2), (5, 1), (10, 1)])
def test_search_follows_pages_until_limit(pair, limit, expected_pages):
    results = connect(pair).search("tool", limit)
    assert [r["name"] for r in results] == ["tools/tool-%02d" % i for i in range(min(limit, 23))]
    assert len([r for r in pair.log if r.path.startswith("/v1/search")]) == expected_pages


def test_standalone_registry_is_its_own_endpoint():
    with V1Pair(standalone=True) as bed:
        conn = connect(bed, Credentials(USERNAME, PASSWORD, source="options"))
        assert list(conn.tags("private/secret")) == ["1.0"]
        assert {r.server for r in bed.log} == {"index"}
        assert conn.open_repository("private/secret").endpoints == [bed.index.url]
