"""Which credentials go to which registry: namespace keys are path segments, not string prefixes."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import resolve


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def auth_file(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {
        "quay.io": {"auth": b64("host:level")},
        "quay.io/team": {"auth": b64("team:level")},
        "quay.io/team/sub": {"auth": b64("sub:level")},
        "other.io/team": {"auth": b64("elsewhere:level")}}}))
    return {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(path)}


@pytest.mark.parametrize("repository, expected", [
    ("team/app", "team"),
    ("team", "team"),
    ("team/sub/app", "sub"),        # the longest matching namespace wins
    ("teamx/app", "host"),          # "quay.io/team" is not a prefix of "teamx"
    ("team-b/app", "host"),
    ("teamsub/app", "host"),
])
def test_namespace_keys_match_whole_path_segments(auth_file, repository, expected):
    assert resolve("quay.io", repository, environ=auth_file).username == expected


def test_namespace_key_alone_never_covers_another_namespace(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"quay.io/team": {"auth": b64("team:secret")}}}))
    environ = {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(path)}
    found = resolve("quay.io", "teamx/app", environ=environ)
    assert found.username is None and found.password is None and found.source == "none"


def test_a_key_for_another_host_is_never_used(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"other.io": {"auth": b64("other:secret")},
                                          "quay.io.evil.test": {"auth": b64("evil:secret")}}}))
    environ = {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(path)}
    assert resolve("quay.io", "team/app", environ=environ).username is None


def test_a_cred_helper_for_the_host_wins_over_auths(tmp_path):
    """Docker's order in config.json: credHelpers for the host, then auths, then credsStore."""
    import os
    import stat
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-fake"
    helper.write_text('#!/bin/sh\necho \'{"Username": "from-helper", "Secret": "s"}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({
        "credHelpers": {"r.io": "fake"}, "credsStore": "fake",
        "auths": {"r.io": {"auth": b64("from-auths:pw")}, "s.io": {"auth": b64("s-auths:pw")}}}))
    environ = {"HOME": str(tmp_path), "PATH": str(bindir) + os.pathsep + os.environ["PATH"]}
    assert resolve("r.io", environ=environ).username == "from-helper"
    assert resolve("s.io", environ=environ).username == "s-auths"  # auths before credsStore
    assert resolve("t.io", environ=environ).username == "from-helper"  # credsStore last
