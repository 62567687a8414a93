"""Chunked uploads through the fault proxy in front of a real registry: a chunk lost on the way is
resumed from the Range the registry reports; an upload the registry cancels is started again."""

from __future__ import annotations

import hashlib
import socket
import struct

from tests.integration.ansible_runner import run_module
from tests.testbed.proxy import FaultProxy

MODULE = "drc.registry.registry_copy"
MIB = 1024 * 1024


class UploadFaultProxy(FaultProxy):
    """A FaultProxy the registry builds its upload URLs for (X-Forwarded-Host), so every PATCH
    of an upload comes back through it, with two faults of its own for the ``after``-th request
    (counted from 0) matching a method and a path fragment:

    ``drop``: reset the client's connection after reading its request; nothing reaches the
    registry. ``lose_answer``: the registry gets the request and answers; the client gets a reset.
    """

    def __init__(self, upstream: str, scripted: list) -> None:
        super().__init__(upstream, [])
        self.scripted = [dict(entry, times=entry.get("times", 1)) for entry in scripted]

    def forward(self, method, path, headers, body=None):
        headers = {k: v for k, v in dict(headers).items()
                   if k.lower() not in ("x-forwarded-host", "x-forwarded-proto")}
        headers["X-Forwarded-Host"] = self.host
        headers["X-Forwarded-Proto"] = "http"
        return super().forward(method, path, headers, body)

    def _scripted_for(self, method: str, path: str):
        with self._lock:
            for entry in self.scripted:
                if entry["times"] > 0 and entry["method"] == method and entry["path"] in path:
                    before = len([r for r in self.requests if r[0] == method and entry["path"] in r[1]]) - 1
                    if before >= entry.get("after", 0):
                        entry["times"] -= 1
                        self.injected.append((entry["kind"], method, path))
                        return entry
        return None

    def handle(self, handler, body):
        entry = self._scripted_for(handler.command, handler.path)
        if entry is None:
            return super().handle(handler, body)
        if entry["kind"] == "lose_answer":
            response = self.forward(handler.command, handler.path, handler.headers, body)
            response.read()
            self.done_with(response, reuse=False)
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        return None


def big_layer_bytes(testbed) -> tuple:
    import json
    manifest = json.loads(testbed.skopeo_raw_manifest(testbed.registries["open"], "app/big:1.0"))
    return manifest["layers"][0]


def copy_through(proxy, testbed, dest_repo: str):
    registry = testbed.registries["open"]
    return run_module(MODULE, dict(src="%s/app/big:1.0" % registry.host,
                                   dest="http://%s/%s:1" % (proxy.host, dest_repo),
                                   chunk_size=8 * MIB, retries=2))


def patches(proxy) -> list:
    return [(method, path) for method, path, _headers in proxy.requests if method == "PATCH"]


def test_chunk_lost_before_the_registry_is_resumed_from_its_range(testbed):
    """The 3rd PATCH never reaches the registry: the status GET reports 16 MiB, and the upload
    goes on from there with the same session (no new POST, no byte sent twice but that chunk)."""
    layer = big_layer_bytes(testbed)
    registry = testbed.registries["open"]
    proxy = UploadFaultProxy(registry.url, [dict(kind="drop", method="PATCH", path="/blobs/uploads/",
                                                  after=2)]).start()
    mark = registry.access_log_mark()
    try:
        run = copy_through(proxy, testbed, "faults/dropped")
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    assert ("drop", "PATCH") == proxy.injected[0][:2]
    assert run.result["changed"] is True
    status_gets = [r for r in proxy.requests if r[0] == "GET" and "/blobs/uploads/" in r[1]]
    assert len(status_gets) == 1
    big_posts = [r for r in registry.requests_since(mark) if r[0] == "POST"]
    assert len(big_posts) == 2  # one upload session per blob (config and layer): none restarted
    registry_patches = [r for r in registry.requests_since(mark) if r[0] == "PATCH"]
    assert len(registry_patches) == layer["size"] // (8 * MIB) + (1 if layer["size"] % (8 * MIB) else 0)
    # the dropped chunk was sent twice, nothing else (the config is a few hundred bytes)
    assert layer["size"] + 8 * MIB < run.result["bytes_uploaded"] < layer["size"] + 8 * MIB + 4096
    raw = testbed.skopeo_raw_manifest(registry, "faults/dropped:1")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == run.result["digest"]


def test_answer_lost_after_the_registry_took_the_chunk_restarts_the_upload(testbed):
    """The registry took the 2nd PATCH but its answer is lost: Distribution then refuses the
    stale upload state (and cancels the session), so the blob is uploaded again from the start;
    the result still verifies."""
    registry = testbed.registries["open"]
    proxy = UploadFaultProxy(registry.url, [dict(kind="lose_answer", method="PATCH", path="/blobs/uploads/",
                                                  after=1)]).start()
    mark = registry.access_log_mark()
    try:
        run = copy_through(proxy, testbed, "faults/reset")
    finally:
        proxy.stop()
    assert run.rc == 0, run.output
    assert proxy.injected and proxy.injected[0][0] == "lose_answer"
    log = registry.requests_since(mark)
    assert len([r for r in log if r[0] == "POST"]) == 3  # config, layer, layer again
    assert [r for r in log if r[0] == "GET" and "/blobs/uploads/" in r[1]]
    raw = testbed.skopeo_raw_manifest(registry, "faults/reset:1")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == run.result["digest"]


def test_upload_that_keeps_failing_is_cancelled(testbed):
    """Every PATCH dropped: after the bounded retries the task fails, naming the upload, and the
    session is cancelled with DELETE."""
    registry = testbed.registries["open"]
    proxy = UploadFaultProxy(registry.url, [dict(kind="drop", method="PATCH", path="/blobs/uploads/",
                                                  times=99)]).start()
    try:
        run = copy_through(proxy, testbed, "faults/gave-up")
    finally:
        proxy.stop()
    assert run.rc != 0
    assert "PATCH" in run.result["msg"] and "faults/gave-up" in run.result["msg"], run.result["msg"]
    assert [r for r in proxy.requests if r[0] == "DELETE" and "/blobs/uploads/" in r[1]]
    assert "Traceback" not in run.output
