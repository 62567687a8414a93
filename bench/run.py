"""``make bench``: drc.registry against skopeo, python-dxf and curl on one real registry, in one run.

    python -m bench.run [--quick] [--delay 0.02] [--reps 3] [--out bench/results]

Each scenario runs ours and the peers alternately, ``--reps`` times, and reports medians, the ratio
ours/peer from the same run, and the HTTP requests each made (registry access log and token server
counter). ``--quick`` uses small sizes: a smoke test of the harness, asserting nothing about speed.
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
               "requests": requests}
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
    lines += ["", "### Start-up", "", "| command | median |", "|---|---|"]
    for name, secs in start["median_seconds"].items():
        lines.append("| %s | %.3f s |" % (name, secs))
    lines += ["", "Module overhead over ping: %.3f s; importing requests: %.3f s; importing our client: %.3f s."
              % (start["module_overhead_seconds"], start["import_requests_seconds"], start["import_client_seconds"])]
    return "\n".join(lines) + "\n"


def fetch_only(args, bed: BenchBed, reps: int, sizes: dict, workdir: str) -> int:
    """``--only fetch``: the fetch scenario alone, both registry kinds."""
    try:
        report = {"date": datetime.date.today().isoformat(), "quick": args.quick, "reps": reps,
                  "machine": {"platform": platform.platform(), "processor": platform.processor(),
                              "cores": os.cpu_count()},
                  "fetch": {label: fetch_scenario(bed, label, reps, workdir) for label in sizes},
                  "fetch_plain": {label: fetch_scenario(bed, label, reps, workdir, kind="plain") for label in sizes}}
    finally:
        bed.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    name = ("quick" if args.quick else "latest") + "-fetch"
    with open(os.path.join(args.out, name + ".json"), "w") as handle:
        json.dump(report, handle, indent=2)
    text = "\n".join(["Fetch benchmark of %s on %s (%d cores), %d repetitions, medians." % (
        report["date"], report["machine"]["platform"], report["machine"]["cores"], reps)] + fetch_markdown(report)) + "\n"
    with open(os.path.join(args.out, name + ".md"), "w") as handle:
        handle.write(text)
    print(text)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition: a smoke test")
    parser.add_argument("--delay", type=float, default=0.020, help="seconds of delay each way (default 0.020)")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--only", choices=["fetch"], help="run only this scenario (bench/results/<name>-fetch.*)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    sizes = {"8m": 8 * MIB} if args.quick else {"64m": 64 * MIB, "1g": 1024 * MIB}
    counts = [1, 5] if args.quick else [1, 10, 100]
    os.makedirs(args.out, exist_ok=True)
    bed = BenchBed(args.delay, sizes).start()
    workdir = tempfile.mkdtemp(prefix="drc-bench-work-")
    if args.only == "fetch":
        return fetch_only(args, bed, reps, sizes, workdir)
    try:
        report = {
            "date": datetime.date.today().isoformat(), "quick": args.quick, "delay_ms": args.delay * 1000,
            "reps": reps,
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cores": os.cpu_count()},
            "resolve": resolve_scenario(bed, counts, reps, workdir),
            "fetch": {label: fetch_scenario(bed, label, reps, workdir) for label in sizes},
            "fetch_plain": {label: fetch_scenario(bed, label, reps, workdir, kind="plain") for label in sizes},
            "startup": startup_scenario(bed, max(reps, 3) if not args.quick else 1),
        }
    finally:
        bed.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    name = "quick" if args.quick else "latest"
    with open(os.path.join(args.out, name + ".json"), "w") as handle:
        json.dump(report, handle, indent=2)
    text = markdown(report)
    with open(os.path.join(args.out, name + ".md"), "w") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
