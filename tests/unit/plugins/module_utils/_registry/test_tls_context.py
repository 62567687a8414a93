"""One SSLContext per Transport: built once, used by every https connection, and still verifying
the CA, the host name and presenting the client certificate (in-process TLS servers on loopback)."""

from __future__ import annotations

import datetime
import ssl
import threading
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.drc.registry.plugins.module_utils._registry import transport as transport_module
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import Transport, release
from tests.testbed.hostile import HostileServer, Reply
from tests.testbed.pki import CA_KEY_USAGE, Pki


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def issue(directory, name: str, dns_names: list, ca=None) -> types.SimpleNamespace:
    """A CA (when ``ca`` is None) or a leaf certificate signed by ``ca``, written as PEM files."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(name))
               .issuer_name(ca.subject if ca else _name(name)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True))
    if ca is None:  # what Python 3.13's strict verification wants of a chain (tests/testbed/pki.py)
        builder = (builder.add_extension(CA_KEY_USAGE, critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    else:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                                        critical=False)
    if dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(n) for n in dns_names]), critical=False)
    cert = builder.sign(ca.key if ca else key, hashes.SHA256())
    cert_path, key_path = directory / (name + ".crt"), directory / (name + ".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return types.SimpleNamespace(subject=cert.subject, key=key, cert=str(cert_path), key_path=str(key_path),
                                 server_cert=str(cert_path), server_key=str(key_path))


@pytest.fixture(params=["shared context", "requests before 2.32"])
def either_way(request, monkeypatch):
    """The TLS rules hold with the shared context and with the per-request settings that requests
    older than 2.32 (which cannot take an adapter's context) get instead."""
    if request.param != "shared context":
        monkeypatch.setattr(transport_module, "SHARED_CONTEXT", False)
    return request.param


def ok(request):
    return Reply(200, {"Content-Type": "application/json"}, b"{}")


def pooled_connections(transport) -> list:
    """Every connection the Transport's pools hold right now."""
    manager = transport.adapter.poolmanager
    out = []
    for key in list(manager.pools.keys()):
        out.extend(conn for conn in list(manager.pools[key].pool.queue) if conn is not None)
    return out


def test_every_connection_uses_the_one_context(tmp_path):
    pki = Pki(str(tmp_path / "pki"))
    opened, go = threading.Barrier(4), threading.Event()
    with HostileServer(ok, tls_pki=pki) as server:
        transport = Transport(ca_path=pki.ca_cert, pool_size=4)
        responses, errors = [], []

        def one():
            try:
                response = transport.request("GET", server.url + "/v2/", stream=True)
                responses.append(response)
                opened.wait(10)  # four responses held at once: four connections
                go.wait(10)
                release(response)
            except Exception as exc:  # reported below
                errors.append(exc)
        threads = [threading.Thread(target=one) for _index in range(4)]
        for thread in threads:
            thread.start()
        go.set()
        for thread in threads:
            thread.join(20)
        assert not errors, errors
        connections = pooled_connections(transport)
        contexts = {id(conn.sock.context) for conn in connections if conn.sock is not None}
        transport.close()
    assert len([c for c in connections if c.sock is not None]) == 4
    assert contexts == {id(transport.adapter.ssl_context())}


def test_the_host_name_is_checked(tmp_path, either_way):
    """A certificate from the trusted CA, but for another name, is refused."""
    ca = issue(tmp_path, "test-ca", [])
    leaf = issue(tmp_path, "elsewhere", ["registry.example"], ca=ca)
    with HostileServer(ok, tls_pki=leaf) as server:
        with pytest.raises(RegistryError, match="certificate verification failed"):
            Transport(ca_path=ca.cert, retries=0).request("GET", server.url + "/v2/")


def test_the_client_certificate_is_presented(tmp_path, either_way):
    pki = Pki(str(tmp_path / "pki"))
    client_ca = issue(tmp_path, "client-ca", [])
    client = issue(tmp_path, "client", [], ca=client_ca)
    with HostileServer(ok, tls_pki=pki) as server:
        server_context = server.httpd.socket.context
        server_context.verify_mode = ssl.CERT_REQUIRED
        server_context.load_verify_locations(cafile=client_ca.cert)
        with_cert = Transport(ca_path=pki.ca_cert, client_cert=client.cert, client_key=client.key_path,
                              retries=0).request("GET", server.url + "/v2/")
        assert with_cert.status_code == 200
        with pytest.raises(RegistryError):
            Transport(ca_path=pki.ca_cert, retries=0).request("GET", server.url + "/v2/")


def test_a_missing_ca_file_is_a_clear_error(tmp_path, either_way):
    pki = Pki(str(tmp_path / "pki"))
    missing = str(tmp_path / "no-such-ca.crt")
    with HostileServer(ok, tls_pki=pki) as server:
        with pytest.raises(RegistryError, match="cannot load the CA certificates of ca_path %s" % missing):
            Transport(ca_path=missing, retries=0).request("GET", server.url + "/v2/")


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_validate_certs_false_accepts_an_unknown_ca(tmp_path, either_way):
    pki = Pki(str(tmp_path / "pki"))
    with HostileServer(ok, tls_pki=pki) as server:
        assert Transport(validate_certs=False, retries=0).request("GET", server.url + "/v2/").status_code == 200
        with pytest.raises(RegistryError, match="certificate verification failed"):
            Transport(retries=0).request("GET", server.url + "/v2/")
