"""An in-process HTTP server whose every answer a test scripts: for what no real registry does.

A test passes a function ``answer(request) -> Reply | None``; ``request`` has ``method``, ``path``,
``headers`` and ``body``. Every request is recorded with its headers.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

from tests.testbed.loopback import LoopbackServer


class Reply:
    def __init__(self, status: int = 200, headers: dict | None = None, body: bytes = b"",
                 content_length: int | None = None, stall: float = 0.0, stall_at: int = 1,
                 send_length: bool = True) -> None:
        self.status = status
        self.send_length = send_length  # False: no Content-Length, the end of the body is the close
        self.headers = dict(headers or {})
        self.body = body
        self.content_length = len(body) if content_length is None else content_length
        self.stall = stall
        self.stall_at = stall_at  # bytes sent before the stall


class Request:
    def __init__(self, method: str, path: str, headers: dict, body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body


class HostileServer(LoopbackServer):
    def __init__(self, answer, tls_pki=None) -> None:
        self.answer = answer
        self.requests: list = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_ANY(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers), body)
                server.requests.append(request)
                reply = server.answer(request) or Reply(404, {"Content-Type": "application/json"},
                                                        b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}')
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.send_length:
                    self.send_header("Content-Length", str(reply.content_length))
                else:
                    self.close_connection = True
                self.end_headers()
                try:
                    if self.command != "HEAD":
                        if reply.stall:
                            self.wfile.write(reply.body[:reply.stall_at])
                            self.wfile.flush()
                            time.sleep(reply.stall)
                            self.wfile.write(reply.body[reply.stall_at:])
                        else:
                            self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if self.command != "HEAD" and reply.content_length != len(reply.body):
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_ANY

        self._serve(Handler, tls_pki)
