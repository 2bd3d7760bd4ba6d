"""Provider and model identifiers (layer L0)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelId", "ProviderId"]


class ProviderId(str):
    """A provider id such as ``"anthropic"`` or a catalog's custom id.

    A ``str`` subclass: it hashes and compares equal to the plain string.
    """

    __slots__ = ()

    def storage_key(self) -> str:
        """The key this provider's credentials are stored under."""
        return str(self)

    def __repr__(self) -> str:
        return f"ProviderId({str(self)!r})"


@dataclass(frozen=True)
class ModelId:
    """A model under a provider; ``str()`` gives ``"provider/id"``.

    The model id itself may contain ``/``.
    """

    #: The provider that serves the model.
    provider: ProviderId
    #: The provider's model id, sent on the wire as given.
    id: str

    def __post_init__(self) -> None:
        provider: object = self.provider
        if not isinstance(provider, ProviderId):  # a plain str is accepted for convenience
            object.__setattr__(self, "provider", ProviderId(str(provider)))

    @classmethod
    def parse(cls, text: str) -> ModelId:
        """Split ``"provider/model-id"`` at the first ``/`` (no catalog lookup).

        :raises ValueError: if ``text`` has no ``/`` or an empty part.
        """
        provider, sep, model = text.partition("/")
        if not sep or not provider.strip() or not model.strip():
            raise ValueError(f"expected 'provider/model-id', got {text!r}")
        return cls(ProviderId(provider.strip()), model.strip())

    def __str__(self) -> str:
        return f"{self.provider}/{self.id}"
