"""Property tests for steer_sync._sse: any serialisation, any split, same events."""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from steer_sync._sse import SseDecodeError, SseDecoder, SseEvent

SETTINGS = settings(max_examples=200, deadline=None)

# Field values never contain CR or LF (they cannot be sent); they may contain colons, NUL-free
# multi-byte text and leading spaces.
value_text = st.text(
    alphabet=st.one_of(
        st.sampled_from([*'ab :\t{}"\\', "\u00e9", "\u20ac", "\U0001f600", "\ufeff"]),
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"),
    ),
    max_size=12,
)
line_end = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def event_specs(draw: st.DrawFn) -> Tuple[Optional[str], List[str], Optional[str], Optional[int], List[str]]:
    """(event name, data lines, id, retry, comments) of one event."""
    name = draw(st.one_of(st.none(), value_text))
    data = draw(st.lists(value_text, min_size=1, max_size=4))
    event_id = draw(st.one_of(st.none(), value_text))
    retry = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)))
    comments = draw(st.lists(value_text, max_size=2))
    return name, data, event_id, retry, comments


def field(data: st.DataObject, name: str, value: str) -> str:
    # One space after the colon is optional, but only when the value cannot lose a space.
    if value.startswith(" ") or data.draw(st.booleans()):
        return f"{name}: {value}"
    return f"{name}:{value}" if value or data.draw(st.booleans()) else name


def splits(data: st.DataObject, body: bytes) -> List[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=8)))
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in zip(bounds, bounds[1:])]


def decode(chunks: Sequence[bytes]) -> Tuple[List[SseEvent], bool]:
    decoder = SseDecoder()
    events: List[SseEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    decoder.flush()
    return events, decoder.has_partial_event


@SETTINGS
@given(st.data(), st.lists(event_specs(), max_size=6), st.booleans())
def test_serialised_events_decode_back_under_any_line_endings_and_splits(
    data: st.DataObject,
    specs: List[Tuple[Optional[str], List[str], Optional[str], Optional[int], List[str]]],
    bom: bool,
) -> None:
    draw = data.draw
    lines: List[str] = []
    expected: List[SseEvent] = []
    last_id: Optional[str] = None
    for name, values, event_id, retry, comments in specs:
        block = [":" + c for c in comments]
        if name is not None:
            block.append(field(data, "event", name))
        if event_id is not None:
            block.append(field(data, "id", event_id))
            last_id = event_id or None
        if retry is not None:
            block.append(f"retry: {retry}")
        # Other fields and comments may sit anywhere among the data lines, which keep their order.
        order = [field(data, "data", v) for v in values]
        for item in block:
            order.insert(draw(st.integers(min_value=0, max_value=len(order))), item)
        lines.extend(order)
        lines.append("")
        expected.append(SseEvent(name or None, "\n".join(values), last_id, retry))
    # A data line that begins with a BOM is fine; only a leading BOM of the stream is eaten.
    parts: List[str] = []
    for line in lines:
        end = draw(line_end)
        if not line and end == "\n" and parts and parts[-1].endswith("\r"):
            end = "\r\n"  # a CR then an LF is one CRLF, which would swallow this blank line
        parts.append(line + end)
    text = "".join(parts)
    body = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    assert decode(splits(data, body)) == (expected, False)


# --------------------------------------------------------------------------- reference parser

soup_tokens = st.sampled_from(
    [
        "data", "data:", "data: ", "event", "event:", "event: ", "id", "id: ", "retry: ", "retry:",
        ":", " ", "x", "message", "12", "0", "\x00", "\u00e9", "\U0001f600", "\ufeff",
        "\n", "\r", "\r\n", "\n\n", "\r\r", "\r\n\r\n",
    ]
)  # fmt: skip


def reference(body: bytes) -> Tuple[List[SseEvent], bool]:
    """A direct, slow transcription of the WHATWG rules on a fully decoded string."""
    text = body.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    *lines, tail = re.split("\r\n|\r|\n", text)
    events: List[SseEvent] = []
    data: List[str] = []
    name = ""
    last_id = ""
    retry: Optional[int] = None
    fields = False
    for line in lines:
        if not line:
            if data:
                events.append(SseEvent(name or None, "\n".join(data), last_id or None, retry))
            data, name, retry, fields = [], "", None, False
            continue
        if line.startswith(":"):
            continue
        fields = True
        key, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if key == "data":
            data.append(value)
        elif key == "event":
            name = value
        elif key == "id" and "\x00" not in value:
            last_id = value
        elif key == "retry" and 0 < len(value) <= 18 and all("0" <= c <= "9" for c in value):
            # (steer_sync ignores longer digit runs: no meaningful delay, and slow to parse)
            retry = int(value)
    partial = fields or bool(tail and not tail.startswith(":"))
    return events, partial


@SETTINGS
@given(st.data(), st.lists(soup_tokens, max_size=60))
def test_agrees_with_a_reference_parser_on_token_soup(data: st.DataObject, tokens: List[str]) -> None:
    body = "".join(tokens).encode()
    assert decode(splits(data, body)) == reference(body)


@SETTINGS
@given(st.data(), st.lists(st.one_of(soup_tokens.map(str.encode), st.binary(max_size=3)), max_size=40))
def test_splitting_never_changes_the_outcome_even_for_invalid_utf8(data: st.DataObject, tokens: List[bytes]) -> None:
    body = b"".join(tokens)

    def outcome(chunks: Sequence[bytes]) -> Tuple[object, ...]:
        decoder = SseDecoder()
        events: List[SseEvent] = []
        try:
            for chunk in chunks:
                events.extend(decoder.feed(chunk))
            decoder.flush()
        except SseDecodeError as err:
            return ("error", err.kind, err.offset, events + err.events)
        return ("ok", events, decoder.has_partial_event)

    whole = outcome([body])
    assert outcome(splits(data, body)) == whole
    if whole[0] == "error":
        # The reported offset points at a byte that cannot start valid UTF-8 from there on.
        offset = whole[2]
        assert isinstance(offset, int)
        assert 0 <= offset < len(body)
        try:
            body[offset:].decode("utf-8")
        except UnicodeDecodeError as exc:
            assert exc.start == 0
        else:
            raise AssertionError("offset does not point at invalid UTF-8")
