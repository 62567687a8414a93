"""Pure parts of issue 32: the proxy URL rule, and which auths key registry_login writes or removes."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry import auth_file
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.proxies import (
    check_proxy, proxy_name)

SECRET = "s3cret-proxy-pw"


@pytest.mark.parametrize("value, shown", [
    ("http://proxy.example.com:3128", "http://proxy.example.com:3128"),
    ("https://proxy.example.com", "https://proxy.example.com"),
    ("http://user:%s@proxy:3128/" % SECRET, "http://proxy:3128"),
    ("HTTP://[::1]:8080", "http://[::1]:8080"),
])
def test_accepted_proxies_are_named_without_user_information(value, shown):
    check_proxy(value)
    assert proxy_name(value) == shown


@pytest.mark.parametrize("value, fragment", [
    ("socks5://user:%s@proxy:1080" % SECRET, "got the scheme socks5://"),
    ("user:%s@proxy:3128" % SECRET, "the value has no http:// or https://"),
    ("proxy.example.com:3128", "the value has no http:// or https://"),
    ("http://", "has no host"),
    ("http://user:%s@proxy:3128/path" % SECRET, "without a path"),
    ("http://proxy:3128?x=%s" % SECRET, "without a path or query"),
    ("http://proxy:99999", "not a valid URL"),
    ("http://proxy:0", "port must be 1 to 65535"),
])
def test_refused_proxies_are_never_repeated(value, fragment):
    with pytest.raises(InputError) as caught:
        check_proxy(value)
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value)


ALICE = Credentials("alice", "pw")
ALICE_AUTH = base64.b64encode(b"alice:pw").decode()


@pytest.mark.parametrize("path, host, existing, key", [
    ("/h/.docker/config.json", "docker.io", {}, "https://index.docker.io/v1/"),
    ("/run/containers/auth.json", "docker.io", {}, "docker.io"),
    ("/h/.docker/config.json", "docker.io", {"index.docker.io": {}}, "index.docker.io"),
    ("/run/containers/auth.json", "localhost:5000", {}, "localhost:5000"),
    ("/run/containers/auth.json", "localhost:5000", {"http://localhost:5000/v2/": {}}, "http://localhost:5000/v2/"),
    ("/run/containers/auth.json", "quay.io", {"quay.io/team": {"auth": "x"}}, "quay.io"),
])
def test_the_key_written_is_the_files_own_spelling_or_dockers(path, host, existing, key):
    config = {"auths": dict(existing), "other": True}
    new, written = auth_file.with_entry(config, path, host, auth_file.entry_for(ALICE))
    assert written == key
    assert new["auths"][key] == {"auth": ALICE_AUTH}
    assert new["other"] is True and config == {"auths": dict(existing), "other": True}
    for other in existing:
        assert other == key or other in new["auths"]  # namespace keys stay


def test_every_spelling_of_the_host_goes_and_namespaces_stay():
    config = {"auths": {"https://index.docker.io/v1/": {}, "docker.io": {}, "registry-1.docker.io": {},
                        "docker.io/library": {}, "quay.io": {}}}
    new, removed = auth_file.without_entry(config, "docker.io")
    assert sorted(removed) == ["docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"]
    assert sorted(new["auths"]) == ["docker.io/library", "quay.io"]


def test_the_diff_never_shows_a_secret():
    before = {"auths": {"r:5000": {"auth": "b2xkOm9sZA=="}, "q": {"identitytoken": "idt-value-42"}}}
    after, key = auth_file.with_entry(before, "/x/auth.json", "r:5000", auth_file.entry_for(ALICE))
    diff = auth_file.diff(before, after, "/x/auth.json", key)
    for secret in ("b2xkOm9sZA==", "idt-value-42", ALICE_AUTH):
        assert secret not in diff["before"] + diff["after"]
    assert "******** (changed)" in diff["after"]


def test_nothing_to_store_without_a_password():
    with pytest.raises(InputError):
        auth_file.entry_for(Credentials(source="bearer_token"))
