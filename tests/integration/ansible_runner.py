"""Run Ansible as a user would (ad-hoc commands and playbooks) and read back its results."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


# Test-only: the modules' Python keeps the code it compiles from the AnsiballZ zip (see the module
# docstring there). Users' runs, `make demo` and the benchmarks never load it.
MODULE_CODE_CACHE_HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "module_code_cache")

# The Python the modules run on (ansible_python_interpreter): the tests' own, or a managed host's
# that `make smoke-target-X` gives (a venv of another Python holding only requests).
TARGET_PYTHON = os.environ.get("DRC_TEST_TARGET_PYTHON") or sys.executable


def fresh_cache_home() -> str:
    """An empty XDG_CACHE_HOME for one Ansible run (removed when pytest exits): the modules' blob
    cache (blob_cache.py) then starts empty, as it did before the cache existed; the tests of the
    cache name their own file."""
    path = tempfile.mkdtemp(prefix="drc-test-cache-")
    atexit.register(shutil.rmtree, path, True)
    return path


def ansible_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({
        "XDG_CACHE_HOME": fresh_cache_home(),
        "PYTHONPATH": os.pathsep.join(p for p in (MODULE_CODE_CACHE_HOOK, env.get("PYTHONPATH")) if p),
        "DRC_TEST_MODULE_CODE_CACHE": os.path.join(ROOT, "build", "module-code-cache"),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "build", "collections"),
        "ANSIBLE_PYTHON_INTERPRETER": TARGET_PYTHON,
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    env.update(extra or {})
    return env


# ansible-core 2.21 reports an exception a module did not catch as a failure whose msg is
# "Task failed: Module failed: <its text>", with no traceback anywhere, so the suite's
# `"Traceback" not in ...` checks would not see the crash. (ANSIBLE_DISPLAY_TRACEBACK=error brings
# the traceback back, but puts one in every clean fail_json too.) Run and run_playbook's results
# carry this note for such a failure; 2.16 to 2.20 show the module's own traceback.
UNCAUGHT = "Task failed: Module failed:"
UNCAUGHT_NOTE = "Traceback (not shown by ansible-core): an exception the module did not catch"
_UNCAUGHT_RESULT = re.compile(r'"msg":\s*"' + re.escape(UNCAUGHT))


def mark_uncaught(result) -> None:
    """Give a registered result (and each of its loop's) of an uncaught exception the note."""
    if not isinstance(result, dict):
        return
    if str(result.get("msg", "")).startswith(UNCAUGHT):
        result["exception"] = UNCAUGHT_NOTE
    for item in result.get("results") or []:
        mark_uncaught(item)


class Run:
    def __init__(self, done: subprocess.CompletedProcess) -> None:
        self.rc = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.output = done.stdout + done.stderr
        if _UNCAUGHT_RESULT.search(self.output):
            self.output += "\n" + UNCAUGHT_NOTE + "\n"

    @property
    def result(self) -> dict:
        """The JSON result of a one-host ad-hoc command: ``localhost | STATUS => {...}``."""
        marker = self.stdout.find("=> {")
        if marker == -1:
            raise AssertionError("no result in ansible output:\n" + self.output)
        return json.JSONDecoder().raw_decode(self.stdout[marker + 3:])[0]


# The task that ends every playbook of run_playbook, writing the registered results on the controller.
ACTION_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "action_plugins")

# The tests name their host on the command line ("-i localhost," or the implicit localhost): the
# one inventory plugin they need is host_list. Not loading the five others saves about 0.1 s of
# CPU per Ansible start (measured), and the suite starts Ansible some 300 times.
INVENTORY_PLUGINS = {"ANSIBLE_INVENTORY_ENABLED": "host_list"}


def runner_env(extra: dict | None) -> dict:
    return ansible_env(dict(INVENTORY_PLUGINS, **(extra or {})))


def run_module(module: str, args: dict, check: bool = False, diff: bool = False,
               verbosity: int = 0, env: dict | None = None, extra_args: list | None = None) -> Run:
    command = [os.path.join(BIN, "ansible"), "localhost", "-m", module, "-a", json.dumps(args)]
    # The implicit localhost of an ad-hoc command runs modules on the controller's own Python
    # whatever ANSIBLE_PYTHON_INTERPRETER says: name the Python (a test's own -e comes later and wins).
    command += ["-e", json.dumps({"ansible_python_interpreter": TARGET_PYTHON})]
    command += extra_args or []
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)
    done = subprocess.run(command, capture_output=True, text=True, env=runner_env(env), timeout=600,
                          check=False)
    return Run(done)


def run_expression(expression: str, verbosity: int = 0, env: dict | None = None) -> Run:
    """Evaluate a Jinja expression on the controller (for lookups and filters)."""
    return run_module("ansible.builtin.debug", {"msg": "{{ %s }}" % expression},
                      verbosity=verbosity, env=env)


def run_playbook(tasks: list, workdir: str, play_vars: dict | None = None, verbosity: int = 0,
                 env: dict | None = None, extra_args: list | None = None) -> Run:
    """Run tasks in one play on localhost; every ``register``ed result lands in ``Run.results``.

    Tasks are expected to set ``ignore_errors: true`` where failure is what is tested.
    """
    import yaml

    names = [task["register"] for task in tasks if "register" in task]
    results_path = os.path.join(workdir, "results.json")
    collect = {
        "name": "Collect the registered results",
        "collect_results": {
            "dest": results_path,
            "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (n, n) for n in names),
        },
    }
    play = [{"hosts": "localhost", "gather_facts": False, "vars": play_vars or {},
             "tasks": list(tasks) + [collect]}]
    playbook = os.path.join(workdir, "playbook.yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook]
    if verbosity:
        command.append("-" + "v" * verbosity)
    command += extra_args or []
    env = dict(env or {})
    # a test's own action plugin path is kept, the collecting action added to it
    env["ANSIBLE_ACTION_PLUGINS"] = os.pathsep.join(p for p in (env.get("ANSIBLE_ACTION_PLUGINS"), ACTION_PLUGINS) if p)
    done = subprocess.run(command, capture_output=True, text=True, env=runner_env(env), timeout=900,
                          check=False)
    run = Run(done)
    run.results = {}
    if os.path.exists(results_path):
        with open(results_path) as handle:
            run.results = json.load(handle)
        os.unlink(results_path)
        for result in run.results.values():
            mark_uncaught(result)
    return run
