"""The tests' module code cache (tests/integration/module_code_cache) must never change what runs:
a cached module behaves as a freshly compiled one, names its own zip in tracebacks, and a changed
source (a mutant, another ansible-core) is compiled afresh."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from tests.integration.ansible_runner import MODULE_CODE_CACHE_HOOK

SOURCE = '''
VALUE = %r


class Thing:
    def fail(self):
        return [1 for _ in range(1)] and (lambda: 1 / 0)()


def asserts():
    try:
        assert False
    except AssertionError:
        return "asserted"
    return "no assert"
'''

PROBE = '''
import traceback
import probe_module
print(probe_module.VALUE)
print(probe_module.asserts())
try:
    probe_module.Thing().fail()
except ZeroDivisionError as exc:
    print(traceback.extract_tb(exc.__traceback__)[-1].filename)
'''


def cached_files(cache) -> list:
    return [os.path.join(directory, name) for directory, subdirs, names in os.walk(cache) for name in names]


def run_from_zip(tmp_path, name: str, value: str, cache, **env_extra) -> list:
    archive = tmp_path / name
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("probe_module.py", SOURCE % value)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([MODULE_CODE_CACHE_HOOK, str(archive)]),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("DRC_TEST_MODULE_CODE_CACHE", None)
    if cache:
        env["DRC_TEST_MODULE_CODE_CACHE"] = str(cache)
    env.update(env_extra)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.splitlines()


def test_cached_code_runs_as_compiled_code_and_names_its_own_zip(tmp_path):
    cache = tmp_path / "cache"
    plain = run_from_zip(tmp_path, "plain.zip", "one", cache=None)
    assert plain == ["one", "asserted", str(tmp_path / "plain.zip" / "probe_module.py")]
    assert not cache.exists()

    first = run_from_zip(tmp_path, "first.zip", "one", cache)
    entries = cached_files(cache)
    assert len(entries) == 1 and not entries[0].endswith(".part")
    second = run_from_zip(tmp_path, "second.zip", "one", cache)
    assert first == ["one", "asserted", str(tmp_path / "first.zip" / "probe_module.py")]
    # from the cache, the traceback names this run's zip, not the one that filled the cache
    assert second == ["one", "asserted", str(tmp_path / "second.zip" / "probe_module.py")]


def test_a_changed_source_is_compiled_afresh(tmp_path):
    cache = tmp_path / "cache"
    assert run_from_zip(tmp_path, "a.zip", "before", cache)[0] == "before"
    assert run_from_zip(tmp_path, "a.zip", "after", cache)[0] == "after"
    assert len(cached_files(cache)) == 2


def test_an_unreadable_cache_entry_is_compiled_again(tmp_path):
    cache = tmp_path / "cache"
    run_from_zip(tmp_path, "a.zip", "one", cache)
    for entry in cached_files(cache):
        with open(entry, "wb") as handle:
            handle.write(b"\xe3 truncated")
    assert run_from_zip(tmp_path, "b.zip", "one", cache) == ["one", "asserted", str(tmp_path / "b.zip" / "probe_module.py")]


def test_code_compiled_under_optimize_is_not_used_without_it(tmp_path):
    cache = tmp_path / "cache"
    assert run_from_zip(tmp_path, "a.zip", "one", cache, PYTHONOPTIMIZE="1")[1] == "no assert"
    assert run_from_zip(tmp_path, "a.zip", "one", cache)[1] == "asserted"


def test_nothing_is_cached_when_warnings_are_errors(tmp_path):
    cache = tmp_path / "cache"
    assert run_from_zip(tmp_path, "a.zip", "one", cache, PYTHONWARNINGS="error")[0] == "one"
    assert not cache.exists()
