"""Text that arrives in many small pieces (streamed tool arguments, text); pure (layer L2).

A list of the pieces costs about 60 bytes of object overhead per piece: 100,000 ten-byte
argument deltas took eight times the size of the arguments. Joining every 256 pieces keeps
the overhead under a few percent, and a string built by ``+=`` would copy the whole text on
every piece instead.
"""

from __future__ import annotations

from typing import List

#: Pieces kept apart before they are joined into one string.
_JOIN_EVERY = 256


class Pieces:
    """Accumulates text pieces; :meth:`text` returns them joined (not thread-safe)."""

    __slots__ = ("_joined", "_parts")

    def __init__(self) -> None:
        self._joined: List[str] = []
        self._parts: List[str] = []

    def add(self, piece: str) -> None:
        """Append one piece."""
        parts = self._parts
        parts.append(piece)
        if len(parts) >= _JOIN_EVERY:
            self._joined.append("".join(parts))
            parts.clear()

    def text(self) -> str:
        """Everything added so far, as one string."""
        joined = self._joined
        if not joined:
            return "".join(self._parts)
        if self._parts:
            joined.append("".join(self._parts))
            self._parts.clear()
        if len(joined) > 1:
            # Keep the whole text as the only piece: the chunks go now, and a second call is free.
            joined[:] = ["".join(joined)]
        return joined[0]

    def __bool__(self) -> bool:
        return any(self._joined) or any(self._parts)
