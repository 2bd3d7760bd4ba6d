"""Anthropic Messages API: steer_sync values -> the request body and headers; pure (layer L2).

Behaviour follows steer's ``claude/client.rs`` with spec/anthropic-gemini.md Part 1 section 1.12's
recommendations adopted (the package docstring lists them).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from steer_sync._auth._directive import (
    AnthropicAuth,
    apply_instruction_policy,
)
from steer_sync._errors import (
    InvalidRequest,
    UnsupportedFeature,
)
from steer_sync._providers._common import normalize_endpoint_url, split_image_data_url
from steer_sync._providers.anthropic._wire import MessagesRequest
from steer_sync._types import (
    AssistantContent,
    AssistantMessage,
    CommandExecution,
    DataUrlSource,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    RedactedThought,
    SessionFileSource,
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    ToolCallContent,
    ToolMessage,
    ToolSchema,
    UrlSource,
    UserMessage,
)

_log = logging.getLogger("steer_sync.providers.anthropic")

#: The public endpoint's base; the Messages path is appended.
_DEFAULT_BASE_URL = "https://api.anthropic.com"
#: The API version every request pins.
_ANTHROPIC_VERSION = "2023-06-01"
#: Beta flag that lets thinking happen between tool calls (sent whenever thinking is on).
_INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"
#: ``max_tokens`` when the caller sets none (steer's values).
_DEFAULT_MAX_TOKENS = 8000
_DEFAULT_THINKING_MAX_TOKENS = 32000
#: ``budget_tokens`` when thinking is on without a budget (steer's value).
_DEFAULT_THINKING_BUDGET = 4000
#: The smallest budget the API accepts.
_MIN_THINKING_BUDGET = 1024
#: Temperatures steer sends when the caller sets none.
_DEFAULT_TEMPERATURE = 0.7
_THINKING_TEMPERATURE = 1.0
#: ``top_p`` range the API allows with thinking.
_THINKING_TOP_P_RANGE = (0.95, 1.0)

_EPHEMERAL = {"type": "ephemeral"}
_THINKING_TYPES = ("thinking", "redacted_thinking")


# --- URL and headers --------------------------------------------------------------------


def _endpoint_url(base_url: Optional[str], provider: str = "anthropic") -> str:
    """The Messages endpoint for a base URL (A1): the shared normaliser with ``/messages``.

    ``https://api.anthropic.com`` gets ``/v1/messages``; a base ending in ``/v1`` (or any
    version segment) gets ``/messages``; a base ending in ``/v1/messages`` is kept.

    :param base_url: ``None`` for the public API, or a gateway's base URL.
    :param provider: the provider id, for the error.
    :raises ConfigurationError: if it is not an absolute http(s) URL.
    """
    return normalize_endpoint_url(base_url, _DEFAULT_BASE_URL, "/messages", provider=provider)


def _merge_beta(current: Optional[str], extra: str) -> str:
    values = [v.strip() for v in (current or "").split(",") if v.strip()]
    for value in (v.strip() for v in extra.split(",")):
        if value and value not in values:
            values.append(value)
    return ",".join(values)


def _build_headers(
    auth: Iterable[Tuple[str, str]],
    *,
    thinking: bool,
    static: Mapping[str, str] = {},
    extra: Optional[Mapping[str, str]] = None,
) -> Dict[str, str]:
    """The headers of one attempt, lower-case names, in sending order.

    :param auth: ``x-api-key``, or the directive's headers.
    :param thinking: whether the request enables thinking (adds the interleaved beta).
    :param static: the provider's configured headers (catalog ``headers``).
    :param extra: the call's ``extra_headers``, applied last.
    """
    headers: Dict[str, str] = {"anthropic-version": _ANTHROPIC_VERSION, "content-type": "application/json"}

    def put(name: str, value: str) -> None:
        key = name.lower()
        if key == "anthropic-beta" and key in headers:
            headers[key] = _merge_beta(headers[key], value)
        else:
            headers[key] = value

    for name, value in auth:
        put(name, value)
    if thinking:
        put("anthropic-beta", _INTERLEAVED_THINKING_BETA)
    for name, value in static.items():
        put(name, value)
    for name, value in (extra or {}).items():
        put(name, value)
    return headers


# --- request building -------------------------------------------------------------------


class _Sampling:
    """The length and sampling fields of one request, after the API's rules (A12)."""

    __slots__ = ("max_tokens", "temperature", "thinking_budget", "top_p")

    def __init__(
        self, max_tokens: int, thinking_budget: Optional[int], temperature: Optional[float], top_p: Optional[float]
    ) -> None:
        self.max_tokens = max_tokens
        self.thinking_budget = thinking_budget
        self.temperature = temperature
        self.top_p = top_p

    @property
    def thinking(self) -> bool:
        return self.thinking_budget is not None


def _sampling(params: Optional[ModelParameters]) -> _Sampling:
    """Apply steer's defaults and the documented thinking constraints to the parameters."""
    params = params or ModelParameters()
    config = params.thinking_config
    thinking = config is not None and config.enabled
    max_tokens = params.max_output_tokens
    if max_tokens is None:
        max_tokens = _DEFAULT_THINKING_MAX_TOKENS if thinking else _DEFAULT_MAX_TOKENS
    budget: Optional[int] = None
    if thinking and config is not None:
        budget = config.budget_tokens if config.budget_tokens is not None else _DEFAULT_THINKING_BUDGET
        budget = max(budget, _MIN_THINKING_BUDGET)
        if budget >= max_tokens:
            if max_tokens > _MIN_THINKING_BUDGET:
                budget = max_tokens - 1
            else:
                _log.warning(
                    "max_tokens=%d leaves no room for the minimum thinking budget of %d; "
                    "sending this request without thinking",
                    max_tokens,
                    _MIN_THINKING_BUDGET,
                )
                budget = None
    temperature = params.temperature
    top_p = params.top_p
    if budget is not None:
        low, high = _THINKING_TOP_P_RANGE
        if top_p is not None and not low <= top_p <= high:
            _log.debug("dropping top_p=%s: with thinking the API allows only %s..%s", top_p, low, high)
            top_p = None
        if temperature is not None and temperature != _THINKING_TEMPERATURE:
            _log.debug("sending temperature 1 instead of %s: the only value allowed with thinking", temperature)
        temperature = None if top_p is not None else _THINKING_TEMPERATURE
    elif temperature is None and top_p is None:
        temperature = _DEFAULT_TEMPERATURE
    return _Sampling(max_tokens, budget, temperature, top_p)


def _image_block(image: ImageContent, provider: str) -> Dict[str, Any]:
    """An image block for a data URL or URL source (spec 1.4, 1.13).

    :raises InvalidRequest: for a malformed or non-base64 data URL.
    :raises UnsupportedFeature: for a non-image media type or a session-file source.
    """
    source = image.source
    if isinstance(source, UrlSource):
        return {"type": "image", "source": {"type": "url", "url": source.url}}
    if isinstance(source, SessionFileSource):
        raise UnsupportedFeature(
            provider,
            "image input source",
            f"Anthropic adapter cannot access session file '{source.relative_path}' directly; use data URLs",
        )
    if not isinstance(source, DataUrlSource):
        raise UnsupportedFeature(provider, "image input source", f"unknown image source {type(source).__name__}")
    media_type, payload = split_image_data_url(source.data_url, provider, "Anthropic")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": payload}}


def _text_block(text: str) -> Dict[str, Any]:
    return {"type": "text", "text": text}


def _user_blocks(message: Message, data: UserMessage, provider: str) -> List[Dict[str, Any]]:
    blocks: List[Dict[str, Any]] = []
    for content in data.content:
        if isinstance(content, TextContent):
            if content.text.strip():
                blocks.append(_text_block(content.text))
        elif isinstance(content, ImageContent):
            blocks.append(_image_block(content, provider))
        elif isinstance(content, CommandExecution):
            text = content.as_xml()
            if text.strip():
                blocks.append(_text_block(text))
    if not blocks:
        raise InvalidRequest(provider, f"User message ID {message.id} resulted in no valid content blocks")
    return blocks


def _assistant_block(content: AssistantContent, thinking: bool) -> Optional[Dict[str, Any]]:
    if isinstance(content, TextContent):
        return _text_block(content.text) if content.text.strip() else None
    if isinstance(content, ToolCallContent):
        call = content.tool_call
        return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parameters}
    if isinstance(content, SignedThought):
        return {"type": "thinking", "thinking": content.text, "signature": content.signature}
    if isinstance(content, RedactedThought):
        return {"type": "redacted_thinking", "data": content.data}
    if isinstance(content, SimpleThought):
        if thinking:
            # An unsigned thought cannot be a thinking block, and as text it would put
            # invented words in the model's mouth (A5).
            _log.debug("dropping an unsigned thought from an assistant turn sent with thinking enabled")
            return None
        return _text_block(f"[Thought: {content.text}]")
    if isinstance(content, ImageContent):
        _log.debug("dropping an image from an assistant turn: Anthropic accepts images only from the user")
        return None
    return None


def _assistant_content(message: Message, data: AssistantMessage, thinking: bool, provider: str) -> Any:
    """The ``content`` of an assistant turn, or ``None`` when only droppable blocks made it up.

    :raises InvalidRequest: if the turn has nothing to send at all.
    """
    blocks = [b for b in (_assistant_block(c, thinking) for c in data.content) if b is not None]
    if not blocks:
        if any(isinstance(c, (ImageContent, SimpleThought)) for c in data.content):
            # Only images or unsigned thoughts (say, from another provider's model): leave
            # the turn out rather than fail the whole conversation.
            _log.debug("leaving out assistant message %s: nothing in it can be sent to Anthropic", message.id)
            return None
        raise InvalidRequest(provider, f"Assistant message ID {message.id} resulted in no valid content blocks")
    has_thinking = any(b["type"] in _THINKING_TYPES for b in blocks)
    if has_thinking and blocks[0]["type"] not in _THINKING_TYPES:
        # The API wants a turn's thinking first; reorder only when it is not already (A16).
        blocks = [b for b in blocks if b["type"] in _THINKING_TYPES] + [
            b for b in blocks if b["type"] not in _THINKING_TYPES
        ]
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return blocks[0]["text"]
    return blocks


def _tool_result_block(data: ToolMessage) -> Dict[str, Any]:
    result = data.result
    text = result.llm_format()
    block: Dict[str, Any] = {"type": "tool_result", "tool_use_id": data.tool_use_id}
    if result.is_error:
        # The model is told through is_error; the text is the bare error (spec 1.4).
        if text.startswith("Error: "):
            text = text[len("Error: ") :]
        block["content"] = [_text_block(text)]
        block["is_error"] = True
    else:
        block["content"] = [_text_block(text if text.strip() else "(No output)")]
    return block


def _convert_messages(messages: Sequence[Message], *, thinking: bool, provider: str) -> List[Dict[str, Any]]:
    """Convert the conversation to Messages-API turns (spec 1.4 with A11, A15, A16).

    :raises InvalidRequest: for a message that converts to nothing, or no messages at all.
    :raises UnsupportedFeature: for an image the API cannot take.
    """
    out: List[Dict[str, Any]] = []
    # True while the last turn in ``out`` is a user turn made of tool results (A11).
    open_results = False
    for message in messages:
        data = message.data
        if isinstance(data, ToolMessage):
            block = _tool_result_block(data)
            if open_results:
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
                open_results = True
        elif isinstance(data, UserMessage):
            blocks = _user_blocks(message, data, provider)
            if open_results:
                out[-1]["content"].extend(blocks)
            else:
                out.append({"role": "user", "content": blocks})
            open_results = False
        elif isinstance(data, AssistantMessage):
            content = _assistant_content(message, data, thinking, provider)
            if content is not None:
                out.append({"role": "assistant", "content": content})
                open_results = False
        else:  # pragma: no cover - MessageData is closed
            raise InvalidRequest(provider, f"unknown message kind {type(data).__name__}")
    out = [m for m in out if not (isinstance(m["content"], str) and not m["content"].strip())]
    if not out:
        raise InvalidRequest(provider, "No messages provided")
    return out


def _add_message_cache_breakpoint(messages: List[Dict[str, Any]]) -> None:
    """Mark the conversation prefix for prompt caching (spec 1.7).

    Only an agent-loop turn ending in tool results, or a plain-text assistant turn, gets
    a breakpoint; a final plain user turn does not (steer's rule).
    """
    last = messages[-1]
    content = last["content"]
    if isinstance(content, str):
        last["content"] = [{"type": "text", "text": content, "cache_control": dict(_EPHEMERAL)}]
        return
    results = [block for block in content if block.get("type") == "tool_result"]
    if results:
        results[-1]["cache_control"] = dict(_EPHEMERAL)


def _tool_to_wire(tool: ToolSchema) -> Dict[str, Any]:
    # The schema sanitizer loads with the first call that sends tools, not with every import.
    from steer_sync._providers.anthropic._schema import sanitize_tool_schema

    return {"name": tool.name, "description": tool.description, "input_schema": sanitize_tool_schema(tool.input_schema)}


def _build_request(
    model_id: ModelId,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    stream: bool,
    directive: Optional[AnthropicAuth] = None,
    provider: str = "anthropic",
) -> MessagesRequest:
    """Build the JSON body of a Messages request (spec 1.3-1.7).

    :param model_id: the model; its ``id`` is sent verbatim.
    :param messages: the conversation.
    :param system: the system prompt, shaped by the directive's instruction policy.
    :param tools: the tools, or ``None``; an empty list is omitted.
    :param params: the merged model parameters.
    :param stream: add ``"stream": true``.
    :param directive: the auth directive, for its instruction policy.
    :param provider: the provider id used in errors.
    :returns: the body, a fresh dict.
    :raises InvalidRequest: if the conversation cannot be sent.
    :raises UnsupportedFeature: for an image the API cannot take.
    """
    sampling = _sampling(params)
    body: MessagesRequest = {
        "model": model_id.id,
        "messages": _convert_messages(messages, thinking=sampling.thinking, provider=provider),
        "max_tokens": sampling.max_tokens,
    }
    _add_message_cache_breakpoint(body["messages"])
    policy = directive.instruction_policy if directive is not None else None
    system_text = apply_instruction_policy(system, policy)
    if system_text:
        body["system"] = [{"type": "text", "text": system_text, "cache_control": dict(_EPHEMERAL)}]
    if tools:
        body["tools"] = [_tool_to_wire(tool) for tool in tools]
    if sampling.temperature is not None:
        body["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        body["top_p"] = sampling.top_p
    if stream:
        body["stream"] = True
    if sampling.thinking_budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": sampling.thinking_budget}
    return body
