"""OpenAI Chat Completions: requests out, completions and ``data:`` streams in (layer L2).

This module speaks ``POST {base}/chat/completions`` (spec ``openai-xai.md`` section 5) to
OpenAI and to any OpenAI-compatible server: a gateway (OpenRouter, LiteLLM) or a local
model server (vLLM, Ollama, llama.cpp, LM Studio), configured as a catalog provider with
``api_format = "openai-chat"`` and a ``base_url``. It holds the pure converters
:func:`_build_request`, :func:`_parse_response` and :func:`_convert_stream` (the shared
Chat Completions logic lives in :mod:`steer_sync._providers.openai_chat`) and one public class,
:class:`OpenAIChatProvider`. Like every provider it never sleeps, retries, caches or
reads credentials.

Spec recommendations (section 10) adopted here; those shared with xAI are listed in
:mod:`steer_sync._providers.openai_chat` (Q8, Q10, Q13, Q17, Q18, Q19, Q22, Q23):

* Q16: the length limit is sent as ``max_completion_tokens`` (OpenAI's reasoning models reject
  ``max_tokens``), and ``temperature`` / ``top_p`` are sent only when configured: no default
  sampling values (steer sent 1.0 for both).
* Q24/Q25: timeouts are the transport's connect/idle values, and cancellation works while
  sending, waiting for headers and reading (the transport shuts the socket down).
* Q26: :func:`._request._normalize_chat_url` works on the URL path (query strings survive)
  and accepts any version segment (``/api/v1``, ``/v1beta/openai``), not only ``/v1``.
* Q30: errors carry the configured provider id (``my-gateway``), not always ``"openai"``;
  :attr:`OpenAIChatProvider.name` stays ``"openai"``.

Other decisions:

* ``reasoning_effort`` is sent when thinking is enabled: ``low``/``medium``/``high``/``xhigh``,
  ``medium`` when no effort is set (as steer). There is no model capability table for Chat
  (spec Q3 is optional): a custom provider's catalog decides whether thinking is on.
* ``complete()`` uses the non-streaming endpoint (``"stream": false``).
* An empty ``tools`` list is not sent (OpenAI rejects ``"tools": []``).
* A user message with no content raises ``InvalidRequest`` (as steer; xAI skips it).
* HTTP error details are the error's ``message`` plus its ``code`` (steer passed the raw body);
  a 400 whose message says the API key is wrong becomes ``AuthenticationFailed`` (Gemini's
  OpenAI-compatible endpoint answers a bad key that way).
* OAuth directives are refused: only the Responses format supports them (spec section 3).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Sequence

from steer_sync._chunks import StreamChunk
from steer_sync._providers.openai_chat._provider import ChatCompletionsProvider, ChatWire
from steer_sync._providers.openai_chat._request import build_messages, build_tools
from steer_sync._providers.openai_chat._response import parse_completion
from steer_sync._providers.openai_chat._stream import convert_chat_stream
from steer_sync._providers.openai_chat._wire import ChatDialect, ChatRequest
from steer_sync._sse import SseEvent
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    ModelParameters,
    SystemContext,
    ThinkingEffort,
    ToolSchema,
)

__all__ = ["OpenAIChatProvider"]

#: Where requests go when no base URL is configured.
DEFAULT_URL = "https://api.openai.com/v1/chat/completions"

_EFFORTS = {
    ThinkingEffort.LOW: "low",
    ThinkingEffort.MEDIUM: "medium",
    ThinkingEffort.HIGH: "high",
    ThinkingEffort.XHIGH: "xhigh",
}


def _dialect(provider: str) -> ChatDialect:
    return ChatDialect(
        provider=provider,
        reject_empty_user=True,
        blank_tool_result=None,
        completion_includes_reasoning=True,
        no_choices_error=False,
        label="OpenAI chat",
    )


def _reasoning_effort(params: Optional[ModelParameters]) -> Optional[str]:
    thinking = params.thinking_config if params is not None else None
    if thinking is None or not thinking.enabled:
        return None
    return _EFFORTS.get(thinking.effort or ThinkingEffort.MEDIUM, "medium")


def _build_request(
    model_id: ModelId,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    stream: bool,
    provider: str = "openai",
) -> ChatRequest:
    """Build the Chat Completions request body (spec 5.2 with Q16).

    Field order: ``model``, ``messages``, ``temperature``, ``max_completion_tokens``,
    ``top_p``, ``stream``, ``tools``, ``reasoning_effort``, ``stream_options``; optional fields
    are omitted when unset.

    :param model_id: the model; ``model_id.id`` is sent as ``model``.
    :param messages: the conversation.
    :param system: the system context, or ``None``.
    :param tools: the tools, or ``None``.
    :param params: the merged model parameters, or ``None``.
    :param stream: build a streaming request (adds ``stream_options.include_usage``).
    :param provider: the provider id for errors.
    :returns: the JSON body.
    :raises UnsupportedFeature: for an image stored in a session folder.
    :raises InvalidRequest: for a user message with no content.
    """
    body: ChatRequest = {
        "model": model_id.id,
        "messages": build_messages(messages, system, _dialect(provider)),
    }
    if params is not None and params.temperature is not None:
        body["temperature"] = params.temperature
    if params is not None and params.max_output_tokens is not None:
        body["max_completion_tokens"] = params.max_output_tokens
    if params is not None and params.top_p is not None:
        body["top_p"] = params.top_p
    body["stream"] = stream
    wire_tools = build_tools(tools)
    if wire_tools is not None:
        body["tools"] = wire_tools
    effort = _reasoning_effort(params)
    if effort is not None:
        body["reasoning_effort"] = effort
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _parse_response(body: Any, provider: str = "openai") -> CompletionResponse:
    """Convert a ``chat.completion`` body (lenient; see :func:`._response.parse_completion`).

    :param body: the parsed JSON body.
    :param provider: the provider id for errors.
    :returns: the response.
    :raises ResponseParsingError: if the body has no ``choices`` list, or it is empty.
    """
    return parse_completion(body, _dialect(provider))


def _convert_stream(events: Iterable[SseEvent], provider: str = "openai") -> Iterator[StreamChunk]:
    """Convert a Chat Completions event stream into chunks (spec 5.4 with Q13, Q17, Q18).

    :param events: the decoded SSE events.
    :param provider: the provider id for errors.
    :returns: the chunks; the last is ``MessageComplete`` or an ``ErrorChunk``.
    """
    return convert_chat_stream(events, _dialect(provider))


class OpenAIChatProvider(ChatCompletionsProvider):
    """The OpenAI Chat Completions API, or any server that speaks it.

    Thread-safe: one instance serves every thread. It owns one :class:`Transport` (one
    connection pool), released by :meth:`close`; each stream owns its HTTP response.

    Usage::

        provider = OpenAIChatProvider(api_key=None, base_url="http://localhost:11434/v1",
                                      provider_id="ollama")
        resp = provider.complete(CompletionRequest(ModelId("ollama", "llama3.2"), [Message.user("hi")]))
    """

    default_url = DEFAULT_URL
    wire = ChatWire(dialect=_dialect, build_request=_build_request)
    label = "OpenAI chat"

    @property
    def name(self) -> str:
        """Always ``"openai"``, also for a custom OpenAI-compatible provider."""
        return "openai"
