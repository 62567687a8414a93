"""What referrer discovery costs a copy, in requests, on real CNCF Distribution 2.8 registries.

For each image kind (a single image, an index of 3 children, and the same signed by upstream
skopeo, from ../shared/fixtures/signatures), copy it with ``referrers`` on and off into a fresh
repository of another registry, then again (the destination holds it all), and count the requests
each registry logged. The target for an image with no referrers: at most one extra request per
manifest copied plus one per repository.

    python -m bench.referrers [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "build", "collections")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (  # noqa: E402
    RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.copy import copy_images  # noqa: E402
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (  # noqa: E402
    connection_options)
from ansible_collections.drc.registry.plugins.module_utils._registry.stores.locations import (  # noqa: E402
    open_store, parse_location)
from tests.testbed.signed_fixtures import seed_signed_fixtures  # noqa: E402
from tests.testbed.testbed import Testbed  # noqa: E402

# (label, source repository:tag, manifests in the image)
IMAGES = [("single image, no referrers", "app/oci:1.0", 1),
          ("index of 3, no referrers", "app/multi:oci", 4),
          ("single image, 1 cosign signature", "fx/signed-image:1", 1),
          ("index of 3, 4 cosign signatures", "fx/signed-index:1", 4)]


def copy_once(bed: Testbed, src, dest, source: str, target: str, referrers: bool) -> tuple:
    """(requests at the source, at the destination, the copy's result)."""
    marks = (src.access_log_mark(), dest.access_log_mark())
    connections = []

    def opener(value, side, writing):
        registry = src if side == "src" else dest
        options = {} if registry.mode == "open" else {"username": bed.username, "password": bed.password}

        def connect(ref):
            connections.append(RegistryConnection(connection_options(ref, options)))
            return connections[-1]
        return open_store(parse_location("%s/%s" % (registry.host, value)), connect, writing)

    try:
        [result] = copy_images([(source, target)], opener, referrers=referrers)
    finally:
        for connection in connections:
            connection.close()
    if "error" in result:
        raise result["error"]
    time.sleep(0.3)  # the access log is written after the answer
    return len(src.requests_since(marks[0])), len(dest.requests_since(marks[1])), result


def measure(bed: Testbed) -> list:
    src, dest = bed.registries["open"], bed.registries["token"]
    seed_signed_fixtures(bed, src)
    rows = []
    for number, (label, source, manifests) in enumerate(IMAGES):
        row = {"image": label, "manifests": manifests, "repositories": 2}
        for referrers in (False, True):
            target = "bench%d-%s/image:1" % (number, "on" if referrers else "off")
            first = copy_once(bed, src, dest, source, target, referrers)
            second = copy_once(bed, src, dest, source, target, referrers)
            key = "on" if referrers else "off"
            row[key] = {"first": first[:2], "again": second[:2], "referrers_copied": first[2]["referrers_copied"],
                        "again_changed": second[2]["changed"]}
        row["extra_first"] = sum(row["on"]["first"]) - sum(row["off"]["first"])
        row["extra_again"] = sum(row["on"]["again"]) - sum(row["off"]["again"])
        rows.append(row)
    return rows


def markdown(rows: list) -> str:
    lines = ["### Referrer discovery: extra requests per copy (CNCF Distribution 2.8, no referrers API)", "",
             "Requests logged by the source + destination registries (token requests not counted), "
             "`referrers: false` against `true`, into a fresh repository, then the same copy again.", "",
             "| image | manifests | first copy: off | on | extra | again: off | on | extra | referrers copied |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| %s | %d | %d+%d | %d+%d | %d | %d+%d | %d+%d | %d | %d |" % (
            row["image"], row["manifests"], row["off"]["first"][0], row["off"]["first"][1],
            row["on"]["first"][0], row["on"]["first"][1], row["extra_first"],
            row["off"]["again"][0], row["off"]["again"][1], row["on"]["again"][0], row["on"]["again"][1],
            row["extra_again"], row["on"]["referrers_copied"]))
    lines += ["", "Target for an image without referrers: at most one extra request per manifest copied "
              "plus one per repository (here: manifests + 2)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args(argv)
    bed = Testbed(big_size=1024 * 1024, modes=("open", "token")).start()
    try:
        rows = measure(bed)
    finally:
        bed.stop()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "referrers.json"), "w") as handle:
        json.dump(rows, handle, indent=1)
    text = markdown(rows)
    with open(os.path.join(args.out, "referrers.md"), "w") as handle:
        handle.write(text)
    sys.stdout.write(text)
    failures = [r["image"] for r in rows if "no referrers" in r["image"]
                and (r["extra_first"] > r["manifests"] + r["repositories"]
                     or r["extra_again"] > r["manifests"] + r["repositories"])]
    if failures:
        sys.stderr.write("over the target: %s\n" % ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
