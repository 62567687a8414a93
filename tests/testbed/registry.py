"""Run one CNCF Distribution registry (``docker-registry serve CONFIG``) on a free loopback port."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

_ACCESS_LINE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/[^ ]*) HTTP/[0-9.]+" (\d{3})')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RegistryProcess:
    """mode: ``open`` (plain http), ``basic`` (htpasswd over TLS) or ``token``."""

    def __init__(self, mode: str, workdir: str, pki=None, htpasswd: str | None = None,
                 token_server=None, tls: bool | None = None) -> None:
        self.mode = mode
        self.workdir = workdir
        self.pki = pki
        self.port = free_port()
        self.tls = mode == "basic" if tls is None else tls
        self.scheme = "https" if self.tls else "http"
        self.host = "127.0.0.1:%d" % self.port
        self.url = "%s://%s" % (self.scheme, self.host)
        os.makedirs(workdir, exist_ok=True)
        self.storage = os.path.join(workdir, "storage")
        self.config_path = os.path.join(workdir, "config.yml")
        self.log_path = os.path.join(workdir, "registry.log")
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % self.storage,
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            "  addr: 127.0.0.1:%d" % self.port,
            "  secret: drc-testbed-secret",
        ]
        if self.tls:
            lines += ["  tls:", "    certificate: %s" % pki.server_cert, "    key: %s" % pki.server_key]
        if mode == "basic":
            lines += ["auth:", "  htpasswd:", "    realm: drc-testbed", "    path: %s" % htpasswd]
        elif mode == "token":
            lines += ["auth:", "  token:", "    realm: %s" % token_server.realm,
                      "    service: %s" % token_server.service, "    issuer: %s" % token_server.issuer,
                      "    rootcertbundle: %s" % pki.token_cert_path]
        with open(self.config_path, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        self.process = None

    def start(self, timeout: float = 20.0) -> "RegistryProcess":
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(["docker-registry", "serve", self.config_path],
                                        stdout=self._log, stderr=subprocess.STDOUT)
        context = ssl.create_default_context(cafile=self.pki.ca_cert) if self.tls else None
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("docker-registry exited: see %s" % self.log_path)
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=1, context=context)
                return self
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("docker-registry did not answer on %s" % self.url)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process:
            self._log.close()

    def access_log_mark(self) -> int:
        return os.path.getsize(self.log_path)

    def requests_since(self, mark: int) -> list:
        """(method, path, status) of every API request logged after ``mark``."""
        with open(self.log_path, "rb") as handle:
            handle.seek(mark)
            text = handle.read().decode("utf-8", "replace")
        return [(m.group(1), m.group(2), int(m.group(3))) for m in _ACCESS_LINE.finditer(text)]
