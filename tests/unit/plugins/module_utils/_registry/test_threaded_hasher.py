"""ThreadedHasher: the digest of hashlib whatever the chunking, a thread that always stops, and a
failure on the thread raised in the caller. And fetch_blob, which uses it, leaves no thread behind."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import fetch_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    DigestHasher, ThreadedHasher)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions, RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from tests.testbed.hostile import HostileServer, Reply

MIB = 1024 * 1024
DATA = os.urandom(3 * MIB + 7)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def client_for(host: str, retries: int) -> RegistryConnection:
    return RegistryConnection(ConnectionOptions(registry=host, scheme="http", scheme_written=True,
                                                credentials=Credentials(), retries=retries))


def hasher_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "drc-registry-hasher" and t.is_alive()]


@pytest.fixture(autouse=True)
def no_thread_left():
    assert hasher_threads() == []
    yield
    assert hasher_threads() == [], "a hashing thread outlived its hasher"


# Every size against every chunking, except a byte at a time past a few KiB: each byte is a queue
# round trip (about 45 us), and 2049 of them already turn the queue of either depth over many times.
SIZES_AND_CHUNKS = [(size, chunk) for size in [0, 1, 2047, 2048, 2049, 65536, MIB, 3 * MIB + 7]
                    for chunk in [1, 1000, 4096, MIB, 4 * MIB] if chunk > 1 or size <= 2049]


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("size, chunk", SIZES_AND_CHUNKS)
@pytest.mark.parametrize("depth", [1, 4])
def test_same_digest_as_hashlib(algorithm, size, chunk, depth):
    data = DATA[:size]
    with ThreadedHasher(algorithm, depth=depth) as hasher:
        for start in range(0, len(data), chunk):
            hasher.update(data[start:start + chunk])
        hasher.update(b"")
        assert hasher.size == len(data)
        expected = "%s:%s" % (algorithm, hashlib.new(algorithm, data).hexdigest())
        assert hasher.digest() == expected
        assert hasher.digest() == expected and hasher.matches(expected)  # twice: the same answer
    plain = DigestHasher(algorithm)
    plain.update(data)
    assert plain.digest() == expected


def test_digest_stops_the_thread_and_no_update_comes_after():
    hasher = ThreadedHasher("sha256")
    hasher.update(b"abc")
    assert hasher.digest() == digest(b"abc")
    assert hasher_threads() == []
    with pytest.raises(RegistryError, match="after its digest or close"):
        hasher.update(b"d")


def test_the_thread_stops_when_the_producer_fails():
    with pytest.raises(ValueError):
        with ThreadedHasher("sha256", depth=2) as hasher:
            for _round in range(8):
                hasher.update(DATA)
            assert hasher_threads()  # it was running
            raise ValueError("the producer's read failed")
    # the autouse fixture checks that no hashing thread is left


def test_the_thread_stops_on_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt):
        with ThreadedHasher("sha256") as hasher:
            hasher.update(DATA)
            raise KeyboardInterrupt


class Unhashable:
    """Has a length (so update queues it) but hashlib refuses it, on the hashing thread."""

    def __len__(self) -> int:
        return 10


@pytest.mark.parametrize("then", ["digest", "update"])
def test_an_exception_on_the_thread_surfaces_in_the_caller(then):
    hasher = ThreadedHasher("sha256", depth=1)
    try:
        hasher.update(b"good bytes")
        hasher.update(Unhashable())
        with pytest.raises(TypeError):
            if then == "digest":
                hasher.digest()
            else:
                for _attempt in range(100):  # the thread fails soon; an update after that raises
                    hasher.update(b"more")
                    threading.Event().wait(0.01)
        with pytest.raises(TypeError):  # sticky: a failed hasher never gives a digest
            hasher.digest()
    finally:
        hasher.close()


# -- fetch_blob stops its hashing threads on every path ------------------------------------------
def cut_server(body: bytes, sent: int) -> HostileServer:
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(200, {"Content-Type": "application/octet-stream"}, body[:sent], content_length=len(body))
    return HostileServer(answer)


def test_fetch_blob_leaves_no_thread_after_interrupted_bodies():
    out = io.BytesIO()
    with cut_server(DATA, MIB + 5) as server:
        client = client_for(server.host, retries=1)
        with pytest.raises(RegistryError, match="interrupted 2 times"):
            fetch_blob(client, "app", digest(DATA), out)
    # what reached the file is what was hashed: the resumed run restarted from the start
    assert out.getvalue() == DATA[:MIB + 5]


class FailingFile(io.BytesIO):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def write(self, data) -> int:
        if self.tell() >= MIB:
            raise self.exc
        return super().write(data)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_fetch_blob_leaves_no_thread_when_writing_fails(exc):
    with cut_server(DATA, len(DATA)) as server:
        client = client_for(server.host, retries=3)
        with pytest.raises(type(exc) if isinstance(exc, KeyboardInterrupt) else RegistryError) as raised:
            fetch_blob(client, "app", digest(DATA), FailingFile(exc))
    if not isinstance(exc, KeyboardInterrupt):
        assert "No space left on device" in str(raised.value)
        gets = [r for r in server.requests if r.method == "GET" and "/blobs/" in r.path]
        assert len(gets) == 1  # a full disk is not retried
