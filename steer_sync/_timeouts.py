"""The time limits of a provider's calls, as a frozen value (layer L0, STYLE 2.2).

Kept apart from the transport so that ``from steer_sync import Timeouts`` loads neither
``requests`` nor ``urllib3``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """The time limits of one provider's calls, in seconds; ``None`` means no limit.

    A frozen value: derive variants with :func:`dataclasses.replace`.
    """

    #: Limit for opening the TCP connection (and the TLS handshake).
    connect: Optional[float] = 10.0
    #: Longest silence on the socket (no bytes at all) while reading a body; the response
    #: headers must arrive, as a whole, within this time of the request being sent.
    read: Optional[float] = 600.0
    #: Longest time a stream may go without a meaningful event (keep-alive pings and
    #: comments do not count); it then ends with a retryable transport error. For a stream
    #: it also bounds the wait for the whole header section.
    stream_idle: Optional[float] = 300.0
    #: Deadline for the whole call, from the send to the end of the body: ``ApiTimeout``
    #: when raised, a ``deadline_exceeded`` error chunk inside a stream.
    total: Optional[float] = None
