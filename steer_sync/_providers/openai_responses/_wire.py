"""OpenAI Responses API: the names and lenient JSON readers every part shares (layer L2)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, TypedDict

from steer_sync._providers._json import decode_event

#: The implementation name (also for custom OpenAI-compatible providers).
_NAME = "openai"
#: Marks a SignedThought whose signature is an OpenAI ``encrypted_content``.
_SIGNATURE_PREFIX = "openai-responses:"

JsonObject = Dict[str, Any]


# --- small lenient readers ---------------------------------------------------------------


def _str(obj: Mapping[str, Any], key: str) -> Optional[str]:
    """``obj[key]`` when it is a non-empty string."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _first_str(obj: Mapping[str, Any], keys: Sequence[str]) -> Optional[str]:
    for key in keys:
        value = _str(obj, key)
        if value is not None:
            return value
    return None


def _int(obj: Any, key: str) -> int:
    """``obj[key]`` as a non-negative int; 0 when missing or not a number."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return max(int(value), 0)


def _loads(data: str) -> Optional[JsonObject]:
    try:
        value = decode_event(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ResponsesRequest(TypedDict, total=False):
    """The body of ``POST /v1/responses`` as :func:`._request._build_request` builds it."""

    model: str
    #: Input items: messages, ``function_call``/``function_call_output`` and ``reasoning`` items.
    input: List[JsonObject]
    instructions: str
    temperature: float
    top_p: float
    max_output_tokens: int
    parallel_tool_calls: bool
    store: bool
    stream: bool
    tools: List[JsonObject]
    tool_choice: str
    #: ``{"effort": ..., "summary": "auto"}``.
    reasoning: JsonObject
    include: List[str]
