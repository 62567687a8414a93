"""blobs.BlobReader, the one reader of a blob from a registry, in the places issue 25 gave it: the
copy's registry source (opened at an offset, hashed by the upload) and fetch_blob (open + write)."""

from __future__ import annotations

import hashlib
import io

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import (
    RegistryBlobSource)
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import fetch_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, RegistryError)
from tests.testbed.hostile import HostileServer, Reply
from tests.unit.plugins.module_utils._registry.test_client_guards import client_for

BLOB = bytes(range(256)) * 40  # 10240 bytes


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ranged_server(body: bytes, honour_range: bool = True, cut_first_at: int | None = None) -> HostileServer:
    cuts = [cut_first_at]

    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        if request.path != "/v2/app/blobs/" + digest(body):
            return None
        wanted = request.headers.get("Range")
        if wanted and honour_range:
            start = int(wanted[len("bytes="):-1])
            return Reply(206, {"Content-Range": "bytes %d-%d/%d" % (start, len(body) - 1, len(body))},
                         body[start:])
        if cuts[0] is not None:
            sent, cuts[0] = cuts[0], None
            return Reply(200, {}, body[:sent], content_length=len(body))
        return Reply(200, {}, body)
    return HostileServer(answer)


def read_all(reader) -> bytes:
    parts = []
    try:
        for chunk in iter(lambda: reader.read(4096), b""):
            parts.append(chunk)
    finally:
        reader.close()
    return b"".join(parts)


def test_the_copy_source_opened_at_an_offset_continues_with_range():
    with ranged_server(BLOB) as server:
        source = RegistryBlobSource(client_for("http://%s/app" % server.host), "app", digest(BLOB), len(BLOB))
        assert read_all(source.open(1000)) == BLOB[1000:]
    assert [r.headers.get("Range") for r in server.requests if "/blobs/" in r.path] == ["bytes=1000-"]


def test_the_copy_source_refuses_a_server_that_ignores_range():
    with ranged_server(BLOB, honour_range=False) as server:
        source = RegistryBlobSource(client_for("http://%s/app" % server.host), "app", digest(BLOB), len(BLOB))
        with pytest.raises(RegistryError, match="blobs/%s failed: 200" % digest(BLOB)):
            read_all(source.open(1000))  # whole bytes from the start are never taken for the rest


def test_the_copy_source_continues_a_cut_body_and_stops_at_the_size():
    with ranged_server(BLOB, cut_first_at=3000) as server:
        source = RegistryBlobSource(client_for("http://%s/app" % server.host), "app", digest(BLOB), len(BLOB))
        assert read_all(source.open(0)) == BLOB
    assert [r.headers.get("Range") for r in server.requests if "/blobs/" in r.path] == [None, "bytes=3000-"]


def test_a_complete_answer_shorter_than_the_descriptor_is_refused_at_once():
    """The server sent all it declared: not an interruption to continue, a wrong size."""
    with ranged_server(BLOB) as server:
        source = RegistryBlobSource(client_for("http://%s/app" % server.host), "app", digest(BLOB),
                                    len(BLOB) + 10)
        with pytest.raises(DigestMismatch, match="is %d bytes, not the %d bytes declared"
                           % (len(BLOB), len(BLOB) + 10)):
            read_all(source.open(0))
    assert len([r for r in server.requests if "/blobs/" in r.path]) == 1


def test_fetch_resumes_a_part_file_and_starts_over_when_range_is_ignored():
    with ranged_server(BLOB) as server:
        out = io.BytesIO(BLOB[:4000])
        assert fetch_blob(client_for("http://%s/app" % server.host), "app", digest(BLOB), out) == len(BLOB)
        assert out.getvalue() == BLOB
    assert [r.headers.get("Range") for r in server.requests if "/blobs/" in r.path] == ["bytes=4000-"]
    with ranged_server(BLOB, honour_range=False) as server:
        out = io.BytesIO(BLOB[:4000])
        assert fetch_blob(client_for("http://%s/app" % server.host), "app", digest(BLOB), out) == len(BLOB)
        assert out.getvalue() == BLOB
