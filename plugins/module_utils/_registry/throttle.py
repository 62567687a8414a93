# Private to the drc.registry collection: no compatibility promise for other collections.
"""A per-registry cap on requests in flight that shrinks when the registry answers 429.

Docker Hub and other registries answer ``429 Too Many Requests`` under load. A run that copies
many images at once then slows down for that registry alone: the cap on its concurrent requests
is halved (never below one), every request waits out the ``Retry-After`` the registry asked for
(capped by the retry policy), and 429s are retried more often than other failures, so that a
busy registry slows the run down rather than failing images.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    RegistryConnection)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    RetryPolicy, parse_retry_after)

# How many times one request may meet a 429 before it fails (each waits Retry-After or backs off).
RATE_LIMIT_RETRIES = 8


class RegistryThrottle:
    """The cap of one registry: ``limit`` requests at once, paused until ``resume_at``."""

    def __init__(self, registry: str, limit: int, log=None) -> None:
        self.registry = registry
        self.limit = max(1, limit)
        self.lowest = self.limit
        self.rate_limited = 0
        self.log = log or (lambda msg: None)
        self._active = 0
        self._resume_at = 0.0
        self._condition = threading.Condition()

    def acquire(self) -> None:
        with self._condition:
            while True:
                wait = self._resume_at - time.monotonic()
                if wait <= 0 and self._active < self.limit:
                    self._active += 1
                    return
                self._condition.wait(timeout=wait if wait > 0 else None)

    def release(self) -> None:
        with self._condition:
            self._active -= 1
            self._condition.notify_all()

    def too_many(self, wait: float | None) -> None:
        """A 429: halve the cap and hold every request of this registry for ``wait`` seconds."""
        with self._condition:
            self.rate_limited += 1
            if self.limit > 1:
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self.log("%s answered 429 Too Many Requests: at most %d requests at once from now on"
                         % (self.registry, self.limit))
            if wait:
                self._resume_at = max(self._resume_at, time.monotonic() + wait)
            self._condition.notify_all()

    def report(self) -> dict:
        return {"rate_limited": self.rate_limited, "lowest_concurrency": self.lowest}


class ThrottlingRetryPolicy(RetryPolicy):
    """RetryPolicy that tells the registry's throttle about each 429 and retries 429s longer."""

    def __init__(self, throttle: RegistryThrottle, retries: int = 3) -> None:
        super().__init__(retries)
        self.throttle = throttle
        self._local = threading.local()

    def should_retry(self, method: str, attempt: int, status: int | None = None,
                     idempotent: bool | None = None) -> bool:
        self._local.rate_limited = status == 429
        if status != 429:
            return super().should_retry(method, attempt, status, idempotent)
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        if not idempotent:
            self.throttle.too_many(None)  # a POST's own retry loop (uploads.py) backs off
            return False
        if attempt >= max(self.retries, 0) + RATE_LIMIT_RETRIES:
            return False
        return True

    def delay(self, attempt: int, retry_after: str | None = None, now: float | None = None) -> float:
        wait = super().delay(attempt, retry_after, now)
        if getattr(self._local, "rate_limited", False):
            self._local.rate_limited = False
            asked = parse_retry_after(retry_after, now)
            self.throttle.too_many(min(asked, self.retry_after_cap) if asked is not None else wait)
        return wait


class ThrottledConnection(RegistryConnection):
    """A RegistryConnection whose requests take a slot of their registry's throttle until the
    response's headers are in (a streamed body is read after the slot is given back)."""

    def __init__(self, options, throttle: RegistryThrottle, log=None, warn=None) -> None:
        super().__init__(options, log=log, warn=warn,
                         retry_policy=ThrottlingRetryPolicy(throttle, options.retries))
        self.throttle = throttle

    def prepare(self, scopes: list) -> None:
        self.throttle.acquire()
        try:
            super().prepare(scopes)
        finally:
            self.throttle.release()

    def request(self, method: str, path: str, scopes: list, headers: dict | None = None,
                body=None, ok: tuple = (200,), what: str | None = None):
        self.throttle.acquire()
        try:
            return super().request(method, path, scopes, headers=headers, body=body, ok=ok, what=what)
        finally:
            self.throttle.release()
