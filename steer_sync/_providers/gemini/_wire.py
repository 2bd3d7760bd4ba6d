"""Gemini API: the names and JSON shapes every part shares (layer L2)."""

from __future__ import annotations

from typing import Any, Dict, List, Protocol, TypedDict

_NAME = "google"

Json = Dict[str, Any]


class _HasData(Protocol):
    """An SSE event as far as this module cares (``steer_sync._sse.SseEvent``)."""

    @property
    def data(self) -> str:
        """The event's data field."""


class GenerateContentRequest(TypedDict, total=False):
    """The body of ``models/{model}:generateContent`` (and ``streamGenerateContent``)."""

    #: ``{"role": "user"|"model", "parts": [...]}`` in conversation order.
    contents: List[Json]
    #: ``{"parts": [{"text": ...}]}``.
    systemInstruction: Json
    #: ``[{"functionDeclarations": [...]}]``.
    tools: List[Json]
    #: Sampling, the output limit and ``thinkingConfig``.
    generationConfig: Json
