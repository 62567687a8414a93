"""A copy's credentials stay on their side: a scripted registry on one side records every header
and body it receives, and never sees the other side's secret. The other side is a real registry."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from tests.integration.ansible_runner import run_module
from tests.integration.conftest import ref
from tests.testbed.hostile import HostileServer, Reply

MODULE = "drc.registry.registry_copy"
SCRIPTED_USER, SCRIPTED_PASSWORD = "bob", "scripted-side-secret-4f1c"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def small_image() -> dict:
    layer = b"layer bytes of the scripted registry\n" * 10
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": sha256(layer), "size": len(layer)}]}).encode()
    return {"manifest": manifest, "blobs": {sha256(config): config, sha256(layer): layer}}


class ScriptedRegistry:
    """Just enough of a registry, Basic-authenticated as bob, to be either side of a copy."""

    def __init__(self) -> None:
        self.image = small_image()
        self.stored: dict = {}
        self.server = HostileServer(self.answer)

    def answer(self, request):
        if request.headers.get("Authorization") != basic(SCRIPTED_USER, SCRIPTED_PASSWORD):
            return Reply(401, {"WWW-Authenticate": 'Basic realm="scripted"'})
        path = request.path.split("?", 1)[0]
        if path == "/v2/":
            return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
        manifest = re.match(r"^/v2/(.+)/manifests/(.+)$", path)
        if manifest and request.method in ("GET", "HEAD"):
            if manifest.group(1) != "src/app":
                return Reply(404, {"Content-Type": "application/json"},
                             b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            body = self.image["manifest"]
            return Reply(200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                               "Docker-Content-Digest": sha256(body)}, body)
        if manifest and request.method == "PUT":
            self.stored[manifest.group(2)] = request.body
            return Reply(201, {"Docker-Content-Digest": sha256(request.body)})
        blob = re.match(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$", path)
        if blob and request.method in ("GET", "HEAD"):
            data = self.image["blobs"].get(blob.group(2)) if blob.group(1) == "src/app" else None
            if data is None:
                return Reply(404)
            return Reply(200, {"Content-Type": "application/octet-stream"}, data)
        if request.method == "POST" and path.endswith("/blobs/uploads/"):
            return Reply(202, {"Location": path + "session-1", "Range": "0-0"})
        if request.method == "PUT" and "/blobs/uploads/" in path:
            digest = re.search(r"digest=([^&]+)", request.path).group(1).replace("%3A", ":")
            if sha256(request.body) != digest:
                return Reply(400)
            self.stored[digest] = request.body
            return Reply(201, {"Docker-Content-Digest": digest})
        return None

    def everything_received(self) -> str:
        return "\n".join("%s %s %r %r" % (r.method, r.path, r.headers, r.body) for r in self.server.requests)


@pytest.fixture
def scripted():
    registry = ScriptedRegistry()
    registry.server.start()
    yield registry
    registry.server.stop()


def real_side(testbed) -> tuple:
    registry = testbed.registries["basic"]
    return registry, {"username": testbed.username, "password": testbed.password,
                      "ca_path": testbed.pki.ca_cert}


def assert_never_saw(scripted, testbed) -> None:
    seen = scripted.everything_received()
    assert scripted.server.requests, "the scripted side was never asked anything"
    assert testbed.password not in seen
    assert base64.b64encode(("%s:%s" % (testbed.username, testbed.password)).encode()).decode() not in seen
    assert testbed.username not in seen


def test_real_source_credentials_never_reach_the_scripted_destination(testbed, scripted):
    registry, auth = real_side(testbed)
    run = run_module(MODULE, dict(src=ref(registry, "app/oci:1.0"),
                                  dest="http://%s/dest/app:1" % scripted.server.host,
                                  src_auth=auth,
                                  dest_auth={"username": SCRIPTED_USER, "password": SCRIPTED_PASSWORD}))
    assert run.rc == 0, run.output
    assert scripted.stored["1"] == testbed.skopeo_raw_manifest(registry, "app/oci:1.0")
    assert run.result["blobs_uploaded"] == 2
    assert_never_saw(scripted, testbed)


def test_task_level_credentials_are_replaced_by_a_sides_own(testbed, scripted):
    """Task-level credentials (for the real source) and dest_auth naming only a username and
    password: the destination gets only its own, never the task's."""
    registry, auth = real_side(testbed)
    run = run_module(MODULE, dict(src=ref(registry, "app/docker:1.0"),
                                  dest="http://%s/dest/app:2" % scripted.server.host,
                                  dest_auth={"username": SCRIPTED_USER, "password": SCRIPTED_PASSWORD},
                                  **auth))
    assert run.rc == 0, run.output
    assert_never_saw(scripted, testbed)


def test_scripted_source_never_sees_the_real_destinations_credentials(testbed, scripted):
    registry, auth = real_side(testbed)
    run = run_module(MODULE, dict(src="http://%s/src/app:1" % scripted.server.host,
                                  dest=ref(registry, "from-scripted/app:1"),
                                  src_auth={"username": SCRIPTED_USER, "password": SCRIPTED_PASSWORD},
                                  dest_auth=auth))
    assert run.rc == 0, run.output
    assert testbed.skopeo_raw_manifest(registry, "from-scripted/app:1") == scripted.image["manifest"]
    assert_never_saw(scripted, testbed)
    assert SCRIPTED_PASSWORD not in run.output


def test_task_credentials_with_two_registries_and_no_side_credentials_are_refused(testbed, scripted):
    """Plain task-level credentials name no registry: with two registries taking them, the copy
    fails before any request, pointing to src_auth/dest_auth and auths."""
    registry, auth = real_side(testbed)
    run = run_module(MODULE, dict(src=ref(registry, "app/docker:1.0"),
                                  dest="http://%s/dest/app:3" % scripted.server.host, **auth))
    assert run.rc != 0
    assert "src_auth and dest_auth" in run.result["msg"] and "auths" in run.result["msg"], run.result
    assert not scripted.server.requests  # refused before anything was sent
    assert testbed.password not in run.output


def test_auths_give_each_side_its_own_credentials(testbed, scripted):
    registry, auth = real_side(testbed)
    auths = {registry.host: {"username": auth["username"], "password": auth["password"]},
             scripted.server.host: {"username": SCRIPTED_USER, "password": SCRIPTED_PASSWORD}}
    run = run_module(MODULE, dict(src=ref(registry, "app/docker:1.0"),
                                  dest="http://%s/dest/app:4" % scripted.server.host,
                                  auths=auths, ca_path=auth["ca_path"]))
    assert run.rc == 0, run.output
    assert_never_saw(scripted, testbed)
