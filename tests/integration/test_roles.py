"""The roles: their molecule scenarios on the real test bed, check and diff mode, bad input."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid

import pytest

from tests.integration.ansible_runner import BIN, ROOT, ansible_env, run_playbook
from tests.integration.conftest import ref

UNREACHABLE = "127.0.0.1:9"  # the discard port: nothing listens, so any registry call would fail


def molecule_env(testbed, workdir: str) -> dict:
    """What the scenarios read: the test bed's registries and credentials, a scratch directory."""
    registries = testbed.registries
    return {
        "DRC_TESTBED_OPEN": registries["open"].host,
        "DRC_TESTBED_BASIC": registries["basic"].host,
        "DRC_TESTBED_TOKEN": registries["token"].host,
        "DRC_TESTBED_USERNAME": testbed.username,
        "DRC_TESTBED_PASSWORD": testbed.password,
        "DRC_TESTBED_CA": testbed.pki.ca_cert,
        "DRC_TESTBED_CA_DIR": testbed.pki.ca_dir,
        "DRC_MOLECULE_WORKDIR": workdir,
        "DRC_MOLECULE_PREFIX": "mirror-" + uuid.uuid4().hex[:12],
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        "NO_COLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }


def run_molecule(scenario: str, env: dict) -> str:
    done = subprocess.run([os.path.join(BIN, "molecule"), "test", "-s", scenario], cwd=ROOT,
                          env=ansible_env(env), capture_output=True, text=True, timeout=1800, check=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert done.returncode == 0, output[-20000:]
    return output


@pytest.mark.parametrize("scenario", ["pin_images", "mirror_images", "prune_images"])
def test_molecule_scenario(testbed, tmp_path, scenario):
    """converge, idempotence (a second converge changes nothing) and verify, on the real registries."""
    output = run_molecule(scenario, molecule_env(testbed, str(tmp_path)))
    for action in ("converge", "idempotence", "verify"):
        # "➜" on a terminal, ">" otherwise
        assert re.search(r"%s (➜|>) %s: Executed: Successful" % (scenario, action), output), output[-5000:]


def digest_of(testbed, registry, image: str) -> str:
    return "sha256:" + hashlib.sha256(testbed.skopeo_raw_manifest(registry, image)).hexdigest()


def task_status(stdout: str, name: str) -> str:
    """How a task ended in ansible-playbook's output: the line after its TASK header."""
    for block in stdout.split("TASK [")[1:]:
        if block.startswith(name + "]"):
            return re.findall(r"^(ok|changed|skipping|fatal): \[localhost\]", block, re.M)[0]
    raise AssertionError("task %r not in the output:\n%s" % (name, stdout))


WRITE_TASK = "drc.registry.pin_images : Write the lock file"


def pin_task(images: list, lockfile: str, **extra) -> dict:
    role_vars = {"pin_images_images": images, "pin_images_lockfile": lockfile}
    role_vars.update(extra)
    return {"name": "Pin", "ansible.builtin.include_role": {"name": "drc.registry.pin_images"},
            "vars": role_vars}


def test_pin_images_check_and_diff_mode(testbed, tmp_path):
    """A moved tag: check mode reports it and leaves the file, diff mode shows old and new lines."""
    registry = testbed.registries["open"]
    images = [ref(registry, "app/oci:1.0"), ref(registry, "app/multi:oci")]
    digests = [digest_of(testbed, registry, image.split("/", 1)[1]) for image in images]
    lockfile = tmp_path / "images.lock.yml"
    stale = "sha256:" + "0" * 64
    header = "# Image digests pinned by the drc.registry.pin_images role. Do not edit: run the role to update.\n"
    old_content = header + "images:\n  %s: %s@%s\n  %s: %s@%s\n" % (
        images[1], images[1], digests[1], images[0], images[0], stale)
    lockfile.write_text(old_content)

    checked = run_playbook([pin_task(images, str(lockfile))], str(tmp_path), extra_args=["--check", "--diff"])
    assert checked.rc == 0, checked.output
    assert lockfile.read_text() == old_content
    assert "-  %s: %s@%s" % (images[0], images[0], stale) in checked.stdout, checked.stdout
    assert "+  %s: %s@%s" % (images[0], images[0], digests[0]) in checked.stdout, checked.stdout
    assert task_status(checked.stdout, WRITE_TASK) == "changed"

    pinned = run_playbook([pin_task(images, str(lockfile))], str(tmp_path))
    assert pinned.rc == 0, pinned.output
    expected = header + "images:\n" + "".join(
        "  %s: %s@%s\n" % (image, image, digest) for image, digest in sorted(zip(images, digests)))
    assert lockfile.read_text() == expected
    assert task_status(pinned.stdout, WRITE_TASK) == "changed"

    again = run_playbook([pin_task(images, str(lockfile))], str(tmp_path))
    assert again.rc == 0, again.output
    assert task_status(again.stdout, WRITE_TASK) == "ok"
    assert lockfile.read_text() == expected


BAD_PIN_INPUT = [
    ({"pin_images_images": 5}, "pin_images_images must be a list of image references"),
    ({"pin_images_images": ["%s/app:1" % UNREACHABLE, 7]}, "pin_images_images must be a list of image references"),
    ({"pin_images_images": {"web": ""}}, "pin_images_images must be a list of image references"),
    ({"pin_images_mode": "check"}, "pin_images_mode"),
    ({"pin_images_concurrency": "many"}, "pin_images_concurrency"),
    ({"pin_images_mode": "verify"}, "pin_images_mode=verify needs pin_images_lockfile"),
]


@pytest.mark.parametrize("role_vars, message", BAD_PIN_INPUT)
def test_pin_images_bad_input_fails_before_any_registry_call(tmp_path, role_vars, message):
    merged = {"pin_images_images": ["%s/app:1" % UNREACHABLE]}
    merged.update(role_vars)
    task = {"name": "Pin", "ansible.builtin.include_role": {"name": "drc.registry.pin_images"}, "vars": merged}
    run = run_playbook([task], str(tmp_path))
    assert run.rc != 0
    assert message in run.output, run.output
    assert UNREACHABLE + "/v2" not in run.output  # no request was tried


def test_pin_images_rejects_a_file_it_did_not_write(tmp_path):
    lockfile = tmp_path / "not-a-lock.yml"
    lockfile.write_text("- just\n- a list\n")
    run = run_playbook([pin_task(["%s/app:1" % UNREACHABLE], str(lockfile), pin_images_mode="verify")],
                       str(tmp_path))
    assert run.rc != 0
    assert "is not a pin_images lock file" in run.output, run.output
    assert lockfile.read_text() == "- just\n- a list\n"


BAD_MIRROR_INPUT = [
    ({"mirror_images_dest": None}, "mirror_images_dest"),
    ({"mirror_images_images": [5]}, "mirror_images_images must be a list of image references or of {src, dest}"),
    ({"mirror_images_images": [{"dest": "x"}]}, "mirror_images_images must be a list of image references or of {src, dest}"),
    ({"mirror_images_src_auths": {UNREACHABLE: "password"}}, "mirror_images_src_auths a dict of registry host"),
    ({"mirror_images_concurrency": "many"}, "mirror_images_concurrency"),
    ({"mirror_images_dest_auth": "user:password"}, "mirror_images_dest_auth"),
]


@pytest.mark.parametrize("role_vars, message", BAD_MIRROR_INPUT)
def test_mirror_images_bad_input_fails_before_any_registry_call(tmp_path, role_vars, message):
    merged = {"mirror_images_images": ["%s/app:1" % UNREACHABLE],
              "mirror_images_dest": "%s/mirror" % UNREACHABLE}
    merged.update(role_vars)
    merged = {key: value for key, value in merged.items() if value is not None}
    task = {"name": "Mirror", "ansible.builtin.include_role": {"name": "drc.registry.mirror_images"},
            "vars": merged}
    run = run_playbook([task], str(tmp_path))
    assert run.rc != 0
    assert message in run.output, run.output
    assert "Copy the images of each source registry" not in run.output  # failed before the copy task
    assert "user:password" not in run.output  # a credential option's value is never shown


BAD_PRUNE_INPUT = [
    ({"prune_images_repositories": []}, "prune_images_repositories must be a non-empty list"),
    ({"prune_images_repositories": [5]}, "prune_images_repositories must be a non-empty list"),
    ({"prune_images_repositories": [{"keep": {"latest": 1}}]}, "prune_images_repositories must be a non-empty list"),
    ({"prune_images_repositories": [{"repository": "%s/app" % UNREACHABLE, "keep": "latest"}]},
     "with a string repository and a dict keep"),
    ({"prune_images_repositories": ["%s/app" % UNREACHABLE], "prune_images_keep": "latest"}, "prune_images_keep"),
]


@pytest.mark.parametrize("role_vars, message", BAD_PRUNE_INPUT)
def test_prune_images_bad_input_fails_before_any_registry_call(tmp_path, role_vars, message):
    task = {"name": "Prune", "ansible.builtin.include_role": {"name": "drc.registry.prune_images"},
            "vars": role_vars}
    run = run_playbook([task], str(tmp_path))
    assert run.rc != 0
    assert message in run.output, run.output
    assert "Prune each repository" not in run.output  # failed before the prune task
