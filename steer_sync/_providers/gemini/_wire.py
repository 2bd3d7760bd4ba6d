"""Gemini API: the names and JSON shapes every part shares (layer L2)."""

from __future__ import annotations

from typing import Any, Dict, Protocol

_NAME = "google"

Json = Dict[str, Any]


class _HasData(Protocol):
    """An SSE event as far as this module cares (``steer_sync._sse.SseEvent``)."""

    @property
    def data(self) -> str:
        """The event's data field."""
