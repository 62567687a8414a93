"""Error messages a person can act on, with no secrets."""

from __future__ import annotations

import json

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    MAX_ERROR_BODY, http_error, parse_error_body, redact_url)


def test_registry_error_codes_in_message():
    body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                                   "detail": {"Tag": "1.0"}}]}).encode()
    error = http_error("GET", "https://r.example/v2/app/manifests/1.0", 404, "Not Found", body)
    assert str(error) == ("GET https://r.example/v2/app/manifests/1.0 failed: 404 Not Found: "
                          "MANIFEST_UNKNOWN: manifest unknown")
    assert error.details == {"http_status": 404, "url": "https://r.example/v2/app/manifests/1.0",
                             "errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                                         "detail": {"Tag": "1.0"}}]}
    assert error.codes == ["MANIFEST_UNKNOWN"]


def test_several_codes_and_hint():
    body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "a"},
                                  {"code": "DENIED", "message": ""}]}).encode()
    error = http_error("HEAD", "https://r/v2/x", 401, "Unauthorized", body, hint="check it")
    assert str(error).endswith("401 Unauthorized: UNAUTHORIZED: a; DENIED (check it)")


@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b"[1,2]", b'{"errors": "x"}',
                                  b'{"errors": [1, "x"]}'])
def test_non_registry_bodies(body):
    assert parse_error_body(body) == []


def test_huge_body_is_cut():
    body = json.dumps({"errors": [{"code": "X", "message": "m" * (2 * MAX_ERROR_BODY)}]}).encode()
    error = http_error("GET", "https://r/v2/", 500, "Internal Server Error", body)
    assert error.errors == []  # cut at 64 KiB: not JSON any more, and not in the message
    assert len(str(error)) < 200


@pytest.mark.parametrize("url, expected", [
    ("https://user:pw@r.io/v2/", "https://r.io/v2/"),
    ("https://cdn.example/blob?X-Amz-Signature=abc&X-Amz-Credential=key",
     "https://cdn.example/blob?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED"),
    ("https://r.io/v2/a/tags/list?n=10&last=t5", "https://r.io/v2/a/tags/list?n=10&last=t5"),
    ("https://auth.io/token?service=s&scope=repository:a:pull&account=bob",
     "https://auth.io/token?service=s&scope=repository:a:pull&account=REDACTED"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected
