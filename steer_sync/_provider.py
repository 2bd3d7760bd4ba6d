"""The Provider interface every wire format implements (layer L1)."""

from __future__ import annotations

import abc
from typing import Mapping, Optional, Sequence

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import MessageComplete
from steer_sync._stream import CompletionStream
from steer_sync._types import CompletionResponse, Message, ModelId, ModelParameters, SystemContext, ToolSchema

__all__ = ["Provider"]


class Provider(abc.ABC):
    """One provider API: builds requests, sends them, and reads the answers.

    Providers only translate. The :class:`~steer_sync.Client` owns retries, caching,
    credential fallback and cancellation wiring. Implementations must be thread-safe:
    one instance serves every thread of a process.

    ``stream_complete`` sends the request and checks the HTTP status before it
    returns (raising ``ApiError``); only failures while reading the body arrive as
    ``ErrorChunk``.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The implementation's name: ``"anthropic"``, ``"openai"``, ``"google"`` or ``"xai"``."""

    @abc.abstractmethod
    def complete(
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: CancellationToken,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionResponse:
        """Run one completion and return the whole response.

        :raises ApiError: on any failure.
        """

    def stream_complete(
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: CancellationToken,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionStream:
        """Start a streamed completion.

        The default runs :meth:`complete` first (so its errors raise here) and returns
        a one-chunk stream.

        :raises ApiError: when the request fails before the body streams.
        """
        response = self.complete(model_id, messages, system, tools, call_options, token, extra_headers=extra_headers)
        return CompletionStream.single(MessageComplete(response), provider=self.name)

    @property
    def requires_streaming(self) -> bool:
        """Whether only the streaming endpoint works with this provider's credentials."""
        return False

    def close(self) -> None:
        """Release the provider's connections. Calls in flight may still finish.

        Providers without connections (test stubs) need not override this.
        """
        return None
