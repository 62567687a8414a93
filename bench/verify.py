"""What verify-before-pin costs over a plain pin, in requests and time, on a real CNCF Distribution
2.8 registry with token auth over TLS.

The images upstream skopeo signed (../shared/fixtures/signatures) are seeded into the test bed's
token registry. For each image skopeo accepts, the digest to pin is resolved the way the
``registry_digest`` lookup does it, once plainly and once with ``verify_keys`` (key A, the
fixtures' ``signed_prefix``), each on a fresh connection (ping, token, then the work), and the
registry's own access log counts the requests (the token service's are not counted). Then the
four images as one batch of terms, as one lookup call with several terms. Times are medians of
``--reps`` runs, in this process (no Ansible start-up).

    python -m bench.verify [--reps 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "build", "collections")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (  # noqa: E402
    connection_options_each)
from ansible_collections.drc.registry.plugins.module_utils._registry.digest_batch import (  # noqa: E402
    resolve_digests)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (  # noqa: E402
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.signature_verify import (  # noqa: E402
    verified_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.signatures import (  # noqa: E402
    identity_rule)
from ansible_collections.drc.registry.plugins.module_utils._registry.signing_keys import (  # noqa: E402
    load_public_keys)
from tests.testbed.signed_fixtures import fixtures_dir, seed_signed_fixtures, verdicts  # noqa: E402
from tests.testbed.testbed import Testbed  # noqa: E402

SIGNED_PREFIX = "registry.example/fx"


def resolve_once(bed: Testbed, registry, references: list, resolve) -> tuple:
    """(requests the registry logged, seconds, digests) for one lookup-like resolution."""
    options = {"username": bed.username, "password": bed.password, "ca_path": bed.pki.ca_cert}
    parsed = [parse_image_reference(reference) for reference in references]
    mark = registry.access_log_mark()
    started = time.perf_counter()
    digests = resolve_digests(parsed, connection_options_each(parsed, options), resolve=resolve)
    seconds = time.perf_counter() - started
    time.sleep(0.3)  # the access log is written after the answer
    return len(registry.requests_since(mark)), seconds, digests


def measure(bed: Testbed, reps: int) -> dict:
    registry = bed.registries["token"]
    seeded = seed_signed_fixtures(bed, registry)
    keys = load_public_keys([os.path.join(fixtures_dir(), "keys", "key-a.pub")], "verify_keys")
    rule = identity_rule(None, SIGNED_PREFIX, "%s/fx" % registry.host)
    verify = verified_digest(keys, rule)
    accepted = sorted(case for case, verdict in verdicts()["cases"].items()
                      if verdict["skopeo"] == "accepted")
    rows = []
    groups = [(case, ["%s/%s" % (registry.host, seeded[case]["reference"])]) for case in accepted]
    groups.append(("all %d as one batch" % len(accepted),
                   ["%s/%s" % (registry.host, seeded[case]["reference"]) for case in accepted]))
    for label, references in groups:
        row = {"images": label, "terms": len(references)}
        for kind, resolve in (("plain", None), ("verified", verify)):
            runs = [resolve_once(bed, registry, references, resolve) for _rep in range(reps)]
            if len({tuple(run[2]) for run in runs}) != 1:
                raise RuntimeError("%s: %s runs resolved different digests" % (label, kind))
            row[kind] = {"requests": sorted({run[0] for run in runs}),
                         "seconds": statistics.median(run[1] for run in runs),
                         "digests": runs[0][2]}
        if row["plain"]["digests"] != row["verified"]["digests"]:
            raise RuntimeError("%s: the verified digests differ from the plain ones" % label)
        rows.append(row)
    return {"reps": reps, "rows": rows}


def markdown(result: dict) -> str:
    lines = ["### Verify-before-pin against a plain pin (CNCF Distribution 2.8, token auth, TLS)", "",
             "Requests logged by the registry (token requests not counted) and median seconds of %d runs, "
             "each on a fresh connection, in-process (no Ansible start-up)." % result["reps"], "",
             "| images | terms | plain: requests | seconds | verified: requests | seconds | extra requests |",
             "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        plain, verified = row["plain"], row["verified"]
        lines.append("| %s | %d | %s | %.3f | %s | %.3f | %s |" % (
            row["images"], row["terms"], "/".join(map(str, plain["requests"])), plain["seconds"],
            "/".join(map(str, verified["requests"])), verified["seconds"],
            "/".join(str(v - p) for p in plain["requests"] for v in verified["requests"])))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args(argv)
    bed = Testbed(big_size=1024 * 1024, modes=("token",)).start()
    try:
        result = measure(bed, args.reps)
    finally:
        bed.stop()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "verify.json"), "w") as handle:
        json.dump(result, handle, indent=1)
    text = markdown(result)
    with open(os.path.join(args.out, "verify.md"), "w") as handle:
        handle.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
