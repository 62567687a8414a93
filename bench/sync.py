"""``make bench``'s sync piece: registry_sync against ``skopeo sync --all`` on the same bed.

    python -m bench.sync [--reps 3] [--repositories 20] [--tags 5] [--base-mib 8]

A token-auth TLS registry holds ``--repositories`` repositories of ``--tags`` tags, every image
two layers: a base layer all of them share and a small top layer of its own. Each tool syncs every
tag of every repository into an empty token-auth TLS registry (a new one per run; skopeo with an
empty blob-info cache, ours with ``blob_cache: false``), then runs the same sync again, with
nothing to do. Times are whole commands (our module: ``ansible localhost -m
drc.registry.registry_sync``, Ansible's start-up included; that start-up, ``ansible -m
ansible.builtin.ping``, is measured in the same run and subtracted for the no-change ratio).
Requests: source registry + destination registry + token server, from the registries' access logs
and the token server's counter. Every run's destination is checked: each tag's digest equals the
source's. Writes bench/results/sync.{md,json,svg} (``--publish``: also docs/benchmarks/<date>-sync.*).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import types
import urllib.request

from bench import chart
from bench.run import BIN, ROOT, environment, run, skopeo_isolation
from tests.testbed.images import Seeder
from tests.testbed.pki import Pki
from tests.testbed.proxy import LatencyProxy
from tests.testbed.registry import RegistryProcess
from tests.testbed.sync_fixtures import bench_layout
from tests.testbed.testbed import MANIFEST_ACCEPT
from tests.testbed.token_server import TokenServer

USERNAME = "bench"
MIB = 1024 * 1024


class SyncBed:
    def __init__(self, repositories: int, tags: int, base_size: int, top_size: int) -> None:
        self.repositories, self.tags = repositories, tags
        self.base_size, self.top_size = base_size, top_size
        self.workdir = tempfile.mkdtemp(prefix="drc-bench-sync-")
        self.password = "bench-" + os.urandom(8).hex()
        self.targets: list = []

    def start(self) -> "SyncBed":
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "SyncBed":
        self.pki = Pki(os.path.join(self.workdir, "pki"))
        self.tokens = TokenServer(self.pki, {USERNAME: self.password}, service="drc-bench",
                                  issuer="drc-bench-issuer").start()
        # The realm over TLS too (credentials never go to a plain-http realm of an https registry).
        self.token_tls = LatencyProxy(self.tokens.realm.rsplit("/", 1)[0], 0.0, tls_pki=self.pki).start()
        self.realm = types.SimpleNamespace(realm=self.token_tls.url + "/token", service=self.tokens.service,
                                           issuer=self.tokens.issuer)
        self.source = RegistryProcess("token", os.path.join(self.workdir, "source"), pki=self.pki,
                                      token_server=self.realm, tls=True).start()
        layout = bench_layout(os.path.join(self.workdir, "layout"), self.repositories, self.tags,
                              self.base_size, self.top_size)
        seeder = Seeder(layout.path, self.source, "%s:%s" % (USERNAME, self.password))
        # One copy at a time: skopeo copies racing on a shared base layer fail now and then.
        for r in range(self.repositories):
            for t in range(self.tags):
                seeder.copy("r%d-t%d" % (r, t), "bench/r%d:t%d" % (r, t))
        return self

    def new_target(self) -> RegistryProcess:
        target = RegistryProcess("token", os.path.join(self.workdir, "target%d" % len(self.targets)),
                                 pki=self.pki, token_server=self.realm, tls=True).start()
        self.targets.append(target)
        return target

    def stop(self) -> None:
        for target in self.targets:
            target.stop()
        for part in ("source", "token_tls", "tokens"):
            if hasattr(self, part):
                getattr(self, part).stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def mark(self, target) -> tuple:
        return self.source.access_log_mark(), target.access_log_mark(), self.tokens.requests

    def since(self, mark: tuple, target) -> dict:
        return {"source": len(self.source.requests_since(mark[0])), "dest": len(target.requests_since(mark[1])),
                "token": self.tokens.requests - mark[2]}

    def digest(self, registry, repository: str, tag: str) -> str | None:
        token = self.tokens.issue(USERNAME, [{"type": "repository", "name": repository, "actions": ["pull"]}])
        request = urllib.request.Request("%s/v2/%s/manifests/%s" % (registry.url, repository, tag), method="HEAD",
                                         headers={"Accept": MANIFEST_ACCEPT, "Authorization": "Bearer " + token})
        context = ssl.create_default_context(cafile=self.pki.ca_cert)
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as answer:
                return answer.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError:
            return None

    def check(self, target, dest_repository) -> None:
        """Every tag at the destination with the source's digest, or the timing means nothing."""
        for r in range(self.repositories):
            for t in range(self.tags):
                want = self.digest(self.source, "bench/r%d" % r, "t%d" % t)
                got = self.digest(target, dest_repository(r), "t%d" % t)
                if not want or got != want:
                    raise RuntimeError("bench/r%d:t%d: the destination holds %s, not %s" % (r, t, got, want))


def ours_command(bed: SyncBed, target) -> list:
    auth = {"username": USERNAME, "password": bed.password, "ca_path": bed.pki.ca_cert}
    args = {"src_registry": bed.source.host, "dest": "%s/mirror" % target.host,
            "repositories": [{"name": "bench/r%d" % r} for r in range(bed.repositories)],
            "src_auth": auth, "dest_auth": auth, "blob_cache": False}
    return [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_sync", "-a", json.dumps(args)]


def skopeo_command(bed: SyncBed, target, prefix: list, yaml_path: str) -> list:
    with open(yaml_path, "w") as handle:
        json.dump({bed.source.host: {"images": {"bench/r%d" % r: [] for r in range(bed.repositories)},
                                     "cert-dir": bed.pki.ca_dir,
                                     "credentials": {"username": USERNAME, "password": bed.password}}}, handle)
    return (prefix or ["skopeo"]) + [
        "sync", "--all", "--src", "yaml", "--dest", "docker", "--dest-cert-dir", bed.pki.ca_dir,
        "--dest-creds", "%s:%s" % (USERNAME, bed.password), yaml_path, "%s/mirror" % target.host]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--repositories", type=int, default=20)
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument("--base-mib", type=float, default=8.0)
    parser.add_argument("--top-kib", type=int, default=256)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--publish", action="store_true", help="copy the report to docs/benchmarks/<date>-sync.*")
    args = parser.parse_args(argv)
    prefix, isolated = skopeo_isolation()
    bed = SyncBed(args.repositories, args.tags, int(args.base_mib * MIB), args.top_kib * 1024).start()
    env = environment()
    times: dict = {name: [] for name in ("ours first", "ours again", "skopeo first", "skopeo again", "ping")}
    requests: dict = {}
    try:
        yaml_path = os.path.join(bed.workdir, "skopeo-sync.yaml")
        for _rep in range(args.reps):
            times["ping"].append(run([os.path.join(BIN, "ansible"), "localhost", "-m", "ansible.builtin.ping"],
                                     env)["seconds"])
            for tool in ("ours", "skopeo"):
                target = bed.new_target()
                command = ours_command(bed, target) if tool == "ours" else skopeo_command(bed, target, prefix, yaml_path)
                for phase in ("first", "again"):
                    mark = bed.mark(target)
                    done = run(command, env)
                    times["%s %s" % (tool, phase)].append(done["seconds"])
                    requests.setdefault("%s %s" % (tool, phase), []).append(bed.since(mark, target))
                    if tool == "ours":
                        marker = done["stdout"].find("=> {")
                        result = json.loads(done["stdout"][marker + 3:])
                        if result["copied" if phase == "first" else "already_present"] != args.repositories * args.tags:
                            raise RuntimeError("our %s sync: %s" % (phase, done["stdout"][-2000:]))
                bed.check(target, (lambda r: "mirror/bench/r%d" % r) if tool == "ours" else (lambda r: "mirror/r%d" % r))
                target.stop()
    finally:
        bed.stop()
    medians = {name: statistics.median(values) for name, values in times.items()}
    report = {
        "date": datetime.date.today().isoformat(), "repositories": args.repositories, "tags": args.tags,
        "base_mib": args.base_mib, "top_kib": args.top_kib, "reps": args.reps, "skopeo_cache_isolated": isolated,
        "skopeo": subprocess.run(["skopeo", "--version"], capture_output=True, text=True, check=False).stdout.strip(),
        "seconds": times, "median_seconds": medians,
        "requests": {name: counts[0] for name, counts in requests.items()},
        "requests_varied": {name: counts for name, counts in requests.items() if any(c != counts[0] for c in counts)},
        "ratio_first_to_skopeo": medians["ours first"] / medians["skopeo first"],
        "ratio_again_less_startup_to_skopeo": (medians["ours again"] - medians["ping"]) / medians["skopeo again"],
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "sync.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    text = markdown(report)
    with open(os.path.join(args.out, "sync.md"), "w") as handle:
        handle.write(text)
    with open(os.path.join(args.out, "sync.svg"), "w") as handle:
        handle.write(chart.svg({"date": report["date"], "reps": report["reps"], "sync": report}))
    if args.publish:
        docs = os.path.join(ROOT, "docs", "benchmarks")
        for extension in ("md", "json", "svg"):
            shutil.copyfile(os.path.join(args.out, "sync." + extension),
                            os.path.join(docs, "%s-sync.%s" % (report["date"], extension)))
    print(text)
    return 0


def markdown(report: dict) -> str:
    s, r = report["median_seconds"], report["requests"]

    def total(name):
        c = r[name]
        return "%d (%d+%d+%d)" % (c["source"] + c["dest"] + c["token"], c["source"], c["dest"], c["token"])
    title = ("### Syncing %d repositories × %d tags (shared %.0f MiB base layer, %d KiB top layers): "
             "registry_sync against `skopeo sync --all`"
             % (report["repositories"], report["tags"], report["base_mib"], report["top_kib"]))
    lines = [title, "",
             "%s, %d repetitions, medians; token-auth TLS registries on loopback, each run into an empty "
             "registry, skopeo's blob-info cache %s; %s. Requests: total (source + destination + token server)."
             % (report["date"], report["reps"], "isolated" if report["skopeo_cache_isolated"] else "NOT isolated",
                report["skopeo"]), "",
             "| run | registry_sync (ansible) | less start-up | skopeo sync | ratio | requests: ours | skopeo |",
             "|---|---|---|---|---|---|---|",
             "| first sync | %.2f s | %.2f s | %.2f s | %.2f (module incl. start-up / skopeo) | %s | %s |" % (
                 s["ours first"], s["ours first"] - s["ping"], s["skopeo first"], report["ratio_first_to_skopeo"],
                 total("ours first"), total("skopeo first")),
             "| nothing to do | %.2f s | %.2f s | %.2f s | %.2f (less start-up / skopeo) | %s | %s |" % (
                 s["ours again"], s["ours again"] - s["ping"], s["skopeo again"],
                 report["ratio_again_less_startup_to_skopeo"], total("ours again"), total("skopeo again")),
             "", "Ansible's start-up (`ansible localhost -m ansible.builtin.ping`): %.2f s." % s["ping"]]
    if report["requests_varied"]:
        lines.append("Requests that varied between repetitions: %s." % json.dumps(report["requests_varied"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
