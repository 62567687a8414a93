"""cosign simple signing: payloads, identity rules (a table), key formats, and the fixtures' keys
and signatures (made by upstream skopeo 1.9.3, ../shared/fixtures/signatures)."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from ansible_collections.drc.registry.plugins.module_utils._registry import signing_keys as sk
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.signatures import (
    SIGNATURE_ANNOTATION, SIMPLESIGNING_TYPE, PayloadError, check_signature, identity_of,
    identity_problem, identity_rule, identity_text, layer_problem, make_payload, parse_identity,
    parse_payload, signature_tag)
from tests.testbed.signed_fixtures import fixtures_dir

DIGEST = "sha256:4432fe9fb4c60584a83513fd43842d5aabb440a7adfcb0233dab8abdf62c1f02"
OTHER = "sha256:" + "1" * 64


def fixture(*parts: str) -> str:
    return os.path.join(fixtures_dir(), *parts)


def read(*parts: str) -> bytes:
    with open(fixture(*parts), "rb") as handle:
        return handle.read()


def sig_manifest(case: str, image_digest: str = DIGEST) -> dict:
    index = json.loads(read(case, "index.json"))
    tag = signature_tag(image_digest)
    entry = [e for e in index["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
    return json.loads(read(case, "blobs", "sha256", entry["digest"].split(":", 1)[1]))


def payload_of(case: str, layer: dict) -> bytes:
    return read(case, "blobs", "sha256", layer["digest"].split(":", 1)[1])


# -- payloads ----------------------------------------------------------------------------------------
def test_payload_round_trip_and_shape():
    raw = make_payload(DIGEST, "registry.example/fx/app:1", {"team": "a"})
    assert raw.startswith(b'{"critical":{"identity":{"docker-reference":"registry.example/fx/app:1"},'
                          b'"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"},'
                          b'"type":"cosign container image signature"},"optional":{"team":"a"}}')
    assert parse_payload(raw) == {"digest": DIGEST, "identity": "registry.example/fx/app:1",
                                  "optional": {"team": "a"}}
    assert b'"optional":null' in make_payload(DIGEST, "r.example/a", None)


def test_fixture_payload_parses():
    layer = sig_manifest("signed-image")["layers"][0]
    claims = parse_payload(payload_of("signed-image", layer))
    assert claims["digest"] == DIGEST
    assert claims["identity"] == "registry.example/fx/signed-image:1"
    assert claims["optional"]["creator"].startswith("containers/image")


def _critical(**over) -> dict:
    critical = {"identity": {"docker-reference": "r.example/a:1"},
                "image": {"docker-manifest-digest": DIGEST},
                "type": "cosign container image signature"}
    critical.update(over)
    return critical


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "not JSON"),
    (b"[1]", "not a JSON object"),
    (b'{"optional":{}}', "no object critical"),
    (json.dumps({"critical": _critical(type="other")}).encode(), "type"),
    (json.dumps({"critical": _critical(image={})}).encode(), "docker-manifest-digest"),
    (json.dumps({"critical": _critical(image={"docker-manifest-digest": "sha256:12"})}).encode(),
     "not a digest"),
    (json.dumps({"critical": _critical(identity={})}).encode(), "docker-reference"),
    (json.dumps({"critical": _critical(), "optional": [1]}).encode(), "optional"),
    (b'{"critical":{"identity":{"docker-reference":"r.example/a:1"},"image":{"docker-manifest-digest":"'
     + DIGEST.encode() + b'","docker-manifest-digest":"' + OTHER.encode()
     + b'"},"type":"cosign container image signature"}}', "repeats the key"),
    (b"{" + b" " * (64 * 1024) + b"}", "more than"),
])
def test_bad_payloads_are_refused(raw, reason):
    with pytest.raises(PayloadError, match=reason):
        parse_payload(raw)


def test_signature_tag():
    assert signature_tag(DIGEST) == "sha256-" + DIGEST[7:] + ".sig"


# -- identity rules ---------------------------------------------------------------------------------
RULES = {
    "default": identity_rule(None, None, None),
    "exact": identity_rule("match_exact", None, None),
    "repository": identity_rule("match_repository", None, None),
    "any": identity_rule("any", None, None),
    "remap": identity_rule(None, "registry.example/fx", "127.0.0.1:5000/fx"),
    "remap-host": identity_rule(None, "registry.example/fx", None),
    "remap-repository": identity_rule("match_repository", "registry.example/fx", "127.0.0.1:5000/fx"),
    "remap-rule": identity_rule("signed_prefix", "registry.example/fx", None),
}


@pytest.mark.parametrize("rule, image, signed, accepted", [
    # skopeo's matchRepoDigestOrExact: a tag needs the exact name and tag...
    ("default", "r.example/a:1", "r.example/a:1", True),
    ("default", "r.example/a:1", "r.example/a:2", False),
    ("default", "r.example/a:1", "r.example/a", False),           # a signed name without tag
    ("default", "r.example/a:latest", "r.example/a", False),
    ("default", "r.example/a", "r.example/a:latest", True),        # the reference means :latest
    ("default", "r.example/a:1", "r.example/b:1", False),
    ("default", "alpine:3", "docker.io/library/alpine:3", True),    # names are normalised
    # ... a digest the repository only
    ("default", "r.example/a@" + DIGEST, "r.example/a:9", True),
    ("default", "r.example/a@" + DIGEST, "r.example/b:9", False),
    ("exact", "r.example/a:1", "r.example/a:1", True),
    ("exact", "r.example/a@" + DIGEST, "r.example/a:1", False),
    ("exact", "r.example/a@" + DIGEST, "r.example/a@" + DIGEST, True),
    ("repository", "r.example/a:1", "r.example/a:2", True),
    ("repository", "r.example/a:1", "r.example/a", True),
    ("repository", "r.example/a:1", "r.example/ab:1", False),
    ("any", "r.example/a:1", "other.example/z:9", True),
    # remapIdentity: under the prefix, read as under the signed prefix, then matchRepoDigestOrExact
    ("remap", "127.0.0.1:5000/fx/signed-image:1", "registry.example/fx/signed-image:1", True),
    ("remap", "127.0.0.1:5000/fx/signed-image:1", "registry.example/fx/elsewhere:1", False),
    ("remap", "127.0.0.1:5000/fx/signed-image:2", "registry.example/fx/signed-image:1", False),
    ("remap", "127.0.0.1:5000/fxy/signed-image:1", "registry.example/fxy/signed-image:1", False),
    ("remap", "127.0.0.1:5000/fx/a@" + DIGEST, "registry.example/fx/a:1", True),
    ("remap", "registry.example/fx/a:1", "registry.example/fx/a:1", True),   # not under prefix: as is
    ("remap", "127.0.0.1:5000/fx/a:1", "127.0.0.1:5000/fx/a:1", False),   # under it: remapped
    ("remap-host", "127.0.0.1:5000/fx/a:1", "registry.example/fx/a:1", True),
    ("remap-host", "mirror.example/fx/a:1", "registry.example/fx/a:1", True),
    ("remap-host", "mirror.example/other/a:1", "registry.example/fx/a:1", False),
    ("remap-repository", "127.0.0.1:5000/fx/a:1", "registry.example/fx/a:7", True),
    ("remap-rule", "127.0.0.1:5000/fx/a:1", "registry.example/fx/a:1", True),
    ("remap-rule", "127.0.0.1:5000/fx/a:1", "registry.example/fx/a:7", False),
])
def test_identity_rules(rule, image, signed, accepted):
    problem = identity_problem(identity_of(parse_image_reference(image)), parse_identity(signed),
                               RULES[rule])
    assert (problem is None) is accepted, problem


@pytest.mark.parametrize("identity, signed_prefix, prefix, message", [
    ("exactly", None, None, "identity must be one of"),
    (None, None, "r.example/fx", "prefix needs signed_prefix"),
    ("signed_prefix", None, None, "needs the option signed_prefix"),
    (None, "fx", None, "must start with a registry host"),
    (None, "r.example/fx:1", None, "without tag or digest"),
    (None, "r.example/fx@" + DIGEST, None, "must be a registry host"),
    (None, "r.example/FX", None, "lowercase"),
])
def test_bad_identity_options(identity, signed_prefix, prefix, message):
    with pytest.raises(InputError, match=message):
        identity_rule(identity, signed_prefix, prefix)


@pytest.mark.parametrize("written, normalised", [
    ("app:1", "docker.io/library/app:1"),
    ("registry.example/fx/app", "registry.example/fx/app"),
    ("registry.example/fx/app:1@" + DIGEST, "registry.example/fx/app:1@" + DIGEST),
])
def test_identity_text_keeps_what_was_written(written, normalised):
    assert identity_text(written) == normalised


# -- layers and signatures --------------------------------------------------------------------------
@pytest.mark.parametrize("change, reason", [
    ({"mediaType": "application/json"}, "media type"),
    ({"digest": "sha256:zz"}, "digest is unusable"),
    ({"size": 64 * 1024 + 1}, "more than the 65536"),
    ({"size": "1"}, "no size"),
])
def test_unusable_layers(change, reason):
    layer = {"mediaType": SIMPLESIGNING_TYPE, "digest": DIGEST, "size": 10}
    layer.update(change)
    assert reason in layer_problem(layer)


KEY_A = read("keys", "key-a.pub").decode()
KEY_B = read("keys", "key-b.pub").decode()


@pytest.mark.parametrize("case, keys, expected", [
    ("signed-image", [KEY_A], 0),
    ("signed-image", [KEY_B, KEY_A], 1),
    ("signed-image", [KEY_B], None),
    ("other-key", [KEY_A], None),
    ("bad-signature", [KEY_A], None),
])
def test_fixture_signatures_verify_only_with_their_key(case, keys, expected):
    layer = sig_manifest(case)["layers"][0]
    loaded = [sk.load_public_key(key, "keys[%d]" % i) for i, key in enumerate(keys)]
    payload = payload_of(case, layer)
    if expected is None:
        with pytest.raises(PayloadError, match="verifies with none"):
            check_signature(layer, payload, loaded, sk.verifies)
    else:
        assert check_signature(layer, payload, loaded, sk.verifies)[0] == expected


def test_two_signatures_each_verify_with_their_own_key():
    layers = sig_manifest("two-signatures")["layers"]
    keys = [sk.load_public_key(KEY_A, "a"), sk.load_public_key(KEY_B, "b")]
    assert [check_signature(layer, payload_of("two-signatures", layer), keys, sk.verifies)[0]
            for layer in layers] == [1, 0]


def test_the_signature_is_checked_before_the_payload_is_read():
    """A payload that is not JSON, signed by nobody: 'does not verify', never a parse error."""
    layer = {"mediaType": SIMPLESIGNING_TYPE, "digest": DIGEST, "size": 3,
             "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(b"x" * 70).decode()}}
    with pytest.raises(PayloadError, match="verifies with none"):
        check_signature(layer, b"not json", [sk.load_public_key(KEY_A, "a")], sk.verifies)


@pytest.mark.parametrize("annotation, reason", [
    (None, "no dev.cosignproject.cosign/signature"),
    ("!!!not base64", "not valid base64"),
    ("A" * 20000, "longer than"),
])
def test_bad_signature_annotations(annotation, reason):
    annotations = {} if annotation is None else {SIGNATURE_ANNOTATION: annotation}
    layer = {"mediaType": SIMPLESIGNING_TYPE, "digest": DIGEST, "size": 3, "annotations": annotations}
    with pytest.raises(PayloadError, match=reason):
        check_signature(layer, b"{}", [sk.load_public_key(KEY_A, "a")], sk.verifies)


# -- keys -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["key-a", "key-b"])
def test_cosign_fixture_keys_decrypt_to_their_public_key(name):
    passphrase = read("keys", name + ".passphrase").decode()
    private = sk.load_private_key(fixture("keys", name + ".private"), passphrase)
    public = sk.load_public_key(fixture("keys", name + ".pub"), "pub")
    assert sk.same_key(private.public_key(), public)
    payload = make_payload(DIGEST, "registry.example/fx/x:1", None)
    assert sk.verifies(public, sk.sign(private, payload), payload)
    assert not sk.verifies(public, sk.sign(private, payload), payload + b" ")


def test_cosign_key_with_a_wrong_passphrase_is_a_clear_error():
    with pytest.raises(InputError, match="wrong or missing private_key_passphrase") as caught:
        sk.load_private_key(fixture("keys", "key-a.private"), "not-the-passphrase")
    assert "not-the-passphrase" not in str(caught.value)
    with pytest.raises(InputError, match="wrong or missing private_key_passphrase"):
        sk.load_private_key(fixture("keys", "key-a.private"), None)


def test_cosign_key_with_a_huge_scrypt_cost_is_refused():
    sealed = {"kdf": {"name": "scrypt", "params": {"N": 2 ** 30, "r": 8, "p": 1},
                      "salt": base64.b64encode(b"s" * 32).decode()},
              "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(b"n" * 24).decode()},
              "ciphertext": base64.b64encode(b"c" * 64).decode()}
    pem = "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n%s\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n" % (
        base64.b64encode(json.dumps(sealed).encode()).decode())
    with pytest.raises(InputError, match="scrypt parameters ask for more than"):
        sk.load_private_key(pem, "x")


def _pem(key, encryption=None, fmt=serialization.PrivateFormat.PKCS8) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt,
                             encryption or serialization.NoEncryption()).decode()


@pytest.mark.parametrize("make, fmt, passphrase", [
    (lambda: ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8, None),
    (lambda: ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL, None),
    (lambda: ec.generate_private_key(ec.SECP384R1()), serialization.PrivateFormat.PKCS8, "pw"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), serialization.PrivateFormat.TraditionalOpenSSL, "pw"),
    (ed25519.Ed25519PrivateKey.generate, serialization.PrivateFormat.PKCS8, None),
    (lambda: rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.PKCS8, "pw"),
])
def test_key_formats_sign_and_verify(make, fmt, passphrase, tmp_path):
    key = make()
    encryption = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else None
    pem = _pem(key, encryption, fmt)
    path = tmp_path / "key.pem"
    path.write_text(pem)
    for value in (pem, str(path)):
        private = sk.load_private_key(value, passphrase)
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        public = sk.load_public_key(public_pem, "keys[0]")
        assert sk.verifies(public, sk.sign(private, b"payload"), b"payload")
        assert not sk.verifies(public, sk.sign(private, b"payload"), b"payloaD")
    if passphrase:
        with pytest.raises(InputError, match="encrypted: give private_key_passphrase"):
            sk.load_private_key(pem, None)
        with pytest.raises(InputError, match="wrong private_key_passphrase"):
            sk.load_private_key(pem, "wrong")


def test_p384_signature_with_its_own_hash_verifies():
    from cryptography.hazmat.primitives import hashes
    key = ec.generate_private_key(ec.SECP384R1())
    assert sk.verifies(key.public_key(), key.sign(b"p", ec.ECDSA(hashes.SHA384())), b"p")


@pytest.mark.parametrize("value, message", [
    ("", "is empty"),
    ("/nonexistent/key.pub", "cannot read the key file"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a usable PEM public key"),
])
def test_bad_public_keys(value, message):
    with pytest.raises(InputError, match=message):
        sk.load_public_keys([value])


def test_weak_and_wrong_keys_are_refused(tmp_path):
    weak = rsa.generate_private_key(65537, 1024).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(InputError, match=r"keys\[0\]: a rsa-1024 key cannot be used"):
        sk.load_public_keys([weak])
    dsa_key = dsa.generate_private_key(2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(InputError, match="cannot be used"):
        sk.load_public_keys([dsa_key])
    with pytest.raises(InputError, match="is a private key"):
        sk.load_public_keys([read("keys", "key-a.private").decode()])
    with pytest.raises(InputError, match="is not a private key"):
        sk.load_private_key(KEY_A, None)
    not_pem = tmp_path / "x"
    not_pem.write_text("hello")
    with pytest.raises(InputError, match="not a PEM file"):
        sk.load_public_keys([str(not_pem)])
    with pytest.raises(InputError, match="at least one"):
        sk.load_public_keys([])


@pytest.mark.parametrize("annotations, message", [
    ({"creator": 1}, "creator must be a string"),
    ({"timestamp": "yesterday"}, "timestamp must be a number"),
    ({"timestamp": True}, "timestamp must be a number"),
    ({"x": "y" * 40000}, "more than"),
])
def test_bad_annotations(annotations, message):
    from ansible_collections.drc.registry.plugins.module_utils._registry.signing import check_annotations
    with pytest.raises(InputError, match=message):
        check_annotations(annotations)


def test_annotations_written_as_given():
    from ansible_collections.drc.registry.plugins.module_utils._registry.signing import check_annotations
    assert check_annotations({"creator": "ci", "timestamp": 1796399139, "team": "a"}) == {
        "creator": "ci", "timestamp": 1796399139, "team": "a"}
    assert check_annotations(None) == {}
