"""One kept-alive connection serves many requests: no TCP or TLS handshake per request."""

from __future__ import annotations

from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import (
    fetch_blob, head_blob)
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions, RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.images import digest_to_pin
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import get_manifest
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from ansible_collections.drc.registry.plugins.module_utils._registry.tags import list_tags
from tests.testbed.proxy import LatencyProxy
from tests.testbed.testbed import many_tag_names


def test_sequential_requests_share_one_connection(testbed, tmp_path):
    registry = testbed.registries["open"]
    proxy = LatencyProxy(registry.url, delay=0).start()
    try:
        references = [parse_image_reference("http://%s/app/tags:%s" % (proxy.host, tag))
                      for tag in many_tag_names()[:20]]
        connection = RegistryConnection(ConnectionOptions(registry=proxy.host, scheme="http",
                                                          scheme_written=True))
        digests = {digest_to_pin(connection, r) for r in references}
        tags = list_tags(connection, "app/tags")
        blob = get_manifest(connection, "app/oci", "1.0").layers()[0]["digest"]
        with open(tmp_path / "layer", "wb") as out:
            fetch_blob(connection, "app/oci", blob, out)
        missing = head_blob(connection, "app/oci", "sha256:" + "0" * 64)
        connection.close()
    finally:
        proxy.stop()
    assert len(digests) == 1 and len(tags) == 250 and missing is None
    assert len(proxy.requests) == 25  # ping, 20 HEADs, tag list, manifest, blob, blob HEAD
    assert proxy.connections == 1
