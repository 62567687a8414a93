"""Mirroring N images with the mirror_images role: does a long list cost one task run per image?

    python -m bench.mirror_roles [--reps 3] [--count 20]

Starts the test bed (an open registry as the source, a token-auth registry as the destination) and
times, as whole ``ansible-playbook`` runs, medians of ``--reps``:

- the role with 1 image, and with ``--count`` images (one registry_copy task with the list form);
- for comparison, the same ``--count`` images with a loop of single registry_copy calls, which is
  what a role without the list form would do.

Every run copies to a destination prefix no earlier run used, so every run really copies. The
sources are ``--count`` tags of one repository (``app/tags:t000``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from tests.testbed.testbed import Testbed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def environment() -> dict:
    env = dict(os.environ)
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "build", "collections"),
                "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "false",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "ANSIBLE_NOCOLOR": "1",
                "PATH": BIN + os.pathsep + env.get("PATH", "")})
    return env


def playbook(workdir: str, tasks: list, play_vars: dict) -> float:
    path = os.path.join(workdir, "play.json")
    with open(path, "w") as handle:
        json.dump([{"hosts": "localhost", "gather_facts": False, "vars": play_vars, "tasks": tasks}], handle)
    started = time.perf_counter()
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", path],
                          capture_output=True, text=True, env=environment(), check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    if "changed=" not in done.stdout or "changed=0 " in done.stdout:
        raise RuntimeError("the run copied nothing:\n" + done.stdout[-3000:])
    return seconds


def role_task(images: list, dest: str) -> dict:
    return {"name": "Mirror", "ansible.builtin.include_role": {"name": "drc.registry.mirror_images"},
            "vars": {"mirror_images_images": images, "mirror_images_dest": dest,
                     "mirror_images_dest_auth": "{{ dest_auth }}"}}


def loop_task(images: list, dest: str) -> dict:
    return {"name": "Mirror, one registry_copy per image",
            "drc.registry.registry_copy": {"src": "{{ item }}",
                                           "dest": "%s/{{ item.split('/', 1)[1] }}" % dest,
                                           "dest_auth": "{{ dest_auth }}"},
            "loop": images}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    bed = Testbed(big_size=1024 * 1024, modes=("open", "token")).start()
    try:
        source, dest_registry = bed.registries["open"], bed.registries["token"]
        images = ["%s/app/tags:t%03d" % (source.host, i) for i in range(args.count)]
        play_vars = {"dest_auth": {"username": bed.username, "password": bed.password}}
        cases = [("role, 1 image", role_task, images[:1]),
                 ("role, %d images" % args.count, role_task, images),
                 ("loop of registry_copy, %d images" % args.count, loop_task, images)]
        times: dict = {case[0]: [] for case in cases}
        with tempfile.TemporaryDirectory() as workdir:
            run = 0
            for repetition in range(args.reps):
                for name, make, subset in cases:
                    run += 1
                    dest = "%s/bench%d-%d" % (dest_registry.host, repetition, run)
                    times[name].append(playbook(workdir, [make(subset, dest)], play_vars))
        medians = {name: statistics.median(values) for name, values in times.items()}
        one = medians["role, 1 image"]
        print("| case | median | runs | / role with 1 image |")
        print("|---|---|---|---|")
        for name, value in medians.items():
            runs = ", ".join("%.2f" % v for v in times[name])
            print("| %s | %.2f s | %s | %.2fx |" % (name, value, runs, value / one))
    finally:
        bed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
