"""A Docker token server: GET realm?service=&scope= (and the OAuth2 POST), ES256 JWTs with x5c.

Basic credentials are checked; anonymous callers get pull on repositories under ``public/``.
It counts the token requests it serves.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.testbed.loopback import LoopbackServer


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer(LoopbackServer):
    def __init__(self, pki, users: dict, service: str, issuer: str,
                 identity_tokens: dict | None = None, lifetime: int = 300) -> None:
        self.pki = pki
        self.users = users
        self.identity_tokens = identity_tokens or {}
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.requests = 0
        self.log: list = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                server._answer(self, self._basic_user(), query.get("scope", []), query)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                refresh = (form.get("refresh_token") or [""])[0]
                user = server.identity_tokens.get(refresh)
                if form.get("grant_type", [""])[0] != "refresh_token" or user is None:
                    server._send(self, 401, {"error": "invalid_grant"})
                    return
                scopes = " ".join(form.get("scope", [])).split()
                server._answer(self, user, scopes, form, oauth=True)

            def _basic_user(self):
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                try:
                    user, dummy, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return False
                if server.users.get(user) == password:
                    return user
                if user == "<token>" and password in server.identity_tokens:
                    return server.identity_tokens[password]
                return False

        self._serve(Handler)
        self.realm = self.url + "/token"

    def reset_counter(self) -> None:
        with self._lock:
            self.requests = 0
            self.log = []

    @staticmethod
    def _send(handler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, handler, user, scopes: list, query: dict, oauth: bool = False) -> None:
        with self._lock:
            self.requests += 1
            self.log.append({"user": user, "scopes": list(scopes), "oauth": oauth})
        if user is False:
            self._send(handler, 401, {"errors": [{"code": "UNAUTHORIZED",
                                                  "message": "authentication failed"}]})
            return
        access = [grant for grant in (self._grant(user, s) for s in scopes) if grant]
        token = self.issue(user or "", access)
        body = {"token": token, "expires_in": self.lifetime,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if oauth:
            body = {"access_token": token, "expires_in": self.lifetime}
        self._send(handler, 200, body)

    @staticmethod
    def _grant(user, scope: str) -> dict | None:
        parts = scope.split(":")
        if len(parts) < 3:
            return None
        kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
        if kind == "registry":
            return {"type": kind, "name": name, "actions": actions} if user else None
        if user:
            return {"type": kind, "name": name, "actions": actions}
        if name.startswith("public/") and "pull" in actions:
            return {"type": kind, "name": name, "actions": ["pull"]}
        return None

    def issue(self, subject: str, access: list, lifetime: int | None = None) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.pki.token_cert_der).decode()]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "iat": now,
                  "nbf": now - 10, "exp": now + (self.lifetime if lifetime is None else lifetime),
                  "jti": _b64url(os.urandom(12)), "access": access}
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        der = self.pki.token_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + _b64url(signature)
