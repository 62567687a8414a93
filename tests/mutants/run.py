"""Run the guard list (tests/mutants/guards.yml): every mutation must be caught by its tests.

For each mutation: apply the edit to a scratch copy of the collection (one copy per worker), run
only the listed tests there, with the same pytest invocation and environment as the Makefile,
then restore the file. A mutation is caught when every listed test fails. Baseline jobs run all
listed tests on the unmutated copy: they must all pass, or a "caught" would mean nothing.

    python -m tests.mutants.run [--jobs 2] [--only ID ...] [--no-baseline | --baseline-only] [--list]

Exit status 0 when every mutation is caught; 1 naming survivors, half-caught or stale entries.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUARDS = os.path.join(ROOT, "tests", "mutants", "guards.yml")
SCRATCH = os.path.join(ROOT, "build", "mutants")
REQUIRED = ("id", "property", "file", "original", "mutant", "tests")
PER_RUN_TIMEOUT = 1800
_RESULT_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)")


def load(path: str = GUARDS) -> list:
    with open(path, encoding="utf-8") as handle:
        mutations = yaml.safe_load(handle)["mutations"]
    seen = set()
    for entry in mutations:
        missing = [key for key in REQUIRED if not entry.get(key)]
        if missing:
            raise SystemExit("guards.yml: entry %r lacks %s" % (entry.get("id"), ", ".join(missing)))
        if entry["id"] in seen:
            raise SystemExit("guards.yml: duplicate id %s" % entry["id"])
        seen.add(entry["id"])
    return mutations


def stale_entries(mutations: list, root: str = ROOT) -> list:
    """Entries whose original text is not in their file exactly once."""
    problems = []
    for entry in mutations:
        path = os.path.join(root, entry["file"])
        if not os.path.isfile(path):
            problems.append("%s: %s does not exist" % (entry["id"], entry["file"]))
            continue
        with open(path, encoding="utf-8") as handle:
            count = handle.read().count(entry["original"])
        if count != 1:
            problems.append("%s: the original text occurs %d times in %s (must be exactly once): %r"
                            % (entry["id"], count, entry["file"], entry["original"]))
        if entry["original"] == entry["mutant"]:
            problems.append("%s: the mutant is the original" % entry["id"])
    return problems


def make_scratch(name: str) -> str:
    """A copy of the tracked and new files (as `make sanity` does), its own build/collections link."""
    dest = os.path.join(SCRATCH, name)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["rsync", "-a", "--from0", "--files-from=-", "./", dest + "/"], cwd=ROOT, input=files,
                   check=True)
    link = os.path.join(dest, "build", "collections", "ansible_collections", "drc", "registry")
    os.makedirs(os.path.dirname(link))
    os.symlink(dest, link)
    return dest


def environment(scratch: str) -> dict:
    env = dict(os.environ)
    collections = os.path.join(scratch, "build", "collections")
    bindir = os.path.dirname(sys.executable)
    env.update({
        "PATH": bindir + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "PYTHONPATH": collections,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        # a mutated and a restored file can have the same size and mtime second: never reuse .pyc
        "PYTHONDONTWRITEBYTECODE": "1",
        # no guard test fetches the 64 MiB app/big: seed a 4 MiB one, the test bed starts sooner
        "DRC_TESTBED_BIG_MIB": "4",
    })
    # the scratch copy is not beside shared/: the signature fixtures are found from the real root
    env.setdefault("DRC_SIGNATURE_FIXTURES",
                   os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "signatures"))
    return env


def run_tests(scratch: str, tests: list) -> tuple:
    """Run pytest on ``tests`` in ``scratch``; return ({listed id: [outcomes]}, output, seconds)."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--import-mode=importlib",
               "-q", "-rA", "--no-header", "-o", "addopts="] + list(tests)
    started = time.monotonic()
    # its own process group: on a timeout the test bed's registries go too, not only pytest
    with subprocess.Popen(command, cwd=scratch, env=environment(scratch), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True) as process:
        try:
            output, dummy = process.communicate(timeout=PER_RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output = "timed out after %ds\n%s" % (PER_RUN_TIMEOUT, process.communicate()[0])
    outcomes: dict = {test: [] for test in tests}
    for line in output.splitlines():
        match = _RESULT_LINE.match(line)
        if not match:
            continue
        kind, node = match.groups()
        for test in tests:
            if node == test or node.startswith(test + "["):
                outcomes[test].append(kind)
    return outcomes, output, time.monotonic() - started


def run_mutation(entry: dict, scratch: str) -> dict:
    path = os.path.join(scratch, entry["file"])
    with open(path, encoding="utf-8") as handle:
        pristine = handle.read()
    if pristine.count(entry["original"]) != 1:
        return dict(entry, verdict="stale", seconds=0.0, detail="original text not found exactly once")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(pristine.replace(entry["original"], entry["mutant"], 1))
    try:
        outcomes, output, seconds = run_tests(scratch, entry["tests"])
    finally:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(pristine)
    failed = [test for test, kinds in outcomes.items() if "FAILED" in kinds]
    errors = [test for test, kinds in outcomes.items() if "ERROR" in kinds or not kinds]
    passing = [test for test in entry["tests"] if test not in failed and test not in errors]
    if errors:
        verdict, detail = "error", "no result or an error (not a test failure) for: " + ", ".join(errors)
    elif not passing:
        verdict, detail = "caught", ""
    elif failed:
        verdict, detail = "half-caught", "still passing: " + ", ".join(passing)
    else:
        verdict, detail = "SURVIVED", "every listed test passed"
    result = dict(entry, verdict=verdict, seconds=seconds, detail=detail)
    if verdict != "caught":
        result["output"] = output[-4000:]
    return result


def baseline_groups(mutations: list) -> list:
    """Every listed test, grouped to run in parallel: the unit tests, then one group per
    integration file (each starts the test bed only if it needs it)."""
    tests = sorted({test for entry in mutations for test in entry["tests"]})
    groups: dict = {}
    for test in tests:
        path = test.split("::", 1)[0]
        key = "unit" if path.startswith("tests/unit/") else os.path.basename(path)[:-3]
        groups.setdefault(key, []).append(test)
    return sorted(groups.items())


def run_baseline(name: str, tests: list, scratch: str) -> dict:
    outcomes, output, seconds = run_tests(scratch, tests)
    bad = [test for test, kinds in outcomes.items() if not kinds or set(kinds) - {"PASSED"}]
    return {"id": "(baseline %s)" % name, "verdict": "ok" if not bad else "BROKEN", "seconds": seconds,
            "detail": "" if not bad else "not passing without any mutation: " + ", ".join(bad),
            "output": output[-4000:] if bad else ""}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("--only", nargs="*", help="run only these mutation ids")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--baseline-only", action="store_true", help="only check that the tests pass unmutated")
    parser.add_argument("--list", action="store_true", help="print the guard list and exit")
    args = parser.parse_args(argv)

    mutations = load()
    if args.list:
        for entry in mutations:
            print("%-40s %-55s %s" % (entry["id"], entry["file"], entry["property"]))
        return 0
    if args.only:
        unknown = set(args.only) - {entry["id"] for entry in mutations}
        if unknown:
            print("unknown mutation ids: %s" % ", ".join(sorted(unknown)))
            return 2
        mutations = [entry for entry in mutations if entry["id"] in args.only]
    problems = stale_entries(mutations)
    if problems:
        print("the guard list is out of step with the code (fix tests/mutants/guards.yml):")
        for problem in problems:
            print("  STALE " + problem)
        return 1

    started = time.monotonic()
    jobs = max(1, args.jobs)
    workers = [make_scratch("w%d" % n) for n in range(jobs)]
    free = list(workers)
    tasks = [] if args.no_baseline else [("baseline", group) for group in baseline_groups(mutations)]
    tasks += [] if args.baseline_only else [("mutation", entry) for entry in mutations]
    print("%d mutations, %d workers, scratch copies under %s" % (len(mutations), jobs, SCRATCH), flush=True)

    def work(task):
        scratch = free.pop()
        try:
            kind, entry = task
            return run_baseline(entry[0], entry[1], scratch) if kind == "baseline" else run_mutation(entry, scratch)
        finally:
            free.append(scratch)

    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in concurrent.futures.as_completed([pool.submit(work, task) for task in tasks]):
            result = future.result()
            results.append(result)
            print("%-12s %-40s %6.1fs  %s" % (result["verdict"], result["id"], result["seconds"],
                                              result.get("detail", "")), flush=True)
    bad = [r for r in results if r["verdict"] not in ("caught", "ok")]
    for result in bad:
        print("\n---- %s (%s): %s" % (result["id"], result["verdict"], result.get("property", "")))
        print(result.get("output", ""))
    caught = sum(1 for r in results if r["verdict"] == "caught")
    print("\nmutants: %d of %d caught in %.0fs%s" % (
        caught, 0 if args.baseline_only else len(mutations), time.monotonic() - started,
        "" if not bad else "; NOT caught or broken: " + ", ".join(r["id"] for r in bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
