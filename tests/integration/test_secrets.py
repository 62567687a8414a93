"""No password, identity token or registry token appears in any output, even at -vvvv."""

from __future__ import annotations

import json

import pytest

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref


def secrets_of(testbed) -> list:
    return [testbed.password, testbed.identity_token, "Bearer ey", "Basic YWxpY2"]


def assert_no_secret(testbed, text: str) -> None:
    for secret in secrets_of(testbed):
        assert secret not in text, "secret %r leaked" % secret[:12]


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_successful_tasks_at_vvvv(testbed, mode, tmp_path):
    registry = testbed.registries[mode]
    conn = connection(testbed, registry)
    layer = json.loads(testbed.skopeo_raw_manifest(registry, "app/oci:1.0"))["layers"][0]["digest"]
    tasks = [
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"), **conn),
         "register": "tag_list"},
        {"drc.registry.registry_manifest_info": dict(reference=ref(registry, "app/multi:oci"),
                                                     platform="linux/arm64", config=True, **conn),
         "register": "manifest"},
        {"drc.registry.registry_blob_fetch": dict(repository=ref(registry, "app/oci"), digest=layer,
                                                  dest=str(tmp_path / "layer"), **conn),
         "register": "blob"},
        {"ansible.builtin.set_fact": {"digest": "{{ lookup('drc.registry.registry_digest', '%s', "
                                                "username=u, password=p, ca_path=ca) }}"
                                                % ref(registry, "app/oci:1.0")},
         "vars": {"u": testbed.username, "p": testbed.password, "ca": testbed.pki.ca_cert},
         "register": "looked_up"},
    ]
    # ansible-core 2.21 returns a module's arguments (``invocation``) only when asked: ask, so
    # that an option that lost no_log would show here
    run = run_playbook(tasks, str(tmp_path), verbosity=4, env={"ANSIBLE_INJECT_INVOCATION": "true"})
    assert run.rc == 0, run.output
    assert run.results["blob"]["changed"] is True
    assert run.results["tag_list"]["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert_no_secret(testbed, run.output)
    assert_no_secret(testbed, json.dumps(run.results))


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_failures_at_vvvv(testbed, mode, tmp_path):
    registry = testbed.registries[mode]
    conn = dict(connection(testbed, registry))
    wrong = dict(conn, password=testbed.password + "-wrong")
    for module, args in [
        ("drc.registry.registry_tags_info", dict(repository=ref(registry, "app/multi"), **wrong)),
        # (an unknown manifest is no failure any more: exists false, checked below)
        ("drc.registry.registry_manifest_info", dict(reference=ref(registry, "app/oci:1.0"), **wrong)),
        ("drc.registry.registry_blob_fetch", dict(repository=ref(registry, "app/oci"),
                                                  digest="sha256:" + "0" * 64, dest=str(tmp_path / "x"),
                                                  **conn)),
    ]:
        run = run_module(module, args, verbosity=4)
        assert run.rc != 0
        assert_no_secret(testbed, run.output)
        assert "Traceback" not in run.output
    absent = run_module("drc.registry.registry_manifest_info",
                        dict(reference=ref(registry, "app/oci:missing"), **conn), verbosity=4)
    assert absent.rc == 0 and absent.result["exists"] is False, absent.output
    assert_no_secret(testbed, absent.output)


def test_identity_token_via_docker_config(testbed, tmp_path):
    """An identity token from config.json is exchanged through the OAuth2 POST, and never shown."""
    import base64
    registry = testbed.registries["token"]
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {registry.host: {
        "auth": base64.b64encode(b"alice:").decode(), "identitytoken": testbed.identity_token}}}))
    testbed.token_server.reset_counter()
    run = run_module("drc.registry.registry_tags_info", dict(repository=ref(registry, "app/multi")),
                     verbosity=4, env={"DOCKER_CONFIG": str(docker)})
    assert run.rc == 0, run.output
    assert sorted(run.result["tags"]) == ["docker", "oci"]
    assert [entry["oauth"] for entry in testbed.token_server.log] == [True]
    assert_no_secret(testbed, run.output)


@pytest.mark.parametrize("mode, entry", [
    ("basic", "password"), ("token", "password"), ("token", "identity_token")])
def test_auths_never_shown_at_vvvv(testbed, mode, entry, tmp_path):
    """auths in a task, in module_defaults and in drc_registry_auths: used, and never printed."""
    registry = testbed.registries[mode]
    value = ({"username": testbed.username, "password": testbed.password} if entry == "password"
             else {"username": testbed.username, "identity_token": testbed.identity_token})
    auths = {registry.host: value}
    ca = testbed.pki.ca_cert
    tasks = [
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"), auths=auths,
                                                 ca_path=ca),
         "register": "in_task"},
        {"drc.registry.registry_manifest_info": dict(reference=ref(registry, "app/oci:1.0"), ca_path=ca),
         "module_defaults": {"group/drc.registry.registry": {"auths": auths}},
         "register": "in_defaults"},
        {"ansible.builtin.set_fact": {"digest": "{{ lookup('drc.registry.registry_digest', '%s', "
                                                "ca_path='%s') }}" % (ref(registry, "app/oci:1.0"), ca)},
         "register": "looked_up"},
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"), ca_path=ca,
                                                 auths={registry.host: dict(value, **{
                                                     "password" if entry == "password" else "identity_token":
                                                     "wrong-" + testbed.password})}),
         "ignore_errors": True, "register": "refused"},
    ]
    run = run_playbook(tasks, str(tmp_path), play_vars={"drc_registry_auths": auths}, verbosity=4)
    assert run.rc == 0, run.output
    assert sorted(run.results["in_task"]["tags"]) == ["docker", "oci"]
    assert run.results["in_defaults"]["digest"] == run.results["looked_up"]["ansible_facts"]["digest"]
    assert run.results["refused"]["failed"] is True
    assert_no_secret(testbed, run.output)
    assert "wrong-" + testbed.password not in run.output
    assert_no_secret(testbed, json.dumps(run.results))


def test_bearer_token_and_proxy_password_never_shown_at_vvvv(testbed, tmp_path):
    """bearer_token and a proxy URL with a password, in tasks, in the lookup and in registry_login,
    on success and on failure: neither appears anywhere in the -vvvv output or the results."""
    import base64
    import secrets as random_secrets

    from tests.integration.test_connection_options import token_from_bed
    from tests.testbed.proxy import ForwardProxy

    registry = testbed.registries["token"]
    token = token_from_bed(testbed, "app/multi")
    proxy_password = "proxy-pw-" + random_secrets.token_hex(8)
    with ForwardProxy(("proxyuser", proxy_password)) as proxy:
        proxy_url = proxy.url_with("proxyuser", proxy_password)
        tasks = [
            {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"),
                                                     bearer_token="{{ t }}", proxy="{{ p }}"),
             "register": "tags"},
            {"ansible.builtin.set_fact": {"digest": "{{ lookup('drc.registry.registry_digest', '%s') }}"
                                                    % ref(registry, "app/multi:oci")},
             "vars": {"drc_registry_bearer_token": token, "drc_registry_proxy": proxy_url},
             "register": "looked_up"},
            {"drc.registry.registry_login": dict(registry=registry.host, bearer_token="{{ t }}", proxy="{{ p }}",
                                                 repository="app/multi"),
             "register": "login"},
            {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/oci"),
                                                     bearer_token="{{ t }}", proxy="{{ p }}"),
             "ignore_errors": True, "register": "refused_token"},
            {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"),
                                                     bearer_token="{{ t }}", proxy="{{ wrong_p }}"),
             "ignore_errors": True, "register": "refused_proxy"},
        ]
        # Secrets come from variables, as from a vault: a literal in the playbook is the user's
        # own text, which Ansible quotes when it reports a failed task.
        play_vars = {"t": token, "p": proxy_url, "wrong_p": proxy.url_with("proxyuser", "x" + proxy_password)}
        run = run_playbook(tasks, str(tmp_path), play_vars=play_vars, verbosity=4,
                           env={"NO_PROXY": "", "no_proxy": "", "ANSIBLE_INJECT_INVOCATION": "true"})
        relayed = proxy.targets()
    assert sorted(run.results["tags"]["tags"]) == ["docker", "oci"], run.output
    shown_args = run.results["refused_proxy"]["invocation"]["module_args"]
    assert shown_args["bearer_token"] == shown_args["proxy"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", shown_args
    assert run.results["login"]["auth_scheme"] == "bearer_token"
    assert run.results["refused_token"]["failed"] is True
    assert run.results["refused_proxy"]["failed"] is True
    assert any(registry.host in target for method, target in relayed)
    proxy_basic = base64.b64encode(("proxyuser:" + proxy_password).encode()).decode()
    for text in (run.output, json.dumps(run.results)):
        for secret in (token, token[-24:], proxy_password, proxy_basic):
            assert secret not in text, "secret %r leaked" % secret[:12]
        assert_no_secret(testbed, text)


def test_signing_keys_and_passphrases_never_shown_at_vvvv(testbed, tmp_path):
    """registry_sign with a private key as PEM text and as a file, its passphrase, on success and
    failure: no line of the key and no passphrase in the output or the results, even at -vvvv."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.testbed.signed_fixtures import fixtures_dir

    registry = testbed.registries["token"]
    conn = connection(testbed, registry)
    testbed.skopeo_copy(registry, "app/oci:1.0", "secrets/signed:1")
    passphrase = "sign-pass-" + testbed.password[-8:]
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase.encode())).decode()
    with open(fixtures_dir() + "/keys/key-a.private") as handle:
        cosign_pem = handle.read()
    with open(fixtures_dir() + "/keys/key-a.passphrase") as handle:
        cosign_passphrase = handle.read()
    reference = ref(registry, "secrets/signed:1")
    # every secret reaches the play as a variable: Ansible shows a failed task's source lines
    secret_vars = {"pem": pem, "pp": passphrase, "cosign_pem": cosign_pem, "cosign_pp": cosign_passphrase,
                   "pp_wrong": passphrase + "-wrong", "cosign_pp_wrong": cosign_passphrase + "-wrong",
                   "u": testbed.username, "p": testbed.password}
    conn = dict(conn, username="{{ u }}", password="{{ p }}")
    tasks = [
        {"drc.registry.registry_sign": dict(reference=reference, private_key="{{ pem }}",
                                            private_key_passphrase="{{ pp }}", **conn),
         "register": "pem_text", "diff": True},
        {"drc.registry.registry_sign": dict(reference=reference, private_key="{{ cosign_pem }}",
                                            private_key_passphrase="{{ cosign_pp }}", **conn),
         "register": "cosign_text"},
        {"drc.registry.registry_sign": dict(reference=reference, private_key="{{ pem }}",
                                            private_key_passphrase="{{ pp_wrong }}", **conn),
         "register": "wrong", "ignore_errors": True},
        {"drc.registry.registry_sign": dict(reference=reference, private_key="{{ cosign_pem }}",
                                            private_key_passphrase="{{ cosign_pp_wrong }}", **conn),
         "register": "cosign_wrong", "ignore_errors": True},
        {"drc.registry.registry_copy": dict(src=reference, dest=ref(registry, "secrets/copied:1"),
                                            sign_key="{{ pem }}", sign_key_passphrase="{{ pp }}", **conn),
         "register": "copy_signed"},
        {"drc.registry.registry_copy": dict(src=reference, dest=ref(registry, "secrets/copied:1"),
                                            sign_key="{{ cosign_pem }}",
                                            sign_key_passphrase="{{ cosign_pp_wrong }}", **conn),
         "register": "copy_wrong", "ignore_errors": True},
    ]
    # invocation asked for (ansible-core 2.21 leaves it out by default): an option that lost no_log shows
    run = run_playbook(tasks, str(tmp_path), play_vars=secret_vars, verbosity=4,
                       env={"ANSIBLE_INJECT_INVOCATION": "true"})
    assert run.rc == 0, run.output
    assert run.results["pem_text"]["changed"] is True and run.results["cosign_text"]["changed"] is True
    assert "invocation" in run.results["pem_text"], run.results["pem_text"]
    assert run.results["wrong"]["failed"] is True and run.results["cosign_wrong"]["failed"] is True
    assert run.results["copy_signed"]["signatures"][0]["changed"] is True
    assert run.results["copy_wrong"]["failed"] is True
    shown = run.output + json.dumps(run.results)
    for secret in (passphrase, cosign_passphrase):
        assert secret not in shown, "a passphrase leaked"
    for body in (pem, cosign_pem):
        for line in body.splitlines()[1:-1]:
            assert line not in shown, "a line of a private key leaked"
    assert_no_secret(testbed, shown)
