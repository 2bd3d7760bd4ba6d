"""The shell every HTTP provider shares: build the request, send it, read the answer (layer L2).

Each wire format subclasses :class:`HttpProvider` and fills in four pure hooks (the body,
the send, the response parser, the stream converter), plus ``_structured_fields`` for its
structured-output and tool-choice fields; the order of the steps, the header checks, the
legacy call shape and the transport's lifetime live here once.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from steer_sync._chunks import StreamChunk
from steer_sync._errors import ApiError, UnsupportedFeature
from steer_sync._provider import CompletionRequest, Provider, coerce_request
from steer_sync._providers._checks import check_headers, check_json_body
from steer_sync._providers._structured import Fields, apply_structured
from steer_sync._sse import SseEvent
from steer_sync._stream import CompletionStream
from steer_sync._transport import (
    MAX_RESPONSE_BODY,
    HttpResponse,
    RetryHint,
    Timeouts,
    Transport,
    open_chunk_stream,
    redact_error,
)
from steer_sync._types import CompletionResponse
from steer_sync._types._structured import StructuredOptions

__all__ = ["HttpProvider"]


class HttpProvider(Provider):
    """A provider that speaks one JSON-over-HTTP wire format through one :class:`Transport`.

    ``complete`` and ``stream_complete`` take a :class:`CompletionRequest` (or, for callers
    written against the older signature, the model id, messages, system, tools, call
    options and token, plus ``extra_headers=``). Subclasses implement :meth:`_build_body`,
    :meth:`_post`, :meth:`_parse_response` and :meth:`_convert_stream`, and override
    :meth:`_structured_fields` when the format can send structured output and tool choice.

    Thread-safe as long as the hooks are: one instance serves every thread. It owns one
    transport (one connection pool), released by :meth:`close`.
    """

    def __init__(
        self,
        provider_id: str,
        *,
        timeouts: Optional[Timeouts],
        static_headers: Mapping[str, str] = {},
        retry_hint: Optional[RetryHint] = None,
        max_response_body: Optional[int] = MAX_RESPONSE_BODY,
    ) -> None:
        """
        :param provider_id: the provider id every error carries.
        :param timeouts: connect / read / idle / total limits; ``None`` for the defaults.
        :param static_headers: headers the transport sends with every request.
        :param retry_hint: reads a format-specific retry delay from an error body (Gemini's
            ``RetryInfo``) when no ``Retry-After`` header gave one.
        :param max_response_body: the largest non-streamed body read, in bytes (64 MiB by
            default; ``None`` for no limit); a larger one is a ``ResponseParsingError``.
        :raises ConfigurationError: for a header value that cannot be sent.
        """
        check_headers(static_headers, provider_id)
        self._provider_id = provider_id
        self._transport = Transport(
            provider_id,
            timeouts=timeouts or Timeouts(),
            static_headers=static_headers,
            retry_hint=retry_hint,
            max_response_body=max_response_body,
        )

    def complete(self, request: Any, *legacy: Any, **legacy_keywords: Any) -> CompletionResponse:
        """Run one completion on the non-streaming endpoint (a collected stream when required).

        :param request: a :class:`CompletionRequest` (or the old positional arguments).
        :raises ApiError: any failure; ``ConfigurationError`` before sending for a header
            value that cannot be sent.
        """
        request = coerce_request(request, legacy, legacy_keywords)
        if self.requires_streaming:
            return self.stream_complete(request).collect(self._provider_id)
        response = self._send(request, stream=False)
        try:
            return self._parse_response(response.json())
        except ApiError as error:
            # An error the format builds from a 200 body (a Gemini error object, a parsing
            # preview) may echo the credential: the transport's redactor knows every form.
            raise redact_error(error, response.redact) from None

    def stream_complete(self, request: Any, *legacy: Any, **legacy_keywords: Any) -> CompletionStream:
        """Send a streaming request, check its status, and return the chunk stream.

        :param request: a :class:`CompletionRequest` (or the old positional arguments).
        :raises ApiError: when the request fails before the body streams; later failures
            arrive as an ``ErrorChunk``.
        """
        request = coerce_request(request, legacy, legacy_keywords)
        response = self._send(request, stream=True)
        keepalive = self._keepalive_check()
        if keepalive is None:
            return open_chunk_stream(response, self._convert_stream)
        return open_chunk_stream(response, self._convert_stream, is_keepalive=keepalive)

    def _send(self, request: CompletionRequest, *, stream: bool) -> HttpResponse:
        check_headers(request.extra_headers, self._provider_id)
        body = self._build_body(request, stream=stream)
        # Structured output and tool choice: one step for every format (the hook below).
        body, request = apply_structured(request, body, self._structured_fields)
        check_json_body(body, self._provider_id)
        return self._post(request, body, stream=stream)

    @abc.abstractmethod
    def _build_body(self, request: CompletionRequest, *, stream: bool) -> Mapping[str, Any]:
        """The JSON body for ``request`` (pure)."""

    @abc.abstractmethod
    def _post(self, request: CompletionRequest, body: Mapping[str, Any], *, stream: bool) -> HttpResponse:
        """Send ``body`` through the transport with this format's headers; the 2xx response."""

    @abc.abstractmethod
    def _parse_response(self, body: Any) -> CompletionResponse:
        """A non-streaming response body to a :class:`CompletionResponse` (pure)."""

    @abc.abstractmethod
    def _convert_stream(self, events: Iterable[SseEvent]) -> Iterator[StreamChunk]:
        """The response's events to chunks (pure)."""

    def _structured_fields(self, options: StructuredOptions, body: Mapping[str, Any]) -> Fields:
        """This format's body fields (and headers) for ``response_format``, ``tool_choice`` and
        ``parallel_tool_calls`` (pure; see :mod:`steer_sync._providers._structured`).

        The default: the format has none, so a call that sets them fails before sending.

        :raises UnsupportedFeature: always, here.
        """
        raise UnsupportedFeature(
            self._provider_id,
            "structured output and tool choice",
            f"{type(self).__name__} sends no response_format, tool_choice or parallel_tool_calls; leave them unset",
        )

    def _keepalive_check(self) -> Optional[Callable[[SseEvent], bool]]:
        """Tells keep-alive events apart (for example Anthropic's ``ping``); ``None``: none are."""
        return None

    def close(self) -> None:
        """Release the connection pool. Calls in flight may still finish."""
        self._transport.close()
