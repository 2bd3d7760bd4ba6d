"""Model parameters and thinking configuration (layer L0)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, Dict, Mapping, Optional

from steer_sync._errors import ConfigurationError
from steer_sync._types._checks import check_finite_number, check_int, check_optional_bool

__all__ = ["ModelParameters", "ThinkingConfig", "ThinkingEffort"]


class ThinkingEffort(enum.Enum):
    """How hard a reasoning model should think."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "x-high"


@dataclass(frozen=True)
class ThinkingConfig:
    """Whether and how much a model reasons before it answers.

    Each provider maps this to its own knob (Anthropic ``budget_tokens``, OpenAI
    ``reasoning.effort``, Gemini ``thinkingBudget``/``thinkingLevel``).

    :raises ConfigurationError: (a ``ValueError``) naming the field: ``enabled`` and
        ``include_thoughts`` must be ``bool``, ``effort`` a :class:`ThinkingEffort` or its
        value, ``budget_tokens`` an integer >= 0.
    """

    #: Whether thinking is on.
    enabled: bool
    #: The reasoning effort, for providers that take a level.
    effort: Optional[ThinkingEffort] = None
    #: The thinking token budget, for providers that take one.
    budget_tokens: Optional[int] = None
    #: Whether the provider should return its thoughts (Gemini).
    include_thoughts: Optional[bool] = None

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigurationError(None, f"ThinkingConfig.enabled must be True or False, got {self.enabled!r}")
        effort: Any = self.effort
        if isinstance(effort, str):  # a catalog or JSON value such as "x-high"
            try:
                object.__setattr__(self, "effort", ThinkingEffort(effort))
            except ValueError:
                choices = ", ".join(repr(e.value) for e in ThinkingEffort)
                raise ConfigurationError(
                    None, f"ThinkingConfig.effort must be one of {choices}, got {effort!r}"
                ) from None
        elif effort is not None and not isinstance(effort, ThinkingEffort):
            raise ConfigurationError(
                None, f"ThinkingConfig.effort must be a ThinkingEffort (e.g. ThinkingEffort.HIGH), got {effort!r}"
            )
        if self.budget_tokens is not None:
            check_int(self.budget_tokens, "ThinkingConfig.budget_tokens", minimum=0, example="16000")
        check_optional_bool(self.include_thoughts, "ThinkingConfig.include_thoughts")

    def merge(self, other: ThinkingConfig) -> ThinkingConfig:
        """Return this config overlaid with ``other``'s set fields (``enabled`` always from ``other``)."""
        return ThinkingConfig(
            enabled=other.enabled,
            effort=other.effort if other.effort is not None else self.effort,
            budget_tokens=other.budget_tokens if other.budget_tokens is not None else self.budget_tokens,
            include_thoughts=other.include_thoughts if other.include_thoughts is not None else self.include_thoughts,
        )

    def to_dict(self) -> Dict[str, Any]:
        """Serialise like the Rust catalog structures (absent fields omitted)."""
        out: Dict[str, Any] = {"enabled": self.enabled}
        if self.effort is not None:
            out["effort"] = self.effort.value
        if self.budget_tokens is not None:
            out["budget_tokens"] = self.budget_tokens
        if self.include_thoughts is not None:
            out["include_thoughts"] = self.include_thoughts
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThinkingConfig:
        """Inverse of :meth:`to_dict`."""
        effort = data.get("effort")
        return cls(
            enabled=bool(data["enabled"]),
            effort=effort,
            budget_tokens=data.get("budget_tokens"),
            include_thoughts=data.get("include_thoughts"),
        )


@dataclass(frozen=True)
class ModelParameters:
    """Sampling and length parameters; ``None`` means "use the provider's default".

    Values are immutable; :meth:`merge` returns a new value where ``other`` wins. Each
    field is checked when the value is built, so nothing invalid reaches a request.

    :raises ConfigurationError: (a ``ValueError``) naming the field and what it accepts:
        ``temperature`` a finite number >= 0, ``top_p`` a finite number between 0 and 1,
        ``max_output_tokens`` an integer >= 1, ``thinking_config`` a :class:`ThinkingConfig`.
        ``NaN``, ``Infinity``, strings and ``bool`` values are refused.
    """

    #: Sampling temperature.
    temperature: Optional[float] = None
    #: The most tokens the model may generate.
    max_output_tokens: Optional[int] = None
    #: Nucleus sampling.
    top_p: Optional[float] = None
    #: Thinking configuration.
    thinking_config: Optional[ThinkingConfig] = None

    def __post_init__(self) -> None:
        if self.temperature is not None:
            check_finite_number(self.temperature, "ModelParameters.temperature", minimum=0, example="0.7")
        if self.top_p is not None:
            check_finite_number(self.top_p, "ModelParameters.top_p", minimum=0, maximum=1, example="0.9")
        if self.max_output_tokens is not None:
            check_int(self.max_output_tokens, "ModelParameters.max_output_tokens", minimum=1, example="4096")
        if self.thinking_config is not None and not isinstance(self.thinking_config, ThinkingConfig):
            raise ConfigurationError(
                None,
                "ModelParameters.thinking_config must be a ThinkingConfig, e.g. "
                f"ThinkingConfig(enabled=True, budget_tokens=16000), got {type(self.thinking_config).__name__}",
            )

    def merge(self, other: Optional[ModelParameters]) -> ModelParameters:
        """Return these parameters overlaid with ``other``'s set fields ("other wins").

        :param other: the parameters that take precedence, or ``None``.
        """
        if other is None:
            return self
        thinking = self.thinking_config
        if other.thinking_config is not None:
            thinking = thinking.merge(other.thinking_config) if thinking is not None else other.thinking_config
        return replace(
            self,
            temperature=other.temperature if other.temperature is not None else self.temperature,
            max_output_tokens=other.max_output_tokens
            if other.max_output_tokens is not None
            else self.max_output_tokens,
            top_p=other.top_p if other.top_p is not None else self.top_p,
            thinking_config=thinking,
        )

    def to_dict(self) -> Dict[str, Any]:
        """Serialise with absent fields omitted."""
        out: Dict[str, Any] = {}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.max_output_tokens is not None:
            out["max_output_tokens"] = self.max_output_tokens
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.thinking_config is not None:
            out["thinking_config"] = self.thinking_config.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelParameters:
        """Inverse of :meth:`to_dict`."""
        thinking = data.get("thinking_config")
        return cls(
            temperature=data.get("temperature"),
            max_output_tokens=data.get("max_output_tokens"),
            top_p=data.get("top_p"),
            thinking_config=ThinkingConfig.from_dict(thinking) if thinking is not None else None,
        )
