"""OpenAI Responses API: :class:`OpenAIResponsesProvider`, a few lines over the shared shell (layer L2)."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

from steer_sync._auth._directive import OpenAiResponsesAuth, RequestKind
from steer_sync._cancellation import CancellationToken
from steer_sync._errors import (
    AuthenticationFailed,
    ConfigurationError,
)
from steer_sync._provider import Provider
from steer_sync._providers._common import merge_headers, send_with_directive
from steer_sync._providers.openai_responses._request import _build_request, _responses_url
from steer_sync._providers.openai_responses._response import _describe_http_error, _parse_response
from steer_sync._providers.openai_responses._stream import _convert_stream
from steer_sync._providers.openai_responses._wire import _NAME, JsonObject
from steer_sync._stream import CompletionStream
from steer_sync._transport import HttpResponse, Timeouts, Transport, open_chunk_stream
from steer_sync._types import (
    CompletionResponse,
    Message,
    ModelId,
    ModelParameters,
    SystemContext,
    ToolSchema,
)

# --- provider ----------------------------------------------------------------------------------


def _auth_header(api_key: Optional[str], provider: str) -> Dict[str, str]:
    if not api_key:
        return {}
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in api_key):
        # Never echo the key: say only what is wrong with it.
        raise AuthenticationFailed(
            provider,
            "Invalid API key: it contains whitespace, control or non-ASCII characters that cannot be sent "
            "in an HTTP header; check the key for stray newlines or quotes",
        )
    return {"Authorization": f"Bearer {api_key}"}


class OpenAIResponsesProvider(Provider):
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
        with provider.stream_complete(ModelId("openai", "gpt-5.4"), [Message.user("hi")],
                                      None, None, None, CancellationToken()) as stream:
            for chunk in stream:
                ...
    """

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[OpenAiResponsesAuth] = None,
        provider_id: str = _NAME,
        headers: Mapping[str, str] = {},
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - a frozen value
    ) -> None:
        """
        :param api_key: the API key; ``None`` (or a directive) sends no ``Authorization`` of ours.
        :param base_url: the base or endpoint URL (see :func:`_responses_url`); ``None`` for
            ``https://api.openai.com/v1``. A directive's ``base_url_override`` wins.
        :param directive: an auth plugin's directive, used instead of the key.
        :param provider_id: the catalog id, carried by every error.
        :param headers: static headers sent with every request (they override ours).
        :param timeouts: connect / read / idle / total timeouts.
        :raises ConfigurationError: for a directive of another format, or an invalid base URL.
        :raises AuthenticationFailed: for a key that cannot be sent in a header.
        """
        if directive is not None and not isinstance(directive, OpenAiResponsesAuth):
            raise ConfigurationError(
                f"the OpenAI Responses API needs an OpenAiResponsesAuth directive, got {type(directive).__name__}",
                provider_id,
            )
        self._provider_id = provider_id
        self._directive = directive
        override = directive.base_url_override if directive is not None else None
        self._url = _responses_url(override or base_url)
        own = _auth_header(api_key, provider_id) if directive is None else {}
        self._transport = Transport(provider_id, timeouts=timeouts, static_headers=merge_headers(own, headers))

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

    def _send(
        self,
        body: JsonObject,
        model_id: ModelId,
        token: CancellationToken,
        extra_headers: Optional[Mapping[str, str]],
        stream: bool,
    ) -> HttpResponse:
        directive = self._directive
        return send_with_directive(
            self._transport,
            self._url,
            body,
            base_headers={},
            directive_headers=directive.headers if directive is not None else None,
            request_kind=RequestKind.STREAM if stream else RequestKind.COMPLETE,
            model_id=model_id.id,
            token=token,
            stream=stream,
            describe_error=_describe_http_error,
            extra_headers=extra_headers,
        )

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
        """Run one completion: the non-streaming endpoint, or a collected stream when required.

        :raises ApiError: any failure (``Cancelled`` when ``token`` fires; a failed or
            truncated stream raises what :meth:`CompletionStream.collect` raises).
        """
        if self.requires_streaming:
            stream = self.stream_complete(
                model_id, messages, system, tools, call_options, token, extra_headers=extra_headers
            )
            return stream.collect(self._provider_id)
        body = _build_request(
            model_id, messages, system, tools, call_options, directive=self._directive, provider=self._provider_id
        )
        response = self._send(body, model_id, token, extra_headers, stream=False)
        return _parse_response(response.json(), self._provider_id)

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
        """Send a streaming request, check its status, and return the chunk stream.

        :raises ApiError: when the request fails before the body streams.
        """
        body = _build_request(
            model_id,
            messages,
            system,
            tools,
            call_options,
            directive=self._directive,
            stream=True,
            provider=self._provider_id,
        )
        response = self._send(body, model_id, token, extra_headers, stream=True)
        provider = self._provider_id
        return open_chunk_stream(response, lambda events: _convert_stream(events, provider))

    def close(self) -> None:
        """Release the connection pool. Calls in flight may still finish."""
        self._transport.close()
