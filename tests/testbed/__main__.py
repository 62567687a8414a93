"""Run the test bed standalone: ``python -m tests.testbed`` prints its endpoints until Ctrl-C."""

from __future__ import annotations

import json
import signal
import sys

from tests.testbed.testbed import Testbed


def main() -> int:
    bed = Testbed(big_size=8 * 1024 * 1024).start()
    print(json.dumps({"registries": bed.endpoints(), "token_realm": bed.token_server.realm,
                      "username": bed.username, "password": bed.password,
                      "ca_cert": bed.pki.ca_cert}, indent=2), flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        bed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
