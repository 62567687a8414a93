"""Test-only: a compiled-code cache for the modules' zip imports (see docs/testing.md).

Every module run imports ``ansible.module_utils.basic`` and the collection's module_utils from the
AnsiballZ zip, and Python compiles each from source every time (zipimport keeps no cache): about
0.4 s of CPU per module run, several hundred times per suite. The tests' Ansible runs put this
directory on PYTHONPATH and set DRC_TEST_MODULE_CODE_CACHE (tests/integration/ansible_runner.py),
so the module's Python keeps each compiled file under that directory, keyed by the hash of its
source, the interpreter's cache tag and the optimisation level (nothing is cached when warnings
are made errors). The code is what ``compile`` makes of the same source; only the file name in it
is set to the current zip's. Users' runs, ``make demo`` and the benchmarks never load this. (On
PYTHONPATH, this file takes the place of any sitecustomize the interpreter has; Debian's only
installs an apport hook.)
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
import zipimport

CACHE = os.environ.get("DRC_TEST_MODULE_CODE_CACHE")
CODE = type(compile("", "<empty>", "exec"))


def _with_filename(code, filename: str):
    consts = tuple(_with_filename(const, filename) if isinstance(const, CODE) else const
                   for const in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _cached(compile_source):
    # What compile() makes depends on the source, the interpreter and the optimisation level
    # (-O drops asserts): all three are in the key.
    salt = ("%s\0%d\0" % (sys.implementation.cache_tag, sys.flags.optimize)).encode()

    def compile_cached(pathname, source):
        key = hashlib.sha256(salt + source).hexdigest()
        path = os.path.join(CACHE, key[:2], key)
        try:
            with open(path, "rb") as handle:
                code = marshal.load(handle)
            if isinstance(code, CODE):
                return _with_filename(code, pathname)
        except (OSError, EOFError, ValueError, TypeError):
            pass  # not cached yet, or unreadable: compile as zipimport would
        code = compile_source(pathname, source)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handle, part = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
            with os.fdopen(handle, "wb") as output:
                marshal.dump(code, output)
            os.replace(part, path)  # whole or not at all: several modules may run at once
        except OSError:
            pass
        return code
    return compile_cached


# Compile warnings turned into errors (-W, dev mode) would be raised only where code is compiled:
# with those, nothing is cached.
if CACHE and hasattr(zipimport, "_compile_source") and not sys.warnoptions and not sys.flags.dev_mode:
    zipimport._compile_source = _cached(zipimport._compile_source)
