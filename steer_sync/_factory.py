"""API format to provider class, imported on first use (layer L2).

Provider modules (and ``requests`` beneath them) load only when a provider of that
format is first built, which keeps ``import steer_sync`` cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar

from steer_sync._auth._directive import (
    AnthropicAuth,
    AuthDirective,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderAuth,
    OpenAiResponsesAuth,
    RequestKind,
)
from steer_sync._catalog import ApiFormat, ProviderConfig
from steer_sync._errors import ConfigurationError
from steer_sync._provider import CompletionRequest, Provider, call_complete, call_stream_complete
from steer_sync._stream import CompletionStream
from steer_sync._types import CompletionResponse, ModelId

T = TypeVar("T")

__all__ = ["create_provider", "provider_class"]

_CLASSES: Dict[ApiFormat, Tuple[str, str]] = {
    ApiFormat.ANTHROPIC: ("steer_sync._providers.anthropic._provider", "AnthropicProvider"),
    ApiFormat.OPENAI_RESPONSES: ("steer_sync._providers.openai_responses._provider", "OpenAIResponsesProvider"),
    ApiFormat.OPENAI_CHAT: ("steer_sync._providers.openai_chat._openai", "OpenAIChatProvider"),
    ApiFormat.GOOGLE: ("steer_sync._providers.gemini._provider", "GeminiProvider"),
    ApiFormat.XAI: ("steer_sync._providers.openai_chat._xai", "XaiProvider"),
}

_DIRECTIVE_FORMATS = {AnthropicAuth: ApiFormat.ANTHROPIC, OpenAiResponsesAuth: ApiFormat.OPENAI_RESPONSES}


def provider_class(api_format: ApiFormat) -> Any:
    """The provider class for ``api_format`` (its module is imported now)."""
    module_name, class_name = _CLASSES[api_format]
    return getattr(importlib.import_module(module_name), class_name)


def create_provider(
    config: ProviderConfig,
    *,
    api_key: Optional[str],
    directive: Optional[AuthDirective] = None,
    base_url: Optional[str] = None,
    **options: Any,
) -> Provider:
    """Build the provider for one catalog entry.

    :param config: the provider's catalog entry.
    :param api_key: the API key, or ``None`` (a directive, or a keyless local server).
    :param directive: an auth plugin's directive, used instead of the key.
    :param base_url: the base URL to use (environment or catalog); ``None`` for the default.
    :param options: passed to the provider class (for example ``timeouts``).
    :raises ConfigurationError: if the directive does not fit the provider's API format.
    """
    header_auth: Optional[HeaderAuth] = None
    if isinstance(directive, HeaderAuth):
        # Works with every format: the provider is built without a key and the directive's
        # headers travel as per-attempt headers (see _AuthorizedProvider).
        header_auth, directive, api_key = directive, None, None
    if directive is not None:
        expected = _DIRECTIVE_FORMATS.get(type(directive))
        if expected is not config.api_format:
            raise ConfigurationError(
                str(config.id),
                f"provider {config.id!r} uses API format {config.api_format.value!r}, but its auth plugin "
                f"returned a {type(directive).__name__} directive; register the plugin for a provider "
                "of the matching format",
            )
    cls = provider_class(config.api_format)
    provider: Provider = cls(
        api_key=api_key,
        base_url=base_url,
        directive=directive,
        provider_id=str(config.id),
        headers=dict(config.headers),
        **options,
    )
    query = dict(config.query)
    if header_auth is not None:
        query.update((param.name, param.value) for param in header_auth.query_params)
    if header_auth is not None or query:
        provider = _AuthorizedProvider(
            provider, str(config.id), header_auth.headers if header_auth is not None else None, query
        )
    return provider


class _AuthorizedProvider(Provider):
    """Adds a header directive's headers and a catalog provider's query to another provider.

    Every attempt asks the header provider for fresh headers and sends them as the inner
    provider's ``extra_headers`` (the caller's own ``extra_headers`` still win); a 401/403
    asks its ``on_auth_error`` once whether to re-send (core.md 6.6). The query parameters go
    on every request the inner provider sends during the call. The inner provider stays
    unchanged, so every wire format gets this without code of its own.
    """

    def __init__(
        self,
        inner: Provider,
        provider_id: str,
        header_provider: Optional[AuthHeaderProvider],
        query: Mapping[str, str],
    ) -> None:
        self._inner = inner
        self._provider_id = provider_id
        self._header_provider = header_provider
        self._query = dict(query)

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def requires_streaming(self) -> bool:
        return self._inner.requires_streaming

    def close(self) -> None:
        self._inner.close()

    def __repr__(self) -> str:
        return f"{self._inner!r} (with {'auth plugin headers' if self._header_provider else 'catalog query'})"

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        request = self._with_query(request)

        def send(headers: Optional[Mapping[str, str]]) -> CompletionResponse:
            return call_complete(self._inner, replace(request, extra_headers=headers))

        return self._call(send, request.model, RequestKind.COMPLETE, request.extra_headers)

    def stream_complete(self, request: CompletionRequest) -> CompletionStream:
        request = self._with_query(request)

        def send(headers: Optional[Mapping[str, str]]) -> CompletionStream:
            return call_stream_complete(self._inner, replace(request, extra_headers=headers))

        return self._call(send, request.model, RequestKind.STREAM, request.extra_headers)

    def _with_query(self, request: CompletionRequest) -> CompletionRequest:
        # The caller's extra_query wins over the catalog's for the same name.
        if not self._query:
            return request
        return replace(request, extra_query={**self._query, **(request.extra_query or {})})

    def _call(
        self,
        send: Callable[[Optional[Mapping[str, str]]], T],
        model_id: ModelId,
        kind: RequestKind,
        extra_headers: Optional[Mapping[str, str]],
    ) -> T:
        from steer_sync._providers._common import merge_headers, send_with_auth_retry

        header_provider = self._header_provider
        if header_provider is None:
            return send(extra_headers)
        context = AuthHeaderContext(model_id=model_id.id, request_kind=kind)
        # The inner provider keeps the refused body to itself: on_auth_error sees its details.
        return send_with_auth_retry(
            lambda auth_headers: send(merge_headers(auth_headers, extra_headers)),
            header_provider,
            context,
            self._provider_id,
        )
