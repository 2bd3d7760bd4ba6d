"""The Chat Completions format: OpenAI Chat, xAI and OpenAI-compatible servers (layer L2).

OpenAI's ``/chat/completions``, xAI's and every OpenAI-compatible server (gateways such as
OpenRouter, local servers such as vLLM, Ollama or llama.cpp) speak the same wire format with
small differences. This package holds the parts they share, split by job: pure converters
(:mod:`._request`, :mod:`._response`, :mod:`._stream`, no I/O) and the provider shell
(:mod:`._provider`); :mod:`._openai` and :mod:`._xai` hold what each service does its own way:

* :func:`_normalize_chat_url`: a configured base URL to the endpoint URL;
* :func:`build_messages` / :func:`build_tools`: conversation and tools to the wire shapes;
* :func:`parse_completion`: a ``chat.completion`` body to a :class:`CompletionResponse`;
* :func:`convert_chat_stream`: ``data:`` events to stream chunks (tool calls accumulated by
  ``index``, usage from the last chunk that carries it, in-stream error objects detected);
* :func:`describe_http_error` / :func:`refine_http_error`: readable details for an HTTP error
  body in either the OpenAI shape ``{"error": {...}}`` or xAI's ``{"code", "error"}``.

What differs between the two providers is a :class:`ChatDialect` value, so neither provider
module imports the other.

Parsing is lenient everywhere (spec Q10): a missing field takes its neutral value (usage
details default to 0, a missing ``id`` or ``object`` is fine), an unknown field is ignored,
and only a body that is not a JSON object or has no ``choices`` list is a parsing error.

Decisions where the spec leaves a choice (spec ``openai-xai.md`` section 10):

* Q13: empty text, refusal and reasoning deltas are not emitted and create no block.
* Q17: a ``refusal`` (non-stream field or stream delta) becomes answer text.
* Q18: an ``error`` object in a ``data:`` event (OpenAI, OpenRouter, xAI shapes; also inside an
  otherwise ordinary chunk) ends the stream with ``ErrorChunk(ProviderStreamError)``; its kind
  comes from the error's string ``code``, then ``type``, then a numeric HTTP-like code
  (429 -> rate limit, 5xx -> retryable kinds, other 4xx -> unknown, not retryable), and
  ``server_error``-like types are retryable (Q8). A stream that ends without ``[DONE]`` yields
  ``ErrorChunk(SseParse(TRANSPORT, "stream ended before [DONE]"))`` (retryable), **unless a
  ``finish_reason`` was already received**: the model then said the message is complete, so the
  stream completes with what it has (only a trailing usage chunk can be missing). Some
  OpenAI-compatible servers end the body that way; retrying a finished answer would pay for it
  twice. A body cut mid-transfer still arrives as a transport error from the transport layer.
* Q19: an assistant message with nothing to send (only thoughts) is skipped.
* Q22: unparseable tool arguments become ``{}`` (both providers, stream and non-stream).
* Q23: an assistant image is sent as the text ``[Image: <mime>]`` (never an inlined data URL).
* Reasoning text is read from ``reasoning_content`` (xAI, DeepSeek, vLLM) or, when that is
  absent, ``reasoning`` (OpenRouter, newer vLLM); in a non-stream answer the thought comes
  **before** the text for both providers (steer's Chat client put it after the text, while its
  own stream converter put it first).
* Usage: ``completion_tokens`` includes reasoning tokens at OpenAI but excludes them at xAI.
  ``TokenUsage.output_tokens`` always includes them: when ``total_tokens`` equals prompt +
  completion + reasoning, the completion count excluded reasoning and the reasoning tokens are
  added; with no ``total_tokens`` the dialect decides. The last usage in a stream wins (grok-beta
  repeats a cumulative usage in every chunk: never summed).
* Tool calls: a call whose ``id`` never arrived (some local servers) gets ``call_<n>`` instead
  of being dropped; a new ``id`` at an index whose call already started is a new call (servers
  that send every call at index 0); a call with no name is dropped.
"""

from steer_sync._providers.openai_chat._openai import OpenAIChatProvider
from steer_sync._providers.openai_chat._xai import XaiProvider

__all__ = ["OpenAIChatProvider", "XaiProvider"]
