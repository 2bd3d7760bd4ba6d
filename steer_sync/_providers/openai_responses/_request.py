"""OpenAI Responses API: steer_sync values -> the request body; pure (layer L2)."""

from __future__ import annotations

from typing import List, Optional, Sequence

from steer_sync._auth._directive import OpenAiResponsesAuth, apply_instruction_policy
from steer_sync._errors import (
    UnsupportedFeature,
)
from steer_sync._providers._common import json_dumps, normalize_endpoint_url
from steer_sync._providers.openai_responses._wire import _NAME, _SIGNATURE_PREFIX, JsonObject, ResponsesRequest
from steer_sync._types import (
    AssistantMessage,
    CommandExecution,
    DataUrlSource,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    SessionFileSource,
    SignedThought,
    SystemContext,
    TextContent,
    ThinkingEffort,
    ToolCallContent,
    ToolMessage,
    ToolSchema,
    UrlSource,
    UserMessage,
)

_DEFAULT_URL = "https://api.openai.com/v1/responses"
_ENCRYPTED_REASONING = "reasoning.encrypted_content"
_EFFORTS = {
    ThinkingEffort.LOW: "low",
    ThinkingEffort.MEDIUM: "medium",
    ThinkingEffort.HIGH: "high",
    ThinkingEffort.XHIGH: "xhigh",
}


# --- URL -------------------------------------------------------------------------------------


def _responses_url(base_url: Optional[str], provider: Optional[str] = None) -> str:
    """Turn a configured base URL into the Responses endpoint (spec 2.1, improved per Q26).

    The rule reads the URL *path* only, so a query string (``?api-version=...``) survives:

    * a path ending in ``/responses`` is the endpoint already and is kept (the Codex URL);
    * a path ending in ``/chat/completions`` (copied from a Chat setup) loses that suffix first;
    * an empty path gets ``/v1/responses``;
    * a path with a version segment anywhere (``/v1``, ``/api/v1``, ``/v2``, ``/v1beta/openai``,
      ``/v1/<account>/<gateway>/openai``) gets ``/responses``;
    * any other path gets ``/v1/responses``.

    A trailing ``/`` is ignored. Give the full endpoint URL for a server that fits none of these.

    :param base_url: the configured base URL, or ``None``/blank for OpenAI's.
    :returns: the endpoint URL.
    :raises ConfigurationError: if ``base_url`` is not an absolute ``http``/``https`` URL.
    """
    return normalize_endpoint_url(
        base_url, _DEFAULT_URL, "/responses", replace=("/chat/completions",), provider=provider
    )


# --- request ---------------------------------------------------------------------------------


def _image_url(image: ImageContent, provider: str) -> str:
    source = image.source
    if isinstance(source, DataUrlSource):
        return source.data_url
    if isinstance(source, UrlSource):
        return source.url
    path = source.relative_path if isinstance(source, SessionFileSource) else repr(source)
    raise UnsupportedFeature(
        provider,
        "image input source",
        f"the OpenAI Responses API cannot read session file {path!r}; send the image as a data URL or a public URL",
    )


def _user_item(message: UserMessage, provider: str) -> Optional[JsonObject]:
    parts: List[JsonObject] = []
    for block in message.content:
        if isinstance(block, TextContent):
            parts.append({"type": "input_text", "text": block.text})
        elif isinstance(block, CommandExecution):
            parts.append({"type": "input_text", "text": block.as_xml()})
        elif isinstance(block, ImageContent):
            parts.append({"type": "input_image", "image_url": _image_url(block, provider), "detail": "auto"})
    return {"role": "user", "content": parts} if parts else None


def _reasoning_item(signature: str, text: str) -> JsonObject:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"type": "reasoning", "summary": summary, "encrypted_content": signature[len(_SIGNATURE_PREFIX) :]}


def _assistant_items(message: AssistantMessage) -> List[JsonObject]:
    items: List[JsonObject] = []
    parts: List[JsonObject] = []

    def flush() -> None:
        if parts:
            items.append({"role": "assistant", "content": list(parts)})
            parts.clear()

    for block in message.content:
        if isinstance(block, TextContent):
            parts.append({"type": "output_text", "text": block.text, "annotations": []})
        elif isinstance(block, ImageContent):
            parts.append({"type": "output_text", "text": f"[Image: {block.mime_type}]", "annotations": []})
        elif isinstance(block, ToolCallContent):
            flush()
            call = block.tool_call
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": json_dumps(call.parameters),
                }
            )
        elif isinstance(block, SignedThought) and block.signature.startswith(_SIGNATURE_PREFIX):
            flush()
            items.append(_reasoning_item(block.signature, block.text))
        # Any other thought is the provider's private reasoning (or another provider's): dropped.
    flush()
    return items


def _input_items(messages: Sequence[Message], provider: str) -> List[JsonObject]:
    """Convert the conversation to Responses ``input`` items (spec 4.3.2, with Q4).

    :raises UnsupportedFeature: for an image stored as a session file.
    """
    items: List[JsonObject] = []
    for message in messages:
        data = message.data
        if isinstance(data, UserMessage):
            item = _user_item(data, provider)
            if item is not None:
                items.append(item)
        elif isinstance(data, AssistantMessage):
            items.extend(_assistant_items(data))
        elif isinstance(data, ToolMessage):
            items.append(
                {"type": "function_call_output", "call_id": data.tool_use_id, "output": data.result.llm_format()}
            )
    return items


def _tool_to_wire(tool: ToolSchema) -> JsonObject:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.input_schema),
        "strict": False,
    }


def _reasoning(params: Optional[ModelParameters]) -> Optional[JsonObject]:
    thinking = params.thinking_config if params is not None else None
    if thinking is None or not thinking.enabled:
        return None
    effort = _EFFORTS.get(thinking.effort, "medium") if thinking.effort is not None else "medium"
    return {"effort": effort, "summary": "detailed"}


def _build_request(
    model_id: ModelId,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    directive: Optional[OpenAiResponsesAuth] = None,
    stream: bool = False,
    provider: str = _NAME,
) -> ResponsesRequest:
    """Build the request body (spec 4.3; deviations in the module docstring).

    :param model_id: ``model_id.id`` is sent as ``model``.
    :param messages: the conversation.
    :param system: the system context, sent as ``instructions``.
    :param tools: the tools, or ``None``.
    :param params: the merged model parameters.
    :param directive: the auth directive, when one authenticates the call.
    :param stream: whether to ask for an event stream.
    :param provider: the provider id, for errors.
    :returns: the JSON body as a dict, keys in steer's order.
    :raises UnsupportedFeature: for an image stored as a session file.
    """
    body: ResponsesRequest = {"model": model_id.id}
    items = _input_items(messages, provider)
    if items:
        body["input"] = items
    instructions = apply_instruction_policy(system, directive.instruction_policy if directive is not None else None)
    if instructions is not None:
        body["instructions"] = instructions
    reasoning = _reasoning(params)
    if params is not None:
        if reasoning is None:
            # Reasoning models reject sampling parameters, so they only go with non-reasoning calls.
            if params.temperature is not None:
                body["temperature"] = params.temperature
            if params.top_p is not None:
                body["top_p"] = params.top_p
        # The ChatGPT (Codex) backend rejects max_output_tokens.
        if params.max_output_tokens is not None and directive is None:
            body["max_output_tokens"] = params.max_output_tokens
    body["parallel_tool_calls"] = True
    body["store"] = False
    if stream:
        body["stream"] = True
    if tools:
        body["tools"] = [_tool_to_wire(tool) for tool in tools]
        body["tool_choice"] = "auto"
    include: List[str] = list(directive.include) if directive is not None else []
    if reasoning is not None:
        body["reasoning"] = reasoning
        if _ENCRYPTED_REASONING not in include:
            include.append(_ENCRYPTED_REASONING)
    if include:
        body["include"] = include
    return body
