"""API format to provider class, imported on first use (layer L2).

Provider modules (and ``requests`` beneath them) load only when a provider of that
format is first built, which keeps ``import steer_sync`` cheap.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Optional, Tuple

from steer_sync._auth._directive import AnthropicAuth, AuthDirective, OpenAiResponsesAuth
from steer_sync._catalog import ApiFormat, ProviderConfig
from steer_sync._errors import ConfigurationError
from steer_sync._provider import Provider

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
    return provider
