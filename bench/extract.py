"""``make bench`` scenario ``extract``: one file out of an image whose single layer is 1 GiB
(``--quick``: 8 MiB), by registry_extract from the bed's plain-http registry, against
``umoci unpack --rootless`` of the same image (copied to an OCI layout with skopeo first, timed
apart). Peak RSS of each command, and the file checked after each run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

from bench.bed import MIB, _big_layer_image
from tests.testbed.images import Layout, Seeder

BIN = os.path.dirname(sys.executable)
TOOLS = ("our module (ansible)", "module start-up (tiny file)", "skopeo copy to oci:", "umoci unpack (from the layout)")


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(8 * MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scenario(bed, size: int, reps: int, workdir: str, run, median) -> dict:
    """``run`` and ``median`` are bench.run's (one measuring harness for every scenario)."""
    layout = Layout(os.path.join(workdir, "extract-layout"))
    image = _big_layer_image(layout, size, "extract")
    layout.tag("big", image["descriptor"])
    layout.tag("small", layout.image(("linux", "amd64", None), {"hello": b"bench\n"}, "small"))
    layout.save()
    seeder = Seeder(layout.path, bed.open_registry)
    seeder.copy("big", "bench/extract:big")
    seeder.copy("small", "bench/extract:small")
    expected = None
    dest = os.path.join(workdir, "extract-dest")
    oci = os.path.join(workdir, "extract-oci")
    bundle = os.path.join(workdir, "extract-bundle")

    def module(tag: str, path: str) -> list:
        args = {"reference": "http://%s/bench/extract:%s" % (bed.open_host, tag), "paths": [path], "dest": dest}
        return [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_extract", "-a",
                json.dumps(args)]

    commands = {
        TOOLS[0]: lambda: module("big", "/data.bin"),
        TOOLS[1]: lambda: module("small", "/hello"),
        TOOLS[2]: lambda: ["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                           "docker://%s/bench/extract:big" % bed.open_host, "oci:%s:big" % oci],
        TOOLS[3]: lambda: ["umoci", "unpack", "--rootless", "--image", "%s:big" % oci, bundle],
    }
    seconds = {name: [] for name in commands}
    rss = {name: [] for name in commands}
    for _rep in range(reps):
        for path in (dest, oci, bundle):
            shutil.rmtree(path, ignore_errors=True)
        for name, command in commands.items():
            if name == TOOLS[1]:
                shutil.rmtree(dest, ignore_errors=True)
            result = run(command(), measure_memory=True)
            seconds[name].append(result["seconds"])
            rss[name].append(result["rss_mib"])
            if name == TOOLS[0]:
                expected = _sha256_file(os.path.join(dest, "data.bin"))
            if name == TOOLS[3] and _sha256_file(os.path.join(bundle, "rootfs", "data.bin")) != expected:
                raise RuntimeError("registry_extract and umoci wrote different data.bin")
    for path in (dest, oci, bundle):
        shutil.rmtree(path, ignore_errors=True)
    medians = {name: median(values) for name, values in seconds.items()}
    return {"layer_bytes": image["layer"]["size"], "median_seconds": medians,
            "peak_rss_mib": {name: max(values) for name, values in rss.items()},
            "module_less_startup_seconds": medians[TOOLS[0]] - medians[TOOLS[1]],
            "skopeo_and_umoci_seconds": medians[TOOLS[2]] + medians[TOOLS[3]]}


def markdown(report: dict | None) -> list:
    if not report:
        return []
    lines = ["", "## Extract: one file out of a %.0f MiB layer" % (report["layer_bytes"] / MIB), "",
             "registry_extract from the plain-http registry (the file written, verified), against skopeo "
             "copying the image to an OCI layout and `umoci unpack --rootless` of it. Peak RSS of the "
             "whole command (for ours: `ansible` and the module).", "",
             "| command | median | peak RSS |", "|---|---|---|"]
    for name in TOOLS:
        lines.append("| %s | %.2f s | %.0f MiB |" % (name, report["median_seconds"][name], report["peak_rss_mib"][name]))
    lines += ["", "Module less its start-up: %.2f s; skopeo copy + umoci unpack: %.2f s." % (
        report["module_less_startup_seconds"], report["skopeo_and_umoci_seconds"])]
    return lines
