"""Anthropic Messages API: the wire constants every part shares (layer L2)."""

from __future__ import annotations
