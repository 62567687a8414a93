"""Issue 26, gap 1: a redirect follows the realm rule (hosts.py), through the modules.

A public registry (``*.public.test``, tests/integration/public_names/sitecustomize.py) answers a
manifest GET with a redirect. To 127.0.0.1 (an internal service on another port) it is refused
before any request reaches it; to another public host (a CDN) it is followed, as before.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.testbed.hostile import HostileServer, Reply

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "public_names")
PUBLIC_NAME = "registry.public.test"
CDN_NAME = "cdn.public.test"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(),
                                  "size": len(CONFIG)}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


@pytest.fixture(scope="module")
def redirects(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("redirects"))
    served = Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": DIGEST}, MANIFEST)
    internal = HostileServer(lambda request: served)
    cdn = HostileServer(lambda request: served)
    for server in (internal, cdn):
        server.start()

    def public_answer(request):
        if request.path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        if request.path.startswith("/v2/inside/app/manifests/"):
            return Reply(307, {"Location": "http://127.0.0.1:%d/manifest" % internal.port})
        if request.path.startswith("/v2/cdn/app/manifests/"):
            return Reply(307, {"Location": "http://%s:%d/manifest" % (CDN_NAME, cdn.port)})
        return Reply(404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')

    public = HostileServer(public_answer)
    public.start()
    registry = "http://%s:%d" % (PUBLIC_NAME, public.port)
    tasks = [
        {"name": name, "register": name, "ignore_errors": True,
         "drc.registry.registry_manifest_info": {"reference": "%s/%s/app:1" % (registry, repository),
                                                 "retries": 0, "timeout": 10}}
        for name, repository in (("to_internal", "inside"), ("to_cdn", "cdn"))]
    env = {"PYTHONPATH": SHIM, "DRC_TEST_PUBLIC_NAMES": ",".join((PUBLIC_NAME, CDN_NAME))}
    try:
        run = run_playbook(tasks, work, env=env)
    finally:
        for server in (public, internal, cdn):
            server.stop()
    return {"run": run, "results": run.results, "internal": internal, "cdn": cdn, "public": public}


def test_public_registry_may_not_redirect_to_loopback(redirects):
    result = redirects["results"]["to_internal"]
    assert result.get("failed") is True, result
    message = result["msg"]
    assert "refusing a redirect" in message and "internal service" in message, message
    assert "127.0.0.1:%d" % redirects["internal"].port in message, message
    assert "Traceback" not in message
    assert redirects["internal"].requests == [], [(r.method, r.path) for r in redirects["internal"].requests]
    assert [r for r in redirects["public"].requests if "/inside/" in r.path]  # the redirect was asked for


def test_public_registry_may_still_redirect_to_a_public_cdn(redirects):
    result = redirects["results"]["to_cdn"]
    assert not result.get("failed"), result
    assert DIGEST in json.dumps(result), result
    assert [r.path for r in redirects["cdn"].requests if r.path == "/manifest"], redirects["cdn"].requests
