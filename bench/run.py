"""``make bench``: drc.registry against skopeo, python-dxf and curl on one real registry, in one run.

    python -m bench.run [--quick] [--delay 0.02] [--reps 3] [--out bench/results] [--only resolve,startup]

Each scenario runs ours and the peers alternately, ``--reps`` times, and reports medians, the ratio
ours/peer from the same run, and the HTTP requests each made (registry access log and token server
counter), in OUT/latest.md, .json and .svg (the chart, bench/chart.py), copied to docs/benchmarks/
under the run's date. ``--quick`` uses small sizes (OUT/quick.*, nothing copied): a smoke test of
the harness, asserting nothing about speed.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import chart
from bench import extract as extract_bench
from bench.bed import MIB, USERNAME, BenchBed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, "build", "collections")


def environment(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_LOCALHOST_WARNING": "false",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "ANSIBLE_NOCOLOR": "1",
                "PYTHONPATH": os.pathsep.join([COLLECTIONS, ROOT]),
                "PATH": BIN + os.pathsep + env.get("PATH", "")})
    env.update(extra or {})
    return env


def run(command: list, env: dict | None = None, measure_memory: bool = False) -> dict:
    """Run a command; wall seconds, and peak RSS (MiB) of its largest process when asked."""
    rss_file = None
    if measure_memory:
        fd, rss_file = tempfile.mkstemp()
        os.close(fd)
        command = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + command
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env or environment(), check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        detail = (done.stderr or done.stdout)[-2000:]
        raise RuntimeError("%s failed (%d): %s" % (" ".join(command[:6]), done.returncode, detail))
    out = {"seconds": seconds, "stdout": done.stdout}
    if rss_file:
        with open(rss_file) as handle:
            out["rss_mib"] = int(handle.read().split()[-1]) / 1024.0
        os.unlink(rss_file)
    return out


def median(values: list) -> float:
    return statistics.median(values) if values else float("nan")


# -- scenario 1: resolving references to digests ------------------------------------------------------
def lookup_playbook(path: str, terms: list, with_lookup: bool, ca_path: str) -> None:
    expression = ("query('drc.registry.registry_digest', %s, ca_path='%s')"
                  % (", ".join("'%s'" % t for t in terms), ca_path) if with_lookup else json.dumps(terms))
    with open(path, "w") as handle:
        json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Resolve", "ansible.builtin.debug": {"msg": "{{ %s }}" % expression}}]}], handle)


def resolve_scenario(bed: BenchBed, counts: list, reps: int, workdir: str) -> list:
    creds_env = environment({"DRC_REGISTRY_USERNAME": USERNAME, "DRC_REGISTRY_PASSWORD": bed.password,
                             "DRC_REGISTRY_HOST": bed.remote_host})
    options = {"username": USERNAME, "password": bed.password, "ca_path": bed.pki.ca_cert}
    rows = []
    for count in counts:
        references = bed.references(count)
        terms = ["https://%s/%s" % (bed.remote_host, r) for r in references]
        with_path, base_path = os.path.join(workdir, "with.yml"), os.path.join(workdir, "base.yml")
        lookup_playbook(with_path, terms, True, bed.pki.ca_cert)
        lookup_playbook(base_path, terms, False, bed.pki.ca_cert)
        playbook = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local"]
        peers = {
            "lookup in ansible-playbook": lambda: run(playbook + [with_path], creds_env)["seconds"],
            "playbook without the lookup": lambda: run(playbook + [base_path], creds_env)["seconds"],
            "our client, in-process": lambda: json.loads(run(
                [sys.executable, "-m", "bench.inprocess", "resolve",
                 json.dumps({"references": terms, "options": options})])["stdout"])["seconds"],
            "skopeo inspect per reference": lambda: sum(run(
                ["skopeo", "inspect", "--raw", "--cert-dir", bed.pki.ca_dir, "--creds",
                 "%s:%s" % (USERNAME, bed.password), "docker://%s/%s" % (bed.remote_host, r)])["seconds"]
                for r in references),
            "python-dxf per reference": lambda: json.loads(run(
                [sys.executable, "-m", "bench.dxf_peer", "digest", json.dumps(
                    {"host": bed.remote_host, "references": references, "username": USERNAME,
                     "password": bed.password, "ca": bed.pki.ca_cert})])["stdout"])["seconds"],
        }
        times = {name: [] for name in peers}
        requests = {}
        for rep in range(reps):
            for name, measure in peers.items():
                mark = bed.counters()
                times[name].append(measure())
                if rep == 0:
                    requests[name] = bed.requests_since(mark)
        row = {"references": count, "median_seconds": {n: median(t) for n, t in times.items()},
               "seconds": times, "requests": requests}
        own = row["median_seconds"]["lookup in ansible-playbook"] - row["median_seconds"]["playbook without the lookup"]
        row["lookup_own_seconds"] = own
        row["ratio_lookup_to_skopeo"] = own / row["median_seconds"]["skopeo inspect per reference"]
        row["ratio_lookup_to_dxf"] = own / row["median_seconds"]["python-dxf per reference"]
        rows.append(row)
        check_digests(bed, terms, references, options)
    return rows


def check_digests(bed: BenchBed, terms: list, references: list, options: dict) -> None:
    """Ours, skopeo and python-dxf must agree, or the timings mean nothing."""
    ours = json.loads(run([sys.executable, "-m", "bench.inprocess", "resolve",
                           json.dumps({"references": terms[:3], "options": options})])["stdout"])["result"]
    dxf = json.loads(run([sys.executable, "-m", "bench.dxf_peer", "digest", json.dumps(
        {"host": bed.remote_host, "references": references[:3], "username": USERNAME,
         "password": bed.password, "ca": bed.pki.ca_cert})])["stdout"])["result"]
    raw = run(["skopeo", "inspect", "--raw", "--cert-dir", bed.pki.ca_dir, "--creds", "%s:%s" % (USERNAME, bed.password),
               "docker://%s/%s" % (bed.remote_host, references[0])])["stdout"].encode()
    if not ours == dxf or ours[0] != "sha256:" + hashlib.sha256(raw).hexdigest():
        raise RuntimeError("digests disagree: ours %s, python-dxf %s" % (ours, dxf))


# -- scenario 2: fetching a large blob ------------------------------------------------------------------
FETCH_KINDS = {"tls": "token-auth registry over TLS, direct", "plain": "plain-http registry without auth, loopback"}


def fetch_scenario(bed: BenchBed, label: str, reps: int, workdir: str, peers_too: bool = True,
                   kind: str = "tls") -> dict:
    """One blob to a file by each tool, on the token+TLS registry (``tls``) or the plain-http one.

    Module start-up is the median of the same module fetching a tiny blob from the same registry:
    ``(module - start-up) / curl -o`` is the module's own transfer against curl's.
    """
    tls = kind == "tls"
    blob = (bed.blobs if tls else bed.open_blobs)[label]
    repository = "bench/big"
    host = bed.local_host if tls else bed.open_host
    scheme = "https" if tls else "http"
    url = "%s://%s/v2/%s/blobs/%s" % (scheme, host, repository, blob["digest"])
    dest = os.path.join(workdir, "blob")
    options = {"username": USERNAME, "password": bed.password, "ca_path": bed.pki.ca_cert} if tls else {}

    def clean():
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        elif os.path.exists(dest):
            os.unlink(dest)

    def curl(*args):
        tls_args = ["--cacert", bed.pki.ca_cert, "-H", "Authorization: Bearer " + bed.token(repository)] if tls else []
        return ["curl", "-sf"] + tls_args + list(args) + [url]

    def module(digest, repo=repository):
        args = dict(repository="%s://%s/%s" % (scheme, host, repo), digest=digest, dest=dest, **options)
        return [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_blob_fetch", "-a",
                json.dumps(args)]

    tiny = bed.tiny_blobs[kind]
    commands = {
        "our module (ansible)": lambda: module(blob["digest"]),
        "module start-up (tiny blob)": lambda: module(tiny["digest"], "bench/r0"),
        "our client, in-process": lambda: [sys.executable, "-m", "bench.inprocess", "fetch", json.dumps(
            {"repository": "%s://%s/%s" % (scheme, host, repository), "digest": blob["digest"],
             "dest": dest, "options": options})],
        "curl -o (no hashing)": lambda: curl("-o", dest),
    }
    if peers_too:
        skopeo_src = (["--src-cert-dir", bed.pki.ca_dir, "--src-creds", "%s:%s" % (USERNAME, bed.password)]
                      if tls else ["--src-tls-verify=false"])
        commands.update({
            "curl | sha256sum": lambda: ["bash", "-c", " ".join("'%s'" % a for a in curl()) + " | sha256sum"],
            "skopeo copy to dir:": lambda: ["skopeo", "copy", "--quiet"] + skopeo_src + [
                "docker://%s/%s:%s" % (host, repository, label), "dir:" + dest],
        })
        if tls:  # python-dxf refuses plain http
            commands["python-dxf pull_blob"] = lambda: [sys.executable, "-m", "bench.dxf_peer", "fetch", json.dumps(
                {"host": host, "repository": repository, "digest": blob["digest"], "dest": dest,
                 "username": USERNAME, "password": bed.password, "ca": bed.pki.ca_cert})]
    seconds = {name: [] for name in commands}
    rss = {name: [] for name in commands}
    own = []
    for _rep in range(reps):
        for name, command in commands.items():
            clean()
            result = run(command(), measure_memory=True)
            seconds[name].append(result["seconds"])
            rss[name].append(result["rss_mib"])
            if name == "curl | sha256sum" and blob["digest"].split(":")[1] not in result["stdout"]:
                raise RuntimeError("curl | sha256sum got another digest")
            if name == "our module (ansible)":
                check_file(dest, blob)
            if name == "our client, in-process":  # its own time: the fetch, without Python's start-up
                own.append(json.loads(result["stdout"])["seconds"])
    clean()
    size = blob["size"]
    medians = {n: median(s) for n, s in seconds.items()}
    curl_o = medians["curl -o (no hashing)"]
    return {"kind": kind, "blob_bytes": size,
            "median_seconds": medians,
            "mib_per_second": {n: size / MIB / median(s) for n, s in seconds.items()},
            "peak_rss_mib": {n: max(r) for n, r in rss.items()},
            "module_startup_seconds": medians["module start-up (tiny blob)"],
            "ratio_module_less_startup_to_curl_o":
                (medians["our module (ansible)"] - medians["module start-up (tiny blob)"]) / curl_o,
            "inprocess_fetch_seconds": median(own),
            "ratio_inprocess_to_curl_o": median(own) / curl_o}


def check_file(path: str, blob: dict) -> None:
    """The module's file must be the blob, or its timing means nothing."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(8 * MIB), b""):
            digest.update(chunk)
    if "sha256:" + digest.hexdigest() != blob["digest"]:
        raise RuntimeError("the module wrote another blob than %s" % blob["digest"])


# -- scenario 3: module start-up overhead -------------------------------------------------------------
def startup_scenario(bed: BenchBed, reps: int) -> dict:
    ansible = [os.path.join(BIN, "ansible"), "localhost", "-m"]
    env = environment({"DRC_REGISTRY_USERNAME": USERNAME, "DRC_REGISTRY_PASSWORD": bed.password,
                       "DRC_REGISTRY_HOST": bed.open_registry.host})
    commands = {
        "ansible.builtin.ping": ansible + ["ansible.builtin.ping"],
        "drc.registry.registry_tags_info": ansible + ["drc.registry.registry_tags_info", "-a",
                                                      "repository=http://%s/bench/r0" % bed.open_registry.host],
        "python: pass": [sys.executable, "-c", "pass"],
        "python: import requests": [sys.executable, "-c", "import requests"],
        "python: import our client": [sys.executable, "-c", "import ansible_collections.drc.registry.plugins."
                                                            "module_utils._registry.connection"],
    }
    seconds = {name: [] for name in commands}
    for _rep in range(reps):
        for name, command in commands.items():
            seconds[name].append(run(command, env)["seconds"])
    medians = {n: median(s) for n, s in seconds.items()}
    return {"median_seconds": medians,
            "module_overhead_seconds": medians["drc.registry.registry_tags_info"] - medians["ansible.builtin.ping"],
            "import_requests_seconds": medians["python: import requests"] - medians["python: pass"],
            "import_client_seconds": medians["python: import our client"] - medians["python: pass"]}


# -- scenario 4: copying images (registry_copy against skopeo copy --all) ------------------------------
COPY_KINDS = {  # name -> (source end, destination end)
    "registry to registry": ("registry", "registry"),
    "registry to oci:": ("registry", "oci"),
    "oci: to registry": ("oci", "registry"),
}
COPY_TOOLS = ("our module (ansible)", "our client (python process)", "skopeo copy --all")


def skopeo_isolation() -> tuple:
    """A command prefix and environment that give each skopeo run an empty blob-info cache.

    skopeo remembers where it saw each blob and mounts it from there the next time it pushes to
    the same registry: the second repetition would then copy nothing. Its cache is in
    /var/lib/containers/cache for root (hidden here behind a private tmpfs) and under $HOME else.
    """
    if os.geteuid() != 0:
        return [], True
    cache = "/var/lib/containers/cache"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mkdir -p %s && mount -t tmpfs tmpfs %s" % (cache, cache)],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        return [], False
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mkdir -p %s && mount -t tmpfs tmpfs %s && exec "$@"' % (cache, cache), "sh", "skopeo"], True


def copy_scenario(bed: BenchBed, labels: list, reps: int, workdir: str) -> dict:
    """Each copy kind for each image, by each tool, into a destination that holds nothing of it."""
    creds = "%s:%s" % (USERNAME, bed.password)
    auth = {"username": USERNAME, "password": bed.password, "ca_path": bed.pki.ca_cert}
    prefix, isolated = skopeo_isolation()
    images = {label: ("bench/multi", "latest") if label == "multi" else ("bench/big", label) for label in labels}
    # The layout the oci: sources read: the source registry's images, as skopeo writes them.
    source_layout = os.path.join(workdir, "source-layout")
    for label, (repository, tag) in images.items():
        run(["skopeo", "copy", "--all", "--quiet", "--src-cert-dir", bed.pki.ca_dir, "--src-creds", creds,
             "docker://%s/%s:%s" % (bed.local_host, repository, tag), "oci:%s:%s" % (source_layout, label)])
    serial = [0]

    def ends(kind: str, label: str, tool: str, rep: int) -> tuple:
        """(src, dest, how to read the destination's digest, clean-up) as plain locations."""
        src_kind, dest_kind = COPY_KINDS[kind]
        repository, tag = images[label]
        src = ("%s/%s:%s" % (bed.local_host, repository, tag) if src_kind == "registry"
               else "%s:%s" % (source_layout, label))
        serial[0] += 1
        if dest_kind == "registry":
            dest_repository = "copy/run%d" % serial[0]  # fresh: nothing of the image is there
            dest = "%s/%s:%s" % (bed.target.host, dest_repository, label)
            return src, dest, lambda: bed.manifest_digest(bed.target, dest_repository, label), lambda: None
        dest_path = os.path.join(workdir, "dest-layout-%d" % serial[0])
        return (src, "%s:%s" % (dest_path, label), lambda: layout_digest(dest_path, label),
                lambda: shutil.rmtree(dest_path, ignore_errors=True))

    def command(tool: str, kind: str, src: str, dest: str) -> list:
        src_kind, dest_kind = COPY_KINDS[kind]
        if tool == "skopeo copy --all":
            args = ["copy", "--all", "--quiet"]
            if src_kind == "registry":
                args += ["--src-cert-dir", bed.pki.ca_dir, "--src-creds", creds]
            if dest_kind == "registry":
                args += ["--dest-cert-dir", bed.pki.ca_dir, "--dest-creds", creds]
            return (prefix or ["skopeo"]) + args + [
                ("docker://" if src_kind == "registry" else "oci:") + src,
                ("docker://" if dest_kind == "registry" else "oci:") + dest]
        ours = {"src": src if src_kind == "registry" else "oci:" + src,
                "dest": dest if dest_kind == "registry" else "oci:" + dest}
        if tool == "our module (ansible)":
            ours["blob_cache"] = False  # as skopeo's: no memory of earlier repetitions
            for side, end_kind in (("src", src_kind), ("dest", dest_kind)):
                if end_kind == "registry":
                    ours[side + "_auth"] = auth
            return [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_copy",
                    "-a", json.dumps(ours)]
        return [sys.executable, "-m", "bench.inprocess", "copy", json.dumps(
            dict(ours, src_options=auth, dest_options=auth))]

    rows = []
    for kind in COPY_KINDS:
        for label, (repository, tag) in images.items():
            expected = bed.manifest_digest(bed.registry, repository, tag)
            if layout_digest(source_layout, label) != expected:
                raise RuntimeError("the source layout's %s is not the registry's %s" % (label, expected))
            seconds = {tool: [] for tool in COPY_TOOLS}
            inside = []  # our client's copy_images alone (its own timer: no interpreter start, no imports)
            requests = {}
            for rep in range(reps):
                for tool in COPY_TOOLS:
                    src, dest, digest_of_dest, clean = ends(kind, label, tool, rep)
                    mark = bed.copy_counters()
                    done = run(command(tool, kind, src, dest))
                    seconds[tool].append(done["seconds"])
                    if tool == "our client (python process)":
                        inside.append(json.loads(done["stdout"])["seconds"])
                    requests.setdefault(tool, []).append(bed.copy_requests_since(mark))
                    got = digest_of_dest()
                    clean()
                    if got != expected:
                        raise RuntimeError("%s, %s of %s: the destination holds %s, not %s"
                                           % (tool, kind, label, got, expected))
            rows.append({"kind": kind, "image": label, "digest": expected,
                         "bytes": image_bytes(source_layout, label),
                         "median_seconds": {tool: median(s) for tool, s in seconds.items()},
                         "client_copy_only_seconds": median(inside),
                         # The first repetition's; every repetition's when they differ (a retry, a reuse).
                         "requests": {tool: counts[0] for tool, counts in requests.items()},
                         "requests_varied": {tool: counts for tool, counts in requests.items()
                                             if any(c != counts[0] for c in counts)}})
    return {"skopeo_cache_isolated": isolated, "rows": rows}


def layout_digest(path: str, tag: str) -> str | None:
    """The digest an OCI layout's index.json gives a tag."""
    try:
        with open(os.path.join(path, "index.json")) as handle:
            index = json.load(handle)
    except FileNotFoundError:
        return None
    for entry in index.get("manifests", []):
        if (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
            return entry["digest"]
    return None


def image_bytes(layout: str, tag: str) -> int:
    """Every blob of an image (manifests, configs, layers), as the copy moves them."""
    def read(digest):
        with open(os.path.join(layout, "blobs", *digest.split(":", 1)), "rb") as handle:
            return handle.read()
    total, pending, seen = 0, [layout_digest(layout, tag)], set()
    while pending:  # manifests and indexes
        digest = pending.pop()
        raw = read(digest)
        total += len(raw)
        body = json.loads(raw)
        pending += [d["digest"] for d in body.get("manifests", [])]
        for blob in ([body["config"]] if "config" in body else []) + body.get("layers", []):
            if blob["digest"] not in seen:
                seen.add(blob["digest"])
                total += blob["size"]
    return total


def copy_summary(copies: dict, ping_seconds: float) -> None:
    """Ratios ours/skopeo, with the module's start-up (ansible.builtin.ping's time) in and out."""
    copies["module_startup_seconds"] = ping_seconds
    for row in copies["rows"]:
        s = row["median_seconds"]
        skopeo = s["skopeo copy --all"]
        row["module_less_startup_seconds"] = s["our module (ansible)"] - ping_seconds
        row["ratio_module_to_skopeo"] = s["our module (ansible)"] / skopeo
        row["ratio_module_less_startup_to_skopeo"] = row["module_less_startup_seconds"] / skopeo
        row["ratio_client_to_skopeo"] = s["our client (python process)"] / skopeo


# -- report -------------------------------------------------------------------------------------------
def fetch_markdown(report: dict) -> list:
    lines = []
    fetches = [f for key in ("fetch", "fetch_plain") for f in report.get(key, {}).values()]
    for fetch in fetches:
        kind = fetch.get("kind", "tls")
        lines += ["", "### Fetching a %.0f MiB blob to a file (%s)" % (fetch["blob_bytes"] / MIB, FETCH_KINDS[kind]), "",
                  "| tool | median time | MiB/s | peak RSS |", "|---|---|---|---|"]
        for name, secs in fetch["median_seconds"].items():
            row = (name, secs, fetch["mib_per_second"][name], fetch["peak_rss_mib"][name])
            lines.append("| %s | %.2f s | %.0f | %.0f MiB |" % row)
    if fetches:
        lines += ["", "Verified blob → file against `curl -o` (which does not hash), medians of the same run; module "
                  "start-up is the median of the same module fetching a tiny blob from the same registry; in-process "
                  "is the client's own fetch time (without the interpreter's start-up and imports):", "",
                  "| blob | registry | (module − start-up) / curl -o | in-process / curl -o | module start-up |",
                  "|---|---|---|---|---|"]
        for fetch in fetches:
            lines.append("| %.0f MiB | %s | %.2f | %.2f | %.2f s |" % (
                fetch["blob_bytes"] / MIB, fetch.get("kind", "tls"), fetch["ratio_module_less_startup_to_curl_o"],
                fetch["ratio_inprocess_to_curl_o"], fetch["module_startup_seconds"]))
    return lines


def markdown(report: dict) -> str:
    lines = ["Benchmarks of %s on %s (%s, %d cores), delay %.0f ms each way, %d repetitions, medians."
             % (report["date"], report["machine"]["platform"], report["machine"]["processor"] or "cpu",
                report["machine"]["cores"], report["delay_ms"], report["reps"]), ""]
    if report["resolve"]:
        lines += ["### Resolving tag references to digests (token-auth registry behind the latency proxy)", "",
                  "| references | lookup's own time | lookup in playbook | playbook without lookup | our client in-process "
                  "| skopeo loop | python-dxf loop | lookup/skopeo | lookup/dxf | requests: ours (lookup) | skopeo | python-dxf |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in report["resolve"]:
            s, r = row["median_seconds"], row["requests"]

            def total(name):
                return r[name]["registry"] + r[name]["token"]
            lines.append("| %d | %.3f s | %.3f s | %.3f s | %.3f s | %.3f s | %.3f s | %.3f | %.3f | %d | %d | %d |" % (
                row["references"], row["lookup_own_seconds"], s["lookup in ansible-playbook"],
                s["playbook without the lookup"], s["our client, in-process"], s["skopeo inspect per reference"],
                s["python-dxf per reference"], row["ratio_lookup_to_skopeo"], row["ratio_lookup_to_dxf"],
                total("lookup in ansible-playbook"), total("skopeo inspect per reference"),
                total("python-dxf per reference")))
    lines += fetch_markdown(report)
    start = report["startup"]
    if start:
        lines += ["", "### Start-up", "", "| command | median |", "|---|---|"]
        for name, secs in start["median_seconds"].items():
            lines.append("| %s | %.3f s |" % (name, secs))
        lines += ["", "Module overhead over ping: %.3f s; importing requests: %.3f s; importing our client: %.3f s."
                  % (start["module_overhead_seconds"], start["import_requests_seconds"],
                     start["import_client_seconds"])]
    if "copy" in report:
        lines += copy_markdown(report["copy"])
    lines += extract_bench.markdown(report.get("extract"))
    return "\n".join(lines) + "\n"


def copy_markdown(copies: dict) -> list:
    def requests(counts: dict) -> str:
        return "%d+%d+%d" % (counts["source"], counts["dest"], counts["token"])

    lines = ["", "### Copying images: registry_copy against `skopeo copy --all`", "",
             "Two token-auth TLS registries on loopback, reached directly; every run copies into a repository "
             "or layout directory that holds nothing of the image, %s. Our module's time includes Ansible's "
             "start-up (`ansible localhost -m ansible.builtin.ping`, %.2f s in this run), shown subtracted too; "
             "our client is a Python process calling `copy_images` (interpreter start and imports included; "
             "its copy alone is `copy_images`'s own time inside it). "
             "Requests: source registry + destination registry + token server."
             % ("skopeo with an empty blob-info cache each time" if copies["skopeo_cache_isolated"] else
                "skopeo's blob-info cache NOT isolated (it may mount blobs it saw before)",
                copies["module_startup_seconds"]), "",
             "| copy | image | MiB | our module | module less start-up | our client | its copy alone | skopeo "
             "| module less start-up / skopeo | module / skopeo | client / skopeo | requests: ours | skopeo |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in copies["rows"]:
        s, r = row["median_seconds"], row["requests"]
        alone = row.get("client_copy_only_seconds")
        lines.append("| %s | %s | %.0f | %.2f s | %.2f s | %.2f s | %s | %.2f s | %.2f | %.2f | %.2f | %s | %s |" % (
            row["kind"], row["image"], row["bytes"] / MIB, s["our module (ansible)"], row["module_less_startup_seconds"],
            s["our client (python process)"], "%.2f s" % alone if alone is not None else "-",
            s["skopeo copy --all"], row["ratio_module_less_startup_to_skopeo"],
            row["ratio_module_to_skopeo"], row["ratio_client_to_skopeo"], requests(r["our module (ansible)"]),
            requests(r["skopeo copy --all"])))
    varied = ["%s, %s, %s: %s" % (row["kind"], row["image"], tool, " / ".join(requests(c) for c in counts))
              for row in copies["rows"] for tool, counts in row["requests_varied"].items()]
    if varied:
        lines += ["", "Requests that varied between repetitions: " + "; ".join(varied) + "."]
    return lines


def publish(out: str, name: str, date: str) -> list:
    """Copy a full run's report (markdown, json, chart) to docs/benchmarks/ under its date."""
    docs = os.path.join(ROOT, "docs", "benchmarks")
    os.makedirs(docs, exist_ok=True)
    written = []
    for extension in ("md", "json", "svg"):
        target = os.path.join(docs, "%s.%s" % (date, extension))
        shutil.copyfile(os.path.join(out, "%s.%s" % (name, extension)), target)
        written.append(target)
    return written


SCENARIOS = ("resolve", "fetch", "startup", "copy", "extract")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition: a smoke test")
    parser.add_argument("--delay", type=float, default=0.020, help="seconds of delay each way (default 0.020)")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--only", default=None, help="comma-separated scenarios to run (%s); the others "
                        "are left out of the report (default: all)" % ", ".join(SCENARIOS))
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(SCENARIOS)
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error("unknown scenario(s) for --only: %s" % ", ".join(sorted(unknown)))
    if "copy" in only:
        only.add("startup")  # the copy's figures subtract Ansible's start-up measured there
    reps = args.reps or (1 if args.quick else 3)
    sizes = {"8m": 8 * MIB} if args.quick else {"64m": 64 * MIB, "1g": 1024 * MIB}
    if not only & {"fetch", "copy"}:
        sizes = {}
    counts = [1, 5] if args.quick else [1, 10, 100]
    os.makedirs(args.out, exist_ok=True)
    bed = BenchBed(args.delay, sizes, multi_layer_size=(1 if args.quick else 8) * MIB).start()
    workdir = tempfile.mkdtemp(prefix="drc-bench-work-")
    try:
        report = {
            "date": datetime.date.today().isoformat(), "quick": args.quick, "delay_ms": args.delay * 1000,
            "reps": reps,
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cores": os.cpu_count()},
            "resolve": resolve_scenario(bed, counts, reps, workdir) if "resolve" in only else [],
            "fetch": {label: fetch_scenario(bed, label, reps, workdir) for label in sizes} if "fetch" in only else {},
            "fetch_plain": ({label: fetch_scenario(bed, label, reps, workdir, kind="plain") for label in sizes}
                            if "fetch" in only else {}),
            "startup": startup_scenario(bed, max(reps, 3) if not args.quick else 1) if "startup" in only else None,
        }
        if "extract" in only:
            report["extract"] = extract_bench.scenario(bed, 8 * MIB if args.quick else 1024 * MIB, reps,
                                                       workdir, run, median)
        if "copy" in only:
            report["copy"] = copy_scenario(bed, ["multi"] + list(sizes), reps, workdir)
            copy_summary(report["copy"], report["startup"]["median_seconds"]["ansible.builtin.ping"])
    finally:
        bed.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    name = "quick" if args.quick else "latest"
    if args.only:
        name += "-" + "-".join(sorted(only))
    with open(os.path.join(args.out, name + ".json"), "w") as handle:
        json.dump(report, handle, indent=2)
    text = markdown(report)
    with open(os.path.join(args.out, name + ".md"), "w") as handle:
        handle.write(text)
    with open(os.path.join(args.out, name + ".svg"), "w") as handle:
        handle.write(chart.svg(report))
    print(text)
    if not args.quick and not args.only:  # only a complete run is published
        print("published: " + ", ".join(publish(args.out, name, report["date"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
