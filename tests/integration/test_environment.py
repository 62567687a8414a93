"""What the modules need of the host they run on, and what they tell about the registry."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.ansible_runner import TARGET_PYTHON, run_module, run_playbook
from tests.integration.conftest import ref
from tests.testbed.proxy import HeaderProxy


def test_modules_run_on_the_python_asked_for(tmp_path):
    """The modules run on the Python the run asked for, ad hoc and in a playbook: the tests' own,
    or a managed host's (`make smoke-target-X` names its venv and version)."""
    wanted = os.environ.get("DRC_TEST_TARGET_PYTHON_VERSION") or "%d.%d" % sys.version_info[:2]
    facts = {"gather_subset": ["!all", "!min", "python"]}
    ad_hoc = run_module("ansible.builtin.setup", facts)
    assert ad_hoc.rc == 0, ad_hoc.output
    played = run_playbook([{"ansible.builtin.setup": facts, "register": "facts"}], str(tmp_path))
    assert played.rc == 0, played.output
    for python in (ad_hoc.result["ansible_facts"]["ansible_python"],
                   played.results["facts"]["ansible_facts"]["ansible_python"]):
        assert python["executable"] == TARGET_PYTHON
        assert "%s.%s" % tuple(python["version_info"][:2]) == wanted


def test_missing_requests_is_the_standard_failure(testbed, tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    registry = testbed.registries["open"]
    run = run_module("drc.registry.registry_tags_info", dict(repository=ref(registry, "app/multi")),
                     extra_args=["-e", "ansible_python_interpreter=%s" % (bare / "bin" / "python")])
    assert run.rc != 0
    assert "Failed to import the required Python library (requests)" in run.result["msg"], run.output
    assert "Traceback" not in run.result["msg"]


def test_rate_limit_headers_and_user_agent(testbed):
    registry = testbed.registries["open"]
    proxy = HeaderProxy(registry.url, [("ratelimit-limit", "100;w=21600"),
                                       ("ratelimit-remaining", "97;w=21600")]).start()
    try:
        run = run_module("drc.registry.registry_manifest_info",
                         dict(reference="http://%s/app/oci:1.0" % proxy.host))
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    assert run.result["rate_limit"] == {"ratelimit_limit": "100;w=21600", "ratelimit_remaining": "97;w=21600"}
    agents = {headers.get("User-Agent") for method, path, headers in proxy.requests}
    assert agents == {"drc.registry/0.1.0 (Ansible collection)"}


def test_no_rate_limit_key_when_registry_sends_none(testbed):
    registry = testbed.registries["open"]
    run = run_module("drc.registry.registry_manifest_info", dict(reference=ref(registry, "app/oci:1.0")))
    assert run.rc == 0 and "rate_limit" not in run.result
