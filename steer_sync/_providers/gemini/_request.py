"""Gemini API: steer_sync values -> the ``generateContent`` request body; pure (layer L2)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from steer_sync._errors import (
    ApiError,
    UnsupportedFeature,
)
from steer_sync._providers._common import split_image_data_url
from steer_sync._providers.gemini._schema import function_declarations
from steer_sync._providers.gemini._wire import _NAME, GenerateContentRequest, Json
from steer_sync._types import (
    AssistantContent,
    AssistantMessage,
    CommandExecution,
    DataUrlSource,
    ImageContent,
    Message,
    ModelParameters,
    SessionFileSource,
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    ThinkingEffort,
    Thought,
    ToolCallContent,
    ToolMessage,
    ToolResult,
    ToolSchema,
    UrlSource,
    UserMessage,
)

_log = logging.getLogger("steer_sync.providers.gemini")
_DEFAULT_MAX_OUTPUT_TOKENS = 65536
_DEFAULT_TEMPERATURE = 1.0
_DEFAULT_TOP_P = 0.95

#: Prefix of the ids generated for function calls Gemini sent without one.
_GENERATED_ID_PREFIX = "gcall_"
#: Google's documented stand-in for a missing signature on a replayed Gemini 3 function call.
_SKIP_SIGNATURE = "skip_thought_signature_validator"

_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


# --- request building ----------------------------------------------------------------------


def _model_name(model: str) -> str:
    # Google's canonical names read "models/<id>"; the endpoint already says "models/".
    return model[len("models/") :] if model.startswith("models/") else model


def _uses_thinking_level(model: str) -> bool:
    found = _GEMINI_MAJOR.search(_model_name(model).lower())
    return found is not None and int(found.group(1)) >= 3


def _is_flash(model: str) -> bool:
    return "flash" in _model_name(model).lower()


def _thinking_config(thinking: ThinkingConfig, model: str) -> Optional[Json]:
    """The ``thinkingConfig`` for ``model``, or ``None`` to leave the model's default (G12)."""
    level_model = _uses_thinking_level(model)
    if not thinking.enabled:
        if level_model:
            return {"thinkingLevel": "minimal" if _is_flash(model) else "low"}
        name = _model_name(model).lower()
        if "2.5" in name and _is_flash(model):
            return {"thinkingBudget": 0}
        return None
    config: Json = {}
    if thinking.include_thoughts is not None:
        config["includeThoughts"] = thinking.include_thoughts
    if level_model and thinking.effort is not None:
        config["thinkingLevel"] = _thinking_level(thinking.effort, model)
    elif thinking.budget_tokens is not None:
        config["thinkingBudget"] = thinking.budget_tokens
    return config


def _thinking_level(effort: ThinkingEffort, model: str) -> str:
    if effort is ThinkingEffort.LOW:
        return "low"
    if effort is ThinkingEffort.MEDIUM:
        # Gemini 3 Pro takes only "low" and "high"; round up rather than be refused.
        return "medium" if _is_flash(model) else "high"
    return "high"


def _generation_config(params: Optional[ModelParameters], model: str) -> Json:
    params = params or ModelParameters()
    config: Json = {
        "maxOutputTokens": params.max_output_tokens
        if params.max_output_tokens is not None
        else _DEFAULT_MAX_OUTPUT_TOKENS,
        "temperature": params.temperature if params.temperature is not None else _DEFAULT_TEMPERATURE,
        "topP": params.top_p if params.top_p is not None else _DEFAULT_TOP_P,
    }
    if params.thinking_config is not None:
        thinking = _thinking_config(params.thinking_config, model)
        if thinking is not None:
            config["thinkingConfig"] = thinking
    return config


def _build_request(
    model: str,
    messages: Sequence[Message],
    system: Optional[SystemContext],
    tools: Optional[Sequence[ToolSchema]],
    params: Optional[ModelParameters],
    *,
    provider: str = _NAME,
) -> GenerateContentRequest:
    """Build the ``generateContent`` body (identical for the streaming endpoint).

    :param model: the model id (decides the thinking knobs and the Gemini 3 signature rule).
    :param messages: the conversation.
    :param system: the system prompt, if any.
    :param tools: the tools, if any (``[]`` sends none).
    :param params: the merged model parameters.
    :param provider: the provider id for errors.
    :returns: the JSON body.
    :raises UnsupportedFeature: for an image the API cannot take (a session file).
    :raises InvalidRequest: for a malformed image data URL.
    """
    body: GenerateContentRequest = {
        "contents": _convert_messages(messages, provider, sentinel=_uses_thinking_level(model))
    }
    text = system.render() if system is not None else None
    if text is not None:
        body["systemInstruction"] = {"parts": [{"text": text}]}
    if tools:
        body["tools"] = [{"functionDeclarations": function_declarations(tools)}]
    body["generationConfig"] = _generation_config(params, model)
    return body


def _is_generated_id(call_id: str) -> bool:
    return call_id.startswith(_GENERATED_ID_PREFIX)


def _convert_messages(messages: Sequence[Message], provider: str, *, sentinel: bool = False) -> List[Json]:
    """Convert the history into Gemini ``contents`` (roles ``user`` and ``model`` only).

    :param messages: the conversation.
    :param provider: the provider id for errors.
    :param sentinel: add the skip-validator signature to unsigned replayed calls (Gemini 3).
    :returns: the contents, in order.
    """
    # Every call in the history, by id: its function name and its position (for ordering results).
    calls: Dict[str, Tuple[str, int]] = {}
    contents: List[Json] = []
    pending: List[Tuple[Tuple[int, int], Json]] = []

    def flush_results() -> None:
        if pending:
            pending.sort(key=lambda item: item[0])
            contents.append({"role": "user", "parts": [part for _, part in pending]})
            pending.clear()

    for message in messages:
        data = message.data
        if isinstance(data, ToolMessage):
            known = calls.get(data.tool_use_id)
            order = (known[1], 0) if known is not None else (len(calls) + len(pending), 1)
            name = known[0] if known is not None else _fallback_function_name(data)
            pending.append((order, _function_response_part(data, name)))
            continue
        flush_results()
        if isinstance(data, UserMessage):
            parts = [part for part in (_user_part(block, provider) for block in data.content) if part is not None]
            if parts:
                contents.append({"role": "user", "parts": parts})
        elif isinstance(data, AssistantMessage):
            for block in data.content:
                if isinstance(block, ToolCallContent):
                    calls.setdefault(block.tool_call.id, (block.tool_call.name, len(calls)))
            parts = _model_parts(data.content, provider)
            if sentinel:
                _add_signature_sentinel(parts)
            if parts:
                contents.append({"role": "model", "parts": parts})
    flush_results()
    return contents


def _fallback_function_name(data: ToolMessage) -> str:
    payload = data.result.payload
    if isinstance(payload, Mapping):
        name = payload.get("tool_name")
        if isinstance(name, str) and name:
            return name
    # steer's value: the call id (only reached for a result whose call is not in the history).
    return data.tool_use_id


def _function_response_part(data: ToolMessage, name: str) -> Json:
    result = data.result
    value: Any = result.llm_format() if result.is_error else _tool_result_json(result)
    response: Json = {"name": name, "response": {"content": value}}
    if not _is_generated_id(data.tool_use_id):
        response["id"] = data.tool_use_id
    return {"functionResponse": response}


def _tool_result_json(result: ToolResult) -> Any:
    value = result.to_dict()
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return result.llm_format()
    return value


def _user_part(block: Any, provider: str) -> Optional[Json]:
    if isinstance(block, TextContent):
        return {"text": block.text} if block.text.strip() else None
    if isinstance(block, CommandExecution):
        return {"text": block.as_xml()}
    if isinstance(block, ImageContent):
        return _image_part(block, provider)
    return None


def _image_part(image: ImageContent, provider: str) -> Json:
    source = image.source
    if isinstance(source, DataUrlSource):
        mime_type, payload = split_image_data_url(source.data_url, provider, "Gemini")
        return {"inlineData": {"mimeType": mime_type, "data": payload}}
    if isinstance(source, UrlSource):
        return {"fileData": {"mimeType": image.mime_type, "fileUri": source.url}}
    path = source.relative_path if isinstance(source, SessionFileSource) else repr(source)
    raise UnsupportedFeature(
        provider,
        "image input source",
        f"Gemini adapter cannot access session file '{path}' directly; use data URLs or URL sources",
    )


def _model_parts(content: Sequence[AssistantContent], provider: str) -> List[Json]:
    parts: List[Json] = []
    signature: Optional[str] = None  # a carrier's signature, waiting for the next part
    for block in content:
        if isinstance(block, SignedThought) and not block.text:
            if signature is not None:
                _attach_trailing_signature(parts, signature)
            signature = block.signature
            continue
        part: Optional[Json]
        if isinstance(block, SimpleThought):
            # Only a Gemini thought (one its carrier signed) goes back; see the module docstring.
            part = {"text": block.text, "thought": True} if signature is not None else None
        elif isinstance(block, Thought):
            part = None
        elif isinstance(block, TextContent):
            part = {"text": block.text} if block.text.strip() else None
        elif isinstance(block, ToolCallContent):
            part = _function_call_part(block)
        else:
            try:
                part = _image_part(block, provider)
            except ApiError as error:  # steer skips assistant images it cannot send
                _log.debug("skipping an assistant image Gemini cannot take: %s", error)
                part = None
        if part is None:
            continue
        if signature is not None and "thoughtSignature" not in part:
            part["thoughtSignature"] = signature
            signature = None
        parts.append(part)
    if signature is not None:
        _attach_trailing_signature(parts, signature)
    return parts


def _attach_trailing_signature(parts: List[Json], signature: str) -> None:
    # Gemini 3 sends a signature on an empty text part after the answer; empty text parts are
    # refused on the way back, so the signature rides on the last part that has none.
    for part in reversed(parts):
        if "thoughtSignature" not in part and not part.get("thought"):
            part["thoughtSignature"] = signature
            return
    parts.append({"text": "", "thoughtSignature": signature})


def _function_call_part(block: ToolCallContent) -> Json:
    call = block.tool_call
    function_call: Json = {"name": call.name, "args": call.parameters if call.parameters is not None else {}}
    if not _is_generated_id(call.id):
        function_call["id"] = call.id
    part: Json = {"functionCall": function_call}
    if block.thought_signature is not None:
        part["thoughtSignature"] = block.thought_signature
    return part


def _add_signature_sentinel(parts: List[Json]) -> None:
    calls = [part for part in parts if "functionCall" in part]
    if calls and not any("thoughtSignature" in part for part in calls):
        calls[0]["thoughtSignature"] = _SKIP_SIGNATURE
