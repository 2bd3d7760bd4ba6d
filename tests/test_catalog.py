"""Catalog entries: ModelConfig / ProviderConfig values, parsing and the built-in catalog.

Ports the ``config/model.rs`` tests (core.md 10.3) and pins the field checks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from steer_sync._catalog import ApiFormat, AuthScheme, ModelConfig, ProviderConfig
from steer_sync._catalog._default_catalog import DEFAULT_CATALOG
from steer_sync._catalog._loader import BUILTIN_SOURCE, builtin_catalog, parse_catalog, read_catalog_file
from steer_sync._errors import ConfigurationError
from steer_sync._types import ModelId, ModelParameters, ProviderId, ThinkingConfig, ThinkingEffort

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

CATALOG_DIR = Path(__file__).resolve().parents[1] / "steer_sync" / "_catalog"


def _opus(**changes: Any) -> ModelConfig:
    base: Dict[str, Any] = {
        "provider": ProviderId("anthropic"),
        "id": "claude-3-opus",
        "aliases": ("opus", "claude-opus"),
        "recommended": True,
        "context_window_tokens": 200_000,
        "parameters": ModelParameters(temperature=0.7, max_output_tokens=4096, top_p=0.9),
    }
    base.update(changes)
    return ModelConfig(**base)


# --- the built-in catalog -------------------------------------------------------------------


def test_python_default_catalog_equals_the_toml_asset() -> None:
    with (CATALOG_DIR / "default_catalog.toml").open("rb") as handle:
        parsed = tomllib.load(handle)
    assert parsed == DEFAULT_CATALOG


def test_builtin_catalog_parses_with_claude_models_and_four_providers() -> None:
    catalog = builtin_catalog()
    assert catalog.source == BUILTIN_SOURCE
    assert [str(p.id) for p in catalog.providers] == ["anthropic", "openai", "google", "xai"]
    assert any(m.provider == "anthropic" and "claude" in m.id for m in catalog.models)
    assert len(catalog.models) == 15


def test_builtin_catalog_matches_the_spec_summary() -> None:
    catalog = builtin_catalog()
    providers = {str(p.id): p for p in catalog.providers}
    assert providers["openai"].api_format is ApiFormat.OPENAI_RESPONSES
    assert providers["anthropic"].auth_schemes == (AuthScheme.API_KEY, AuthScheme.OAUTH2)
    assert providers["google"].auth_schemes == (AuthScheme.API_KEY,)
    assert all(p.base_url is None for p in catalog.providers)
    models = {str(m.model_id): m for m in catalog.models}
    gpt = models["openai/gpt-5.4"]
    assert gpt.aliases == ("gpt", "gpt5.4", "gpt54")
    assert gpt.context_window_tokens == 1_050_000
    assert gpt.parameters == ModelParameters(
        max_output_tokens=128_000, thinking_config=ThinkingConfig(enabled=True, effort=ThinkingEffort.XHIGH)
    )
    pro = models["google/gemini-3-pro-preview"]
    assert pro.parameters is not None
    assert pro.parameters.thinking_config == ThinkingConfig(enabled=True, budget_tokens=8192, include_thoughts=True)
    assert models["google/gemini-3-flash-preview"].parameters == ModelParameters(max_output_tokens=65_536)
    assert all(m.parameters is not None and m.parameters.max_output_tokens for m in catalog.models)


# --- ModelConfig (config/model.rs) -------------------------------------------------------------


def test_model_config_round_trips_through_dict() -> None:
    config = _opus()
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_model_config_minimal_has_defaults() -> None:
    config = ModelConfig.from_dict({"provider": "openai", "id": "gpt-4"})
    assert config.provider == ProviderId("openai")
    assert isinstance(config.provider, ProviderId)
    assert config.id == "gpt-4"
    assert config.display_name is None
    assert config.aliases == ()
    assert config.recommended is False
    assert config.context_window_tokens is None
    assert config.parameters is None


def test_model_parameters_partial() -> None:
    config = ModelConfig.from_dict(
        {"provider": "openai", "id": "gpt-4", "parameters": {"temperature": 0.5, "max_output_tokens": 2048}}
    )
    assert config.parameters == ModelParameters(temperature=0.5, max_output_tokens=2048)


def test_model_parameters_merge_other_wins() -> None:
    base = ModelParameters(temperature=0.7, max_output_tokens=1000, top_p=0.9)
    merged = base.merge(ModelParameters(temperature=0.5, top_p=0.95))
    assert merged == ModelParameters(temperature=0.5, max_output_tokens=1000, top_p=0.95)


def test_effective_parameters_table() -> None:
    config = _opus(parameters=ModelParameters(temperature=0.7, max_output_tokens=4096))
    assert config.effective_parameters(None) == ModelParameters(temperature=0.7, max_output_tokens=4096)
    call = ModelParameters(temperature=0.9, top_p=0.95)
    assert config.effective_parameters(call) == ModelParameters(temperature=0.9, max_output_tokens=4096, top_p=0.95)
    bare = _opus(parameters=None)
    assert bare.effective_parameters(call) == call
    assert bare.effective_parameters(None) is None


def test_merge_with_keeps_or_overrides_context_window() -> None:
    base = _opus(context_window_tokens=200_000, parameters=None, recommended=False)
    kept = base.merge_with(_opus(context_window_tokens=None, parameters=None, aliases=()))
    assert kept.context_window_tokens == 200_000
    overridden = kept.merge_with(_opus(context_window_tokens=400_000, parameters=None, aliases=()))
    assert overridden.context_window_tokens == 400_000
    assert base.context_window_tokens == 200_000  # frozen: merge_with returns a new value


def test_merge_with_appends_aliases_and_overrides_recommended() -> None:
    base = _opus(aliases=("opus",), recommended=True, display_name="Opus")
    merged = base.merge_with(_opus(aliases=("opus", "big"), recommended=False, display_name=None, parameters=None))
    assert merged.aliases == ("opus", "big")
    assert merged.recommended is False  # unconditional, as in steer
    assert merged.display_name == "Opus"
    assert merged.parameters == base.parameters


def test_merge_with_merges_parameters_field_by_field() -> None:
    base = _opus(
        parameters=ModelParameters(
            temperature=0.7,
            max_output_tokens=4096,
            thinking_config=ThinkingConfig(enabled=True, effort=ThinkingEffort.HIGH, budget_tokens=1000),
        )
    )
    other = _opus(
        parameters=ModelParameters(
            max_output_tokens=8192, thinking_config=ThinkingConfig(enabled=False, budget_tokens=5)
        )
    )
    merged = base.merge_with(other)
    assert merged.parameters == ModelParameters(
        temperature=0.7,
        max_output_tokens=8192,
        thinking_config=ThinkingConfig(enabled=False, effort=ThinkingEffort.HIGH, budget_tokens=5),
    )
    assert _opus(parameters=None).merge_with(other).parameters == other.parameters


def test_absent_fields_are_omitted_from_dict() -> None:
    data = ModelConfig(provider=ProviderId("openai"), id="gpt-4").to_dict()
    assert data == {"provider": "openai", "id": "gpt-4", "aliases": [], "recommended": False}
    assert "context_window_tokens" not in data


def test_model_config_is_frozen_and_hashable() -> None:
    config = _opus()
    with pytest.raises(AttributeError):
        config.id = "other"  # type: ignore[misc]
    assert config.model_id == ModelId("anthropic", "claude-3-opus")
    assert hash(config) == hash(_opus())


# --- ProviderConfig ----------------------------------------------------------------------------


def test_provider_config_coerces_strings_and_freezes_headers() -> None:
    headers = {"x-team": "blue"}
    config = ProviderConfig(
        id="my-gw",  # type: ignore[arg-type]
        name="Gateway",
        api_format="openai-chat",  # type: ignore[arg-type]
        auth_schemes=["api-key"],  # type: ignore[arg-type]
        headers=headers,
    )
    assert config.id == ProviderId("my-gw") and isinstance(config.id, ProviderId)
    assert config.api_format is ApiFormat.OPENAI_CHAT
    assert config.auth_schemes == (AuthScheme.API_KEY,)
    headers["x-team"] = "red"
    assert config.headers["x-team"] == "blue"
    with pytest.raises(TypeError):
        config.headers["x-new"] = "1"  # type: ignore[index]
    assert config.requires_credentials
    hash(config)


def test_provider_config_round_trips_through_dict() -> None:
    data = {
        "id": "local",
        "name": "Local",
        "api_format": "openai-chat",
        "auth_schemes": [],
        "base_url": "http://127.0.0.1:8080/v1",
        "api_key_env": "LOCAL_KEY",
        "headers": {"x-a": "b"},
    }
    config = ProviderConfig.from_dict(data)
    assert config.to_dict() == data
    assert not config.requires_credentials


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_format": "soap"}, "field 'api_format' has unknown value 'soap'; expected one of openai-responses"),
        ({"auth_schemes": ["password"]}, "field 'auth_schemes' has unknown value 'password'"),
        ({"auth_schemes": "api-key"}, "field 'auth_schemes' must be an array"),
        ({"base_url": "not a url"}, "base_url 'not a url' is not an http(s) URL"),
        ({"base_url": "ftp://example.com"}, "base_url 'ftp://example.com' is not an http(s) URL"),
        ({"base_url": "https://"}, "base_url 'https://' is not an http(s) URL"),
        ({"name": 3}, "field 'name' must be a string, not int"),
        ({"headers": {"x": 1}}, "field 'headers.x' must be a string"),
        ({"api_key_env": ""}, "field 'api_key_env' must not be empty"),
    ],
)
def test_provider_config_rejects_bad_fields(change: Dict[str, Any], message: str) -> None:
    data = {"id": "gw", "name": "GW", "api_format": "openai-chat", "auth_schemes": ["api-key"], **change}
    with pytest.raises(ConfigurationError) as info:
        ProviderConfig.from_dict(data)
    assert f"provider gw: {message}" in str(info.value)


@pytest.mark.parametrize("missing", ["id", "name", "api_format", "auth_schemes"])
def test_provider_config_requires_fields(missing: str) -> None:
    data = {"id": "gw", "name": "GW", "api_format": "openai-chat", "auth_schemes": ["api-key"]}
    del data[missing]
    with pytest.raises(ConfigurationError, match=f"missing required field '{missing}'"):
        ProviderConfig.from_dict(data)


# --- parse_catalog: errors name the file and the entry ----------------------------------------


def _doc(**model: Any) -> Dict[str, Any]:
    entry = {"provider": "anthropic", "id": "foo", "parameters": {"max_output_tokens": 10}}
    entry.update(model)
    return {"models": [entry]}


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"aliases": "foo"}, "field 'aliases' must be an array of strings"),
        ({"aliases": ["a", 1]}, "field 'aliases' must contain only strings"),
        ({"recommended": "yes"}, "field 'recommended' must be true or false"),
        ({"context_window_tokens": -1}, "field 'context_window_tokens' must be between 0 and"),
        ({"context_window_tokens": True}, "field 'context_window_tokens' must be an integer"),
        ({"display_name": 7}, "field 'display_name' must be a string"),
        ({"parameters": {"max_output_tokens": "many"}}, "field 'parameters.max_output_tokens' must be an integer"),
        ({"parameters": {"temperature": "hot"}}, "field 'parameters.temperature' must be a number"),
        (
            {"parameters": {"thinking_config": {"effort": "low"}}},
            "missing required field 'parameters.thinking_config.enabled'",
        ),
        (
            {"parameters": {"thinking_config": {"enabled": True, "effort": "max"}}},
            "field 'parameters.thinking_config.effort' has unknown value 'max'",
        ),
        ({"parameters": 5}, "field 'parameters' must be a table"),
    ],
)
def test_model_entry_errors_name_file_and_entry(model: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_catalog(_doc(**model), "/tmp/x.toml")
    assert f"catalog /tmp/x.toml: model anthropic/foo: {message}" in str(info.value)


def test_entry_without_id_is_named_by_position() -> None:
    doc = {"models": [{"provider": "anthropic", "id": "ok"}, {"provider": "anthropic"}]}
    with pytest.raises(ConfigurationError) as info:
        parse_catalog(doc, "/c.toml")
    assert "catalog /c.toml: model models[1]: missing required field 'id'" in str(info.value)


def test_providers_must_be_an_array_of_tables() -> None:
    with pytest.raises(ConfigurationError, match=r"catalog /c.toml: 'providers' must be an array of tables"):
        parse_catalog({"providers": {"id": "x"}}, "/c.toml")


def test_unknown_keys_are_ignored() -> None:
    catalog = parse_catalog({"future": 1, "models": [{"provider": "p", "id": "m", "colour": "red"}]}, "/c.toml")
    assert catalog.models[0].model_id == ModelId("p", "m")


def test_integer_temperature_is_accepted_as_float() -> None:
    catalog = parse_catalog(_doc(parameters={"temperature": 1, "max_output_tokens": 5}), "/c.toml")
    params = catalog.models[0].parameters
    assert params is not None and params.temperature == 1.0 and isinstance(params.temperature, float)


def test_legacy_max_tokens_is_read_with_a_deprecation_warning_naming_the_file() -> None:
    with pytest.warns(DeprecationWarning, match=r"catalog /old.toml: model anthropic/foo: 'parameters.max_tokens'"):
        catalog = parse_catalog(_doc(parameters={"max_tokens": 777}), "/old.toml")
    params = catalog.models[0].parameters
    assert params is not None and params.max_output_tokens == 777


def test_max_output_tokens_wins_over_legacy_max_tokens() -> None:
    with pytest.warns(DeprecationWarning):
        catalog = parse_catalog(_doc(parameters={"max_tokens": 1, "max_output_tokens": 2}), "/old.toml")
    params = catalog.models[0].parameters
    assert params is not None and params.max_output_tokens == 2


# --- the catalog owns the environment ----------------------------------------------------------


def _provider_table(**extra: Any) -> Dict[str, Any]:
    return {"id": "my-gw", "name": "Gateway", "api_format": "openai-chat", "auth_schemes": ["api-key"], **extra}


def test_api_key_env_and_base_url_env_take_a_name_or_a_list() -> None:
    single = ProviderConfig.from_dict(_provider_table(api_key_env="GW_KEY", base_url_env="GW_URL"))
    assert (single.api_key_env_vars, single.base_url_env_vars) == (("GW_KEY",), ("GW_URL",))
    several = ProviderConfig.from_dict(_provider_table(api_key_env=["GW_KEY", "OLD_GW_KEY"], base_url_env=["A", "B"]))
    assert several.api_key_env_vars == ("GW_KEY", "OLD_GW_KEY") and several.base_url_env_vars == ("A", "B")
    assert ProviderConfig.from_dict(several.to_dict()) == several
    assert several.to_dict()["api_key_env"] == ["GW_KEY", "OLD_GW_KEY"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("api_key_env", [], "at least one"),
        ("api_key_env", ["OK", "A=B"], "environment variable name"),
        ("base_url_env", [1], "only strings"),
        ("base_url_env", " ", "must not be empty"),
    ],
)
def test_bad_env_fields_are_refused(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ProviderConfig.from_dict(_provider_table(**{field: value}))


def test_the_built_in_catalog_declares_every_variable() -> None:
    from steer_sync._catalog import base_url_env_vars, key_env_vars

    assert key_env_vars("anthropic") == ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY")
    assert key_env_vars("openai") == ("OPENAI_API_KEY",)
    assert key_env_vars("google") == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert key_env_vars("xai") == ("XAI_API_KEY", "GROK_API_KEY")
    assert key_env_vars("my.gw") == ("MY_GW_API_KEY",)
    assert [base_url_env_vars(p) for p in ("anthropic", "openai", "google", "xai", "my-gw")] == [
        ("ANTHROPIC_BASE_URL",),
        ("OPENAI_BASE_URL",),
        ("GEMINI_BASE_URL",),
        ("XAI_BASE_URL",),
        (),
    ]
    # An entry that redefines a built-in id without naming variables keeps the built-in ones.
    redefined = ProviderConfig.from_dict(
        {"id": "anthropic", "name": "A", "api_format": "anthropic", "auth_schemes": ["api-key"]}
    )
    assert key_env_vars("anthropic", redefined) == ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY")
    own = ProviderConfig.from_dict(_provider_table(base_url_env="GW_URL"))
    assert base_url_env_vars("my-gw", own) == ("GW_URL",)


def test_a_catalog_provider_reads_its_base_url_and_key_from_its_own_variables(tmp_path: Path) -> None:
    from steer_sync._auth import InMemoryAuthStorage, LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry
    from steer_sync._client import Client
    from steer_sync._types import Message
    from steer_sync.testing import LoopbackServer, Turn

    catalog = tmp_path / "gw.toml"
    catalog.write_text(
        '[[providers]]\nid = "my-gw"\nname = "GW"\napi_format = "openai-chat"\nauth_schemes = ["api-key"]\n'
        'base_url = "http://127.0.0.1:9/v1"\napi_key_env = ["GW_KEY", "OLD_GW_KEY"]\n'
        'base_url_env = ["GW_URL", "OLD_GW_URL"]\n'
    )
    with LoopbackServer() as server:
        server.queue(Turn(text="via env"))
        env = {"OLD_GW_KEY": "sk-old", "GW_URL": " ", "OLD_GW_URL": f"{server.url}/v1"}
        providers = ProviderRegistry.load([str(catalog)], discover=False)
        config = LlmConfigProvider(InMemoryAuthStorage(), env=env.get, provider_registry=providers)
        with Client(config, providers, ModelRegistry.load([str(catalog)], discover=False)) as client:
            answer = client.complete("my-gw/some-model", [Message.user("hi")])
        assert answer.extract_text() == "via env"
        assert server.requests[0].headers.get("authorization") == "Bearer sk-old"


@pytest.mark.parametrize("field", ["temperature", "top_p"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_parameters_are_refused_naming_the_entry(field: str, value: float) -> None:
    # TOML has `nan` and `inf`; neither can go into a JSON request body.
    with pytest.raises(ConfigurationError, match=rf"catalog /c.toml: model anthropic/foo: .*parameters.{field}"):
        parse_catalog(_doc(parameters={field: value, "max_output_tokens": 10}), "/c.toml")


def test_nan_temperature_in_a_toml_file_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "nan.toml"
    path.write_text('[[models]]\nprovider = "anthropic"\nid = "foo"\n[models.parameters]\ntemperature = nan\n')
    with pytest.raises(
        ConfigurationError, match=r"model anthropic/foo: field 'parameters.temperature' must be a finite number"
    ):
        read_catalog_file(str(path))


def test_out_of_range_parameters_are_refused_naming_the_entry() -> None:
    with pytest.raises(ConfigurationError, match=r"catalog /c.toml: model anthropic/foo: parameters: .*top_p"):
        parse_catalog(_doc(parameters={"top_p": 3, "max_output_tokens": 10}), "/c.toml")
