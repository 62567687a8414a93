# Private to the drc.registry collection: no compatibility promise for other collections.
"""Signing keys: public keys to verify with, private keys to sign with (PKCS#8, SEC1, and cosign's
own encrypted format), and the one signature scheme per key type that cosign and skopeo use.

ECDSA keys sign SHA-256 digests in ASN.1 DER (what cosign and containers/image write, whatever the
curve); RSA keys PKCS#1 v1.5 with SHA-256; Ed25519 keys sign the payload itself. Nothing here ever
puts a key's bytes or a passphrase in a message.
"""

from __future__ import annotations

import base64
import binascii
import os

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:  # the adapters report the missing library
    import traceback
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json

MAX_KEY_FILE = 64 * 1024
# cosign's encrypted keys say their own scrypt cost: a hostile file must not take all the memory.
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
COSIGN_KEY_LABELS = ("ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY")
MIN_RSA_BITS = 2048


class MissingLibrary(InputError):
    """A Python library the task needs is not installed where it runs; ``library`` names it."""

    def __init__(self, library: str, reason: str, import_error: str | None) -> None:
        super().__init__("%s is needed %s" % (library, reason))
        self.library = library
        self.reason = reason
        self.import_error = import_error


def require_cryptography(reason: str = "to check and make signatures") -> None:
    if not HAS_CRYPTOGRAPHY:
        raise MissingLibrary("cryptography", reason, CRYPTOGRAPHY_IMPORT_ERROR)


def read_key_text(value: str, what: str) -> bytes:
    """PEM text as given, or the contents of the file it names (read on the host that runs this)."""
    if not isinstance(value, str) or not value.strip():
        raise InputError("%s is empty: give PEM text or the path of a PEM file" % what)
    if "-----BEGIN " in value:
        return value.strip().encode("utf-8")
    path = os.path.expanduser(value)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise InputError("%s: cannot read the key file %s: %s" % (what, path, exc.strerror or exc))
    if len(data) > MAX_KEY_FILE:
        raise InputError("%s: the key file %s is larger than %d bytes" % (what, path, MAX_KEY_FILE))
    if b"-----BEGIN " not in data:
        raise InputError("%s: %s is not a PEM file (no -----BEGIN line)" % (what, path))
    return data


def _pem_label(data: bytes) -> str:
    start = data.find(b"-----BEGIN ")
    end = data.find(b"-----", start + 11)
    return data[start + 11:end].decode("ascii", "replace").strip() if start != -1 and end != -1 else ""


def key_type(key) -> str:
    """ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519 or rsa-<bits>."""
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return "ecdsa-" + {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}.get(
            key.curve.name, key.curve.name)
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "ed25519"
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "rsa-%d" % key.key_size
    return type(key).__name__


def _check_usable(key, what: str) -> None:
    kind = key_type(key)
    if kind in ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519"):
        return
    if kind.startswith("rsa-") and key.key_size >= MIN_RSA_BITS:
        return
    raise InputError("%s: a %s key cannot be used: use ECDSA (P-256, P-384, P-521), Ed25519 or RSA "
                     "of at least %d bits, as cosign does" % (what, kind, MIN_RSA_BITS))


def load_public_key(value: str, what: str):
    """A public key from PEM text or a PEM file."""
    require_cryptography()
    data = read_key_text(value, what)
    label = _pem_label(data)
    if "PRIVATE KEY" in label:
        raise InputError("%s is a private key (%s): give the public key to verify with" % (what, label))
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError("%s is not a usable PEM public key (%s)" % (what, type(exc).__name__))
    _check_usable(key, what)
    return key


def load_public_keys(values: list, what: str = "keys") -> list:
    if not values:
        raise InputError("%s must name at least one public key" % what)
    return [load_public_key(value, "%s[%d]" % (what, index)) for index, value in enumerate(values)]


def _b64(value, field: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError("%s is missing" % field)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("%s is not base64" % field)


def _cosign_secret(data: bytes, passphrase: bytes, what: str) -> bytes:
    """The PKCS#8 DER inside cosign's encrypted format: scrypt, then NaCl secretbox."""
    try:  # imported here: only cosign's encrypted private keys need it
        import nacl.exceptions
        import nacl.secret
    except ImportError:
        import traceback
        raise MissingLibrary("PyNaCl", "to read cosign's encrypted private keys (%s)" % what,
                             traceback.format_exc())
    body = b"".join(line.strip() for line in data.splitlines()
                    if line.strip() and not line.startswith(b"-----"))
    try:
        sealed = parse_json(base64.b64decode(body, validate=True))
        kdf, cipher = sealed["kdf"], sealed["cipher"]
        if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
            raise ValueError("it uses %s and %s, not scrypt and nacl/secretbox"
                             % (kdf.get("name"), cipher.get("name")))
        params = kdf["params"]
        cost, blocks, parallel = int(params["N"]), int(params["r"]), int(params["p"])
        if min(cost, blocks, parallel) < 1 or 128 * cost * blocks * parallel > MAX_SCRYPT_MEMORY:
            raise ValueError("its scrypt parameters ask for more than %d MiB"
                             % (MAX_SCRYPT_MEMORY // (1024 * 1024)))
        salt, nonce = _b64(kdf.get("salt"), "salt"), _b64(cipher.get("nonce"), "nonce")
        ciphertext = _b64(sealed.get("ciphertext"), "ciphertext")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise InputError("%s is not a usable cosign private key: %s" % (
            what, exc if isinstance(exc, ValueError) and not isinstance(exc, UnicodeDecodeError)
            else "its contents are malformed"))
    try:
        secret = Scrypt(salt=salt, length=32, n=cost, r=blocks, p=parallel).derive(passphrase)
    except ValueError:
        raise InputError("%s is not a usable cosign private key: bad scrypt parameters" % what)
    try:
        return nacl.secret.SecretBox(secret).decrypt(ciphertext, nonce)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise InputError("%s cannot be decrypted: wrong or missing private_key_passphrase" % what)


def load_private_key(value: str, passphrase: str | None, what: str = "private_key"):
    """A private key from PEM text or a PEM file: PKCS#8 or SEC1 (plain or encrypted with the
    passphrase), or cosign's encrypted format."""
    require_cryptography()
    data = read_key_text(value, what)
    label = _pem_label(data)
    secret = passphrase.encode("utf-8") if passphrase else None
    if label in COSIGN_KEY_LABELS:
        der = _cosign_secret(data, secret or b"", what)
        try:
            key = serialization.load_der_private_key(der, None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InputError("%s holds no usable private key once decrypted" % what)
    elif "PRIVATE KEY" in label:
        key = _load_pem_private(data, secret, what)
    else:
        raise InputError("%s is not a private key (its PEM block is %r)" % (what, label))
    _check_usable(key, what)
    return key


def _load_pem_private(data: bytes, secret: bytes | None, what: str):
    try:
        return serialization.load_pem_private_key(data, secret)
    except TypeError:
        if secret is None:
            raise InputError("%s is encrypted: give private_key_passphrase" % what)
        # a passphrase for a key that is not encrypted: the key is usable as it is
        try:
            return serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InputError("%s is not a usable PEM private key" % what)
    except (ValueError, UnsupportedAlgorithm):
        if secret is not None:
            raise InputError("%s cannot be read: wrong private_key_passphrase, or not a usable "
                             "PEM private key" % what)
        raise InputError("%s is not a usable PEM private key" % what)


def sign(private_key, payload: bytes) -> bytes:
    """The signature cosign and skopeo write for a payload with this key."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(payload)
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    raise InputError("cannot sign with a %s key" % key_type(private_key))


_CURVE_HASHES = {"secp384r1": "SHA384", "secp521r1": "SHA512"}


def verifies(public_key, signature: bytes, payload: bytes) -> bool:
    """Whether ``signature`` is this key's signature of exactly these bytes.

    ECDSA: SHA-256 (cosign < 2.4 and containers/image for every curve), and for P-384 / P-521
    also the curve's own hash (newer cosign's default).
    """
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            hash_names = ["SHA256"] + ([_CURVE_HASHES[public_key.curve.name]]
                                       if public_key.curve.name in _CURVE_HASHES else [])
            for name in hash_names:
                try:
                    public_key.verify(signature, payload, ec.ECDSA(getattr(hashes, name)()))
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, payload)
            return True
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def public_key_of(private_key):
    return private_key.public_key()


def same_key(one, other) -> bool:
    """Two public keys are the same key (their SubjectPublicKeyInfo bytes are equal)."""
    encoding, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return one.public_bytes(encoding, spki) == other.public_bytes(encoding, spki)
