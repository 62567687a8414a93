"""``make demo``: start a throwaway registry, seed it with skopeo, run demo/demo.yml against it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from tests.testbed.testbed import Testbed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    print("Starting a local CNCF Distribution registry and seeding it with skopeo...", flush=True)
    bed = Testbed(big_size=4 * 1024 * 1024, modes=("open",)).start()
    registry = bed.registries["open"]
    print("Registry at %s" % registry.url, flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="drc-demo-") as dest:
            command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                       "-i", "localhost,", "-c", "local", os.path.join(ROOT, "demo", "demo.yml"),
                       "-e", "ansible_python_interpreter=%s" % sys.executable,
                       "-e", "demo_registry=%s" % registry.host, "-e", "demo_dest=%s" % dest]
            return subprocess.call(command)
    finally:
        bed.stop()


if __name__ == "__main__":
    sys.exit(main())
