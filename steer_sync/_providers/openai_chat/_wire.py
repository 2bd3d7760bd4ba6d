"""Chat Completions format: the dialect value and names every part shares (layer L2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, TypedDict

_log = logging.getLogger("steer_sync.providers.chat")

#: The data of the event that ends every Chat Completions stream.
DONE = "[DONE]"


@dataclass(frozen=True)
class ChatDialect:
    """What differs between the Chat Completions servers this module talks to.

    Immutable and thread-safe.
    """

    #: The provider id used in every error (the catalog id, e.g. ``"openai"``, ``"my-gw"``).
    provider: str
    #: ``True``: a user message with no content raises ``InvalidRequest`` (OpenAI Chat);
    #: ``False``: it is skipped (xAI).
    reject_empty_user: bool = True
    #: Sent as a tool result whose text is blank (xAI sends ``"(No output)"``); ``None`` sends it as is.
    blank_tool_result: Optional[str] = None
    #: Whether ``completion_tokens`` already counts reasoning tokens when ``total_tokens`` cannot tell.
    completion_includes_reasoning: bool = True
    #: ``True``: an answer with no choices raises ``NoChoices`` (xAI); ``False``: ``ResponseParsingError``.
    no_choices_error: bool = False
    #: The human name used in messages (``"OpenAI chat"``, ``"xAI chat"``).
    label: str = "OpenAI chat"


class ChatRequest(TypedDict, total=False):
    """The body of ``POST /chat/completions`` as OpenAI Chat and xAI build it."""

    model: str
    #: ``{"role": "system"|"user"|"assistant"|"tool", ...}`` in conversation order.
    messages: List[Dict[str, Any]]
    temperature: float
    top_p: float
    max_completion_tokens: int
    stream: bool
    #: ``{"include_usage": true}`` on streamed requests, so the last chunk carries usage.
    stream_options: Dict[str, Any]
    #: ``{"type": "function", "function": {"name", "description", "parameters"}}``.
    tools: List[Dict[str, Any]]
    reasoning_effort: str
