"""Gemini API: :class:`GeminiProvider`, a few lines over the shared shell (layer L2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional
from urllib.parse import quote

from steer_sync._chunks import StreamChunk
from steer_sync._errors import (
    AuthenticationFailed,
    ConfigurationError,
    InvalidRequest,
)
from steer_sync._provider import CompletionRequest
from steer_sync._providers._base import HttpProvider
from steer_sync._providers._common import check_api_key, normalize_endpoint_url
from steer_sync._providers.gemini._request import _build_request, _model_name
from steer_sync._providers.gemini._response import _describe_error_object, _error_body, _is_bad_key, _parse_response
from steer_sync._providers.gemini._retry_info import retry_info_delay
from steer_sync._providers.gemini._stream import _convert_stream
from steer_sync._providers.gemini._wire import _NAME, GenerateContentRequest
from steer_sync._sse import SseEvent
from steer_sync._transport import MAX_RESPONSE_BODY, HttpResponse, Timeouts
from steer_sync._types import (
    CompletionResponse,
)

if TYPE_CHECKING:
    from steer_sync._providers._structured import Fields
    from steer_sync._types._structured import StructuredOptions

#: The Gemini API base URL used when the constructor gets none.
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"


# --- the provider ---------------------------------------------------------------------------


class GeminiProvider(HttpProvider):
    """The Google Gemini API (``generateContent``), authenticated with an API key.

    Thread-safe: one instance serves every thread. It owns one HTTP connection pool
    (released by :meth:`close`); each :class:`CompletionStream` it returns owns its response.

    Usage::

        provider = GeminiProvider(api_key=os.environ["GEMINI_API_KEY"])
        reply = provider.complete(CompletionRequest(ModelId("google", "gemini-2.5-flash"), [Message.user("hi")]))
    """

    # Google documents no request-id response header; proxies in front of it often send
    # ``x-request-id`` (the shell's default), and the body's ``responseId`` names the answer.
    _response_id_paths = (("responseId",),)
    _model_paths = (("modelVersion",),)

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[object] = None,
        provider_id: str = _NAME,
        headers: Mapping[str, str] = {},
        timeouts: Optional[Timeouts] = None,
        max_response_body: Optional[int] = MAX_RESPONSE_BODY,
    ) -> None:
        """
        :param api_key: the Gemini API key, sent as ``x-goog-api-key``; ``None`` sends none
            (a gateway that authenticates otherwise).
        :param base_url: the API base, ``.../v1beta`` included; default :data:`DEFAULT_BASE_URL`.
        :param directive: must be ``None``: Gemini has no auth-plugin directive.
        :param provider_id: the provider id used in errors.
        :param headers: static headers sent with every request (after the key).
        :param timeouts: connect/read/idle/total limits; ``None`` for the transport's defaults.
        :param max_response_body: the largest non-streamed body read, in bytes (``None``: no limit).
        :raises ConfigurationError: if a directive is given, or for a base URL, key or header
            value that cannot be used.
        """
        if directive is not None:
            raise ConfigurationError(
                provider_id,
                f"the Gemini API takes an API key, not an auth plugin directive ({type(directive).__name__})",
            )
        check_api_key(api_key, provider_id)
        # The shared normaliser validates the URL; Gemini's paths are appended per model below.
        self._base_url = normalize_endpoint_url(base_url, DEFAULT_BASE_URL, "", provider=provider_id)
        static: Dict[str, str] = {}
        if api_key:
            static["x-goog-api-key"] = api_key
        static.update(headers)
        super().__init__(
            provider_id,
            timeouts=timeouts,
            static_headers=static,
            retry_hint=retry_info_delay,
            max_response_body=max_response_body,
        )

    @property
    def name(self) -> str:
        """Always ``"google"``."""
        return _NAME

    def __repr__(self) -> str:
        return f"GeminiProvider(provider_id={self._provider_id!r}, base_url={self._base_url!r})"

    def _url(self, model: str, method: str) -> str:
        return f"{self._base_url}/models/{quote(_model_name(model), safe='')}:{method}"

    def _build_body(self, request: CompletionRequest, *, stream: bool) -> GenerateContentRequest:
        return _build_request(
            request.model.id,
            request.messages,
            request.system,
            request.tools,
            request.call_options,
            provider=self._provider_id,
        )

    def _post(self, request: CompletionRequest, body: Mapping[str, Any], *, stream: bool) -> HttpResponse:
        url = self._url(request.model.id, "streamGenerateContent" if stream else "generateContent")
        errors: List[Optional[Mapping[str, Any]]] = []

        def describe(status: int, raw: bytes) -> Optional[str]:
            error = _error_body(raw)
            errors.append(error)
            return _describe_error_object(error) if error is not None else None

        try:
            return self._transport.post(
                url,
                body,
                headers=dict(request.extra_headers or {}),
                token=request.token,
                params={"alt": "sse"} if stream else None,
                stream=stream,
                describe_error=describe,
                call=self._call_options(request),
            )
        except InvalidRequest as error:
            # Gemini answers a wrong key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
            if error.status_code == 400 and errors and _is_bad_key(errors[-1]):
                raise AuthenticationFailed(
                    self._provider_id, error.details or "API key not valid", status_code=400
                ) from error
            raise

    def _parse_response(self, body: Any) -> CompletionResponse:
        return _parse_response(body, self._provider_id)

    def _convert_stream(self, events: Iterable[SseEvent]) -> Iterator[StreamChunk]:
        return _convert_stream(events, self._provider_id)

    def _structured_fields(self, options: StructuredOptions, body: Mapping[str, Any]) -> Fields:
        from steer_sync._providers._structured import gemini_fields

        return gemini_fields(options, body, self._provider_id)
