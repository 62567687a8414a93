"""Errors built from URLs a server chose (Link headers, redirects) never show their secrets."""

from __future__ import annotations

import pytest

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import http_error


@pytest.mark.parametrize("url, secret", [
    ("https://user:pa55word@r.io/v2/app/tags/list?n=2&last=b", "pa55word"),
    ("https://r.io/v2/app/tags/list?n=2&X-Amz-Signature=sig-9f8e7d", "sig-9f8e7d"),
    ("https://cdn.example/blob?token=tok-1a2b3c&n=1", "tok-1a2b3c"),
])
def test_http_error_message_and_details_are_redacted(url, secret):
    error = http_error("GET", url, 403, "Forbidden", b'{"errors":[{"code":"DENIED","message":"no"}]}')
    assert secret not in str(error)
    assert secret not in repr(error.details)
    assert str(error).startswith("GET https://") and "403 Forbidden: DENIED: no" in str(error)
