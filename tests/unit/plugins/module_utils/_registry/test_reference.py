"""The reference grammar and normalisation, table by table."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    InvalidReference, parse_registry_host, parse_reference, parse_repository)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    InvalidDigest, validate_digest)

D256 = "sha256:" + "a" * 64
D512 = "sha512:" + "b" * 128
D384 = "sha384:" + "c" * 96

# input -> (index name, remote_name, local_name, canonical_name, full_name, official, tag, digest)
VALID = [
    ("mongo", ("docker.io", "library/mongo", "mongo", "docker.io/mongo", "docker.io/library/mongo", True, "latest", None)),
    ("mongo:3", ("docker.io", "library/mongo", "mongo", "docker.io/mongo", "docker.io/library/mongo", True, "3", None)),
    ("library/mongo", ("docker.io", "library/mongo", "mongo", "docker.io/mongo", "docker.io/library/mongo", True, "latest", None)),
    ("docker.io/mongo", ("docker.io", "library/mongo", "mongo", "docker.io/mongo", "docker.io/library/mongo", True, "latest", None)),
    ("index.docker.io/mongo", ("docker.io", "library/mongo", "mongo", "docker.io/mongo", "docker.io/library/mongo", True, "latest", None)),
    ("index.docker.io/library/mongo:4", ("docker.io", "library/mongo", "mongo", "docker.io/mongo", "docker.io/library/mongo", True, "4", None)),
    ("trentm/foo", ("docker.io", "trentm/foo", "trentm/foo", "docker.io/trentm/foo", "docker.io/trentm/foo", False, "latest", None)),
    ("docker.io/trentm/foo:bar", ("docker.io", "trentm/foo", "trentm/foo", "docker.io/trentm/foo", "docker.io/trentm/foo", False, "bar", None)),
    ("quay.io/trentm/foo", ("quay.io", "trentm/foo", "quay.io/trentm/foo", "quay.io/trentm/foo", "quay.io/trentm/foo", False, "latest", None)),
    ("quay.io/foo", ("quay.io", "foo", "quay.io/foo", "quay.io/foo", "quay.io/foo", False, "latest", None)),
    ("localhost:5000/blarg", ("localhost:5000", "blarg", "localhost:5000/blarg", "localhost:5000/blarg", "localhost:5000/blarg", False, "latest", None)),
    ("localhost/blarg:1", ("localhost", "blarg", "localhost/blarg", "localhost/blarg", "localhost/blarg", False, "1", None)),
    ("Myhost/foo", ("Myhost", "foo", "Myhost/foo", "Myhost/foo", "Myhost/foo", False, "latest", None)),
    ("[::1]:5000/app:v1", ("[::1]:5000", "app", "[::1]:5000/app", "[::1]:5000/app", "[::1]:5000/app", False, "v1", None)),
    ("[2001:db8::1]/app", ("[2001:db8::1]", "app", "[2001:db8::1]/app", "[2001:db8::1]/app", "[2001:db8::1]/app", False, "latest", None)),
    ("127.0.0.1:5000/a/b/c:t", ("127.0.0.1:5000", "a/b/c", "127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c", False, "t", None)),
    ("foo@" + D256, ("docker.io", "library/foo", "foo", "docker.io/foo", "docker.io/library/foo", True, None, D256)),
    ("foo:1@" + D256, ("docker.io", "library/foo", "foo", "docker.io/foo", "docker.io/library/foo", True, "1", D256)),
    ("foo@" + D512, ("docker.io", "library/foo", "foo", "docker.io/foo", "docker.io/library/foo", True, None, D512)),
    ("foo@" + D384, ("docker.io", "library/foo", "foo", "docker.io/foo", "docker.io/library/foo", True, None, D384)),
    ("org/a.b_c__d-e---f",
     ("docker.io", "org/a.b_c__d-e---f", "org/a.b_c__d-e---f", "docker.io/org/a.b_c__d-e---f", "docker.io/org/a.b_c__d-e---f", False, "latest", None)),
    ("foo:" + "T" * 128, ("docker.io", "library/foo", "foo", "docker.io/foo", "docker.io/library/foo", True, "T" * 128, None)),
    ("foo:_a.b-C", ("docker.io", "library/foo", "foo", "docker.io/foo", "docker.io/library/foo", True, "_a.b-C", None)),
    ("http://localhost:5000/app:1", ("localhost:5000", "app", "localhost:5000/app", "localhost:5000/app", "localhost:5000/app", False, "1", None)),
    ("https://quay.io/org/app", ("quay.io", "org/app", "quay.io/org/app", "quay.io/org/app", "quay.io/org/app", False, "latest", None)),
    ("https://docker.io/alpine", ("docker.io", "library/alpine", "alpine", "docker.io/alpine", "docker.io/library/alpine", True, "latest", None)),
    ("a" * 63 + "z",
     ("docker.io", "library/" + "a" * 63 + "z", "a" * 63 + "z", "docker.io/" + "a" * 63 + "z", "docker.io/library/" + "a" * 63 + "z", True, "latest", None)),
    # familiar names that parse back to the same repository
    ("library/foo/bar", ("docker.io", "library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar",
                         "docker.io/library/foo/bar", False, "latest", None)),
    ("docker.io/library/a/b:1", ("docker.io", "library/a/b", "library/a/b", "docker.io/library/a/b",
                                 "docker.io/library/a/b", False, "1", None)),
    ("docker.io/a.b/c", ("docker.io", "a.b/c", "docker.io/a.b/c", "docker.io/a.b/c", "docker.io/a.b/c",
                         False, "latest", None)),
    ("docker.io/localhost/c", ("docker.io", "localhost/c", "docker.io/localhost/c", "docker.io/localhost/c",
                               "docker.io/localhost/c", False, "latest", None)),
    ("docker.io/a.b", ("docker.io", "library/a.b", "a.b", "docker.io/a.b", "docker.io/library/a.b", True,
                       "latest", None)),
    ("reg.example.com/" + "a" * 255,
     ("reg.example.com", "a" * 255, "reg.example.com/" + "a" * 255, "reg.example.com/" + "a" * 255, "reg.example.com/" + "a" * 255, False, "latest", None)),
]


@pytest.mark.parametrize("value, expected", VALID, ids=[v[0][:40] for v in VALID])
def test_valid_references(value, expected):
    index, remote, local, canonical, full, official, tag, digest = expected
    parsed = parse_reference(value)
    assert parsed["index"]["name"] == index
    assert parsed["index"]["official"] == (index == "docker.io")
    assert parsed["remote_name"] == remote
    assert parsed["local_name"] == local
    assert parsed["canonical_name"] == canonical
    assert parsed["full_name"] == full
    assert parsed["official"] is official
    assert parsed["tag"] == tag
    assert parsed["digest"] == digest
    assert parsed["reference"] == (digest or tag)
    assert parsed["string"] == (full + "@" + digest if digest else full + ":" + tag)
    assert set(parsed) == {"index", "official", "remote_name", "local_name", "canonical_name",
                           "full_name", "tag", "digest", "reference", "string", "registry_url"}
    # the normalised string is itself a reference that parses to the same thing
    assert parse_reference(parsed["string"])["string"] == parsed["string"]


# input -> a fragment of the error message naming the broken rule
INVALID = [
    ("", "empty"),
    ("Foo", "lowercase"),
    ("foo/Bar", "lowercase"),
    ("docker.io/Foo", "lowercase"),
    ("a" * 64, "image id"),
    ("foo:", "tag"),
    ("foo:-bad", "tag"),
    ("foo:" + "t" * 129, "tag"),
    ("foo@sha256:abc", "exactly 64"),
    ("foo@sha256:" + "A" * 64, "lowercase hexadecimal"),
    ("foo@sha512:" + "a" * 64, "exactly 128"),
    ("foo@md5:" + "a" * 32, "not supported"),
    ("foo@", "algorithm:hex"),
    ("foo@sha256", "algorithm:hex"),
    ("-foo", "repository path"),
    ("foo-", "repository path"),
    ("foo..bar", "repository path"),
    ("foo//bar", "repository path"),
    ("foo/", "repository path"),
    ("foo___bar", "repository path"),
    ("reg.example.com/", "empty"),
    ("reg.example.com/" + "a" * 256, "longer than 255"),
    ("-bad.host/foo", "registry host"),
    ("host:port/foo", "registry host"),
    ("127.0.0.1:99999/app:1", "port 99999 is not in 1..65535"),
    ("localhost:0/app", "port 0 is not in 1..65535"),
    ("https://reg.example.com:65536/app", "port 65536"),
    ("[::1]:" + "9" * 5000 + "/app", "not in 1..65535"),
    ("a.b_c/g", "registry host"),  # a first component with a dot is a host
    ("ftp://host/foo", "scheme"),
    ("http://foo", "scheme must be followed"),
    ("http://myhost/app", "must contain a '.'"),
    ("foo bar", "white space"),
    (" foo", "white space"),
    ("foo:1:2", "repository path"),
    ("foo@sha256:" + "a" * 64 + "\n", "white space"),
    ("foo@sha256:" + "a" * 63 + "\u0661", "algorithm:hex"),
    ("foo:1\u0661", "tag"),
    ("\u0661\u0662/foo", "repository path"),
]


@pytest.mark.parametrize("value, reason", INVALID, ids=[v[0][:40] or "empty" for v in INVALID])
def test_invalid_references(value, reason):
    with pytest.raises(InvalidReference) as caught:
        parse_reference(value)
    message = str(caught.value)
    assert reason in message
    assert repr(value) in message  # the input is named


@pytest.mark.parametrize("value", [None, 5, ["a"]])
def test_non_strings_are_rejected(value):
    with pytest.raises(InvalidReference, match="must be a string"):
        parse_reference(value)


@pytest.mark.parametrize("default_index, value, url, full", [
    ("https://myreg:5000", "foo", "https://myreg:5000", "myreg:5000/foo"),
    ("myreg:5000", "team/foo:1", "https://myreg:5000", "myreg:5000/team/foo"),
    ("http://localhost:5000", "foo", "http://localhost:5000", "localhost:5000/foo"),
    ("https://myreg:5000", "quay.io/org/app", "https://quay.io", "quay.io/org/app"),
    ("docker.io", "alpine", "https://registry-1.docker.io", "docker.io/library/alpine"),
])
def test_default_index(default_index, value, url, full):
    parsed = parse_reference(value, default_index=default_index)
    assert parsed["registry_url"] == url
    assert parsed["full_name"] == full


@pytest.mark.parametrize("value, scheme, url", [
    ("alpine", "https", "https://registry-1.docker.io"),
    ("http://localhost:5000/app", "http", "http://localhost:5000"),
    ("quay.io/org/app", "https", "https://quay.io"),
    ("localhost:5000/app", "https", "https://localhost:5000"),
])
def test_scheme_and_registry_url(value, scheme, url):
    parsed = parse_reference(value)
    assert parsed["index"]["scheme"] == scheme
    assert parsed["registry_url"] == url


@pytest.mark.parametrize("value", ["bad index", "", "ftp://x", "host:port", "myreg:5000\n", "myreg:65536",
                                   "https://myreg:5000\n", "reg.example.com\n/"])
def test_bad_index(value):
    with pytest.raises(InvalidReference):
        parse_registry_host(value)


@pytest.mark.parametrize("default_index", ["myreg", "https://myreg", "http://registry"])
def test_default_index_must_read_as_a_host(default_index):
    """'myreg/app' would name docker.io/myreg/app: no familiar name could name this registry."""
    with pytest.raises(InvalidReference) as caught:
        parse_reference("app", default_index=default_index)
    assert repr(default_index) in str(caught.value) and "must contain a '.'" in str(caught.value)


def test_repository_refuses_tag_and_digest():
    assert parse_repository("quay.io/org/app").tag is None
    assert parse_repository("alpine").string == "docker.io/library/alpine"
    for value in ("alpine:3", "alpine@" + D256):
        with pytest.raises(InvalidReference, match="must not carry a tag"):
            parse_repository(value)


def test_validate_digest():
    assert validate_digest(D256) == D256
    with pytest.raises(InvalidDigest):
        validate_digest("sha256:" + "a" * 63)
    for bad in ("sha256:" + "a" * 64 + "\n", "latest", "sha256:" + "a" * 63 + "\u0661", None):
        with pytest.raises(InvalidDigest) as caught:
            validate_digest(bad)
        assert repr(bad) in str(caught.value)
