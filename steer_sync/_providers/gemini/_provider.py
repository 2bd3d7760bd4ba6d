"""Gemini API: :class:`GeminiProvider`, a few lines over the shared shell (layer L2)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence
from urllib.parse import quote

from steer_sync._cancellation import CancellationToken
from steer_sync._errors import (
    AuthenticationFailed,
    ConfigurationError,
    InvalidRequest,
)
from steer_sync._provider import Provider
from steer_sync._providers.gemini._request import _build_request, _model_name
from steer_sync._providers.gemini._response import _describe_error_object, _error_body, _is_bad_key, _parse_response
from steer_sync._providers.gemini._stream import _convert_stream
from steer_sync._providers.gemini._wire import _NAME, Json
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

#: The Gemini API base URL used when the constructor gets none.
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"


# --- the provider ---------------------------------------------------------------------------


class GeminiProvider(Provider):
    """The Google Gemini API (``generateContent``), authenticated with an API key.

    Thread-safe: one instance serves every thread. It owns one HTTP connection pool
    (released by :meth:`close`); each :class:`CompletionStream` it returns owns its response.

    Usage::

        provider = GeminiProvider(api_key=os.environ["GEMINI_API_KEY"])
        reply = provider.complete(ModelId("google", "gemini-2.5-flash"), [Message.user("hi")],
                                  None, None, None, CancellationToken())
    """

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[object] = None,
        provider_id: str = _NAME,
        headers: Mapping[str, str] = {},
        timeouts: Optional[Timeouts] = None,
    ) -> None:
        """
        :param api_key: the Gemini API key, sent as ``x-goog-api-key``; ``None`` sends none
            (a gateway that authenticates otherwise).
        :param base_url: the API base, ``.../v1beta`` included; default :data:`DEFAULT_BASE_URL`.
        :param directive: must be ``None``: Gemini has no auth-plugin directive.
        :param provider_id: the provider id used in errors.
        :param headers: static headers sent with every request (after the key).
        :param timeouts: connect/read/idle/total limits; ``None`` for the transport's defaults.
        :raises ConfigurationError: if a directive is given.
        """
        if directive is not None:
            raise ConfigurationError(
                f"the Gemini API takes an API key, not an auth plugin directive ({type(directive).__name__})",
                provider=provider_id,
            )
        self._provider_id = provider_id
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        static: Dict[str, str] = {}
        if api_key:
            static["x-goog-api-key"] = api_key
        static.update(headers)
        self._transport = Transport(provider_id, timeouts=timeouts or Timeouts(), static_headers=static)

    @property
    def name(self) -> str:
        """Always ``"google"``."""
        return _NAME

    def __repr__(self) -> str:
        return f"GeminiProvider(provider_id={self._provider_id!r}, base_url={self._base_url!r})"

    def _url(self, model: str, method: str) -> str:
        return f"{self._base_url}/models/{quote(_model_name(model), safe='')}:{method}"

    def _post(
        self,
        url: str,
        body: Json,
        token: CancellationToken,
        extra_headers: Optional[Mapping[str, str]],
        *,
        stream: bool,
    ) -> HttpResponse:
        errors: List[Optional[Mapping[str, Any]]] = []

        def describe(status: int, raw: bytes) -> Optional[str]:
            error = _error_body(raw)
            errors.append(error)
            return _describe_error_object(error) if error is not None else None

        try:
            return self._transport.post(
                url,
                body,
                headers=dict(extra_headers or {}),
                token=token,
                params={"alt": "sse"} if stream else None,
                stream=stream,
                describe_error=describe,
            )
        except InvalidRequest as error:
            # Gemini answers a wrong key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
            if error.status_code == 400 and errors and _is_bad_key(errors[-1]):
                raise AuthenticationFailed(
                    self._provider_id, error.details or "API key not valid", status_code=400
                ) from error
            raise

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
        """Run one completion through ``generateContent``.

        :raises RequestBlocked: if the prompt or the answer was blocked.
        :raises NoChoices: if Gemini answered with no candidate.
        :raises ApiError: on any other failure (see :func:`steer_sync.map_http_status`).
        """
        body = _build_request(model_id.id, messages, system, tools, call_options, provider=self._provider_id)
        response = self._post(self._url(model_id.id, "generateContent"), body, token, extra_headers, stream=False)
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
        """Start a completion through ``streamGenerateContent?alt=sse``.

        The request is sent and its status checked before this returns.

        :raises ApiError: when the request fails before the body streams.
        """
        body = _build_request(model_id.id, messages, system, tools, call_options, provider=self._provider_id)
        response = self._post(self._url(model_id.id, "streamGenerateContent"), body, token, extra_headers, stream=True)
        provider = self._provider_id
        return open_chunk_stream(response, lambda events: _convert_stream(events, provider))

    def close(self) -> None:
        """Release the connection pool. Calls in flight may still finish."""
        self._transport.close()
