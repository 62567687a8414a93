"""A small forwarding HTTP proxy in front of a real test-bed registry.

Subclasses change what passes through: PagingProxy adds the tag-list pagination that Debian's
registry (Distribution 2.8) does not implement; the fault tests and benchmarks add faults and delay.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.testbed.loopback import LoopbackServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}
CHUNK = 1024 * 1024


class Proxy(LoopbackServer):
    def __init__(self, upstream: str, ca_file: str | None = None, tls_pki=None) -> None:
        parts = urlsplit(upstream)
        self.upstream_scheme, self.upstream_netloc = parts.scheme, parts.netloc
        self.context = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None
        self.requests: list = []
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_ANY(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, dict(self.headers)))
                try:
                    proxy.handle(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_ANY

        self._serve(Handler, tls_pki)

    # -- override points -------------------------------------------------------------------------
    def handle(self, handler, body: bytes | None) -> None:
        self.relay(handler, self.forward(handler.command, handler.path, handler.headers, body))

    # -- helpers ----------------------------------------------------------------------------------
    def _connection(self):
        """One kept-alive upstream connection per client connection (handler thread)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.upstream_scheme == "https":
                conn = http.client.HTTPSConnection(self.upstream_netloc, context=self.context, timeout=60)
            else:
                conn = http.client.HTTPConnection(self.upstream_netloc, timeout=60)
            self._local.conn = conn
        return conn

    def forward(self, method: str, path: str, headers, body: bytes | None = None):
        for attempt in (0, 1):
            conn = self._connection()
            try:
                # Header by header: a client may repeat one (skopeo sends several Accept headers).
                conn.putrequest(method, path, skip_accept_encoding=True)
                for name, value in headers.items():
                    if name.lower() not in HOP_BY_HOP and name.lower() not in ("host", "content-length"):
                        conn.putheader(name, value)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                break
            except (http.client.HTTPException, OSError):
                self.done_with(None, reuse=False)
                if attempt:
                    raise
        response.upstream = conn
        return response

    def done_with(self, response, reuse: bool = True) -> None:
        """Keep the upstream connection for the next request, unless it cannot be reused."""
        if reuse and response is not None and not response.will_close:
            return
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    @staticmethod
    def send_head(handler, status: int, headers: list, reason: str | None = None) -> None:
        handler.send_response(status, reason)
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()

    def relay(self, handler, response, body: bytes | None = None, extra_headers: list | None = None) -> None:
        """Send an upstream response on; ``body`` replaces the upstream body when given."""
        headers = [(k, v) for k, v in response.getheaders()
                   if k.lower() not in HOP_BY_HOP and (body is None or k.lower() != "content-length")]
        if handler.command == "HEAD" and body is not None:
            body = None
        headers += extra_headers or []
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        elif response.getheader("Content-Length") is None and handler.command != "HEAD":
            body = response.read()
            headers.append(("Content-Length", str(len(body))))
        self.send_head(handler, response.status, headers, response.reason)
        if handler.command == "HEAD":
            response.read()
        elif body is not None:
            handler.wfile.write(body)
        else:
            self.stream_body(handler, response)
        self.done_with(response)

    def stream_body(self, handler, response) -> None:
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            handler.wfile.write(chunk)


_TAGS_PATH = re.compile(r"^/v2/(.+)/tags/list$")


class PagingProxy(Proxy):
    """Serves tag lists in pages of ``n`` with opaque cursors in ``Link`` headers, as GHCR and
    Quay do, from the real registry's complete list."""

    def __init__(self, upstream: str, ca_file: str | None = None) -> None:
        super().__init__(upstream, ca_file)
        self.pages_served = 0

    def handle(self, handler, body):
        parts = urlsplit(handler.path)
        match = _TAGS_PATH.match(parts.path)
        query = parse_qs(parts.query)
        if handler.command != "GET" or not match or "n" not in query:
            return super().handle(handler, body)
        response = self.forward("GET", parts.path, handler.headers)
        if response.status != 200:
            return self.relay(handler, response)
        data = json.loads(response.read())
        tags = sorted(data.get("tags") or [])
        size = int(query["n"][0])
        start = 0
        if "cursor" in query:
            last = base64.urlsafe_b64decode(query["cursor"][0]).decode()
            start = tags.index(last) + 1
        page = tags[start:start + size]
        extra = []
        if start + size < len(tags):
            cursor = base64.urlsafe_b64encode(page[-1].encode()).decode()
            extra.append(("Link", '<%s?%s>; rel="next"' % (parts.path, urlencode({"n": size, "cursor": cursor}))))
        with self._lock:
            self.pages_served += 1
        payload = json.dumps({"name": data.get("name"), "tags": page}).encode()
        self.relay(handler, response, body=payload, extra_headers=extra)


class HeaderProxy(Proxy):
    """Adds fixed response headers, such as Docker Hub's rate-limit headers."""

    def __init__(self, upstream: str, headers: list, ca_file: str | None = None) -> None:
        super().__init__(upstream, ca_file)
        self.extra = headers

    def handle(self, handler, body):
        response = self.forward(handler.command, handler.path, handler.headers, body)
        self.relay(handler, response, extra_headers=self.extra)


class Fault:
    """One scripted fault for the requests matching ``method`` and a path fragment.

    kinds: ``status`` (answer ``status`` with ``headers`` instead of forwarding), ``reset``
    (forward, send ``after`` bytes of the body, then reset the connection), ``short`` (send
    ``after`` bytes, then close cleanly), ``stall`` (send ``after`` bytes, then go silent for
    ``seconds``), ``ignore_range`` (forward without the Range header), ``corrupt`` (forward the
    body with its first byte changed).
    """

    def __init__(self, kind: str, method: str = "GET", path: str = "", times: int = 1, after: int = 0,
                 status: int = 503, headers: list | None = None, body: bytes = b"", seconds: float = 0) -> None:
        self.kind, self.method, self.path, self.times = kind, method, path, times
        self.after, self.status, self.headers, self.body, self.seconds = after, status, headers or [], body, seconds


class FaultProxy(Proxy):
    """Injects scripted faults between a client and a real registry."""

    def __init__(self, upstream: str, faults: list, ca_file: str | None = None) -> None:
        super().__init__(upstream, ca_file)
        self.faults = list(faults)
        self.injected: list = []

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path in path:
                    fault.times -= 1
                    self.injected.append((fault.kind, method, path))
                    return fault
        return None

    def handle(self, handler, body):
        fault = self._take(handler.command, handler.path)
        if fault is None:
            return super().handle(handler, body)
        if fault.kind == "status":
            headers = list(fault.headers) + [("Content-Length", str(len(fault.body)))]
            self.send_head(handler, fault.status, headers)
            handler.wfile.write(fault.body)
            return None
        headers = handler.headers
        if fault.kind == "corrupt":  # the body with its first byte changed, same length
            response = self.forward(handler.command, handler.path, headers, body)
            data = bytearray(response.read())
            if data:
                data[0] ^= 0xFF
            return self.relay(handler, response, body=bytes(data))
        if fault.kind == "ignore_range":
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "range"}
            return self.relay(handler, self.forward(handler.command, handler.path, headers, body))
        response = self.forward(handler.command, handler.path, headers, body)
        self.send_head(handler, response.status, [(k, v) for k, v in response.getheaders()
                                                  if k.lower() not in HOP_BY_HOP])
        handler.wfile.write(response.read(fault.after))
        handler.wfile.flush()
        self.done_with(response, reuse=False)
        if fault.kind == "stall":
            time.sleep(fault.seconds)
        if fault.kind == "reset":
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        return None


class LatencyProxy(Proxy):
    """Simulates a remote registry on loopback: ``delay`` seconds each way on every request, and
    one round trip more when a client opens a new connection (the TCP handshake)."""

    def __init__(self, upstream: str, delay: float = 0.020, ca_file: str | None = None, tls_pki=None) -> None:
        super().__init__(upstream, ca_file, tls_pki)
        self.delay = delay
        self.connections = 0
        proxy = self
        handler_class = self.httpd.RequestHandlerClass

        class DelayedHandler(handler_class):
            def setup(self):
                with proxy._lock:
                    proxy.connections += 1
                time.sleep(2 * proxy.delay)
                super().setup()

        self.httpd.RequestHandlerClass = DelayedHandler

    def handle(self, handler, body):
        time.sleep(self.delay)
        response = self.forward(handler.command, handler.path, handler.headers, body)
        time.sleep(self.delay)
        self.relay(handler, response)


class ForwardProxy(LoopbackServer):
    """A forward proxy as clients configure one (``HTTPS_PROXY``, ``proxy``): absolute-URI requests
    for plain http targets, ``CONNECT host:port`` tunnels for https ones. It logs every request
    it relays, with the headers it could see (inside a tunnel it sees nothing but the host).

    With ``credentials`` (user, password) it answers 407 to requests without that
    ``Proxy-Authorization``.
    """

    def __init__(self, credentials: tuple | None = None) -> None:
        self.log: list = []  # dicts: method, target, headers (as the proxy saw them), allowed
        self._lock = threading.Lock()
        self.expected = None
        if credentials:
            raw = ("%s:%s" % credentials).encode()
            self.expected = "Basic " + base64.b64encode(raw).decode()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _allowed(self) -> bool:
                allowed = proxy.expected is None or self.headers.get("Proxy-Authorization") == proxy.expected
                with proxy._lock:
                    proxy.log.append({"method": self.command, "target": self.path,
                                      "headers": dict(self.headers), "allowed": allowed})
                if not allowed:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="drc-test-proxy"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                return allowed

            def do_CONNECT(self):
                if not self._allowed():
                    return
                host, _sep, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=30)
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                proxy.tunnel(self.connection, upstream)

            def do_ANY(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if not self._allowed():
                    return
                parts = urlsplit(self.path)
                if parts.scheme != "http" or not parts.netloc:
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(parts.netloc, timeout=60)
                conn.putrequest(self.command, parts._replace(scheme="", netloc="").geturl() or "/",
                                skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP and name.lower() not in ("host", "content-length"):
                        conn.putheader(name, value)
                conn.putheader("Host", parts.netloc)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_ANY

        self._serve(Handler)

    @staticmethod
    def tunnel(client, upstream) -> None:
        """Copy bytes both ways until either side closes."""
        def pump(source, sink):
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (source, sink):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        other = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        other.start()
        pump(client, upstream)
        other.join(30)
        upstream.close()

    def targets(self) -> list:
        with self._lock:
            return [(entry["method"], entry["target"]) for entry in self.log]

    def url_with(self, user: str, password: str) -> str:
        return "http://%s:%s@%s" % (user, password, self.host)
