"""Auth resolution: plugins, environment variables, stored keys and catalog providers (core.md 5.7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from steer_sync._auth import (
    NO_AUTH,
    AnthropicAuth,
    ApiKeyOrigin,
    ApiKeySource,
    AuthDirective,
    AuthHeaderContext,
    AuthHeaderProvider,
    AuthMethod,
    AuthPlugin,
    AuthPluginRegistry,
    AuthStorage,
    FileAuthStorage,
    HeaderPair,
    InMemoryAuthStorage,
    LlmConfigProvider,
    OpenAiResponsesAuth,
    PluginSource,
    ResolvedAuth,
    ResolvedAuthKind,
    default_key_env_vars,
)
from steer_sync._catalog import ProviderConfig, ProviderRegistry
from steer_sync._errors import AuthError, AuthStorageError, ReauthRequired
from steer_sync._types import ProviderId


class StaticHeaders(AuthHeaderProvider):
    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        return [HeaderPair("authorization", "Bearer oauth-secret")]


class FakePlugin(AuthPlugin):
    """A plugin whose answer the test chooses: a directive, nothing, or an error."""

    def __init__(
        self, provider: str, directive: Optional[AuthDirective] = None, error: Optional[AuthError] = None
    ) -> None:
        self._provider = ProviderId(provider)
        self._directive = directive
        self._error = error
        self.calls: List[AuthStorage] = []

    @property
    def provider_id(self) -> ProviderId:
        return self._provider

    def supported_methods(self) -> Sequence[AuthMethod]:
        return (AuthMethod.OAUTH,)

    def resolve_auth(self, storage: AuthStorage) -> Optional[AuthDirective]:
        self.calls.append(storage)
        if self._error is not None:
            raise self._error
        return self._directive

    def is_authenticated(self, storage: AuthStorage) -> bool:
        return self._directive is not None


def make(
    env: Optional[Dict[str, str]] = None,
    *,
    plugins: Sequence[AuthPlugin] = (),
    providers: Optional[ProviderRegistry] = None,
    storage: Optional[AuthStorage] = None,
) -> LlmConfigProvider:
    variables = dict(env or {})
    return LlmConfigProvider(
        storage if storage is not None else InMemoryAuthStorage(),
        AuthPluginRegistry(plugins),
        env=variables.get,
        provider_registry=providers,
    )


def gateway(**changes: object) -> ProviderRegistry:
    fields: Dict[str, object] = {"id": "my-gw", "name": "GW", "api_format": "openai-chat", "auth_schemes": ["api-key"]}
    fields.update(changes)
    return ProviderRegistry([ProviderConfig.from_dict(fields)])


# --- order: plugin, environment, store --------------------------------------------------------


def test_openai_oauth_takes_precedence_over_env_and_stored_key() -> None:
    directive = OpenAiResponsesAuth(headers=StaticHeaders(), require_streaming=True)
    plugin = FakePlugin("openai", directive)
    config = make({"OPENAI_API_KEY": "env-key"}, plugins=[plugin])
    config.auth_storage.set_api_key("openai", "stored-key")
    resolved = config.resolve_auth_for_provider(ProviderId("openai"))
    assert resolved.kind is ResolvedAuthKind.PLUGIN
    assert resolved.directive is directive
    assert resolved.source == PluginSource(AuthMethod.OAUTH)
    assert resolved.api_key is None
    assert plugin.calls == [config.auth_storage]


def test_env_takes_precedence_over_stored_key() -> None:
    config = make({"OPENAI_API_KEY": "env-key"})
    config.auth_storage.set_api_key("openai", "stored-key")
    resolved = config.resolve_auth_for_provider(ProviderId("openai"))
    assert resolved.kind is ResolvedAuthKind.API_KEY
    assert resolved.api_key == "env-key"
    assert resolved.source == ApiKeySource(ApiKeyOrigin.ENV)


def test_stored_key_is_used_without_env() -> None:
    config = make()
    config.auth_storage.set_api_key("google", "stored-key")
    assert config.resolve_api_key_for_provider("google") == ("stored-key", ApiKeyOrigin.STORED)
    assert config.resolve_auth_source("google") == ApiKeySource(ApiKeyOrigin.STORED)


def test_nothing_found_is_none() -> None:
    resolved = make().resolve_auth_for_provider("xai")
    assert resolved == ResolvedAuth.none()
    assert resolved.source == NO_AUTH
    assert resolved.key_required and not resolved.is_usable


def test_plugin_without_a_directive_falls_through_to_the_api_key() -> None:
    plugin = FakePlugin("anthropic", directive=None)
    config = make({"ANTHROPIC_API_KEY": "env-key"}, plugins=[plugin])
    assert config.resolve_auth_for_provider("anthropic").api_key == "env-key"
    assert len(plugin.calls) == 1


def test_plugin_error_propagates_instead_of_using_the_key() -> None:
    plugin = FakePlugin("anthropic", error=ReauthRequired("Re-authentication required"))
    config = make({"ANTHROPIC_API_KEY": "env-key"}, plugins=[plugin])
    with pytest.raises(ReauthRequired, match="Re-authentication required"):
        config.resolve_auth_for_provider("anthropic")
    # The key itself is still available to an explicit fallback.
    assert config.resolve_api_key_for_provider("anthropic") == ("env-key", ApiKeyOrigin.ENV)


def test_storage_errors_propagate(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{broken")
    config = make(storage=FileAuthStorage(path))
    with pytest.raises(AuthStorageError, match=str(path)):
        config.resolve_auth_for_provider("openai")


def test_plugin_for_another_provider_is_not_used() -> None:
    plugin = FakePlugin("anthropic", AnthropicAuth(headers=StaticHeaders()))
    config = make({"OPENAI_API_KEY": "k"}, plugins=[plugin])
    assert config.resolve_auth_for_provider("openai").kind is ResolvedAuthKind.API_KEY
    assert plugin.calls == []


# --- environment variable names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "variables"),
    [
        ("anthropic", ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY")),
        ("openai", ("OPENAI_API_KEY",)),
        ("google", ("GOOGLE_API_KEY", "GEMINI_API_KEY")),
        ("xai", ("XAI_API_KEY", "GROK_API_KEY")),
        ("my-gw", ("MY_GW_API_KEY",)),
        ("local.llm", ("LOCAL_LLM_API_KEY",)),
        ("Ollama", ("OLLAMA_API_KEY",)),
    ],
)
def test_key_env_vars(provider: str, variables: Tuple[str, ...]) -> None:
    assert make().key_env_vars(provider) == variables
    assert default_key_env_vars(provider) == variables


@pytest.mark.parametrize(
    ("provider", "env", "expected"),
    [
        ("anthropic", {"ANTHROPIC_API_KEY": "a", "CLAUDE_API_KEY": "c"}, "a"),
        ("anthropic", {"CLAUDE_API_KEY": "c"}, "c"),
        # google-genai's order: GOOGLE_API_KEY wins when both are set.
        ("google", {"GEMINI_API_KEY": "g", "GOOGLE_API_KEY": "o"}, "o"),
        ("google", {"GEMINI_API_KEY": "g"}, "g"),
        ("xai", {"XAI_API_KEY": "x", "GROK_API_KEY": "g"}, "x"),
        ("xai", {"GROK_API_KEY": "g"}, "g"),
    ],
)
def test_first_variable_present_wins(provider: str, env: Dict[str, str], expected: str) -> None:
    assert make(env).resolve_api_key_for_provider(provider) == (expected, ApiKeyOrigin.ENV)


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_empty_env_var_counts_as_unset(blank: str) -> None:
    config = make({"ANTHROPIC_API_KEY": blank, "CLAUDE_API_KEY": "claude-key"})
    assert config.resolve_api_key_for_provider("anthropic") == ("claude-key", ApiKeyOrigin.ENV)
    only_blank = make({"OPENAI_API_KEY": blank})
    only_blank.auth_storage.set_api_key("openai", "stored")
    assert only_blank.resolve_api_key_for_provider("openai") == ("stored", ApiKeyOrigin.STORED)
    assert make({"OPENAI_API_KEY": blank}).resolve_api_key_for_provider("openai") is None


def test_key_whitespace_is_stripped() -> None:
    assert make({"OPENAI_API_KEY": "  sk-x\n"}).resolve_api_key_for_provider("openai") == ("sk-x", ApiKeyOrigin.ENV)


def test_env_method_reads_through_the_injected_reader() -> None:
    config = make({"A": " v ", "B": " "})
    assert config.env("A") == "v"
    assert config.env("B") is None
    assert config.env("C") is None


def test_default_env_reader_is_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_GW_API_KEY", "from-os")
    config = LlmConfigProvider(InMemoryAuthStorage(), provider_registry=gateway())
    assert config.resolve_api_key_for_provider("my-gw") == ("from-os", ApiKeyOrigin.ENV)


# --- catalog providers ----------------------------------------------------------------------


def test_catalog_provider_reads_its_derived_variable() -> None:
    config = make({"MY_GW_API_KEY": "gw-key"}, providers=gateway())
    assert config.key_env_vars("my-gw") == ("MY_GW_API_KEY",)
    assert config.resolve_auth_for_provider("my-gw").api_key == "gw-key"


def test_catalog_provider_api_key_env_replaces_the_default_name() -> None:
    config = make({"GW_TOKEN": "tok", "MY_GW_API_KEY": "ignored"}, providers=gateway(api_key_env="GW_TOKEN"))
    assert config.key_env_vars("my-gw") == ("GW_TOKEN",)
    assert config.resolve_api_key_for_provider("my-gw") == ("tok", ApiKeyOrigin.ENV)


def test_builtin_provider_overridden_with_api_key_env() -> None:
    registry = ProviderRegistry(
        [
            ProviderConfig.from_dict(
                {
                    "id": "openai",
                    "name": "OpenAI via proxy",
                    "api_format": "openai-responses",
                    "auth_schemes": ["api-key"],
                    "api_key_env": "PROXY_KEY",
                }
            )
        ]
    )
    config = make({"PROXY_KEY": "p", "OPENAI_API_KEY": "o"}, providers=registry)
    assert config.resolve_api_key_for_provider("openai") == ("p", ApiKeyOrigin.ENV)


def test_catalog_provider_falls_back_to_the_stored_key() -> None:
    config = make(providers=gateway())
    config.auth_storage.set_api_key("my-gw", "stored")
    assert config.resolve_api_key_for_provider("my-gw") == ("stored", ApiKeyOrigin.STORED)


def test_provider_with_no_auth_schemes_needs_no_key() -> None:
    config = make({"MY_GW_API_KEY": "would-leak"}, providers=gateway(auth_schemes=[]))
    resolved = config.resolve_auth_for_provider("my-gw")
    assert resolved == ResolvedAuth.none_required()
    assert resolved.kind is ResolvedAuthKind.NOT_REQUIRED
    assert resolved.api_key is None and not resolved.key_required and resolved.is_usable
    assert resolved.source == NO_AUTH


def test_plugin_wins_even_for_a_provider_without_auth_schemes() -> None:
    directive = OpenAiResponsesAuth(headers=StaticHeaders())
    config = make(plugins=[FakePlugin("my-gw", directive)], providers=gateway(auth_schemes=[]))
    assert config.resolve_auth_for_provider("my-gw").directive is directive


# --- the plugin registry ----------------------------------------------------------------------


def test_plugin_registry_rejects_a_second_plugin_for_a_provider() -> None:
    registry = AuthPluginRegistry([FakePlugin("openai")])
    with pytest.raises(AuthError, match=r"^Auth plugin conflict for provider openai$"):
        registry.register(FakePlugin("openai"))
    registry.register(FakePlugin("anthropic"))
    assert [str(p.provider_id) for p in registry.all()] == ["openai", "anthropic"]
    assert registry.get("anthropic") is registry.all()[1]
    assert registry.get("xai") is None
    assert len(registry) == 2


def test_plugin_with_a_rust_style_provider_id_method_is_registered_under_its_id() -> None:
    class MethodStyle(FakePlugin):
        def provider_id(self) -> ProviderId:  # type: ignore[override]
            return ProviderId("openai")

    plugin = MethodStyle("ignored", OpenAiResponsesAuth(headers=StaticHeaders()))
    registry = AuthPluginRegistry([plugin])
    assert registry.get("openai") is plugin
    with pytest.raises(AuthError, match="conflict for provider openai"):
        registry.register(FakePlugin("openai"))


def test_plugin_create_flow_defaults_to_none() -> None:
    assert FakePlugin("openai").create_flow(InMemoryAuthStorage()) is None


def test_config_provider_exposes_its_parts() -> None:
    storage = InMemoryAuthStorage()
    plugins = AuthPluginRegistry()
    registry = gateway()
    config = LlmConfigProvider(storage, plugins, provider_registry=registry)
    assert config.auth_storage is storage
    assert config.plugin_registry is plugins
    assert config.provider_registry is registry
    assert len(LlmConfigProvider(storage).plugin_registry) == 0  # no plugin is registered by default
    assert LlmConfigProvider.new_with_plugins(storage, plugins).plugin_registry is plugins


# --- secrecy ------------------------------------------------------------------------------------


def test_secrets_are_not_in_repr_or_str_of_resolved_auth() -> None:
    with_key = ResolvedAuth.with_api_key("sk-very-secret", ApiKeyOrigin.ENV)
    with_plugin = ResolvedAuth.plugin(AnthropicAuth(headers=StaticHeaders()))
    for value in (with_key, with_plugin, with_key.credential, make({"OPENAI_API_KEY": "sk-very-secret"})):
        for text in (repr(value), str(value), repr([value])):
            assert "secret" not in text
    assert "api_key='***'" in repr(with_key)
    assert "ApiKeySource(origin=<ApiKeyOrigin.ENV: 'env'>)" in repr(with_key)


def test_stored_credentials_never_reach_the_json_of_other_providers(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    config = make({"OPENAI_API_KEY": "env-key"}, storage=FileAuthStorage(path))
    config.resolve_auth_for_provider("openai")
    assert not path.exists()  # resolving reads; it never writes the environment key to disk
    config.auth_storage.set_api_key("xai", "stored")
    assert json.loads(path.read_text()) == {"xai": {"ApiKey": {"type": "ApiKey", "value": "stored"}}}
