"""The real-registry test bed, started once per test session."""

from __future__ import annotations

import os

import pytest

from tests.testbed.testbed import Testbed


@pytest.fixture(scope="session")
def testbed():
    # `make mutants` asks for a smaller app/big (its guard tests never fetch it): a quicker start
    big_mib = int(os.environ.get("DRC_TESTBED_BIG_MIB") or 64)
    bed = Testbed(big_size=big_mib * 1024 * 1024).start()
    yield bed
    bed.stop()


@pytest.fixture(params=["open", "basic", "token"])
def registry(request, testbed):
    return testbed.registries[request.param]


def connection(testbed, registry) -> dict:
    """Module options that reach a test-bed registry."""
    if registry.mode == "open":
        return {}
    options = {"username": testbed.username, "password": testbed.password}
    if registry.tls:
        options["ca_path"] = testbed.pki.ca_cert
    return options


def ref(registry, path: str) -> str:
    """A reference naming the registry by host; loopback http is found by the fallback."""
    return "%s/%s" % (registry.host, path)
