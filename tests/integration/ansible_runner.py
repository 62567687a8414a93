"""Run Ansible as a user would (ad-hoc commands and playbooks) and read back its results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def ansible_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "build", "collections"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    env.update(extra or {})
    return env


class Run:
    def __init__(self, done: subprocess.CompletedProcess) -> None:
        self.rc = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.output = done.stdout + done.stderr

    @property
    def result(self) -> dict:
        """The JSON result of a one-host ad-hoc command: ``localhost | STATUS => {...}``."""
        marker = self.stdout.find("=> {")
        if marker == -1:
            raise AssertionError("no result in ansible output:\n" + self.output)
        return json.JSONDecoder().raw_decode(self.stdout[marker + 3:])[0]


def run_module(module: str, args: dict, check: bool = False, diff: bool = False,
               verbosity: int = 0, env: dict | None = None) -> Run:
    command = [os.path.join(BIN, "ansible"), "localhost", "-m", module, "-a", json.dumps(args)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)
    done = subprocess.run(command, capture_output=True, text=True, env=ansible_env(env), timeout=600)
    return Run(done)


def run_expression(expression: str, verbosity: int = 0, env: dict | None = None) -> Run:
    """Evaluate a Jinja expression on the controller (for lookups and filters)."""
    return run_module("ansible.builtin.debug", {"msg": "{{ %s }}" % expression},
                      verbosity=verbosity, env=env)
