"""Credentials are bound to a host: ``auths``, the environment pair, plain credentials in lookups."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import (
    CredentialError, auths_key, check_auths, check_one_registry, resolve, resolve_each)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_image_reference

SECRET = "never-shown-pw"


@pytest.fixture
def environ(tmp_path):
    return {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}


@pytest.mark.parametrize("key, expected", [
    ("https://index.docker.io/v1/", "docker.io"),
    ("index.docker.io", "docker.io"),
    ("registry-1.docker.io", "docker.io"),
    ("docker.io", "docker.io"),
    ("Quay.IO", "quay.io"),
    ("http://localhost:5000/", "localhost:5000"),
    ("https://localhost:5000/v2/", "localhost:5000"),
    # without a scheme, a last "v1"/"v2" is a namespace: ghcr.io/acme/v2 is not all of ghcr.io/acme
    ("localhost:5000/v2/", "localhost:5000/v2"),
    ("ghcr.io/acme/v2", "ghcr.io/acme/v2"),
    ("ghcr.io/acme/v1/", "ghcr.io/acme/v1"),
    ("quay.io/Team/", "quay.io/team"),
    ("[::1]:5000", "[::1]:5000"),
])
def test_auths_keys_are_normalised_like_docker(key, expected):
    assert auths_key(key) == expected


@pytest.mark.parametrize("auths, fragment", [
    ("quay.io", "auths must be a dict keyed by registry host"),
    ({"": {"username": "u", "password": SECRET}}, "auths keys must be registry hosts"),
    ({"user@quay.io": {"username": "u", "password": SECRET}}, "'user@quay.io' is not a registry host"),
    ({"quay.io": SECRET}, "auths['quay.io'] must be a dict"),
    ({"quay.io": {"username": "u", "pasword": SECRET}}, "auths['quay.io'] has unknown keys pasword"),
    ({"quay.io": {"username": "u"}}, "auths['quay.io'] needs username and password, or identity_token"),
    ({"quay.io": {"password": SECRET}}, "auths['quay.io'] needs username and password"),
    ({"quay.io": {"username": "u", "password": 12345678}}, "auths['quay.io']: password must be a string"),
    ({"quay.io": {"identity_token": SECRET, "password": SECRET}}, "not both"),
    ({"docker.io": {"username": "u", "password": SECRET},
      "https://index.docker.io/v1/": {"username": "v", "password": SECRET}}, "name the same registry"),
])
def test_bad_auths_are_named_without_their_values(auths, fragment):
    with pytest.raises(CredentialError) as caught:
        check_auths(auths)
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value) and "12345678" not in str(caught.value)


def test_an_auths_entry_goes_to_its_host_only(environ):
    auths = {"quay.io": {"username": "q", "password": SECRET},
             "https://index.docker.io/v1/": {"identity_token": "hub-token"}}
    quay = resolve("quay.io", "team/app", auths=auths, environ=environ)
    assert (quay.username, quay.password, quay.source) == ("q", SECRET, "auths entry quay.io")
    hub = resolve("docker.io", "library/alpine", auths=auths, environ=environ)
    assert hub.identity_token == "hub-token" and hub.password is None
    other = resolve("ghcr.io", "org/app", auths=auths, environ=environ)
    assert (other.username, other.password, other.identity_token) == (None, None, None)


def test_the_most_specific_auths_key_wins(environ):
    auths = {"quay.io": {"username": "all", "password": "p0"},
             "quay.io/team": {"username": "team", "password": "p1"},
             "quay.io/team/app": {"username": "app", "password": "p2"}}
    assert resolve("quay.io", "team/app", auths=auths, environ=environ).username == "app"
    assert resolve("quay.io", "team/other", auths=auths, environ=environ).username == "team"
    assert resolve("quay.io", "teamx/app", auths=auths, environ=environ).username == "all"


def test_plain_options_win_over_auths_for_the_named_registry(environ):
    auths = {"quay.io": {"username": "q", "password": SECRET}}
    creds = resolve("quay.io", "a", username="task", password="taskpw", auths=auths, environ=environ)
    assert (creds.username, creds.source) == ("task", "options")


def test_auths_are_checked_even_when_not_used(environ):
    with pytest.raises(CredentialError):
        resolve("quay.io", "a", username="u", password="p", auths={"ghcr.io": {"username": "u"}},
                environ=environ)


# -- the environment pair --------------------------------------------------------------------------
def pair(environ, **extra):
    return dict(environ, DRC_REGISTRY_USERNAME="envuser", DRC_REGISTRY_PASSWORD=SECRET, **extra)


def test_environment_pair_goes_to_drc_registry_host_only(environ):
    env = pair(environ, DRC_REGISTRY_HOST="https://index.docker.io/v1/")
    hub = resolve("docker.io", "library/alpine", environ=env)
    assert (hub.username, hub.password) == ("envuser", SECRET)
    other = resolve("quay.io", "team/app", environ=env)
    assert (other.username, other.password) == (None, None)


def test_environment_pair_without_a_host_is_an_error(environ):
    with pytest.raises(CredentialError) as caught:
        resolve("quay.io", "team/app", environ=pair(environ))
    assert "DRC_REGISTRY_HOST is not" in str(caught.value) and SECRET not in str(caught.value)


def test_environment_pair_host_must_be_a_host(environ):
    with pytest.raises(CredentialError) as caught:
        resolve("quay.io", "team/app", environ=pair(environ, DRC_REGISTRY_HOST="quay.io/team"))
    assert "names a namespace" in str(caught.value)


def test_auths_win_over_the_environment_pair(environ):
    env = pair(environ, DRC_REGISTRY_HOST="quay.io")
    creds = resolve("quay.io", "a", auths={"quay.io": {"username": "q", "password": "x"}}, environ=env)
    assert creds.username == "q"


# -- lookups: several terms ------------------------------------------------------------------------
def terms(*references):
    return [parse_image_reference(r) for r in references]


@pytest.mark.parametrize("options", [
    {"username": "u", "password": SECRET}, {"identity_token": SECRET}, {"username": "u"},
])
def test_plain_credentials_with_terms_on_several_registries_fail(environ, options):
    with pytest.raises(CredentialError) as caught:
        resolve_each(terms("private.example/app:1", "alpine:3"), options, environ)
    message = str(caught.value)
    assert "auths" in message and "private.example, docker.io" in message
    assert SECRET not in message


def test_plain_credentials_with_terms_on_one_registry(environ):
    found = resolve_each(terms("private.example/app:1", "https://private.example/other:2"),
                         {"username": "u", "password": SECRET}, environ)
    assert [(c.username, c.password) for c in found] == [("u", SECRET)] * 2


def test_docker_hub_spellings_are_one_registry():
    check_one_registry(["docker.io", "index.docker.io", "registry-1.docker.io"], username="u",
                       password="p")


def test_auths_per_term(environ):
    found = resolve_each(terms("private.example/app:1", "alpine:3"),
                         {"auths": {"private.example": {"username": "u", "password": SECRET}}}, environ)
    assert (found[0].username, found[0].password) == ("u", SECRET)
    assert (found[1].username, found[1].password) == (None, None)


def test_namespace_keys_of_auth_json_are_picked_per_term(tmp_path, environ):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {
        "reg.example/one": {"username": "first", "password": "p1"},
        "reg.example/two": {"username": "second", "password": "p2"}}}))
    env = dict(environ, REGISTRY_AUTH_FILE=str(path))
    found = resolve_each(terms("reg.example/one/app:1", "reg.example/two/app:1", "reg.example/three/app:1"),
                         {}, env)
    assert [c.username for c in found] == ["first", "second", None]
    assert found[0].binding() != found[1].binding()


def test_a_credential_helper_runs_once_per_host_for_many_terms(tmp_path, environ):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    count = tmp_path / "count"
    helper = bindir / "docker-credential-counting"
    helper.write_text("#!/bin/sh\necho run >> %s\necho '{\"Username\": \"h\", \"Secret\": \"s\"}'\n" % count)
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({"credHelpers": {"reg.example": "counting"}}))
    env = dict(environ, PATH=str(bindir) + os.pathsep + environ["PATH"])
    found = resolve_each(terms("reg.example/a:1", "reg.example/b:1", "reg.example/c/d:1"), {}, env)
    assert [c.username for c in found] == ["h"] * 3
    assert count.read_text().count("run") == 1
