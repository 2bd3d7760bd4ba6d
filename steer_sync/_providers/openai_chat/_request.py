"""Chat Completions format: steer_sync values -> the request body; pure (layer L2)."""

from __future__ import annotations

from typing import (
    Any,
    Dict,
    List,
    Optional,
    Sequence,
)

from steer_sync._errors import (
    InvalidRequest,
    UnsupportedFeature,
)
from steer_sync._providers._common import json_dumps, normalize_endpoint_url
from steer_sync._providers._schema import plain
from steer_sync._providers.openai_chat._wire import ChatDialect
from steer_sync._types import (
    AssistantMessage,
    CommandExecution,
    DataUrlSource,
    ImageContent,
    Message,
    SessionFileSource,
    SystemContext,
    TextContent,
    ToolCallContent,
    ToolMessage,
    ToolSchema,
    UrlSource,
    UserMessage,
)

# --- URL ----------------------------------------------------------------------------------


def _normalize_chat_url(base: Optional[str], default: str) -> str:
    """Turn a configured base URL into the Chat Completions endpoint URL (spec 2.1, improved).

    The rule works on the URL *path*, so a query string (``?api-version=...``) or fragment is
    kept and never confuses it:

    * a path ending in ``/chat/completions`` is the endpoint already and is kept;
    * an empty path gets ``/v1/chat/completions``;
    * a path with a version segment anywhere (``/v1``, ``/api/v1``, ``/v1beta/openai``,
      ``/openai/v2``) gets ``/chat/completions``;
    * any other path gets ``/v1/chat/completions``.

    A trailing ``/`` is ignored. Give the full endpoint URL for a server that fits none of
    these (for example a legacy Azure deployment URL).

    :param base: the configured base URL, or ``None``/blank for ``default``.
    :param default: the provider's default endpoint.
    :returns: the endpoint URL.
    :raises ConfigurationError: if ``base`` is not an absolute ``http``/``https`` URL.
    """
    return normalize_endpoint_url(base, default, "/chat/completions")


# --- request building -----------------------------------------------------------------------


def compact_json(value: Any) -> str:
    """Serialise like steer does on the wire: no spaces, key order kept, raw Unicode.

    :param value: a JSON-compatible value (mappings and tuples are accepted).
    :returns: the JSON text.
    """
    return json_dumps(plain(value))


def _image_url(image: ImageContent, dialect: ChatDialect) -> str:
    source = image.source
    if isinstance(source, DataUrlSource):
        return source.data_url
    if isinstance(source, UrlSource):
        return source.url
    if isinstance(source, SessionFileSource):
        raise UnsupportedFeature(
            dialect.provider,
            "image input source",
            f"{dialect.label} API cannot access session file '{source.relative_path}' directly; "
            "use data URLs or public URLs",
        )
    raise UnsupportedFeature(dialect.provider, "image input source", f"unknown image source {type(source).__name__}")


def _user_message(data: UserMessage, dialect: ChatDialect) -> Optional[Dict[str, Any]]:
    parts: List[Dict[str, Any]] = []
    for block in data.content:
        if isinstance(block, TextContent):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageContent):
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, dialect)}})
        elif isinstance(block, CommandExecution):
            parts.append({"type": "text", "text": block.as_xml()})
    if not parts:
        if dialect.reject_empty_user:
            raise InvalidRequest(dialect.provider, "User message had no content after conversion")
        return None
    if len(parts) == 1 and parts[0]["type"] == "text":
        return {"role": "user", "content": parts[0]["text"]}
    return {"role": "user", "content": parts}


def _assistant_message(data: AssistantMessage) -> Optional[Dict[str, Any]]:
    texts: List[str] = []
    calls: List[Dict[str, Any]] = []
    for block in data.content:
        if isinstance(block, TextContent):
            texts.append(block.text)
        elif isinstance(block, ImageContent):
            texts.append(f"[Image: {block.mime_type}]")
        elif isinstance(block, ToolCallContent):
            call = block.tool_call
            calls.append(
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": compact_json(call.parameters)},
                }
            )
        # Thoughts are never sent back: neither API accepts them in requests.
    text = "\n".join(texts)
    if not text and not calls:
        return None
    message: Dict[str, Any] = {"role": "assistant"}
    if text:
        message["content"] = text
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_message(data: ToolMessage, dialect: ChatDialect) -> Dict[str, Any]:
    content = data.result.llm_format()
    if dialect.blank_tool_result is not None and not data.result.is_error and not content.strip():
        content = dialect.blank_tool_result
    return {"role": "tool", "content": content, "tool_call_id": data.tool_use_id}


def build_messages(
    messages: Sequence[Message], system: Optional[SystemContext], dialect: ChatDialect
) -> List[Dict[str, Any]]:
    """Convert the conversation into Chat Completions ``messages`` (spec 5.2.1 / 6.2).

    :param messages: the conversation.
    :param system: the system context; its rendered text becomes a leading system message.
    :param dialect: the provider's differences.
    :returns: the wire messages.
    :raises UnsupportedFeature: for an image stored in a session folder.
    :raises InvalidRequest: for an empty user message when the dialect rejects it.
    """
    out: List[Dict[str, Any]] = []
    system_text = system.render() if system is not None else None
    if system_text is not None:
        out.append({"role": "system", "content": system_text})
    for message in messages:
        data = message.data
        converted: Optional[Dict[str, Any]]
        if isinstance(data, UserMessage):
            converted = _user_message(data, dialect)
        elif isinstance(data, AssistantMessage):
            converted = _assistant_message(data)
        elif isinstance(data, ToolMessage):
            converted = _tool_message(data, dialect)
        else:  # pragma: no cover - MessageData is a closed union
            raise TypeError(f"unknown message data {type(data).__name__}")
        if converted is not None:
            out.append(converted)
    return out


def build_tools(tools: Optional[Sequence[ToolSchema]]) -> Optional[List[Dict[str, Any]]]:
    """Convert tool schemas into Chat Completions function tools.

    :param tools: the tools, or ``None``.
    :returns: the wire tools, or ``None`` when there are none (OpenAI rejects ``"tools": []``).
    """
    if not tools:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": plain(tool.input_schema),
            },
        }
        for tool in tools
    ]
