"""Decoding one SSE ``data`` payload as JSON, the hot step of every stream converter (layer L2).

``json.loads`` checks its argument, builds a decoder call and matches whitespace with a
regular expression on every call; the C scanner underneath does the real work in about half
the time. Well-formed payloads (nearly all of them) go straight through the scanner; anything
else falls back to ``json.loads``, so the errors raised are exactly ``json.loads``'s.
"""

from __future__ import annotations

import json
from json.scanner import make_scanner
from typing import Any, cast

#: The C scanner of the standard decoder (its key memo is cleared after each call).
_scan = make_scanner(cast(Any, json.JSONDecoder()))  # typeshed types the argument oddly

#: What ``json.loads`` accepts around a value (its ``WHITESPACE`` pattern).
_WHITESPACE = " \t\n\r"


def decode_event(data: str) -> Any:
    """Decode one JSON document, as ``json.loads(data)`` does, faster.

    :param data: the text of one SSE event's ``data`` field.
    :returns: the decoded value.
    :raises json.JSONDecodeError: (a ``ValueError``) when ``data`` is not one JSON document;
        the same error, message and position ``json.loads`` gives.
    """
    try:
        value, end = _scan(data, 0)
    except StopIteration:
        # Leading whitespace or no value at all: json.loads skips the first and words the second.
        return json.loads(data)
    if end != len(data) and data[end:].strip(_WHITESPACE):
        return json.loads(data)  # raises "Extra data" at the right position
    return value
