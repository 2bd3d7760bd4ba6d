"""Notebook display: reprs, Markdown renderings, stream.text() and stream.display()."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

from steer_sync import (
    ApiStreamError,
    Cancelled,
    CompletionResponse,
    CompletionStream,
    ConfigurationError,
    ErrorChunk,
    Message,
    MessageComplete,
    RateLimited,
    RedactedThought,
    Reset,
    SignedThought,
    SimpleThought,
    StreamCancelled,
    TextContent,
    TextDelta,
    ThinkingDelta,
    TokenUsage,
    ToolCall,
    ToolCallContent,
)
from steer_sync.testing import LoopbackServer, Turn

RESPONSE = CompletionResponse(
    [
        SimpleThought("plain <thought>"),
        SignedThought("signed thought", "c2ln"),
        RedactedThought("opaque"),
        TextContent("Hello **world**, " + "and more " * 10),
        ToolCallContent(ToolCall("call_1", "get_weather", {"city": "Paris"})),
    ],
    TokenUsage.from_input_output(7, 3),
    "tool_use",
)


@dataclass(frozen=True, repr=False)
class _IdentifiedResponse(CompletionResponse):
    """A response carrying the identity fields a later release adds (read with getattr)."""

    model: Optional[str] = None
    request_id: Optional[str] = None


def test_response_repr_shows_text_tool_calls_and_usage_first() -> None:
    text = repr(RESPONSE)
    assert text.startswith("CompletionResponse(text='Hello **world**, and more and more")
    assert "\u2026'" in text and len(text) < 200  # the text is cut, not dumped
    assert "tool_calls=1, thoughts=3, usage='7 in + 3 out', stop_reason='tool_use'" in text
    identified = _IdentifiedResponse((TextContent("Hi"),), model="claude-x", request_id="req_1")
    assert repr(identified) == "CompletionResponse(text='Hi', tool_calls=0, model='claude-x', request_id='req_1')"


def test_response_markdown_folds_every_thought_kind() -> None:
    markdown = RESPONSE._repr_markdown_()
    folded, _, rest = markdown.partition("</details>")
    assert folded.startswith("<details><summary>Thinking (3)</summary>")
    assert "plain &lt;thought&gt;" in folded and "signed thought" in folded and "[Redacted Thinking]" in folded
    assert "c2ln" not in markdown and "opaque" not in markdown  # signatures are not for people
    assert "Hello **world**" in rest  # the answer is Markdown already
    assert '**Tool calls**\n\n- `get_weather({"city": "Paris"})` (id `call_1`)' in rest
    assert rest.rstrip().endswith("<sub>7 input + 3 output tokens \u00b7 stop: tool_use</sub>")


def test_response_markdown_shows_identity_when_present() -> None:
    markdown = _IdentifiedResponse((TextContent("Hi"),), model="claude-x", request_id="req_1")._repr_markdown_()
    assert markdown == "Hi\n\n<sub>model: claude-x \u00b7 request id: req_1</sub>"
    assert CompletionResponse(())._repr_markdown_() == "*(empty response)*"


def test_error_repr_shows_retry_after_and_status() -> None:
    error = RateLimited("anthropic", "slow down", 7.0)
    assert repr(error) == (
        "RateLimited('Rate limited by anthropic: slow down', provider='anthropic', status_code=429, retry_after=7.0)"
    )
    assert repr(ConfigurationError(None, "bad")) == "ConfigurationError('Configuration error: bad', provider=None)"


def test_error_markdown_is_a_heading_line_and_a_table() -> None:
    error = RateLimited("anthropic", "slow <down> | now", 2.5)
    lines = error._repr_markdown_().splitlines()
    assert lines[0].startswith("**RateLimited**: Rate limited by anthropic: slow &lt;down&gt; \\| now (wait and retry")
    assert lines[2:] == [
        "| | |",
        "|---|---|",
        "| provider | anthropic |",
        "| status | 429 |",
        "| retry after | 2.5 s |",
    ]
    assert ConfigurationError(None, "bad")._repr_markdown_() == "**ConfigurationError**: Configuration error: bad"


def _stream(*chunks: object) -> CompletionStream:
    return CompletionStream.from_iterable(chunks)  # type: ignore[arg-type]


def test_text_yields_only_text_and_closes() -> None:
    closed: List[bool] = []
    stream = CompletionStream.from_iterable(
        [TextDelta("Hel"), ThinkingDelta("hmm"), TextDelta("lo"), MessageComplete(RESPONSE)],
        on_close=lambda: closed.append(True),
    )
    assert list(stream.text()) == ["Hel", "lo"]
    assert closed == [True] and stream.closed


def test_text_raises_the_failure_after_the_text_before_it() -> None:
    pieces: List[str] = []
    with pytest.raises(Cancelled):
        for piece in _stream(TextDelta("partial"), ErrorChunk(StreamCancelled())).text():
            pieces.append(piece)
    assert pieces == ["partial"]
    with pytest.raises(ApiStreamError, match="without completion response"):
        list(_stream(TextDelta("cut")).text())


def test_text_over_the_loopback_server() -> None:
    with LoopbackServer() as server, server.client() as client:
        server.queue(Turn(thinking="first", thinking_signature="c2ln", text="Bonjour tout le monde"))
        stream = client.stream_complete("anthropic/claude-sonnet-4-5", [Message.user("hi")])
        assert "".join(stream.text()) == "Bonjour tout le monde"


def test_display_without_ipython_prints_as_text_arrives(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)  # as if IPython were not installed
    monkeypatch.delitem(sys.modules, "IPython.display", raising=False)
    response = _stream(TextDelta("Hello "), TextDelta("there"), MessageComplete(RESPONSE)).display()
    assert response is RESPONSE
    assert capsys.readouterr().out == "Hello there\n"
    with pytest.raises(Cancelled):
        _stream(TextDelta("cut"), ErrorChunk(StreamCancelled())).display()
    assert capsys.readouterr().out == "cut\n"


def test_display_outside_an_ipython_shell_prints(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("IPython")
    response = _stream(TextDelta("plain "), TextDelta("script"), MessageComplete(RESPONSE)).display()
    assert response is RESPONSE and capsys.readouterr().out == "plain script\n"


@pytest.fixture
def ipython_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], List[Any]]]:
    """A real IPython shell whose display outputs are captured."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    shell_module = pytest.importorskip("IPython.core.interactiveshell")
    from IPython.utils.capture import capture_output

    shell_module.InteractiveShell.instance()
    try:
        with capture_output() as captured:
            yield lambda: captured.outputs  # a fresh list of what was published so far
    finally:
        shell_module.InteractiveShell.clear_instance()


def test_display_with_ipython_updates_one_output_in_place(ipython_outputs: Callable[[], List[Any]]) -> None:
    response = _stream(
        TextDelta("Hel"), TextDelta("lo"), Reset(), TextDelta("Hello"), MessageComplete(RESPONSE)
    ).display()
    assert response is RESPONSE
    outputs = ipython_outputs()
    markdowns = [output.data.get("text/markdown") for output in outputs]
    assert markdowns == ["", "Hel", "Hello", "", "Hello", RESPONSE._repr_markdown_()]
    updates = [output.update for output in outputs]
    assert updates == [False] + [True] * 5
    ids = {output.transient["display_id"] for output in outputs}
    assert len(ids) == 1  # one cell output, replaced in place


def test_display_with_ipython_raises_after_showing_the_partial_answer(ipython_outputs: Callable[[], List[Any]]) -> None:
    with pytest.raises(Cancelled):
        _stream(TextDelta("partial"), ErrorChunk(StreamCancelled())).display()
    assert ipython_outputs()[-1].data["text/markdown"] == "partial"
