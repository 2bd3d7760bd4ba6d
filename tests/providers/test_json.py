"""The shared SSE payload decoder: same values and same errors as ``json.loads``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from steer_sync._providers._json import decode_event


@pytest.mark.parametrize(
    "data",
    [
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}',
        '{"a": [1, 2.5, -3e2, true, false, null], "b": {"c": "\\u00e9\\n"}}',
        "[1, 2]",
        '"a string"',
        "42",
        "null",
        '  {"leading": "space"}',
        '{"trailing": "space"}  \r\n\t',
        '\n{"both": 1}\n',
    ],
)
def test_decodes_what_json_loads_decodes(data: str) -> None:
    assert decode_event(data) == json.loads(data)


def test_repeated_keys_are_decoded_independently() -> None:
    # The scanner memoises keys within a call; values must not leak between calls.
    first: Any = decode_event('{"k": 1, "k2": {"k": 2}}')
    second: Any = decode_event('{"k": 3}')
    assert first == {"k": 1, "k2": {"k": 2}}
    assert second == {"k": 3}


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   ",
        "not json",
        '{"a": 1} trailing',
        '{"a": 1}{"b": 2}',
        "[1, 2] x",
        '{"a": }',
        '{"a": 1',
        "{'single': 'quotes'}",
        '"unterminated',
        "[1, 2,]",
        "ping",
    ],
)
def test_bad_input_raises_the_error_json_loads_raises(data: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(data)
    with pytest.raises(json.JSONDecodeError) as raised:
        decode_event(data)
    assert isinstance(raised.value, ValueError)  # what every converter catches
    assert str(raised.value) == str(expected.value)
    assert raised.value.pos == expected.value.pos
