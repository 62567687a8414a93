"""The version sent in the User-Agent is the one galaxy.yml builds."""

from __future__ import annotations

import os

import yaml

from ansible_collections.drc.registry.plugins.module_utils._registry.version import (
    COLLECTION_VERSION)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))))


def test_user_agent_version_is_galaxy_version():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        assert yaml.safe_load(handle)["version"] == COLLECTION_VERSION
