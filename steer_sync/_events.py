"""What a client tells its listeners: the event values of a call (layer L0: no I/O).

A listener is a plain callable taking one event. ``Client(listeners=[...])``,
``Client.from_env(listeners=[...])`` and ``client.add_listener(fn)`` register it; the
client calls it synchronously, in the thread where the event happened, and logs and drops
anything it raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

from steer_sync._errors import ApiError
from steer_sync._types import TokenUsage

__all__ = ["AttemptFailed", "CallFinished", "Event", "Listener"]


@dataclass(frozen=True)
class AttemptFailed:
    """One attempt of a call failed; the call retries after ``retry_in`` seconds or gives up.

    Sent for a failed request start and for a stream that broke and is restarted. A cancel
    is not an attempt failure: it ends the call, and only :class:`CallFinished` reports it.

    Usage::

        def on_event(event):
            if isinstance(event, AttemptFailed) and event.retry_in is None:
                alert(f"{event.model} gave up: {event.error}")
    """

    #: The provider id (``"anthropic"``).
    provider: str
    #: The model id as sent on the wire (``"claude-sonnet-4-5"``).
    model: str
    #: The number of the attempt that failed, counted over the whole call from 1.
    attempt: int
    #: Why it failed.
    error: ApiError
    #: Seconds until the next attempt, or ``None`` when the call gives up on this error.
    retry_in: Optional[float]


@dataclass(frozen=True)
class CallFinished:
    """A call ended: sent exactly once per call, however it ended.

    A non-streamed call finishes when it returns or raises. A stream finishes when it is
    consumed to the end, fails (an ``ErrorChunk``), or is closed (``close()`` from any thread,
    the end of a ``with`` block, or garbage collection): closed before its final message,
    ``error`` is a ``Cancelled``. A call refused before anything was sent because its
    arguments are wrong (``TypeError``, ``ValueError``) sends nothing.

    Immutable and thread-safe.
    """

    #: The provider id (``"anthropic"``).
    provider: str
    #: The model id as sent on the wire (``"claude-sonnet-4-5"``).
    model: str
    #: Whether the caller asked for a stream (``stream_complete``); ``complete`` is not streamed
    #: even though it reads a stream underneath.
    streamed: bool
    #: Requests sent (1 when the first succeeded; restarts of a broken stream count).
    attempts: int
    #: Seconds from the call to its end (the last chunk consumed, for a stream).
    duration: float
    #: Seconds from the call to the first chunk handed to the caller; ``None`` for a
    #: non-streamed call or a stream that produced no chunk.
    time_to_first_chunk: Optional[float]
    #: Tokens the provider reported, or ``None``.
    usage: Optional[TokenUsage]
    #: The provider's stop reason, or ``None``.
    stop_reason: Optional[str]
    #: The provider's request id (from the response, else from the error), when known.
    request_id: Optional[str]
    #: The failure (a ``Cancelled`` for a cancel or a stream closed early), or ``None``.
    error: Optional[ApiError]
    #: What the call cost in US dollars from the catalog's ``pricing``, or ``None`` when the
    #: model has no prices or the provider reported no usage.
    cost: Optional[float]
    #: The model that answered, as the provider reported it, when known.
    response_model: Optional[str] = None
    #: The provider's id of the response (``msg_...``, ``resp_...``), when known.
    response_id: Optional[str] = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (``error`` is ``None``)."""
        return self.error is None


#: What a listener receives.
Event = Union[AttemptFailed, CallFinished]
#: A listener: any callable taking one event; its return value is ignored.
Listener = Callable[[Event], object]
