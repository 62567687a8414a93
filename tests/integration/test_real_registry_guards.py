"""The security properties again on the real registries of the test bed, with a proxy doing the
one thing the registry itself does not (a redirect to a CDN, bytes changed on the way), as a
second path next to the hostile-server tests. Each test guards a mutation of tests/mutants/guards.py."""

from __future__ import annotations

import hashlib
import json
import os

from tests.integration.ansible_runner import run_module
from tests.testbed.proxy import Proxy


class BlobRedirectProxy(Proxy):
    """In front of a registry: every blob GET is answered with a 307 to ``cdn_url``."""

    def __init__(self, upstream: str, cdn_url: str, ca_file: str | None = None) -> None:
        super().__init__(upstream, ca_file)
        self.cdn_url = cdn_url

    def handle(self, handler, body):
        if handler.command == "GET" and "/blobs/sha256:" in handler.path:
            self.send_head(handler, 307, [("Location", self.cdn_url + handler.path), ("Content-Length", "0")])
            return None
        return super().handle(handler, body)


class TamperingProxy(Proxy):
    """In front of a registry: the last byte of every blob body is changed."""

    def handle(self, handler, body):
        if handler.command != "GET" or "/blobs/sha256:" not in handler.path:
            return super().handle(handler, body)
        response = self.forward(handler.command, handler.path, handler.headers, body)
        data = response.read()
        if response.status == 200 and data:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        return self.relay(handler, response, body=data)


def file_sha256(path) -> str:
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


def test_credentials_stay_with_the_real_registry_across_a_cdn_redirect(testbed, tmp_path):
    """htpasswd+TLS registry behind a proxy that redirects blobs to a CDN on another port."""
    registry = testbed.registries["basic"]
    manifest = json.loads(testbed.skopeo_raw_manifest(registry, "app/oci:1.0"))
    layer = manifest["layers"][0]
    cdn = Proxy(testbed.registries["open"].url).start()  # same seeded content, no auth needed
    front = BlobRedirectProxy(registry.url, cdn.url, ca_file=testbed.pki.ca_cert).start()
    try:
        run = run_module("drc.registry.registry_blob_fetch", dict(
            repository="http://%s/app/oci" % front.host, digest=layer["digest"], dest=str(tmp_path / "l"),
            username=testbed.username, password=testbed.password), verbosity=4)
    finally:
        front.stop()
        cdn.stop()
    assert run.rc == 0, run.output
    assert file_sha256(tmp_path / "l") == layer["digest"]
    sent_to_registry = [headers.get("Authorization") for method, path, headers in front.requests
                        if "/blobs/" in path]
    sent_to_cdn = [headers.get("Authorization") for method, path, headers in cdn.requests]
    assert sent_to_registry and all(value and value.startswith("Basic ") for value in sent_to_registry)
    assert sent_to_cdn == [None]
    assert testbed.password not in run.output


def test_tampered_blob_and_config_from_a_real_registry_are_refused(testbed, tmp_path):
    registry = testbed.registries["open"]
    manifest = json.loads(testbed.skopeo_raw_manifest(registry, "app/oci:1.0"))
    layer = manifest["layers"][0]
    dest = tmp_path / "l"
    dest.write_bytes(b"keep")
    proxy = TamperingProxy(registry.url).start()
    try:
        blob = run_module("drc.registry.registry_blob_fetch", dict(
            repository="http://%s/app/oci" % proxy.host, digest=layer["digest"], dest=str(dest)))
        config = run_module("drc.registry.registry_manifest_info", dict(
            reference="http://%s/app/oci:1.0" % proxy.host, config=True))
    finally:
        proxy.stop()
    assert blob.rc != 0 and "refusing content that does not match its digest" in blob.result["msg"], blob.output
    assert dest.read_bytes() == b"keep" and os.listdir(tmp_path) == ["l"]
    assert config.rc != 0 and "refusing content that does not match its digest" in config.result["msg"], \
        config.output
    assert manifest["config"]["digest"] in config.result["msg"]
