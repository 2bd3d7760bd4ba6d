"""xAI (Grok) Chat Completions: requests out, completions and ``data:`` streams in (layer L2).

xAI speaks Chat Completions at ``POST https://api.x.ai/v1/chat/completions`` (spec
``openai-xai.md`` section 6) with its own defaults, reasoning rules, usage accounting and
error shape. This module holds the pure converters :func:`_build_request`,
:func:`_parse_response` and :func:`_convert_stream` (the shared Chat Completions logic lives
in :mod:`steer_sync._providers.openai_chat`) and one public class, :class:`XaiProvider`. Like every provider it
never sleeps, retries, caches or reads credentials.

xAI specifics:

* Defaults: ``max_completion_tokens`` 32768 and ``temperature`` 1.0 when not configured (as
  steer); ``top_p`` only when configured; ``stream`` only on streaming requests.
* Reasoning (spec Q21, capability-based): ``reasoning_effort`` is sent only when thinking is
  enabled **and** the model accepts the parameter, which today is the ``grok-3-mini`` family
  (``grok-3-mini``, ``grok-3-mini-fast``, dated and ``-latest`` variants; a ``vendor/`` prefix
  is ignored). Grok 4 models reason on their own and reject the parameter, so it is left out
  for them instead of failing the request (steer only exempted the exact id ``grok-4-0709``).
  xAI accepts two values: ``low`` for effort Low, ``high`` for Medium, High, X-High or no effort.
* ``reasoning_content`` deltas stream as ``ThinkingDelta`` and end up as a ``SimpleThought``
  before the text; in a non-stream answer the thought also comes first.
* Usage: xAI's ``completion_tokens`` excludes reasoning tokens (``total_tokens`` = prompt +
  completion + reasoning). ``TokenUsage.output_tokens`` is completion + reasoning,
  ``reasoning_tokens`` and ``cache_read_input_tokens`` (``prompt_tokens_details.cached_tokens``)
  are kept, ``total_tokens`` is xAI's. Missing details count 0 (Q10: steer rejected the whole
  response when one detail field was missing). grok-beta repeats a cumulative usage in every
  chunk: the last one is taken, never a sum.
* Errors: xAI's body is ``{"code": "<gRPC status text>", "error": "<message>"}`` (the message
  sometimes percent-encoded); details are ``"<message> (<code>)"``. xAI answers a wrong API key
  with **400**; a 400 whose message says the key is incorrect/invalid/missing is raised as
  ``AuthenticationFailed`` (status_code 400) rather than ``InvalidRequest``, so the message tells
  the user to check the key and the client treats it like a 401.
* An answer with no choices raises ``NoChoices`` (as steer).

Spec section 10 recommendations adopted: those listed in :mod:`steer_sync._providers.openai_chat` (Q8, Q10, Q13,
Q17, Q18, Q19, Q22, Q23), Q21 (above), Q24/Q25 (transport timeouts and cancellation), Q26 (URL
normalisation), Q29 (the orphaned ``xai/tests.rs`` intent is ported as real tests) and Q30
(errors carry the configured provider id). Deviation from Q20's first option: only
``max_completion_tokens`` is sent, not also the deprecated ``max_tokens`` (Q20 allows either).
Kept from steer: a user message with no content is skipped, and a blank tool result is sent as
``"(No output)"``.
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

__all__ = ["XaiProvider"]

#: Where requests go when no base URL is configured.
DEFAULT_URL = "https://api.x.ai/v1/chat/completions"
#: ``max_completion_tokens`` when none is configured.
DEFAULT_MAX_COMPLETION_TOKENS = 32768
#: ``temperature`` when none is configured.
DEFAULT_TEMPERATURE = 1.0

#: Model-name prefixes of the models that accept ``reasoning_effort``.
_REASONING_EFFORT_MODELS = ("grok-3-mini",)


def _dialect(provider: str) -> ChatDialect:
    return ChatDialect(
        provider=provider,
        reject_empty_user=False,
        blank_tool_result="(No output)",
        completion_includes_reasoning=False,
        no_choices_error=True,
        label="xAI chat",
    )


def _accepts_reasoning_effort(model: str) -> bool:
    """Tell whether an xAI model accepts the ``reasoning_effort`` parameter.

    :param model: the model id as sent (a ``vendor/`` prefix is ignored).
    :returns: ``True`` for the ``grok-3-mini`` family.
    """
    name = model.rsplit("/", 1)[-1].strip().lower()
    return name.startswith(_REASONING_EFFORT_MODELS)


def _reasoning_effort(model: str, params: Optional[ModelParameters]) -> Optional[str]:
    thinking = params.thinking_config if params is not None else None
    if thinking is None or not thinking.enabled or not _accepts_reasoning_effort(model):
        return None
    return "low" if thinking.effort is ThinkingEffort.LOW else "high"


def _build_request(
    model_id: ModelId,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    stream: bool,
    provider: str = "xai",
) -> ChatRequest:
    """Build the xAI request body (spec 6.2 with Q20, Q21, Q23).

    Field order: ``model``, ``messages``, ``max_completion_tokens``, ``reasoning_effort``,
    ``stream``, ``stream_options``, ``temperature``, ``tools``, ``top_p``.

    :param model_id: the model; ``model_id.id`` is sent as ``model``.
    :param messages: the conversation.
    :param system: the system context, or ``None``.
    :param tools: the tools, or ``None``.
    :param params: the merged model parameters, or ``None``.
    :param stream: build a streaming request.
    :param provider: the provider id for errors.
    :returns: the JSON body.
    :raises UnsupportedFeature: for an image stored in a session folder.
    """
    max_tokens = params.max_output_tokens if params is not None else None
    temperature = params.temperature if params is not None else None
    body: ChatRequest = {
        "model": model_id.id,
        "messages": build_messages(messages, system, _dialect(provider)),
        "max_completion_tokens": max_tokens if max_tokens is not None else DEFAULT_MAX_COMPLETION_TOKENS,
    }
    effort = _reasoning_effort(model_id.id, params)
    if effort is not None:
        body["reasoning_effort"] = effort
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body["temperature"] = temperature if temperature is not None else DEFAULT_TEMPERATURE
    wire_tools = build_tools(tools)
    if wire_tools is not None:
        body["tools"] = wire_tools
    if params is not None and params.top_p is not None:
        body["top_p"] = params.top_p
    return body


def _parse_response(body: Any, provider: str = "xai") -> CompletionResponse:
    """Convert an xAI ``chat.completion`` body (lenient; see :func:`._response.parse_completion`).

    :param body: the parsed JSON body.
    :param provider: the provider id for errors.
    :returns: the response (thought, text, tool calls).
    :raises NoChoices: for an empty ``choices`` list.
    :raises ResponseParsingError: if the body has no ``choices`` list.
    """
    return parse_completion(body, _dialect(provider))


def _convert_stream(events: Iterable[SseEvent], provider: str = "xai") -> Iterator[StreamChunk]:
    """Convert an xAI event stream into chunks (spec 6.4 with Q13, Q18).

    :param events: the decoded SSE events.
    :param provider: the provider id for errors.
    :returns: the chunks; the last is ``MessageComplete`` or an ``ErrorChunk``.
    """
    return convert_chat_stream(events, _dialect(provider))


class XaiProvider(ChatCompletionsProvider):
    """The xAI (Grok) API.

    Thread-safe: one instance serves every thread. It owns one :class:`Transport` (one
    connection pool), released by :meth:`close`; each stream owns its HTTP response.

    Usage::

        provider = XaiProvider(api_key=os.environ["XAI_API_KEY"])
        request = CompletionRequest(ModelId("xai", "grok-3-mini"), [Message.user("hi")])
        with provider.stream_complete(request) as stream:
            response = stream.collect()
    """

    default_url = DEFAULT_URL
    wire = ChatWire(dialect=_dialect, build_request=_build_request)
    label = "xAI"

    @property
    def name(self) -> str:
        """Always ``"xai"``."""
        return "xai"
