"""A loopback server that speaks every provider wire format, scripted by the test (layer L4).

:class:`LoopbackServer` listens on 127.0.0.1 and answers like Anthropic Messages, OpenAI
Responses and Chat Completions, xAI and Gemini generateContent, picking the format from the
request path. Each test queues what the next requests get: a :class:`Turn` (text, usage and
stop reason, rendered streaming or not in the request's format), an :class:`ErrorReply` (the
format's HTTP error body, with ``retry-after`` hints) or a raw :class:`Reply` (bytes, for
anything else), plus transport faults: slow drips, stalls, disconnects mid-body, in-stream
errors and arbitrary re-chunking. Every request is recorded as a :class:`RecordedRequest`.
``Turn(json={...})`` scripts a JSON answer (as text, or as the forced tool's input when the
request forced a tool), and malformed structured-output or tool-choice fields get the 400 the
real API would send.

Nothing here imports the HTTP client stack; the server speaks bytes over the standard library.
With steer_sync installed, pytest also gets a ``steer_server`` fixture (a started server).

Usage::

    from steer_sync.testing import LoopbackServer, Turn, ErrorReply

    with LoopbackServer() as server:
        server.queue(ErrorReply(529, "Overloaded"), Turn(text="Hello!", usage=(12, 3)))
        client = make_client(base_url=server.url)     # the code under test
        ...
        assert server.requests[-1].json["model"] == "claude-sonnet-4-5"
"""

from __future__ import annotations

from steer_sync.testing._gemini import prompt_blocked
from steer_sync.testing._openai_chat import refusal
from steer_sync.testing._script import ErrorReply, RecordedRequest, Reply, ToolCallSpec, Turn, sse_event
from steer_sync.testing._server import DEFAULT_TEXT, LoopbackServer

__all__ = [
    "DEFAULT_TEXT",
    "ErrorReply",
    "LoopbackServer",
    "RecordedRequest",
    "Reply",
    "ToolCallSpec",
    "Turn",
    "prompt_blocked",
    "refusal",
    "sse_event",
]
