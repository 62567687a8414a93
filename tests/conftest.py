"""Shared pytest set-up: import paths, the real-registry test bed, and Ansible runners."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "build", "collections")
for path in (ROOT, COLLECTIONS):
    if path not in sys.path:
        sys.path.insert(0, path)


def pytest_configure(config):
    # pytest-xdist and pytest-cov register these; the oldest-ansible venv runs without either.
    config.addinivalue_line("markers", "xdist_group(name): `make test` hands the group to one xdist worker")
    config.addinivalue_line("markers", "no_cover: not measured by coverage")
