"""registry_copy's list form: which copies share a connection, and the checks on the list."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.copy_list import (
    SharedConnections, parse_pairs)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.copy_options import side_options
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import connection_options
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_image_reference


def shared(task: dict, src_auth: dict | None, dest_auth: dict | None):
    made = []

    def make_options(reference, side):
        return connection_options(reference, side_options(task, src_auth if side == "src" else dest_auth))

    def connect(options):
        made.append(options)
        return object()

    return SharedConnections(make_options, connect), made


@pytest.fixture(autouse=True)
def no_credential_files(monkeypatch, tmp_path):
    for name in ("DRC_REGISTRY_USERNAME", "DRC_REGISTRY_PASSWORD", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_one_connection_per_side_and_registry():
    connections, made = shared({}, {"username": "src-user", "password": "src-pw"},
                               {"username": "dest-user", "password": "dest-pw"})
    a = [parse_image_reference("src.example/app/%d:1" % i) for i in range(5)]
    d = [parse_image_reference("dest.example/mirror/app/%d:1" % i) for i in range(5)]
    src_connections = {id(connections.get(ref, "src")) for ref in a}
    dest_connections = {id(connections.get(ref, "dest")) for ref in d}
    assert len(src_connections) == 1 and len(dest_connections) == 1
    assert src_connections != dest_connections
    assert len(made) == 2


def test_credentials_stay_on_their_side():
    """The same registry on both sides still gets two connections, each with its side's credentials."""
    connections, made = shared({}, {"username": "src-user", "password": "src-pw"},
                               {"username": "dest-user", "password": "dest-pw"})
    ref = parse_image_reference("reg.example/app:1")
    assert connections.get(ref, "src") is not connections.get(ref, "dest")
    by_user = {options.credentials.username: options.credentials.password for options in made}
    assert by_user == {"src-user": "src-pw", "dest-user": "dest-pw"}


def test_another_registry_gets_its_own_connection():
    connections, made = shared({}, {}, {})
    first = connections.get(parse_image_reference("one.example/app:1"), "src")
    second = connections.get(parse_image_reference("two.example/app:1"), "src")
    assert first is not second
    assert [options.registry for options in made] == ["one.example", "two.example"]


def test_parse_pairs_refuses_a_destination_named_twice():
    with pytest.raises(InputError, match=r"images\[0\] and images\[2\] both copy to reg.example/a:1"):
        parse_pairs([{"src": "x.example/a:1", "dest": "reg.example/a:1"},
                     {"src": "x.example/b:1", "dest": "reg.example/b:1"},
                     {"src": "y.example/a:1", "dest": "reg.example/a:1"}])


def test_parse_pairs_names_the_bad_entry():
    with pytest.raises(InputError, match=r"images\[1\]: .*UPPER"):
        parse_pairs([{"src": "x.example/a:1", "dest": "reg.example/a:1"},
                     {"src": "x.example/UPPER:1", "dest": "reg.example/b:1"}])


def test_tls_options_stay_on_their_side():
    """No credentials at all, one registry on both sides: a side's TLS options are its own still."""
    connections, made = shared({"validate_certs": True}, {"validate_certs": False}, {"ca_path": "/etc/dest-ca.pem"})
    ref = parse_image_reference("reg.example/app:1")
    assert connections.get(ref, "src") is not connections.get(ref, "dest")
    assert [(options.validate_certs, options.ca_path) for options in made] == [
        (False, None), (True, "/etc/dest-ca.pem")]
