"""A frozen record without the cost of a dataclass: for the auth layer's small value types (layer L1).

Creating a dataclass generates and compiles its methods (``exec``), about half a
millisecond each; the auth layer's records load with the first call of every process.
These classes list their fields in ``__slots__`` and share one set of methods: immutable,
compared and hashed by their fields, with a repr that leaves out secret fields.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any, ClassVar, FrozenSet, Tuple


class _Record:
    """Base of a frozen, slotted value type: equality, hash, repr and pickling by ``__slots__``."""

    __slots__: ClassVar[Tuple[str, ...]] = ()
    #: Fields whose values the repr leaves out (secrets).
    _hidden: ClassVar[FrozenSet[str]] = frozenset()

    def _set(self, **values: Any) -> None:
        """Set the fields, once, from ``__init__``."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__ if n not in self._hidden)
        return f"{self.__class__.__qualname__}({shown})"

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return self.__class__, self._values()
