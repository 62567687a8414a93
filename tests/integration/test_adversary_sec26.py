"""Adversary pass on issue 26 after the hosts.py / atomic_write / adapters refactor.

Each test here is an attack that got through when it was written: it fails until the product is
fixed. Scripted servers (tests/testbed/hostile.py) play the hostile registry; ``*.public.test``
names resolve to a public address that reaches loopback (tests/integration/public_names).
"""

from __future__ import annotations

import hashlib
import json
import os

from tests.integration.ansible_runner import run_playbook
from tests.testbed.hostile import HostileServer, Reply

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "public_names")
TOKEN = "adversary-bearer-token-3c9d"
PASSWORD = "adversary-secret-51fe"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": sha256(CONFIG), "size": len(CONFIG)},
                       "layers": []}).encode()


def test_pin_images_verify_lock_file_cannot_take_the_bearer_token_elsewhere(tmp_path):
    """The role refuses plain credentials when the lock file chooses the registries, but not
    ``drc_registry_bearer_token``: a lock file edited to name another host gets the token."""
    with HostileServer(lambda request: Reply(401, {"WWW-Authenticate": 'Basic realm="edited"'})) as server:
        lockfile = tmp_path / "images.lock.yml"
        pinned = "%s/app@%s" % (server.host, sha256(MANIFEST))
        lockfile.write_text("images:\n  %s/app:1: %s\n" % (server.host, pinned))
        role_vars = {"pin_images_lockfile": str(lockfile), "pin_images_mode": "verify",
                     "drc_registry_bearer_token": "{{ lookup('env', 'DRC_TEST_SECRET') }}"}
        task = {"name": "Verify", "ansible.builtin.include_role": {"name": "drc.registry.pin_images"},
                "vars": role_vars}
        run = run_playbook([task], str(tmp_path), env={"DRC_TEST_SECRET": TOKEN})
        sent = [r.headers.get("Authorization") for r in server.requests]
    assert not [value for value in sent if value and TOKEN in value], sent
    assert TOKEN not in run.output
