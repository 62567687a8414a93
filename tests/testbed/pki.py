"""Keys and certificates for the test bed: a CA, a server certificate, a token-signing key."""

from __future__ import annotations

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# What Python 3.13's strict verification (VERIFY_X509_STRICT, which urllib3 sets there too) wants of
# a chain, as RFC 5280 says: a CA with a key identifier and key usage, leaves naming their CA's key.
CA_KEY_USAGE = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                             crl_sign=True, encipher_only=False, decipher_only=False)


class Pki:
    """Writes ca.crt, server.crt/server.key (for 127.0.0.1 and localhost), token.crt/token.key."""

    def __init__(self, directory: str, ca_name: str = "drc test CA") -> None:
        os.makedirs(directory, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (x509.CertificateBuilder().subject_name(_name(ca_name)).issuer_name(_name(ca_name))
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(CA_KEY_USAGE, critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
                   .sign(ca_key, hashes.SHA256()))
        server_key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        server_cert = (x509.CertificateBuilder().subject_name(_name("localhost"))
                       .issuer_name(ca_cert.subject).public_key(server_key.public_key())
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(start).not_valid_after(end)
                       .add_extension(san, critical=False)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                      critical=False)
                       .sign(ca_key, hashes.SHA256()))
        self.token_key = ec.generate_private_key(ec.SECP256R1())
        self.token_cert = (x509.CertificateBuilder().subject_name(_name("drc token signer"))
                           .issuer_name(_name("drc token signer"))
                           .public_key(self.token_key.public_key())
                           .serial_number(x509.random_serial_number())
                           .not_valid_before(start).not_valid_after(end)
                           .sign(self.token_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        self.ca_cert = _write(os.path.join(directory, "ca.crt"), ca_cert.public_bytes(pem))
        # skopeo's --cert-dir reads every *.crt there as a CA and wants a .cert for every .key.
        self.ca_dir = os.path.join(directory, "ca")
        os.makedirs(self.ca_dir, exist_ok=True)
        _write(os.path.join(self.ca_dir, "ca.crt"), ca_cert.public_bytes(pem))
        self.server_cert = _write(os.path.join(directory, "server.crt"), server_cert.public_bytes(pem))
        self.server_key = _write(os.path.join(directory, "server.key"), _key_pem(server_key))
        self.token_cert_path = _write(os.path.join(directory, "token.crt"),
                                      self.token_cert.public_bytes(pem))
        self.token_cert_der = self.token_cert.public_bytes(serialization.Encoding.DER)
