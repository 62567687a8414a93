"""The docker_ref filter through Ansible itself."""

from __future__ import annotations

import pytest

from tests.integration.ansible_runner import run_expression, run_playbook


def test_filter_in_a_playbook(tmp_path):
    tasks = [
        {"ansible.builtin.set_fact": {"parsed": "{{ 'mongo:4' | drc.registry.docker_ref }}"}, "register": "a"},
        {"ansible.builtin.set_fact": {"parsed": "{{ 'team/app' | drc.registry.docker_ref("
                                                "default_index='https://myreg:5000') }}"}, "register": "b"},
        {"ansible.builtin.set_fact": {"parsed": "{{ 'http://localhost:5000/app:1' | drc.registry.docker_ref }}"},
         "register": "c"},
        {"ansible.builtin.set_fact": {"parsed": "{{ 'Bad:Ref' | drc.registry.docker_ref }}"},
         "register": "bad", "ignore_errors": True},
        {"ansible.builtin.set_fact": {"parsed": "{{ 'x' | drc.registry.docker_ref(default_index='ftp://h') }}"},
         "register": "bad_index", "ignore_errors": True},
    ]
    run = run_playbook(tasks, str(tmp_path))
    assert run.rc == 0, run.output
    a = run.results["a"]["ansible_facts"]["parsed"]
    assert a == {
        "index": {"name": "docker.io", "official": True, "scheme": "https"},
        "official": True, "remote_name": "library/mongo", "local_name": "mongo",
        "canonical_name": "docker.io/mongo", "full_name": "docker.io/library/mongo", "tag": "4",
        "digest": None, "reference": "4", "string": "docker.io/library/mongo:4",
        "registry_url": "https://registry-1.docker.io",
    }
    b = run.results["b"]["ansible_facts"]["parsed"]
    assert b["registry_url"] == "https://myreg:5000" and b["full_name"] == "myreg:5000/team/app"
    c = run.results["c"]["ansible_facts"]["parsed"]
    assert c["index"] == {"name": "localhost:5000", "official": False, "scheme": "http"}
    assert c["registry_url"] == "http://localhost:5000"
    assert run.results["bad"]["failed"] is True
    assert "invalid image reference 'Bad:Ref'" in run.results["bad"]["msg"]
    assert "lowercase" in run.results["bad"]["msg"]
    assert "invalid registry index 'ftp://h'" in run.results["bad_index"]["msg"]


@pytest.mark.parametrize("expression, expected", [
    ("('quay.io/org/app@sha256:' ~ 'a' * 64) | drc.registry.docker_ref", "quay.io/org/app@sha256:" + "a" * 64),
    ("'index.docker.io/trentm/foo:1' | drc.registry.docker_ref", "docker.io/trentm/foo:1"),
])
def test_filter_ad_hoc(expression, expected):
    run = run_expression("(%s).string" % expression)
    assert run.rc == 0, run.output
    assert run.result["msg"] == expected
