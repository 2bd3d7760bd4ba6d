"""Chat Completions format: the provider shell OpenAI Chat and xAI share (layer L2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Dict,
    Iterable,
    Iterator,
    Mapping,
    Optional,
)

from steer_sync._auth._directive import AnthropicAuth, OpenAiResponsesAuth
from steer_sync._chunks import StreamChunk
from steer_sync._errors import (
    ConfigurationError,
    InvalidRequest,
)
from steer_sync._provider import CompletionRequest
from steer_sync._providers._base import HttpProvider
from steer_sync._providers._common import check_api_key
from steer_sync._providers.openai_chat._request import _normalize_chat_url
from steer_sync._providers.openai_chat._response import describe_http_error, parse_completion, refine_http_error
from steer_sync._providers.openai_chat._stream import convert_chat_stream
from steer_sync._providers.openai_chat._wire import ChatDialect, ChatRequest
from steer_sync._sse import SseEvent
from steer_sync._transport import MAX_RESPONSE_BODY, HttpResponse, Timeouts
from steer_sync._types import (
    CompletionResponse,
)

if TYPE_CHECKING:
    from steer_sync._providers._structured import Fields
    from steer_sync._types._structured import StructuredOptions

# --- authentication -------------------------------------------------------------------------


def auth_headers(api_key: Optional[str], provider: str) -> Dict[str, str]:
    """The ``Authorization`` header for ``api_key`` (none for a keyless local server).

    :param api_key: the key, or ``None``.
    :param provider: the provider id for the error.
    :returns: the header, or no header.
    :raises ConfigurationError: if the key cannot be sent in an HTTP header.
    """
    if api_key is None or api_key == "":
        return {}
    check_api_key(api_key, provider)
    return {"Authorization": f"Bearer {api_key}"}


def check_no_directive(directive: Any, provider: str, label: str) -> None:
    """Refuse an auth directive: Chat Completions providers authenticate with an API key only.

    :param directive: the directive the factory passed, or ``None``.
    :param provider: the provider id for the error.
    :param label: the API's name for the message.
    :raises ConfigurationError: if ``directive`` is not ``None``.
    """
    if directive is not None:
        kind = "OAuth" if isinstance(directive, (AnthropicAuth, OpenAiResponsesAuth)) else "directive"
        raise ConfigurationError(
            provider,
            f"{label} mode is not available with {kind} authentication; use the openai-responses "
            "API format for an OAuth login, or configure an API key",
        )


# --- the provider shell both Chat Completions providers share --------------------------------


@dataclass(frozen=True)
class ChatWire:
    """What one Chat Completions service does its own way."""

    #: ``dialect(provider_id)``: the service's dialect of the format.
    dialect: Callable[[str], ChatDialect]
    #: ``build_request(model_id, messages, system, tools, params, *, stream, provider)``: the body.
    build_request: Callable[..., ChatRequest]


class ChatCompletionsProvider(HttpProvider):
    """A Chat Completions provider: transport, request, response and stream plumbing.

    Subclasses declare what differs between services as class attributes: ``name``, the
    default endpoint, a label for messages and the :class:`ChatWire` (dialect and request
    body).

    Thread-safe: one instance serves every thread. It owns one :class:`Transport` (one
    connection pool), released by :meth:`close`; each stream owns its HTTP response.
    """

    #: The endpoint used when no base URL is configured.
    default_url: ClassVar[str] = ""
    #: The service's name in error messages.
    label: ClassVar[str] = ""
    #: The service's dialect and request builder.
    wire: ClassVar[ChatWire]

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str] = None,
        directive: Optional[Any] = None,
        provider_id: Optional[str] = None,
        headers: Mapping[str, str] = {},
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - a frozen value
        max_response_body: Optional[int] = MAX_RESPONSE_BODY,
    ) -> None:
        """
        :param api_key: the API key; ``None`` sends no ``Authorization`` header (local servers).
        :param base_url: the base or endpoint URL (normalised by :func:`_normalize_chat_url`);
            ``None`` for the service's default.
        :param directive: must be ``None``: these services have no OAuth login.
        :param provider_id: the catalog id, used in every error (default: :attr:`name`).
        :param headers: static headers sent with every request (after ``Authorization``).
        :param timeouts: connect / idle / total timeouts.
        :param max_response_body: the largest non-streamed body read, in bytes (``None``: no limit).
        :raises ConfigurationError: for a directive or an invalid base URL.
        :raises ConfigurationError: for a key or header value that cannot be sent in a header.
        """
        provider_id = provider_id or self.name
        check_no_directive(directive, provider_id, self.label)
        self._chat_dialect = self.wire.dialect(provider_id)
        self._url = _normalize_chat_url(base_url, self.default_url)
        static = {**auth_headers(api_key, provider_id), **dict(headers)}
        super().__init__(provider_id, timeouts=timeouts, static_headers=static, max_response_body=max_response_body)

    @property
    def url(self) -> str:
        """The endpoint URL requests go to."""
        return self._url

    def _build_body(self, request: CompletionRequest, *, stream: bool) -> ChatRequest:
        return self.wire.build_request(
            request.model,
            request.messages,
            request.system,
            request.tools,
            request.call_options,
            stream=stream,
            provider=self._provider_id,
        )

    def _post(self, request: CompletionRequest, body: Mapping[str, Any], *, stream: bool) -> HttpResponse:
        try:
            return self._transport.post(
                self._url,
                body,
                headers=dict(request.extra_headers or {}),
                token=request.token,
                stream=stream,
                describe_error=describe_http_error,
                call=self._call_options(request),
            )
        except InvalidRequest as error:
            refined = refine_http_error(error, self._chat_dialect)
            if refined is error:
                raise
            raise refined from error

    def _parse_response(self, body: Any) -> CompletionResponse:
        return parse_completion(body, self._chat_dialect)

    def _convert_stream(self, events: Iterable[SseEvent]) -> Iterator[StreamChunk]:
        return convert_chat_stream(events, self._chat_dialect)

    def _structured_fields(self, options: StructuredOptions, body: Mapping[str, Any]) -> Fields:
        from steer_sync._providers._structured import chat_fields

        return chat_fields(options, body, self._provider_id)
