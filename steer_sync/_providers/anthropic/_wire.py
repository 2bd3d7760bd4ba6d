"""Anthropic Messages API: the shape of the request body (layer L2)."""

from __future__ import annotations

from typing import Any, Dict, List, TypedDict

__all__ = ["MessagesRequest", "ThinkingParam"]


class ThinkingParam(TypedDict):
    """``thinking``: extended thinking with a token budget."""

    type: str
    budget_tokens: int


class MessagesRequest(TypedDict, total=False):
    """The body of ``POST /v1/messages`` as :func:`._request._build_request` builds it."""

    model: str
    max_tokens: int
    #: ``{"role": "user"|"assistant", "content": [block, ...]}``, the last one with a cache breakpoint.
    messages: List[Dict[str, Any]]
    #: One text block carrying ``cache_control``.
    system: List[Dict[str, Any]]
    #: ``{"name", "description", "input_schema"}``.
    tools: List[Dict[str, Any]]
    temperature: float
    top_p: float
    stream: bool
    thinking: ThinkingParam
