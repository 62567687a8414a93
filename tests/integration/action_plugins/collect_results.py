"""Test-only action: write a playbook's registered results to a file on the controller.

run_playbook (tests/integration/ansible_runner.py) ends every play with this task. It writes what
ansible.builtin.copy with ``content`` wrote there, without copy's two module runs (stat, then copy)
on every playbook the tests start. Unlike copy, it also writes in check mode (the results of a
``--check`` playbook are worth reading too), shows no diff and reports ``changed: false``.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        content = self._task.args["content"]
        # Task arguments may come back from templating as data rather than the JSON text (as
        # ansible.builtin.copy's content does).
        if not isinstance(content, str):
            content = json.dumps(content)
        dest = self._task.args["dest"]
        with open(dest + ".part", "w") as handle:
            handle.write(content)
        os.replace(dest + ".part", dest)
        result["changed"] = False
        return result
