"""OpenAI Responses API: :class:`OpenAIResponsesProvider`, a few lines over the shared shell (layer L2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional

from steer_sync._auth._directive import OpenAiResponsesAuth, RequestKind
from steer_sync._chunks import StreamChunk
from steer_sync._errors import (
    ConfigurationError,
)
from steer_sync._provider import CompletionRequest
from steer_sync._providers._base import HttpProvider
from steer_sync._providers._common import check_api_key, merge_headers, send_with_directive
from steer_sync._providers.openai_responses._request import _build_request, _responses_url
from steer_sync._providers.openai_responses._response import _describe_http_error, _parse_response
from steer_sync._providers.openai_responses._stream import _convert_stream
from steer_sync._providers.openai_responses._wire import _NAME, ResponsesRequest
from steer_sync._sse import SseEvent
from steer_sync._transport import MAX_RESPONSE_BODY, HttpResponse, Timeouts
from steer_sync._types import (
    CompletionResponse,
)

if TYPE_CHECKING:
    from steer_sync._providers._structured import Fields
    from steer_sync._types._structured import StructuredOptions


class OpenAIResponsesProvider(HttpProvider):
    """The OpenAI Responses API (``POST /v1/responses``), or any server that speaks it.

    With an API key each request carries ``Authorization: Bearer <key>``. With an
    :class:`~steer_sync._auth._directive.OpenAiResponsesAuth` directive (the ChatGPT/Codex
    login) the directive's header provider supplies fresh headers for every attempt, its
    ``base_url_override`` replaces the endpoint, its instruction policy shapes
    ``instructions``, its ``include`` list is sent, ``max_output_tokens`` is not, and with
    ``require_streaming`` :meth:`complete` reads a stream (:attr:`requires_streaming` is true).

    Thread-safe: one instance serves every thread. It owns one transport (one connection
    pool), released by :meth:`close`; each stream owns its HTTP response.

    Usage::

        provider = OpenAIResponsesProvider(api_key=os.environ["OPENAI_API_KEY"])
        request = CompletionRequest(ModelId("openai", "gpt-5.4"), [Message.user("hi")])
        with provider.stream_complete(request) as stream:
            for chunk in stream:
                ...
    """

    # A response body has them at the top; stream events nest the response.
    _response_id_paths = (("id",), ("response", "id"))
    _model_paths = (("model",), ("response", "model"))

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[OpenAiResponsesAuth] = None,
        provider_id: str = _NAME,
        headers: Mapping[str, str] = {},
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - a frozen value
        max_response_body: Optional[int] = MAX_RESPONSE_BODY,
    ) -> None:
        """
        :param api_key: the API key; ``None`` (or a directive) sends no ``Authorization`` of ours.
        :param base_url: the base or endpoint URL (see :func:`_responses_url`); ``None`` for
            ``https://api.openai.com/v1``. A directive's ``base_url_override`` wins.
        :param directive: an auth plugin's directive, used instead of the key.
        :param provider_id: the catalog id, carried by every error.
        :param headers: static headers sent with every request (they override ours).
        :param timeouts: connect / read / idle / total timeouts.
        :param max_response_body: the largest non-streamed body read, in bytes (``None``: no limit).
        :raises ConfigurationError: for a directive of another format, or an invalid base URL.
        :raises ConfigurationError: for a key or header value that cannot be sent in a header.
        """
        if directive is not None and not isinstance(directive, OpenAiResponsesAuth):
            raise ConfigurationError(
                provider_id,
                f"the OpenAI Responses API needs an OpenAiResponsesAuth directive, got {type(directive).__name__}",
            )
        check_api_key(api_key, provider_id)
        self._directive = directive
        override = directive.base_url_override if directive is not None else None
        self._url = _responses_url(override or base_url, provider_id)
        own = {"Authorization": f"Bearer {api_key}"} if api_key and directive is None else {}
        super().__init__(
            provider_id,
            timeouts=timeouts,
            static_headers=merge_headers(own, headers),
            max_response_body=max_response_body,
        )

    @property
    def name(self) -> str:
        """Always ``"openai"``, also for a custom OpenAI-compatible provider."""
        return _NAME

    @property
    def url(self) -> str:
        """The endpoint URL requests go to."""
        return self._url

    @property
    def requires_streaming(self) -> bool:
        """True when the directive's endpoint accepts only streaming requests (ChatGPT login)."""
        return self._directive is not None and self._directive.require_streaming

    def _build_body(self, request: CompletionRequest, *, stream: bool) -> ResponsesRequest:
        return _build_request(
            request.model,
            request.messages,
            request.system,
            request.tools,
            request.call_options,
            directive=self._directive,
            stream=stream,
            provider=self._provider_id,
        )

    def _post(self, request: CompletionRequest, body: Mapping[str, Any], *, stream: bool) -> HttpResponse:
        directive = self._directive
        return send_with_directive(
            self._transport,
            self._url,
            body,
            base_headers={},
            directive_headers=directive.headers if directive is not None else None,
            request_kind=RequestKind.STREAM if stream else RequestKind.COMPLETE,
            model_id=request.model.id,
            token=request.token,
            stream=stream,
            describe_error=_describe_http_error,
            extra_headers=request.extra_headers,
            call=self._call_options(request),
        )

    def _parse_response(self, body: Any) -> CompletionResponse:
        return _parse_response(body, self._provider_id)

    def _convert_stream(self, events: Iterable[SseEvent]) -> Iterator[StreamChunk]:
        return _convert_stream(events, self._provider_id)

    def _structured_fields(self, options: StructuredOptions, body: Mapping[str, Any]) -> Fields:
        from steer_sync._providers._structured import responses_fields

        return responses_fields(options, body, self._provider_id)
