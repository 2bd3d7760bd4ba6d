"""The system prompt and optional environment context (layer L0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

try:  # Protocol is in typing from 3.8; kept explicit for readers on 3.9.
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore[assignment]

__all__ = ["EnvironmentContext", "SystemContext"]


class EnvironmentContext(Protocol):
    """Anything that can describe the working environment to the model."""

    def as_context(self) -> str:
        """Render the environment as text for the system prompt."""


@dataclass(frozen=True)
class SystemContext:
    """A system prompt, optionally followed by an environment description.

    Usage::

        SystemContext("You are terse.")
    """

    #: The system prompt.
    prompt: str
    #: Extra environment context appended after the prompt.
    environment: Optional[EnvironmentContext] = None

    def render(self) -> Optional[str]:
        """The full system text, or ``None`` when it would be blank."""
        return self.render_with_prompt(self.prompt)

    def render_with_prompt(self, prompt: Optional[str]) -> Optional[str]:
        """Render with ``prompt`` in place of :attr:`prompt` (core.md 2.4)."""
        parts = []
        base = prompt or ""
        if base.strip():
            parts.append(base.rstrip())
        if self.environment is not None:
            env = self.environment.as_context().strip()
            if env:
                parts.append(env)
        text = "\n\n".join(parts)
        return text if text.strip() else None

    @classmethod
    def coerce(cls, value: object) -> Optional[SystemContext]:
        """Accept ``None``, a ``str`` or a ``SystemContext``."""
        if value is None or isinstance(value, SystemContext):
            return value
        if isinstance(value, str):
            return cls(value)
        raise TypeError(f"system must be None, a str or a SystemContext, got {type(value).__name__}")
