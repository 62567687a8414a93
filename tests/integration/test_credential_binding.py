"""Credentials are bound to a host, through the lookup, module_defaults and the environment (issue 10, item 5).

Registries are scripted servers on loopback (tests/testbed/hostile_auth.py) that record the
Authorization header of every request they get.
"""

from __future__ import annotations

import base64
import json

from tests.integration.ansible_runner import run_expression, run_module, run_playbook
from tests.testbed.hostile import HostileServer, Reply
from tests.testbed.hostile_auth import (
    BASIC, MANIFEST, PASSWORD, SECRETS, USERNAME, basic_registry, digest, manifest_reply, asking_registry)


def auths_for(server, password: str = PASSWORD) -> dict:
    return {server.host: {"username": USERNAME, "password": password}}


def authorizations(server) -> list:
    return [r.headers.get("Authorization") for r in server.requests if r.headers.get("Authorization")]


def assert_clean(run) -> None:
    assert "Traceback" not in run.output
    for secret in SECRETS:
        assert secret not in run.output, "secret %r leaked" % secret[:8]


def test_lookup_refuses_plain_credentials_for_several_registries():
    with basic_registry({}) as private, asking_registry() as public:
        run = run_expression("query('drc.registry.registry_digest', '%s/app:1', '%s/app:1', "
                             "username='%s', password='%s')" % (private.url, public.url, USERNAME, PASSWORD))
        seen = authorizations(private) + authorizations(public)
        asked = len(private.requests) + len(public.requests)
    assert seen == [] and asked == 0
    assert run.rc != 0
    msg = run.result["msg"]
    assert "are for one registry, and the terms name 2" in msg and "auths" in msg, msg


def test_lookup_auths_from_vars_go_to_their_registry_only(tmp_path):
    with basic_registry({}) as private, asking_registry() as public:
        tasks = [{"ansible.builtin.set_fact": {"found": "{{ query('drc.registry.registry_digest', "
                                                        "'%s/app:1', '%s/app:1') }}" % (private.url, public.url)},
                  "register": "looked_up"}]
        run = run_playbook(tasks, str(tmp_path), play_vars={"drc_registry_auths": auths_for(private)},
                           verbosity=4)
        private_seen, public_seen = authorizations(private), authorizations(public)
    assert run.rc == 0, run.output
    assert run.results["looked_up"]["ansible_facts"]["found"] == [digest(MANIFEST)] * 2
    assert private_seen and set(private_seen) == {BASIC}
    assert public_seen == []
    assert_clean(run)


def test_lookup_auths_option_with_a_docker_hub_style_key_for_another_host():
    """An entry for docker.io is not used for a loopback registry, which then asks in vain."""
    with basic_registry({}) as private:
        run = run_module("ansible.builtin.debug", {"msg": "{{ lookup('drc.registry.registry_digest', "
                                                          "'%s/app:1', auths=a) }}" % private.url},
                         extra_args=["-e", json.dumps({"a": {"docker.io": {"username": USERNAME,
                                                                           "password": PASSWORD}}})])
        seen = authorizations(private)
    assert seen == []
    assert run.rc != 0 and "no credentials were found for %s" % private.host in run.result["msg"], run.output


def test_module_defaults_auths_bind_credentials_to_their_host(tmp_path):
    with basic_registry({}) as private, asking_registry() as public:
        tasks = [
            {"drc.registry.registry_manifest_info": {"reference": "%s/app:1" % private.url},
             "register": "on_private"},
            {"drc.registry.registry_manifest_info": {"reference": "%s/app:1" % public.url},
             "register": "on_public"},
        ]
        play = {"module_defaults": {"group/drc.registry.registry": {"auths": auths_for(private)}}}
        run = run_playbook([dict(task, **play) for task in tasks], str(tmp_path), verbosity=4)
        private_seen, public_seen = authorizations(private), authorizations(public)
    assert run.rc == 0, run.output
    assert run.results["on_private"]["digest"] == run.results["on_public"]["digest"] == digest(MANIFEST)
    assert private_seen and set(private_seen) == {BASIC}
    assert public_seen == [], "module_defaults credentials went to another registry"
    assert_clean(run)


def test_environment_pair_goes_to_drc_registry_host_only():
    with basic_registry({}) as private, asking_registry() as public:
        env = {"DRC_REGISTRY_USERNAME": USERNAME, "DRC_REGISTRY_PASSWORD": PASSWORD,
               "DRC_REGISTRY_HOST": private.host}
        on_public = run_module("drc.registry.registry_manifest_info",
                               {"reference": "%s/app:1" % public.url}, env=env)
        on_private = run_module("drc.registry.registry_manifest_info",
                                {"reference": "%s/app:1" % private.url}, env=env)
        by_lookup = run_expression("query('drc.registry.registry_digest', '%s/app:1', '%s/app:1')"
                                   % (private.url, public.url), env=env)
        private_seen, public_seen = authorizations(private), authorizations(public)
    for run in (on_public, on_private, by_lookup):
        assert run.rc == 0, run.output
    assert by_lookup.result["msg"] == [digest(MANIFEST)] * 2
    assert public_seen == [], "the environment's credentials went to another registry"
    assert private_seen and set(private_seen) == {BASIC}


def test_environment_pair_without_a_host_fails_clearly():
    with asking_registry() as public:
        env = {"DRC_REGISTRY_USERNAME": USERNAME, "DRC_REGISTRY_PASSWORD": PASSWORD}
        module = run_module("drc.registry.registry_manifest_info", {"reference": "%s/app:1" % public.url},
                            env=env)
        lookup = run_expression("lookup('drc.registry.registry_digest', '%s/app:1')" % public.url, env=env)
        seen, asked = authorizations(public), len(public.requests)
    assert seen == [] and asked == 0
    for run in (module, lookup):
        assert run.rc != 0
        assert "DRC_REGISTRY_HOST is not" in run.result["msg"], run.output
        assert_clean(run)


def test_bad_auths_fail_naming_the_key_not_the_secret():
    with asking_registry() as public:
        run = run_module("drc.registry.registry_manifest_info", {
            "reference": "%s/app:1" % public.url,
            "auths": {public.host: {"username": USERNAME, "pasword": PASSWORD}}}, verbosity=4)
        asked = len(public.requests)
    assert asked == 0
    assert run.rc != 0
    assert "auths['%s'] has unknown keys pasword" % public.host in run.result["msg"], run.output
    assert_clean(run)


def test_lookup_picks_auth_json_namespace_keys_per_term(tmp_path):
    """auth.json keys host/org1 and host/org2 hold different accounts: each term gets its own."""
    def basic(user, password):
        return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    wanted = {"/v2/org1/": basic("first", "first-pw"), "/v2/org2/": basic("second", "second-pw")}

    def answer(request):
        if request.path == "/v2/":
            return Reply(401, {"WWW-Authenticate": 'Basic realm="r"'})
        for prefix, header in wanted.items():
            if request.path.startswith(prefix):
                if request.headers.get("Authorization") == header:
                    return manifest_reply()
                return Reply(401, {"WWW-Authenticate": 'Basic realm="r"'})
        return None
    with HostileServer(answer) as server:
        auth_file = tmp_path / "auth.json"
        auth_file.write_text(json.dumps({"auths": {
            "%s/org1" % server.host: {"auth": base64.b64encode(b"first:first-pw").decode()},
            "%s/org2" % server.host: {"auth": base64.b64encode(b"second:second-pw").decode()}}}))
        run = run_expression("query('drc.registry.registry_digest', '%s/org1/app:1', '%s/org2/app:1')"
                             % (server.url, server.url),
                             env={"REGISTRY_AUTH_FILE": str(auth_file), "HOME": str(tmp_path)})
        seen = {(r.path.split("/")[2], r.headers.get("Authorization")) for r in server.requests
                if r.path != "/v2/" and r.headers.get("Authorization")}
    assert run.rc == 0, run.output
    assert run.result["msg"] == [digest(MANIFEST)] * 2
    assert seen == {("org1", wanted["/v2/org1/"]), ("org2", wanted["/v2/org2/"])}
