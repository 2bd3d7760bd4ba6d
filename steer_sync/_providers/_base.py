"""The shell every HTTP provider shares: build the request, send it, read the answer (layer L2).

Each wire format subclasses :class:`HttpProvider` and fills in four pure hooks (the body,
the send, the response parser, the stream converter), plus ``_structured_fields`` for its
structured-output and tool-choice fields, and names its request-id header and the body
fields of its response id and model; the order of the steps, the header checks, the
per-call options (deadline, limits, extra body and query), identification, the legacy call
shape and the transport's lifetime live here once.
"""

from __future__ import annotations

import abc
import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from steer_sync._chunks import (
    ContentBlockStop,
    MessageComplete,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._errors import ApiError, UnsupportedFeature
from steer_sync._provider import CompletionRequest, Provider, coerce_request
from steer_sync._providers._checks import check_headers, check_json_body
from steer_sync._sse import SseEvent
from steer_sync._stream import CompletionStream
from steer_sync._transport import (
    MAX_RESPONSE_BODY,
    CallOptions,
    HttpResponse,
    RetryHint,
    Timeouts,
    Transport,
    open_chunk_stream,
    redact_error,
)
from steer_sync._types import CompletionResponse, TextContent, Thought, ToolCallContent

if TYPE_CHECKING:  # the structured-output modules load with the first call that uses them
    from steer_sync._providers._structured import Fields
    from steer_sync._types._structured import StructuredOptions

#: Paths into a response body (or a stream event's JSON) where a value may sit, tried in order.
_Paths = Tuple[Tuple[str, ...], ...]

#: How many stream events are searched for the response id and model at most.
_IDENTITY_EVENTS = 4

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

    #: The response header carrying the provider's request id.
    _request_id_header: ClassVar[str] = "x-request-id"
    #: Where the response id sits in a response body or a stream event's JSON.
    _response_id_paths: ClassVar[_Paths] = (("id",),)
    #: Where the answering model's name sits in a response body or a stream event's JSON.
    _model_paths: ClassVar[_Paths] = (("model",),)

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
            request_id_header=self._request_id_header,
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
        return self._read_whole(self._send(request, stream=False))

    def stream_complete(self, request: Any, *legacy: Any, **legacy_keywords: Any) -> CompletionStream:
        """Send a streaming request, check its status, and return the chunk stream.

        :param request: a :class:`CompletionRequest` (or the old positional arguments).
        :raises ApiError: when the request fails before the body streams; later failures
            arrive as an ``ErrorChunk``.
        """
        request = coerce_request(request, legacy, legacy_keywords)
        response = self._send(request, stream=True)
        if response.content_type == "application/json":
            # A proxy that ignores `stream: true` (LiteLLM's mock) answers the whole message.
            whole = self._read_whole(response)
            return CompletionStream(_chunks_of(whole), provider=self._provider_id)
        found: List[Optional[str]] = [None, None]
        keepalive = self._keepalive_check()
        convert = self._identifying(self._convert_stream, found)

        def finish(final: CompletionResponse) -> CompletionResponse:
            return _with_identity(final, None, found[0], found[1])

        if keepalive is None:
            return open_chunk_stream(response, convert, finish=finish)
        return open_chunk_stream(response, convert, is_keepalive=keepalive, finish=finish)

    def _send(self, request: CompletionRequest, *, stream: bool) -> HttpResponse:
        check_headers(request.extra_headers, self._provider_id)
        body = self._build_body(request, stream=stream)
        if (
            request.response_format is not None
            or request.tool_choice is not None
            or request.parallel_tool_calls is not None
        ):
            # Structured output and tool choice: one step for every format (the hook below),
            # imported here so that plain calls never load it.
            from steer_sync._providers._structured import apply_structured

            body, request = apply_structured(request, body, self._structured_fields)
        if request.extra_body:
            # After the library's own fields: the caller's top-level keys replace them.
            body = {**body, **request.extra_body}
        check_json_body(body, self._provider_id)
        return self._post(request, body, stream=stream)

    def _call_options(self, request: CompletionRequest) -> Optional[CallOptions]:
        """The transport settings of ``request``'s per-call options (``None`` when it has none)."""
        timeout, deadline, query = request.timeout, request.deadline, request.extra_query
        if timeout is None and deadline is None and not query:
            return None
        timeouts = timeout if isinstance(timeout, Timeouts) else None
        budget = timeout if isinstance(timeout, (int, float)) else None
        if deadline is None and budget is not None:
            deadline = time.monotonic() + budget
        return CallOptions(timeouts=timeouts, deadline=deadline, budget=budget, query=query or None)

    def _read_whole(self, response: HttpResponse) -> CompletionResponse:
        """Read a whole JSON answer and parse it, with its request id, response id and model."""
        body = response.json()
        try:
            parsed = self._parse_response(body)
        except ApiError as error:
            # An error the format builds from a 200 body (a Gemini error object, a parsing
            # preview) may echo the credential: the transport's redactor knows every form.
            error.request_id = error.request_id or response.request_id
            raise redact_error(error, response.redact) from None
        return _with_identity(parsed, response.request_id, *self._identity_of(body))

    def _identity_of(self, body: Any) -> Tuple[Optional[str], Optional[str]]:
        """The response id and model in a response body or a stream event's JSON."""
        return _find(body, self._response_id_paths), _find(body, self._model_paths)

    def _identifying(
        self, convert: Callable[[Iterable[SseEvent]], Iterator[StreamChunk]], found: List[Optional[str]]
    ) -> Callable[[Iterator[SseEvent]], Iterator[StreamChunk]]:
        """``convert`` noting in ``found`` the response id and model of the first events."""

        def watched(events: Iterator[SseEvent]) -> Iterator[SseEvent]:
            # Only the first events carry the ids; the rest pass through without a look.
            for seen, event in enumerate(events, 1):
                _note_identity(self, event, found)
                yield event
                if seen >= _IDENTITY_EVENTS or (found[0] is not None and found[1] is not None):
                    break
            yield from events

        return lambda events: convert(watched(events))

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


def _find(body: Any, paths: _Paths) -> Optional[str]:
    for path in paths:
        value = body
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None


def _note_identity(provider: HttpProvider, event: SseEvent, found: List[Optional[str]]) -> None:
    data = event.data
    if not data.startswith("{"):
        return
    try:
        payload = json.loads(data)
    except ValueError:
        return  # the converter reports a broken event
    response_id, model = provider._identity_of(payload)
    if found[0] is None:
        found[0] = response_id
    if found[1] is None:
        found[1] = model


def _with_identity(
    response: CompletionResponse, request_id: Optional[str], response_id: Optional[str], model: Optional[str]
) -> CompletionResponse:
    """``response`` with the ids it does not have yet."""
    changes: Dict[str, Any] = {}
    if request_id is not None and response.request_id is None:
        changes["request_id"] = request_id
    if response_id is not None and response.response_id is None:
        changes["response_id"] = response_id
    if model is not None and response.model is None:
        changes["model"] = model
    return replace(response, **changes) if changes else response


def _chunks_of(response: CompletionResponse) -> Iterator[StreamChunk]:
    """The chunks a stream of ``response`` would have carried, then its ``MessageComplete``."""
    for index, block in enumerate(response.content):
        if isinstance(block, TextContent):
            yield TextDelta(block.text)
        elif isinstance(block, Thought):
            text = block.display_text()
            if text:
                yield ThinkingDelta(text)
        elif isinstance(block, ToolCallContent):
            call = block.tool_call
            yield ToolUseStart(call.id, call.name)
            yield ToolUseInputDelta(call.id, json.dumps(call.parameters, ensure_ascii=False))
        yield ContentBlockStop(index)
    yield MessageComplete(response)
