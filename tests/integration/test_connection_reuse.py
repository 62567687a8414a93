"""One kept-alive connection serves many requests: no TCP or TLS handshake per request."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.drc.registry.plugins.module_utils._registry.inspect import resolve
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_reference
from tests.testbed.proxy import LatencyProxy
from tests.testbed.testbed import many_tag_names


def test_sequential_requests_share_one_connection(testbed, tmp_path):
    registry = testbed.registries["open"]
    proxy = LatencyProxy(registry.url, delay=0).start()
    try:
        parsed = [parse_reference("http://%s/app/tags:%s" % (proxy.host, tag)) for tag in many_tag_names()[:20]]
        client = RegistryClient(parsed[0]["index"], Credentials(), explicit_scheme=True)
        digests = {resolve(client, p) for p in parsed}
        tags = client.list_tags("app/tags")
        blob = client.get_manifest("app/oci", "1.0").layers()[0]["digest"]
        with open(tmp_path / "layer", "wb") as out:
            client.fetch_blob("app/oci", blob, out)
        missing = client.head_blob("app/oci", "sha256:" + "0" * 64)
        client.close()
    finally:
        proxy.stop()
    assert len(digests) == 1 and len(tags) == 250 and missing is None
    assert len(proxy.requests) == 25  # ping, 20 HEADs, tag list, manifest, blob, blob HEAD
    assert proxy.connections == 1
