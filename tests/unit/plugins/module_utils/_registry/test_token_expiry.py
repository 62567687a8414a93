"""Token lifetimes on a clock the test moves: reused while valid, renewed shortly before expiry."""

from __future__ import annotations

import json

from ansible_collections.drc.registry.plugins.module_utils._registry import auth as auth_module
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import Authenticator, Challenge
from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import Credentials
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import Transport
from tests.testbed.hostile import HostileServer, Reply


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_token_is_reused_until_just_before_it_expires_then_renewed(monkeypatch):
    clock = Clock(1_000_000.0)
    monkeypatch.setattr(auth_module, "time", clock)  # the token cache's clock only
    issued = []

    def tokens(request):
        issued.append(request.path)
        return Reply(200, {"Content-Type": "application/json"},
                     json.dumps({"token": "tok-%d" % len(issued), "expires_in": 60}).encode())

    with HostileServer(tokens) as server:
        auth = Authenticator(Transport(retries=0), Credentials())
        auth.set_challenges([Challenge("bearer", {"realm": server.url + "/token", "service": "s"})])
        scope = ["repository:app:pull"]
        assert auth.authorization(scope) == "Bearer tok-1"
        clock.now += 50                     # valid for 60 s, renewed 5 s early
        assert auth.authorization(scope) == "Bearer tok-1"
        clock.now += 6                      # 56 s: inside the safety margin
        assert auth.authorization(scope) == "Bearer tok-2"
        clock.now += 30
        assert auth.authorization(scope) == "Bearer tok-2"
    assert len(issued) == 2
