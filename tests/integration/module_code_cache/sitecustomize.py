"""Test-only: a compiled-code cache for the modules' zip imports (see docs/testing.md).

Every module run imports ``ansible.module_utils.basic`` and the collection's module_utils from the
AnsiballZ zip, and Python compiles each from source every time (zipimport keeps no cache): about
0.4 s of CPU per module run, several hundred times per suite. The tests' Ansible runs put this
directory on PYTHONPATH and set DRC_TEST_MODULE_CODE_CACHE (tests/integration/ansible_runner.py),
so the module's Python keeps each compiled file under that directory, keyed by the hash of its
source and the interpreter's cache tag. The code is what ``compile`` makes of the same source; only
the file name in it is set to the current zip's. Users' runs, ``make demo`` and the benchmarks never
load this.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import zipimport

CACHE = os.environ.get("DRC_TEST_MODULE_CODE_CACHE")
CODE = type(compile("", "<empty>", "exec"))


def _with_filename(code, filename: str):
    consts = tuple(_with_filename(const, filename) if isinstance(const, CODE) else const
                   for const in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _cached(compile_source):
    def compile_cached(pathname, source):
        key = hashlib.sha256(sys.implementation.cache_tag.encode() + b"\0" + source).hexdigest()
        path = os.path.join(CACHE, key[:2], key)
        try:
            with open(path, "rb") as handle:
                return _with_filename(marshal.load(handle), pathname)
        except (OSError, EOFError, ValueError, TypeError):
            pass  # not cached yet, or unreadable: compile as zipimport would
        code = compile_source(pathname, source)
        part = "%s.%d.part" % (path, os.getpid())
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(part, "wb") as handle:
                marshal.dump(code, handle)
            os.replace(part, path)  # whole or not at all: several modules may run at once
        except OSError:
            pass
        return code
    return compile_cached


if CACHE and hasattr(zipimport, "_compile_source"):
    zipimport._compile_source = _cached(zipimport._compile_source)
