"""Retry decisions, backoff, Retry-After, and the redirect policy."""

from __future__ import annotations

import email.utils

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import (
    RetryPolicy, Transport, origin, parse_retry_after, redirect_target)


@pytest.mark.parametrize("method, status, attempt, expected", [
    ("GET", 500, 0, True), ("GET", 502, 0, True), ("GET", 503, 0, True), ("GET", 504, 0, True),
    ("GET", 429, 0, True), ("GET", 408, 0, True), ("HEAD", 503, 0, True), ("GET", None, 0, True),
    ("PUT", 503, 0, True), ("DELETE", 503, 0, True),
    ("POST", 503, 0, False), ("PATCH", 503, 0, False), ("POST", None, 0, False),
    ("GET", 404, 0, False), ("GET", 401, 0, False), ("GET", 400, 0, False), ("GET", 501, 0, False),
    ("GET", 503, 2, True), ("GET", 503, 3, False),
])
def test_should_retry(method, status, attempt, expected):
    assert RetryPolicy(retries=3).should_retry(method, attempt, status) is expected


def test_no_retries_when_zero():
    assert RetryPolicy(retries=0).should_retry("GET", 0, 503) is False


def test_explicitly_idempotent_post_may_retry():
    assert RetryPolicy(retries=1).should_retry("POST", 0, 503, idempotent=True) is True


def test_backoff_grows_with_jitter_and_cap():
    policy = RetryPolicy(retries=10, base_delay=0.5, max_delay=4)
    for attempt, (low, high) in enumerate([(0.25, 0.5), (0.5, 1), (1, 2), (2, 4), (2, 4), (2, 4)]):
        delays = [policy.delay(attempt) for dummy in range(50)]
        assert all(low <= d <= high for d in delays), (attempt, delays)
        assert len(set(delays)) > 1  # jittered


@pytest.mark.parametrize("value, expected", [
    ("5", 5.0), ("0", 0.0), (None, None), ("", None), ("soon", None),
])
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000
    value = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(value, now=now) == pytest.approx(7, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0


def test_retry_after_is_honoured_and_capped():
    policy = RetryPolicy(retries=3, retry_after_cap=10)
    assert policy.delay(0, "3") == 3
    assert policy.delay(0, "3600") == 10


@pytest.mark.parametrize("current, location, expected", [
    ("https://r.io/v2/a/blobs/x", "/other", "https://r.io/other"),
    ("https://r.io/v2/a/blobs/x", "https://cdn.example/blob?sig=1", "https://cdn.example/blob?sig=1"),
    ("http://r.io/v2/x", "http://cdn.example/y", "http://cdn.example/y"),
    ("http://r.io/v2/x", "https://r.io/v2/x", "https://r.io/v2/x"),
])
def test_redirect_target(current, location, expected):
    assert redirect_target(current, location) == expected


@pytest.mark.parametrize("location", ["http://r.io/v2/x", "ftp://r.io/x"])
def test_https_downgrade_refused(location):
    with pytest.raises(RegistryError, match="refusing a redirect from https"):
        redirect_target("https://r.io/v2/a", location)


def test_redirect_without_location():
    with pytest.raises(RegistryError, match="without a Location"):
        redirect_target("https://r.io/v2/a", None)


@pytest.mark.parametrize("a, b, same", [
    ("https://r.io/v2/", "https://r.io:443/x", True),
    ("https://r.io/v2/", "https://R.IO/x", True),
    ("https://r.io/v2/", "https://cdn.r.io/x", False),
    ("https://r.io/v2/", "http://r.io/x", False),
    ("http://r.io:5000/", "http://r.io:5001/", False),
])
def test_origin(a, b, same):
    assert (origin(a) == origin(b)) is same


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v2/", "http://%s.example:5000/v2/" % ("a" * 64)])
def test_a_url_urllib3_refuses_is_a_registry_error_naming_it(url):
    """requests' InvalidURL (a port past 65535) and urllib3's LocationParseError (a label of 64
    characters) are not connection errors: each is a RegistryError, never an exception of its own."""
    with pytest.raises(RegistryError, match="not one urllib3 accepts") as caught:
        Transport(retries=0, timeout=3).request("GET", url)
    assert url in str(caught.value)
