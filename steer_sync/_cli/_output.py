"""Printing an answer: a stream's text and thinking as it arrives, and the ``-v`` summary (layer L4)."""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterator, Optional, TextIO

from steer_sync._chunks import ErrorChunk, MessageComplete, Reset, TextDelta, ThinkingDelta, ToolUseStart
from steer_sync._cli._terminal import _Console, _Style
from steer_sync._errors import ApiError
from steer_sync._stream import stream_error_to_api_error
from steer_sync._types import CompletionResponse, TokenUsage

__all__ = ["_print_stream", "_print_summary", "_usage_line"]


def _print_stream(
    stream: Iterator[Any],
    *,
    quiet: bool = False,
    out: Optional[TextIO] = None,
    on_first_chunk: Optional[Callable[[], None]] = None,
) -> CompletionResponse:
    """Print text to ``out`` (stdout) and thinking to stderr as chunks arrive; return the final response."""
    out = out if out is not None else sys.stdout
    style = _Style(sys.stderr)
    thinking = False
    wrote_text = False
    with stream as chunks:  # type: ignore[attr-defined]
        for chunk in chunks:
            if on_first_chunk is not None:
                on_first_chunk()
                on_first_chunk = None
            if isinstance(chunk, TextDelta):
                if thinking:
                    sys.stderr.write("\n")
                    thinking = False
                if not quiet:
                    out.write(chunk.text)
                    out.flush()
                wrote_text = True
            elif isinstance(chunk, ThinkingDelta):
                if not quiet:
                    sys.stderr.write(style.dim(chunk.text))
                    sys.stderr.flush()
                thinking = True
            elif isinstance(chunk, ToolUseStart) and not quiet:
                sys.stderr.write(style.dim(f"\n[tool call: {chunk.name}]\n"))
            elif isinstance(chunk, Reset) and not quiet:
                sys.stderr.write(style.dim("\n[connection lost; restarting the answer]\n"))
            elif isinstance(chunk, MessageComplete):
                if wrote_text and not quiet:
                    out.write("\n")
                    out.flush()
                return chunk.response
            elif isinstance(chunk, ErrorChunk):
                if wrote_text and not quiet:
                    out.write("\n")
                    out.flush()
                raise stream_error_to_api_error(chunk.error, getattr(stream, "provider", None))
    raise ApiError(None, "the stream ended without a final message; retry the request")


def _print_summary(console: _Console, response: CompletionResponse) -> None:
    """The ``-v`` lines: usage, then what identifies the call when the response carries it.

    ``model``, ``request_id`` and ``cost`` are read with getattr so this works before and
    after those fields exist on ``CompletionResponse``.
    """
    console.line(_usage_line(response.usage))
    for label, name in (("model", "model"), ("request id", "request_id")):
        value = getattr(response, name, None)
        if value:
            console.line(f"{label}: {value}")
    cost = getattr(response, "cost", None)
    if cost is not None:
        console.line(f"cost: ${cost:.6f}")


def _usage_line(usage: Optional[TokenUsage]) -> str:
    if usage is None:
        return "usage: not reported by the provider"
    line = f"usage: {usage.input_tokens} input + {usage.output_tokens} output = {usage.total_tokens} tokens"
    if usage.cache_read_input_tokens:
        line += f" ({usage.cache_read_input_tokens} input from cache)"
    return line
