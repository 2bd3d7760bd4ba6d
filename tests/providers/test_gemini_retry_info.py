"""Gemini's ``RetryInfo`` reader, the retry hint the Gemini provider gives the transport."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from steer_sync._providers.gemini._retry_info import retry_info_delay


def error_body(delay: Any, *, as_list: bool = False) -> bytes:
    envelope = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
            ],
        }
    }
    return json.dumps([envelope] if as_list else envelope).encode()


@pytest.mark.parametrize(
    ("delay", "expected"),
    [
        ("167s", 167.0),
        ("1.5s", 1.5),
        (" 2s ", 2.0),
        ({"seconds": 2, "nanos": 500000000}, 2.5),
        ({"seconds": "3"}, 3.0),
        ("-1s", None),
        ("infs", None),
        ("12", None),
        ("xs", None),
        ({"seconds": "soon"}, None),
        (None, None),
    ],
)
def test_the_retry_delay_is_read_from_the_details(delay: Any, expected: Optional[float]) -> None:
    assert retry_info_delay(error_body(delay)) == expected


def test_the_delay_is_found_inside_a_json_array() -> None:
    assert retry_info_delay(error_body("3s", as_list=True)) == 3.0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"RetryInfo but not JSON",
        b'{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo"}]}}',
        b'{"error": {"details": "RetryInfo"}}',
        b'["RetryInfo"]',
    ],
)
def test_bodies_without_a_retry_info_give_none(body: bytes) -> None:
    assert retry_info_delay(body) is None
