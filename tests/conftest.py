"""Shared pytest set-up: import paths, the real-registry test bed, and Ansible runners."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "build", "collections")
for path in (ROOT, COLLECTIONS):
    if path not in sys.path:
        sys.path.insert(0, path)


# Files whose tests go whole to one pytest-xdist worker: their module-scoped fixtures (playbooks,
# servers) are expensive, and every worker given some of their tests would set them up again. The
# largest go first (xdist hands out the scopes with the most tests first); every other test is
# handed out on its own. (xdist's --dist loadgroup cannot do this under pytest 9: it renames the
# items through an attribute pytest no longer reads.)
WHOLE_FILES = frozenset("tests/integration/%s.py" % name for name in (
    "test_manifest_info", "test_registry_digest", "test_tags_info", "test_v1", "test_search_info",
    "test_option_validation", "test_hostile_platforms", "test_write_modules", "test_roles",
    "test_signatures", "test_hostile_signatures",
    "test_sync", "test_prune", "test_write_side_attacks", "test_login", "test_connection_options", "test_referrers",
    "test_referrers_api", "test_extract", "test_extract_hostile", "test_interop",
    "test_signature_referrers", "test_redirect_targets"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WholeFilesScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in WHOLE_FILES else nodeid

    return WholeFilesScheduling(config, log)


def pytest_configure(config):
    # pytest-cov registers it; the oldest-ansible venv runs without it.
    config.addinivalue_line("markers", "no_cover: not measured by coverage")
