"""Who may receive credentials: same-origin by urllib3's parser, ambiguous URLs, token realms."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import (
    Authenticator, Challenge, check_challenge_source, realm_refusal)
from ansible_collections.drc.registry.plugins.module_utils._registry.hosts import (
    check_target, inside_from_outside, is_internal_host)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    check_url, origin, redirect_target, same_origin)


def test_origin_is_what_urllib3_connects_to():
    # urllib.parse.urlsplit reads host b here; the connection goes to a.
    assert origin("http://a.example:1\\@b.example:2/v2/") == ("http", "a.example", 1)
    assert not same_origin("http://a.example:1\\@b.example:2/v2/", "http://b.example:2/v2/")


@pytest.mark.parametrize("first, second, same", [
    ("https://r.example/v2/", "https://R.EXAMPLE:443/x", True),
    ("http://r.example/v2/", "http://r.example:80/", True),
    ("https://r.example/v2/", "http://r.example/v2/", False),
    ("https://r.example:5000/", "https://r.example/", False),
    ("http://[::1]:5000/", "http://[::1]:5000/v2/", True),
])
def test_same_origin(first, second, same):
    assert same_origin(first, second) is same


@pytest.mark.parametrize("location, fragment", [
    ("http://thief.example\\@registry.example/v2/", "backslash"),
    ("\\\\thief.example/v2/", "backslash"),
    ("http://user@thief.example/v2/", "user information"),
    ("http://user:pw@registry.example/v2/", "user information"),
    ("http://thief.example/\tx", "control character"),
])
def test_ambiguous_locations_are_refused(location, fragment):
    with pytest.raises(RegistryError) as caught:
        redirect_target("http://registry.example/v2/app/blobs/x", location)
    assert fragment in str(caught.value)
    assert "pw" not in str(caught.value)


def test_at_sign_in_a_path_or_query_is_not_userinfo():
    check_url("https://cdn.example/blob/a@b?sig=x@y")
    assert redirect_target("https://r.example/v2/", "/v2/a@b") == "https://r.example/v2/a@b"


# What a fake resolver answers: nothing here is ever contacted. (Documentation ranges such as
# 203.0.113.0/24 count as private to Python's ipaddress, so a public address stands for "public".)
PUBLIC = {"registry.example": ["93.184.216.34"], "auth.example": ["93.184.216.35"],
          "sneaky.example": ["10.1.2.3"], "corp-registry.example": ["10.0.0.5"],
          "storage.example": ["93.184.216.36"]}


def fake_resolve(host):
    return PUBLIC.get(host, [])


@pytest.mark.parametrize("registry, realm, fragment", [
    # allowed
    ("https://registry.example", "https://auth.example/token", None),
    ("http://registry.example", "http://auth.example/token", None),
    ("http://registry.example", "https://auth.example/token", None),
    ("https://127.0.0.1:5000", "https://127.0.0.1:5001/token", None),
    ("http://localhost:5000", "http://localhost:5001/token", None),
    ("https://10.0.0.5", "https://10.0.0.6/token", None),
    ("https://corp-registry.example", "https://10.0.0.6/token", None),  # resolves internal
    ("https://registry.example", "https://registry.example/token", None),
    # https -> http
    ("https://registry.example", "http://auth.example/token", "clear text"),
    ("https://127.0.0.1:5000", "http://127.0.0.1:5001/token", "clear text"),
    # a public registry naming an internal realm (SSRF)
    ("https://registry.example", "https://127.0.0.1/token", "internal service"),
    ("https://registry.example", "https://localhost:8080/token", "internal service"),
    ("https://registry.example", "https://api.localhost/token", "internal service"),
    ("https://registry.example", "https://169.254.169.254/latest/meta-data", "internal service"),
    ("https://registry.example", "https://10.0.0.1/token", "internal service"),
    ("https://registry.example", "https://192.168.1.1/token", "internal service"),
    ("https://registry.example", "https://172.16.0.1/token", "internal service"),
    ("https://registry.example", "https://100.100.100.200/token", "internal service"),
    ("https://registry.example", "https://[::1]/token", "internal service"),
    ("https://registry.example", "https://[fe80::1]/token", "internal service"),
    ("https://registry.example", "https://[fd00::1]/token", "internal service"),
    ("https://registry.example", "https://[::ffff:127.0.0.1]/token", "internal service"),
    # IPv4-mapped IPv6 of the shared space (a cloud metadata service): Python calls it global
    ("https://registry.example", "https://[::ffff:100.100.100.200]/token", "internal service"),
    ("https://registry.example", "https://[::ffff:169.254.169.254]/token", "internal service"),
    ("https://registry.example", "https://127.1/token", "internal service"),
    ("https://registry.example", "https://2130706433/token", "internal service"),
    ("https://registry.example", "https://0.0.0.0/token", "internal service"),
    ("https://registry.example", "https://sneaky.example/token", "internal service"),
    # not a URL we send anything to
    ("https://registry.example", "ftp://auth.example/token", "not an http or https URL"),
    ("https://registry.example", "/token", "not an http or https URL"),
])
def test_realm_rule(registry, realm, fragment):
    reason = realm_refusal(registry, realm, fake_resolve)
    if fragment is None:
        assert reason is None
    else:
        assert reason and fragment in reason


def test_internal_hosts_by_name_and_address():
    assert is_internal_host("LOCALHOST.", None)
    assert not is_internal_host("registry.example", fake_resolve)
    assert is_internal_host("sneaky.example", fake_resolve)


def test_a_public_name_with_a_loopback_record_may_not_name_an_internal_target():
    """Any internal address makes a target internal; the namer is internal only when all are."""
    table = {"mixed.example": ["93.184.216.34", "127.0.0.1"], "inside.example": ["10.0.0.7", "127.0.0.1"]}

    def mixed(host):
        return table.get(host, [])
    assert is_internal_host("mixed.example", mixed)  # as a target
    assert inside_from_outside("127.0.0.1", "mixed.example", mixed)
    assert not inside_from_outside("127.0.0.1", "inside.example", mixed)
    assert inside_from_outside("127.0.0.1", "unresolved.example", mixed)
    reason = realm_refusal("https://mixed.example", "https://127.0.0.1:9/token", mixed)
    assert reason and "internal service" in reason


def test_challenge_only_from_the_registry():
    check_challenge_source("https://r.example/v2/app/blobs/x", "https://r.example")
    with pytest.raises(RegistryError) as caught:
        check_challenge_source("https://cdn.example/blob?sig=secret", "https://r.example")
    assert "only the registry itself may ask for credentials" in str(caught.value)
    assert "secret" not in str(caught.value)


class NoTransport:
    def request(self, *args, **kwargs):
        raise AssertionError("nothing may be sent")


def test_foreign_challenge_is_not_adopted():
    auth = Authenticator(NoTransport(), Credentials("u", "p"), registry_url="https://r.example")
    auth.set_challenges([Challenge("basic", {})], "https://r.example/v2/", "https://r.example")
    with pytest.raises(RegistryError):
        auth.on_unauthorized([Challenge("bearer", {"realm": "https://evil.example/t"})],
                             ["repository:a:pull"], "https://cdn.example/x", "https://r.example")
    assert auth.challenge.scheme == "basic"


def test_refused_realm_gets_no_request():
    auth = Authenticator(NoTransport(), Credentials("u", "p"), resolve=fake_resolve)
    auth.set_challenges([Challenge("bearer", {"realm": "http://auth.example/token"})],
                        "https://registry.example/v2/", "https://registry.example")
    with pytest.raises(RegistryError) as caught:
        auth.authorization(["repository:a:pull"])
    assert "refusing the token realm http://auth.example/token" in str(caught.value)


@pytest.mark.parametrize("registry, target, fragment", [
    # what a registry may hand back: its own URLs, a public storage host, over https
    ("https://registry.example", "https://registry.example/v2/app/blobs/uploads/u1?_state=x", None),
    ("https://registry.example", "https://storage.example/upload/u1", None),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/app/blobs/uploads/u1", None),
    ("http://127.0.0.1:5000", "http://localhost:6000/upload", None),
    # upload Locations and Link pages under the realm's rules
    ("https://registry.example", "http://registry.example/v2/app/blobs/uploads/u1", "clear text"),
    ("https://registry.example", "http://storage.example/upload", "clear text"),
    ("https://registry.example", "https://127.0.0.1:8080/internal", "internal service"),
    ("https://registry.example", "https://sneaky.example/upload", "internal service"),
    ("https://registry.example", "https://[::ffff:100.100.100.200]/upload", "internal service"),
    ("https://registry.example", "https://user@storage.example/upload", "user information"),
    ("https://registry.example", "https://storage.example\\@registry.example/upload", "backslash"),
    ("https://registry.example", "ftp://storage.example/upload", "not an http or https URL"),
])
def test_a_url_a_registry_hands_back_follows_the_realm_rule(registry, target, fragment):
    """One rule (hosts.py) for realms, upload Locations and Link pages."""
    if fragment is None:
        check_target(registry, target, "the URL", fake_resolve)
        return
    with pytest.raises(RegistryError) as caught:
        check_target(registry, target, "the URL", fake_resolve)
    assert fragment in str(caught.value)
