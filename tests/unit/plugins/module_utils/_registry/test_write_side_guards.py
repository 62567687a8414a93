"""Issue 26: a manifest PUT under a digest reference must hash to it (the last check before the
registry stores it), against a scripted registry that records what it receives."""

from __future__ import annotations

import hashlib
import json

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions, RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import DigestMismatch
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import put_manifest
from tests.testbed.hostile import HostileServer, Reply

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def answer(request):
    if request.path == "/v2/":
        return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
    return Reply(201, {"Docker-Content-Digest": sha256(request.body)})


@pytest.mark.parametrize("reference, stored", [(sha256(b"another manifest"), False), ("1", True)])
def test_manifest_put_under_a_digest_it_does_not_hash_to_is_refused(reference, stored):
    with HostileServer(answer) as server:
        connection = RegistryConnection(ConnectionOptions(
            registry=server.host, scheme="http", scheme_written=True, credentials=Credentials(), retries=0))
        if stored:
            put_manifest(connection, "app", reference, MANIFEST, OCI_MANIFEST)
        else:
            with pytest.raises(DigestMismatch, match="refusing to PUT a manifest hashing to"):
                put_manifest(connection, "app", reference, MANIFEST, OCI_MANIFEST)
        puts = [r for r in server.requests if r.method == "PUT"]
    assert len(puts) == (1 if stored else 0)
