"""Gemini's retry hint in an error body: ``google.rpc.RetryInfo.retryDelay`` (layer L2).

Passed to the transport as its ``retry_hint`` (the transport knows no provider), so an HTTP
error from Gemini carries ``retry_after`` even though Google sends no ``Retry-After`` header.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Optional

__all__ = ["error_retry_delay", "retry_info_delay"]


def retry_info_delay(body: bytes) -> Optional[float]:
    """The ``RetryInfo.retryDelay`` of a Google error body, in seconds.

    The body is ``{"error": {..., "details": [...]}}`` or a list of such envelopes; the first
    detail whose ``"@type"`` ends in ``google.rpc.RetryInfo`` counts. Its delay is a
    ``google.protobuf.Duration`` in JSON (``"167s"``, ``"1.5s"``) or as
    ``{"seconds": 1, "nanos": 500000000}``.

    :param body: the (bounded) HTTP error body.
    :returns: the delay, or ``None`` when there is none or it is negative or unreadable.
    """
    if b"RetryInfo" not in body:  # cheap test before parsing JSON
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    for envelope in data if isinstance(data, list) else [data]:
        error = envelope.get("error") if isinstance(envelope, dict) else None
        if isinstance(error, dict):
            delay = error_retry_delay(error)
            if delay is not None:
                return delay
    return None


def error_retry_delay(error: Mapping[str, Any]) -> Optional[float]:
    """The ``RetryInfo.retryDelay`` of one parsed Google ``error`` object (HTTP or in-stream).

    :param error: the value of an ``"error"`` key.
    :returns: the delay in seconds, or ``None``.
    """
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, Mapping):
            continue
        kind = detail.get("@type")
        if isinstance(kind, str) and kind.endswith("google.rpc.RetryInfo"):
            return _proto_duration(detail.get("retryDelay"))
    return None


def _proto_duration(value: Any) -> Optional[float]:
    if isinstance(value, str) and value.strip().endswith("s"):
        try:
            return _non_negative(float(value.strip()[:-1]))
        except ValueError:
            return None
    if isinstance(value, dict):
        seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
        try:
            return _non_negative(float(seconds) + float(nanos) / 1e9)
        except (TypeError, ValueError):
            return None
    return None


def _non_negative(value: float) -> Optional[float]:
    return None if math.isnan(value) or math.isinf(value) or value < 0 else value
