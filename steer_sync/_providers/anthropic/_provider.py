"""Anthropic Messages API: :class:`AnthropicProvider`, a few lines over the shared shell (layer L2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence

from steer_sync._auth._directive import (
    AnthropicAuth,
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderPair,
    RequestKind,
)
from steer_sync._chunks import StreamChunk
from steer_sync._provider import CompletionRequest
from steer_sync._providers._base import HttpProvider
from steer_sync._providers._common import check_api_key, check_headers, send_with_directive
from steer_sync._providers.anthropic._request import (
    _INTERLEAVED_THINKING_BETA,
    _build_headers,
    _build_request,
    _endpoint_url,
    _merge_beta,
)
from steer_sync._providers.anthropic._response import _describe_error, _parse_response
from steer_sync._providers.anthropic._stream import _convert_stream, _is_keepalive
from steer_sync._providers.anthropic._wire import MessagesRequest
from steer_sync._sse import SseEvent
from steer_sync._transport import MAX_RESPONSE_BODY, HttpResponse, Timeouts
from steer_sync._types import (
    CompletionResponse,
)

if TYPE_CHECKING:
    from steer_sync._providers._structured import Fields
    from steer_sync._types._structured import StructuredOptions

_DEFAULT_TIMEOUTS = Timeouts()


# --- the provider -------------------------------------------------------------------------


class _MergedBetaHeaders(AuthHeaderProvider):
    """A directive's header provider whose ``anthropic-beta`` also lists our beta flags.

    The shared directive send lets later header layers replace earlier ones; Anthropic
    beta flags add up instead, so they are merged into the directive's own header here.
    """

    def __init__(self, inner: AuthHeaderProvider, betas: str) -> None:
        self._inner = inner
        self._betas = betas

    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        pairs = list(self._inner.headers(context))
        current = next((p.value for p in pairs if p.name.lower() == "anthropic-beta"), None)
        merged = _merge_beta(current, self._betas)
        out = [p for p in pairs if p.name.lower() != "anthropic-beta"]
        if merged:
            out.append(HeaderPair("anthropic-beta", merged))
        return out

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        return self._inner.on_auth_error(context)


class AnthropicProvider(HttpProvider):
    """The Anthropic Messages API (``api_format = "anthropic"``).

    Authenticates with an API key (``x-api-key``) or with an auth directive, whose header
    provider is asked for fresh headers on every attempt, whose query parameters are added
    to the URL and whose instruction policy shapes the system prompt; a directive gets one
    refresh-and-retry on 401/403. ``stream_complete`` sends the request and checks the
    status before it returns; ``complete`` uses the non-streaming endpoint.

    Thread-safe: one instance serves every thread; its configuration never changes after
    construction. It owns one transport (a pooled HTTP session), released by :meth:`close`.

    Usage::

        provider = AnthropicProvider(api_key="sk-ant-...")
        request = CompletionRequest(ModelId("anthropic", "claude-sonnet-4-5"), [Message.user("hi")])
        response = provider.complete(request)
    """

    _request_id_header = "request-id"
    # A response body has them at the top; a stream has them in ``message_start``.
    _response_id_paths = (("id",), ("message", "id"))
    _model_paths = (("model",), ("message", "model"))

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        directive: Optional[AnthropicAuth] = None,
        provider_id: str = "anthropic",
        headers: Mapping[str, str] = {},
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
        auth_token: Optional[str] = None,
        max_response_body: Optional[int] = MAX_RESPONSE_BODY,
    ) -> None:
        """
        :param api_key: the API key; ignored when ``directive`` is given; ``None`` sends no
            key (a gateway that needs none).
        :param base_url: the API base (default ``https://api.anthropic.com``); the endpoint is
            ``<base>/v1/messages``, and a base already ending in ``/v1`` is not doubled.
        :param directive: an auth plugin's directive, used instead of the key.
        :param provider_id: the provider id errors carry (a catalog provider's own id).
        :param headers: headers sent with every request, after the provider's own.
        :param timeouts: connect, read, stream-idle and total timeouts.
        :param auth_token: a bearer token sent as ``Authorization: Bearer`` when there is no
            ``api_key`` (the anthropic SDK's ``ANTHROPIC_AUTH_TOKEN``).
        :param max_response_body: the largest non-streamed body read, in bytes (``None``: no limit).
        :raises ConfigurationError: if ``base_url`` is not an http(s) URL, or the key or a
            header value cannot be sent in a header.
        """
        provider = str(provider_id)
        # Everything is checked before the transport (a connection pool) exists.
        check_api_key(api_key, provider)
        check_api_key(auth_token, provider)
        self._auth_token = auth_token
        self._url = _endpoint_url(base_url, provider)
        self._static_headers = dict(headers)
        check_headers(self._static_headers, provider)
        self._api_key = api_key
        self._directive = directive
        super().__init__(provider, timeouts=timeouts, max_response_body=max_response_body)

    @property
    def name(self) -> str:
        """Always ``"anthropic"``."""
        return "anthropic"

    def _build_body(self, request: CompletionRequest, *, stream: bool) -> MessagesRequest:
        return _build_request(
            request.model,
            request.messages,
            request.system,
            request.tools,
            request.call_options,
            stream=stream,
            directive=self._directive,
            provider=self._provider_id,
        )

    def _parse_response(self, body: Any) -> CompletionResponse:
        return _parse_response(body, self._provider_id)

    def _convert_stream(self, events: Iterable[SseEvent]) -> Iterator[StreamChunk]:
        return _convert_stream(events, self._provider_id)

    def _structured_fields(self, options: StructuredOptions, body: Mapping[str, Any]) -> Fields:
        from steer_sync._providers._structured import anthropic_fields

        return anthropic_fields(options, body, self._provider_id)

    def _keepalive_check(self) -> Optional[Callable[[SseEvent], bool]]:
        return _is_keepalive

    def _post(self, request: CompletionRequest, body: Mapping[str, Any], *, stream: bool) -> HttpResponse:
        extra_headers, token = request.extra_headers, request.token
        kind = RequestKind.STREAM if stream else RequestKind.COMPLETE
        thinking = "thinking" in body
        directive = self._directive
        if directive is None:
            if self._api_key:
                auth = [("x-api-key", self._api_key)]
            else:
                auth = [("Authorization", f"Bearer {self._auth_token}")] if self._auth_token else []
            headers = _build_headers(auth, thinking=thinking, static=self._static_headers, extra=extra_headers)
            return self._transport.post(
                self._url,
                body,
                headers=headers,
                token=token,
                stream=stream,
                describe_error=_describe_error,
                call=self._call_options(request),
            )
        # Directive mode: the shared send fetches fresh headers per attempt and retries a
        # 401/403 once; beta flags from every layer are merged into the directive's header.
        base = _build_headers((), thinking=False, static=self._static_headers)
        betas = [_INTERLEAVED_THINKING_BETA] if thinking else []
        static_beta = base.pop("anthropic-beta", None)
        if static_beta:
            betas.append(static_beta)
        extra: Dict[str, str] = {}
        for name, value in (extra_headers or {}).items():
            if name.lower() == "anthropic-beta":
                betas.append(value)
            else:
                extra[name] = value
        params = {param.name: param.value for param in directive.query_params}
        return send_with_directive(
            self._transport,
            self._url,
            body,
            base_headers=base,
            directive_headers=_MergedBetaHeaders(directive.headers, ",".join(betas)),
            request_kind=kind,
            model_id=request.model.id,
            token=token,
            params=params or None,
            stream=stream,
            describe_error=_describe_error,
            extra_headers=extra,
            call=self._call_options(request),
        )

    def __repr__(self) -> str:
        auth = "directive" if self._directive is not None else ("api-key" if self._api_key else "none")
        if auth == "none" and self._auth_token:
            auth = "auth-token"
        return f"AnthropicProvider(provider_id={self._provider_id!r}, url={self._url!r}, auth={auth})"
