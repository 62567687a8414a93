"""The real-registry test bed, started once per test session."""

from __future__ import annotations

import pytest

from tests.testbed.testbed import Testbed


@pytest.fixture(scope="session")
def testbed():
    bed = Testbed().start()
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
