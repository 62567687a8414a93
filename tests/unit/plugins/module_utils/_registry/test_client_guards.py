"""Client properties a module cannot show on its own: expected sizes, the http fallback rule,
bounded error bodies. Each test here guards a mutation of tests/mutants/guards.yml."""

from __future__ import annotations

import hashlib
import io

import pytest
import requests
import urllib3

from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import fetch_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions, RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.manifests import get_manifest
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_image_reference)
from tests.testbed.hostile import HostileServer, Reply

MIB = 1024 * 1024
BLOB = bytes(range(256)) * (8 * MIB // 256)  # 8 MiB
SMALL = b"a small blob"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_server(body: bytes) -> HostileServer:
    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        if request.path == "/v2/app/blobs/" + digest(body):
            return Reply(200, {"Content-Type": "application/octet-stream"}, body)
        return None
    return HostileServer(answer)


def client_for(reference: str, retries: int = 3) -> RegistryConnection:
    """A connection as the modules build one from a reference: registry, scheme and whether the
    scheme was written come from the reference; no credentials."""
    parsed = parse_image_reference(reference)
    return RegistryConnection(ConnectionOptions(registry=parsed.registry, scheme=parsed.scheme,
                                                scheme_written=parsed.scheme_written,
                                                credentials=Credentials(), retries=retries))


# -- fetch_blob with an expected size -----------------------------------------------------------
def test_blob_larger_than_expected_is_refused_while_streaming():
    """A server sending more than expected is cut off: the rest is never written."""
    out = io.BytesIO()
    with blob_server(BLOB) as server:
        client = client_for("http://%s/app" % server.host, retries=0)
        with pytest.raises(RegistryError, match="larger than the 1000 bytes expected"):
            fetch_blob(client, "app", digest(BLOB), out, expected_size=1000)
    # at most one chunk past the limit, never the whole 8 MiB
    assert len(out.getvalue()) < 2 * MIB


def test_a_part_file_longer_than_the_declared_total_is_refused_without_reading_the_body():
    """A resumed run whose part file is already past the total the server now declares: refused
    at once, reading at most one byte of the 8 MiB body (a negative read would take it all)."""
    reads = []

    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        if request.method == "GET" and request.headers.get("Range") == "bytes=10-":
            return Reply(206, {"Content-Range": "bytes 10-20/5"}, BLOB)
        return None

    out = io.BytesIO(b"0123456789")  # left by an earlier, killed run; no size given
    with HostileServer(answer) as server:
        client = client_for("http://%s/app" % server.host, retries=0)
        original = urllib3.response.HTTPResponse.read

        def counting_read(self, amt=None, *args, **kwargs):
            reads.append(amt)
            return original(self, amt, *args, **kwargs)

        urllib3.response.HTTPResponse.read = counting_read
        try:
            with pytest.raises(RegistryError, match="larger than the 5 bytes declared"):
                fetch_blob(client, "app", digest(BLOB), out)
        finally:
            urllib3.response.HTTPResponse.read = original
    # the body was read one byte at a time, never with a negative amount (urllib3: everything)
    assert 1 in reads and all(amount is not None and amount > 0 for amount in reads), reads


def test_blob_smaller_than_expected_is_refused():
    """The bytes hash to the digest, but the descriptor said more: refused."""
    out = io.BytesIO()
    with blob_server(SMALL) as server:
        client = client_for("http://%s/app" % server.host, retries=0)
        with pytest.raises(RegistryError, match="is %d bytes, not the %d bytes expected"
                           % (len(SMALL), len(SMALL) + 10)):
            fetch_blob(client, "app", digest(SMALL), out, expected_size=len(SMALL) + 10)


def test_blob_of_the_expected_size_is_accepted():
    out = io.BytesIO()
    with blob_server(SMALL) as server:
        client = client_for("http://%s/app" % server.host, retries=0)
        assert fetch_blob(client, "app", digest(SMALL), out, expected_size=len(SMALL)) == len(SMALL)
    assert out.getvalue() == SMALL


def test_blob_with_wrong_bytes_is_refused_by_the_client():
    """Second path for blob verification (the first is registry_blob_fetch in test_hostile)."""
    claimed = digest(SMALL)

    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(200, {}, SMALL + b"!")
    out = io.BytesIO()
    with HostileServer(answer) as server:
        client = client_for("http://%s/app" % server.host, retries=0)
        with pytest.raises(RegistryError, match="refusing content that does not match its digest"):
            fetch_blob(client, "app", claimed, out)


# -- the plain-http fallback -----------------------------------------------------------------
class RecordingSession:
    """Stands in for the network under the real Transport and RegistryConnection: records every URL
    and fails every connection, so that no packet leaves the machine (the names below are never
    resolved)."""

    def __init__(self, error: Exception) -> None:
        self.urls: list = []
        self.error = error

    def __call__(self, method, url, **kwargs):
        self.urls.append(url)
        raise self.error


def ping_with_failing_https(reference: str, error: Exception | None = None) -> list:
    client = client_for(reference, retries=0)
    session = RecordingSession(error or requests.exceptions.ConnectionError("[Errno 111] Connection refused"))
    client.transport.session.request = session
    with pytest.raises(RegistryError):
        client.ping()
    return session.urls


@pytest.mark.parametrize("reference", [
    "registry.invalid:5000/app:1",
    "registry.test/app:1",
    "10.0.0.1:5000/app:1",       # private is not loopback
    "localhost.example.test:5000/app:1",
])
def test_no_plain_http_fallback_for_a_host_that_is_not_loopback(reference):
    urls = ping_with_failing_https(reference)
    assert urls and all(url.startswith("https://") for url in urls), urls


@pytest.mark.parametrize("reference, expected", [
    ("localhost:5000/app:1", "http://localhost:5000/v2/"),
    ("127.0.0.1:5000/app:1", "http://127.0.0.1:5000/v2/"),
    ("[::1]:5000/app:1", "http://[::1]:5000/v2/"),
])
def test_plain_http_fallback_for_loopback(reference, expected):
    """The control for the test above: the recording session does see a fallback when allowed."""
    urls = ping_with_failing_https(reference)
    assert urls[0].startswith("https://") and urls[-1] == expected, urls


def test_no_fallback_when_the_scheme_is_explicit():
    urls = ping_with_failing_https("https://localhost:5000/app:1")
    assert urls == ["https://localhost:5000/v2/"]


def test_no_fallback_after_a_certificate_failure():
    """A loopback registry with an untrusted certificate is a TLS registry: http is not tried."""
    error = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                         "self-signed certificate")
    urls = ping_with_failing_https("localhost:5000/app:1", error)
    assert urls == ["https://localhost:5000/v2/"]


# -- bounded error bodies ------------------------------------------------------------------
def test_error_body_is_read_only_up_to_the_cap():
    """An error body announced as 100 MiB (1 MiB sent, then the connection closes): the client
    reads the first 64 KiB and answers; reading to the end would fail on the short body."""
    body = b'{"errors":[{"code":"DENIED","message":"' + b"x" * MIB

    def answer(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(403, {"Content-Type": "application/json"}, body, content_length=100 * MIB)
    with HostileServer(answer) as server:
        client = client_for("http://%s/app" % server.host, retries=0)
        with pytest.raises(RegistryError, match="failed: 403 Forbidden"):
            get_manifest(client, "app", "1")


def test_a_body_without_content_length_is_cut_at_the_cap():
    """An HTTP/1.0 answer with no Content-Length, ended by closing: counted while it streams."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Unsized(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.end_headers()
            if self.path != "/v2/":
                try:
                    for dummy in range(6):
                        self.wfile.write(b" " * MIB)
                except (BrokenPipeError, ConnectionResetError):
                    pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Unsized)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        client = client_for("http://127.0.0.1:%d/app" % httpd.server_address[1], retries=0)
        with pytest.raises(RegistryError, match="is more than the 4194304 bytes allowed"):
            get_manifest(client, "app", "1")
    finally:
        httpd.shutdown()
        httpd.server_close()
