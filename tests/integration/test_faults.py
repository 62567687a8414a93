"""Faults injected between Ansible and a real registry: resets, stalls, short bodies, 5xx, 429, 408."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from tests.integration.ansible_runner import run_module
from tests.integration.test_secrets import assert_no_secret
from tests.testbed.proxy import Fault, FaultProxy

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def big_layer(testbed):
    registry = testbed.registries["open"]
    return json.loads(testbed.skopeo_raw_manifest(registry, "app/big:1.0"))["layers"][0]


def fetch_through(proxy, layer, dest, **options):
    return run_module("drc.registry.registry_blob_fetch", dict(
        repository="http://%s/app/big" % proxy.host, digest=layer["digest"], dest=str(dest), **options))


def sha256_file(path) -> str:
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def ranges_seen(proxy) -> list:
    return [headers.get("Range") for method, path, headers in proxy.requests if "/blobs/" in path]


def leftovers(directory) -> list:
    return [name for name in os.listdir(directory) if name.startswith(".drc-blob-")]


@pytest.mark.parametrize("faults, resumed_at_most", [
    # connection reset mid-body at several offsets; a reset loses what was in flight, so each
    # resume starts at or before the cumulative offset the proxy sent
    ([Fault("reset", path="/blobs/", after=1 * MIB), Fault("reset", path="/blobs/", after=19 * MIB),
      Fault("reset", path="/blobs/", after=40 * MIB)], [1 * MIB, 20 * MIB, 60 * MIB]),
    # a body shorter than its Content-Length: resumed exactly where it stopped
    ([Fault("short", path="/blobs/", after=5 * MIB)], [5 * MIB]),
    # a server that ignores Range: the download starts over and still verifies
    ([Fault("reset", path="/blobs/", after=10 * MIB), Fault("ignore_range", path="/blobs/")], [10 * MIB]),
], ids=["resets", "short-body", "range-ignored"])
def test_interrupted_blob_resumes_and_verifies(testbed, big_layer, tmp_path, faults, resumed_at_most):
    proxy = FaultProxy(testbed.registries["open"].url, faults).start()
    try:
        run = fetch_through(proxy, big_layer, tmp_path / "big")
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    assert run.result["changed"] is True
    assert sha256_file(tmp_path / "big") == big_layer["digest"]
    assert os.path.getsize(tmp_path / "big") == big_layer["size"]
    ranges = ranges_seen(proxy)
    assert ranges[0] is None and len(ranges) == len(resumed_at_most) + 1
    # no Range header means "from 0": a reset can arrive before the first byte of an attempt
    starts = [int(value[len("bytes="):-1]) if value else 0 for value in ranges[1:]]
    assert starts == sorted(starts) and all(0 <= s <= m for s, m in zip(starts, resumed_at_most)), starts
    if len(starts) > 1:
        assert max(starts) > 0, starts  # with several resets, at least one resume continued a partial download
    if faults[0].kind == "short":
        assert starts == resumed_at_most
    assert leftovers(tmp_path) == []


def test_stall_longer_than_read_timeout_resumes(testbed, big_layer, tmp_path):
    faults = [Fault("stall", path="/blobs/", after=2 * MIB, seconds=4)]
    proxy = FaultProxy(testbed.registries["open"].url, faults).start()
    try:
        run = fetch_through(proxy, big_layer, tmp_path / "big", timeout=1)
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    assert sha256_file(tmp_path / "big") == big_layer["digest"]
    assert ranges_seen(proxy)[-1] == "bytes=%d-" % (2 * MIB)


def test_endless_resets_fail_and_leave_destination_as_it_was(testbed, big_layer, tmp_path):
    dest = tmp_path / "big"
    dest.write_bytes(b"the old file")
    proxy = FaultProxy(testbed.registries["open"].url,
                       [Fault("reset", path="/blobs/", after=MIB, times=50)]).start()
    try:
        run = fetch_through(proxy, big_layer, dest, retries=2)
    finally:
        proxy.stop()
    assert run.rc != 0
    assert "interrupted 3 times" in run.result["msg"], run.result["msg"]
    assert dest.read_bytes() == b"the old file"
    assert leftovers(tmp_path) == []
    assert "Traceback" not in run.output


class TimedFaultProxy(FaultProxy):
    """A FaultProxy that also notes when each request arrived, to see the client's waits."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list = []

    def handle(self, handler, body):
        with self._lock:
            self.arrivals.append((time.monotonic(), handler.command, handler.path))
        return super().handle(handler, body)


# The lower bound of each wait: Retry-After when given, else the backoff's (base 0.5 s, halved
# by the jitter at worst). An HTTP-date already past means no wait.
@pytest.mark.parametrize("status, headers, min_waits", [
    (500, [], [0.25, 0.5]), (502, [], [0.25, 0.5]), (503, [], [0.25, 0.5]), (504, [], [0.25, 0.5]),
    (408, [], [0.25, 0.5]),
    (429, [("Retry-After", "2")], [2.0, 2.0]),
    (429, [("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT")], [0.0, 0.0]),  # an HTTP-date already past
], ids=["500", "502", "503", "504", "408", "429-seconds", "429-date"])
def test_temporary_statuses_are_retried(testbed, status, headers, min_waits):
    faults = [Fault("status", path="/manifests/", status=status, headers=headers, times=2,
                    method=method) for method in ("GET", "HEAD")]
    proxy = TimedFaultProxy(testbed.registries["open"].url, faults).start()
    try:
        run = run_module("drc.registry.registry_manifest_info",
                         dict(reference="http://%s/app/oci:1.0" % proxy.host, retries=3))
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    assert [kind for kind, method, path in proxy.injected] == ["status", "status"]
    arrivals = [when for when, method, path in proxy.arrivals if "/manifests/" in path]
    assert len(arrivals) == 3, proxy.arrivals  # two faults, then the answer
    waits = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    # the client waited before each retry (scheduling only ever makes a wait longer)
    assert all(wait >= minimum * 0.95 for wait, minimum in zip(waits, min_waits)), waits


def test_retries_are_bounded(testbed):
    proxy = FaultProxy(testbed.registries["open"].url,
                       [Fault("status", path="/manifests/", status=503, times=100,
                              body=b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')]).start()
    try:
        run = run_module("drc.registry.registry_manifest_info",
                         dict(reference="http://%s/app/oci:1.0" % proxy.host, retries=2))
    finally:
        proxy.stop()
    assert run.rc != 0
    assert len(proxy.injected) == 3  # one try and two retries
    assert "503" in run.result["msg"] and "UNAVAILABLE: try later" in run.result["msg"]


def test_no_retry_when_retries_is_zero(testbed):
    proxy = FaultProxy(testbed.registries["open"].url,
                       [Fault("status", path="/manifests/", status=500, times=5)]).start()
    try:
        run = run_module("drc.registry.registry_manifest_info",
                         dict(reference="http://%s/app/oci:1.0" % proxy.host, retries=0))
    finally:
        proxy.stop()
    assert run.rc != 0 and len(proxy.injected) == 1


def test_faults_with_credentials_leak_nothing_at_vvvv(testbed, big_layer, tmp_path):
    """Through a fault proxy in front of the htpasswd+TLS registry, with credentials."""
    registry = testbed.registries["basic"]
    faults = [Fault("reset", path="/blobs/", after=3 * MIB), Fault("status", path="/blobs/", status=503)]
    proxy = FaultProxy(registry.url, faults, ca_file=testbed.pki.ca_cert).start()
    try:
        run = run_module("drc.registry.registry_blob_fetch", dict(
            repository="http://%s/app/big" % proxy.host, digest=big_layer["digest"], dest=str(tmp_path / "b"),
            username=testbed.username, password=testbed.password), verbosity=4)
        failed = run_module("drc.registry.registry_tags_info", dict(
            repository="http://%s/app/big" % proxy.host, username=testbed.username,
            password=testbed.password + "x"), verbosity=4)
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    assert failed.rc != 0
    assert_no_secret(testbed, run.output)
    assert_no_secret(testbed, failed.output)
