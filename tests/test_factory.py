"""API format to provider (core.md 10.3, factory.rs)."""

from __future__ import annotations

import pytest

from steer_sync import (
    AnthropicAuth,
    ApiFormat,
    ConfigurationError,
    OpenAiResponsesAuth,
    ProviderConfig,
    Timeouts,
)
from steer_sync._auth._directive import AuthHeaderProvider, HeaderPair
from steer_sync._factory import create_provider

NAMES = {
    ApiFormat.ANTHROPIC: ("AnthropicProvider", "anthropic"),
    ApiFormat.OPENAI_RESPONSES: ("OpenAIResponsesProvider", "openai"),
    ApiFormat.OPENAI_CHAT: ("OpenAIChatProvider", "openai"),
    ApiFormat.GOOGLE: ("GeminiProvider", "google"),
    ApiFormat.XAI: ("XaiProvider", "xai"),
}


class Headers(AuthHeaderProvider):
    def headers(self, context: object) -> list:  # type: ignore[override]
        return [HeaderPair("authorization", "Bearer t")]


@pytest.mark.parametrize("api_format", list(ApiFormat))
def test_each_format_builds_its_provider(api_format: ApiFormat) -> None:
    config = ProviderConfig("p", "P", api_format, ("api-key",), base_url="http://127.0.0.1:9/v1")
    provider = create_provider(config, api_key="k", base_url=config.base_url, timeouts=Timeouts(read=5))
    try:
        class_name, name = NAMES[api_format]
        assert type(provider).__name__ == class_name
        assert provider.name == name
    finally:
        provider.close()


def test_a_custom_openai_compatible_provider_is_still_named_openai() -> None:
    config = ProviderConfig("my-gateway", "Gateway", ApiFormat.OPENAI_CHAT, ("api-key",), base_url="http://127.0.0.1:9")
    assert create_provider(config, api_key="k", base_url=config.base_url).name == "openai"


@pytest.mark.parametrize(
    ("api_format", "directive"),
    [
        (ApiFormat.OPENAI_CHAT, AnthropicAuth(Headers())),
        (ApiFormat.ANTHROPIC, OpenAiResponsesAuth(Headers())),
        (ApiFormat.GOOGLE, AnthropicAuth(Headers())),
    ],
)
def test_a_directive_for_another_format_is_rejected(api_format: ApiFormat, directive: object) -> None:
    config = ProviderConfig("p", "P", api_format, ("oauth2",))
    with pytest.raises(ConfigurationError, match="directive"):
        create_provider(config, api_key=None, directive=directive)  # type: ignore[arg-type]


def test_matching_directives_are_accepted() -> None:
    anthropic = ProviderConfig("anthropic", "Anthropic", ApiFormat.ANTHROPIC, ("oauth2",))
    assert create_provider(anthropic, api_key=None, directive=AnthropicAuth(Headers())).name == "anthropic"
    openai = ProviderConfig("openai", "OpenAI", ApiFormat.OPENAI_RESPONSES, ("oauth2",))
    assert create_provider(openai, api_key=None, directive=OpenAiResponsesAuth(Headers())).requires_streaming is False
    streaming = OpenAiResponsesAuth(Headers(), require_streaming=True)
    assert create_provider(openai, api_key=None, directive=streaming).requires_streaming is True
