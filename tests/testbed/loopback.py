"""The one way the test bed serves HTTP(S) on a free loopback port, in a background thread."""

from __future__ import annotations

import ssl
import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """Base for the token server, the proxies and the hostile server."""

    def _serve(self, handler_class, tls_pki=None) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls_pki is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_pki.server_cert, tls_pki.server_key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.host = "127.0.0.1:%d" % self.port
        self.url = "%s://%s" % (self.scheme, self.host)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
