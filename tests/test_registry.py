"""Provider and model registries: layering, validation, resolution and catalog discovery.

Ports the ``model_registry.rs`` and ``auth/registry.rs`` tests (core.md 10.3). Every test
that loads catalogs either disables discovery or points it at temporary folders, so the
developer's own ``./.steer/catalog.toml`` and user catalog never leak in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Iterator

import pytest

from steer_sync._catalog import (
    ApiFormat,
    ModelConfig,
    ModelRegistry,
    ProviderRegistry,
    _loader,
    load_registries,
    user_config_dir,
)
from steer_sync._errors import ConfigurationError
from steer_sync._types import ModelId, ModelParameters, ProviderId, ThinkingConfig

ANTHROPIC_PROVIDER = """
[[providers]]
id = "anthropic"
name = "Anthropic"
api_format = "anthropic"
auth_schemes = ["api-key"]
"""


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty working folder with an empty XDG config home (Linux discovery)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "platform", "linux")
    yield tmp_path


# --- ProviderRegistry (auth/registry.rs) --------------------------------------------------------


def test_provider_registry_loads_the_four_builtins() -> None:
    registry = ProviderRegistry.load(discover=False)
    assert [str(p) for p in registry.ids()] == ["anthropic", "openai", "google", "xai"]
    openai = registry.get("openai")
    assert openai is not None and openai.api_format is ApiFormat.OPENAI_RESPONSES
    assert registry.get(ProviderId("nope")) is None
    assert "xai" in registry and len(registry) == 4


def test_additional_catalog_overrides_and_adds_providers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "extra.toml",
        """
        [[providers]]
        id = "anthropic"
        name = "Anthropic (override)"
        api_format = "anthropic"
        auth_schemes = ["api-key"]

        [[providers]]
        id = "myprov"
        name = "My Provider"
        api_format = "openai-responses"
        auth_schemes = ["api-key"]
        base_url = "https://gw.example.com/v1"
        api_key_env = "MYPROV_TOKEN"
        headers = { "x-route" = "eu" }
        """,
    )
    registry = ProviderRegistry.load([path], discover=False)
    anthropic = registry.get("anthropic")
    assert anthropic is not None and anthropic.name == "Anthropic (override)"
    custom = registry.get("myprov")
    assert custom is not None
    assert custom.name == "My Provider"
    assert custom.base_url == "https://gw.example.com/v1"
    assert custom.api_key_env == "MYPROV_TOKEN"
    assert dict(custom.headers) == {"x-route": "eu"}
    assert len(registry.all()) == 5


def test_later_provider_replaces_the_earlier_one_wholesale(tmp_path: Path) -> None:
    first = write(
        tmp_path / "a.toml",
        """
        [[providers]]
        id = "gw"
        name = "GW"
        api_format = "openai-chat"
        auth_schemes = ["api-key"]
        base_url = "https://a.example.com"
        """,
    )
    second = write(
        tmp_path / "b.toml",
        """
        [[providers]]
        id = "gw"
        name = "GW 2"
        api_format = "openai-chat"
        auth_schemes = []
        """,
    )
    config = ProviderRegistry.load([first, second], discover=False).get("gw")
    assert config is not None
    assert config.name == "GW 2"
    assert config.base_url is None  # not merged field by field
    assert config.auth_schemes == ()


def test_empty_registries() -> None:
    assert ProviderRegistry.empty().all() == ()
    models = ModelRegistry.empty()
    assert models.all() == () and models.providers == frozenset()
    with pytest.raises(ConfigurationError, match=r"Unknown provider: anthropic\. Known providers: none\."):
        models.resolve("anthropic/claude-sonnet-4-5")


# --- ModelRegistry (model_registry.rs) ---------------------------------------------------------


def test_registry_get_alias_and_recommended() -> None:
    registry = ModelRegistry(
        [
            ModelConfig(
                provider=ProviderId("anthropic"),
                id="test-model",
                aliases=("test", "tm"),
                recommended=True,
                parameters=ModelParameters(thinking_config=ThinkingConfig(enabled=True)),
            ),
            ModelConfig(provider=ProviderId("anthropic"), id="other"),
        ]
    )
    model = registry.get(ModelId("anthropic", "test-model"))
    assert model is not None and model.recommended
    assert model.parameters is not None and model.parameters.thinking_config == ThinkingConfig(enabled=True)
    alias = registry.by_alias("test")
    assert alias is not None and alias.id == "test-model"
    alias2 = registry.by_alias("tm")
    assert alias2 is not None and alias2.id == "test-model"
    assert registry.by_alias(" tm") is None  # by_alias is exact
    assert [m.id for m in registry.recommended()] == ["test-model"]


def test_builtin_registry_resolves_aliases() -> None:
    registry = ModelRegistry.load(discover=False)
    assert len(registry.all()) == 15
    assert registry.resolve("sonnet") == ModelId("anthropic", "claude-sonnet-4-5")
    assert registry.resolve("gpt") == ModelId("openai", "gpt-5.4")
    assert registry.resolve("grok") == ModelId("xai", "grok-4-1-fast-reasoning")
    assert registry.providers == {"anthropic", "openai", "google", "xai"}


def test_merge_models_appends_aliases_overrides_recommended_merges_params_and_adds(tmp_path: Path) -> None:
    base = write(
        tmp_path / "base.toml",
        ANTHROPIC_PROVIDER
        + """
        [[providers]]
        id = "openai"
        name = "OpenAI"
        api_format = "openai-responses"
        auth_schemes = ["api-key"]

        [[models]]
        provider = "anthropic"
        id = "claude-x"
        aliases = ["cx"]
        recommended = true
        [models.parameters]
        max_output_tokens = 1000
        temperature = 0.5
        thinking_config = { enabled = true, budget_tokens = 100 }
        """,
    )
    user = write(
        tmp_path / "user.toml",
        """
        [[models]]
        provider = "anthropic"
        id = "claude-x"
        aliases = ["cx", "claude-ex"]
        [models.parameters]
        temperature = 0.9
        thinking_config = { enabled = false }

        [[models]]
        provider = "openai"
        id = "brand-new"
        aliases = ["bn"]
        parameters = { max_output_tokens = 5 }
        """,
    )
    registry = ModelRegistry.load([base, user], discover=False)
    merged = registry.get(ModelId("anthropic", "claude-x"))
    assert merged is not None
    assert merged.aliases == ("cx", "claude-ex")
    assert merged.recommended is False  # the later entry's default turns it off
    assert merged.parameters == ModelParameters(
        temperature=0.9, max_output_tokens=1000, thinking_config=ThinkingConfig(enabled=False, budget_tokens=100)
    )
    assert registry.resolve("claude-ex") == ModelId("anthropic", "claude-x")
    assert registry.resolve("bn") == ModelId("openai", "brand-new")


def test_same_model_twice_in_one_catalog_later_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.toml",
        """
        [[models]]
        provider = "anthropic"
        id = "twice"
        aliases = ["t1"]
        parameters = { max_output_tokens = 1 }

        [[models]]
        provider = "anthropic"
        id = "twice"
        aliases = ["t2"]
        parameters = { max_output_tokens = 2 }
        """,
    )
    registry = ModelRegistry.load([path], discover=False)
    model = registry.get(ModelId("anthropic", "twice"))
    assert model is not None and model.parameters is not None
    assert model.parameters.max_output_tokens == 2
    assert registry.resolve("t1") == registry.resolve("t2") == ModelId("anthropic", "twice")


def test_resolve_provider_slash_id_and_provider_slash_alias() -> None:
    registry = ModelRegistry.load(discover=False)
    assert registry.resolve("anthropic/claude-opus-4-6") == ModelId("anthropic", "claude-opus-4-6")
    assert registry.resolve("anthropic/opus") == ModelId("anthropic", "claude-opus-4-6")
    assert registry.resolve(" anthropic / opus ") == ModelId("anthropic", "claude-opus-4-6")


def test_resolve_alias_of_another_provider_is_sent_as_a_model_id() -> None:
    registry = ModelRegistry.load(discover=False)
    # "opus" is an anthropic alias; under openai it is just an unlisted model id.
    assert registry.resolve("openai/opus") == ModelId("openai", "opus")


def test_resolve_unlisted_model_of_a_known_provider_is_sent_as_given() -> None:
    registry = ModelRegistry.load(discover=False)
    assert registry.resolve("anthropic/claude-new-model") == ModelId("anthropic", "claude-new-model")
    assert registry.get(ModelId("anthropic", "claude-new-model")) is None
    # The model id may itself contain '/'.
    assert registry.resolve("openai/ft:org/custom") == ModelId("openai", "ft:org/custom")


def test_resolve_accepts_a_provider_declared_without_models(tmp_path: Path) -> None:
    path = write(
        tmp_path / "gw.toml",
        """
        [[providers]]
        id = "my-gw"
        name = "Gateway"
        api_format = "openai-chat"
        auth_schemes = ["api-key"]
        """,
    )
    registry = ModelRegistry.load([path], discover=False)
    assert "my-gw" not in registry.providers
    assert "my-gw" in registry.known_providers
    assert registry.resolve("my-gw/llama-3") == ModelId("my-gw", "llama-3")


def test_resolve_unknown_provider_names_the_known_ones() -> None:
    registry = ModelRegistry.load(discover=False)
    with pytest.raises(ConfigurationError) as info:
        registry.resolve("acme/model")
    assert "Unknown provider: acme. Known providers: anthropic, google, openai, xai." in str(info.value)
    assert info.value.provider == "acme"


def test_resolve_empty_model_name() -> None:
    registry = ModelRegistry.load(discover=False)
    with pytest.raises(ConfigurationError, match="Model name cannot be empty"):
        registry.resolve("anthropic/  ")
    with pytest.raises(ConfigurationError, match="Model name cannot be empty"):
        registry.resolve("   ")


def test_resolve_unknown_provider_suggests_a_close_match() -> None:
    registry = ModelRegistry.load(discover=False)
    with pytest.raises(ConfigurationError) as info:
        registry.resolve("antropic/claude-sonnet-4-5")
    assert "Unknown provider: antropic. Did you mean 'anthropic'? Known providers: anthropic, " in str(info.value)


def test_resolve_unknown_alias_suggests_close_matches_without_dumping_aliases() -> None:
    registry = ModelRegistry.load(discover=False)
    with pytest.raises(ConfigurationError) as info:
        registry.resolve("sonet")
    message = str(info.value)
    assert "Unknown model or alias: sonet" in message
    assert "Unknown model or alias: sonet. Did you mean 'sonnet'?" in message
    assert "haiku" not in message and "steer-sync models" in message


def test_bare_model_id_does_not_resolve_but_is_suggested() -> None:
    registry = ModelRegistry.load(discover=False)
    with pytest.raises(ConfigurationError) as info:
        registry.resolve("claude-sonnet-4-5")
    assert "Did you mean 'anthropic/claude-sonnet-4-5'" in str(info.value)


def test_display_names_do_not_resolve(tmp_path: Path) -> None:
    path = write(
        tmp_path / "names.toml",
        """
        [[models]]
        provider = "anthropic"
        id = "named"
        display_name = "Pretty Name"
        parameters = { max_output_tokens = 1 }
        """,
    )
    registry = ModelRegistry.load([path], discover=False)
    with pytest.raises(ConfigurationError, match="Unknown model or alias: Pretty Name"):
        registry.resolve("Pretty Name")
    assert registry.resolve("anthropic/named") == ModelId("anthropic", "named")


# --- validation errors name the file and the entry -------------------------------------------


def _load_error(tmp_path: Path, text: str, name: str = "bad.toml") -> str:
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigurationError) as info:
        ModelRegistry.load([path], discover=False)
    return str(info.value)


def test_invalid_display_name_is_rejected(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path,
        """
        [[models]]
        provider = "anthropic"
        id = "blank"
        display_name = "   "
        parameters = { max_output_tokens = 1 }
        """,
    )
    path = tmp_path / "bad.toml"
    assert f"catalog {path}: model anthropic/blank: Invalid display_name '   ' for anthropic/blank" in message


def test_duplicate_display_name_per_provider_is_rejected(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path,
        """
        [[models]]
        provider = "anthropic"
        id = "one"
        display_name = "Same"
        parameters = { max_output_tokens = 1 }

        [[models]]
        provider = "anthropic"
        id = "two"
        display_name = " Same "
        parameters = { max_output_tokens = 1 }
        """,
    )
    path = tmp_path / "bad.toml"
    assert f"catalog {path}: model anthropic/two: Duplicate display_name 'Same' for provider anthropic" in message


def test_same_display_name_under_two_providers_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ok.toml",
        """
        [[models]]
        provider = "anthropic"
        id = "one"
        display_name = "Same"
        parameters = { max_output_tokens = 1 }

        [[models]]
        provider = "openai"
        id = "two"
        display_name = "Same"
        parameters = { max_output_tokens = 1 }
        """,
    )
    assert len(ModelRegistry.load([path], discover=False).all()) == 17


def test_duplicate_alias_across_providers_is_rejected(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path,
        """
        [[models]]
        provider = "openai"
        id = "not-sonnet"
        aliases = ["sonnet"]
        parameters = { max_output_tokens = 1 }
        """,
    )
    path = tmp_path / "bad.toml"
    assert (
        f"catalog {path}: model openai/not-sonnet: Duplicate alias 'sonnet' used by "
        "anthropic/claude-sonnet-4-5 and openai/not-sonnet (anthropic/claude-sonnet-4-5 is from <built-in>)"
    ) in message


def test_empty_alias_is_rejected(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path,
        """
        [[models]]
        provider = "anthropic"
        id = "x"
        aliases = ["ok", "  "]
        parameters = { max_output_tokens = 1 }
        """,
    )
    assert f"catalog {tmp_path / 'bad.toml'}: model anthropic/x: Empty alias found for anthropic/x" in message


def test_model_of_an_unknown_provider_is_rejected(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path,
        """
        [[models]]
        provider = "acme"
        id = "rocket"
        parameters = { max_output_tokens = 1 }
        """,
    )
    assert (
        f"catalog {tmp_path / 'bad.toml'}: model acme/rocket: Model 'rocket' references unknown provider 'acme'"
        in message
    )
    assert "declared providers: anthropic, google, openai, xai" in message


def test_provider_declared_in_a_later_catalog_is_known(tmp_path: Path) -> None:
    models = write(
        tmp_path / "models.toml",
        """
        [[models]]
        provider = "acme"
        id = "rocket"
        parameters = { max_output_tokens = 1 }
        """,
    )
    providers = write(
        tmp_path / "providers.toml",
        """
        [[providers]]
        id = "acme"
        name = "Acme"
        api_format = "openai-chat"
        auth_schemes = []
        """,
    )
    registry = ModelRegistry.load([models, providers], discover=False)
    assert registry.resolve("acme/rocket") == ModelId("acme", "rocket")


def test_missing_max_output_tokens_is_rejected(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path,
        """
        [[models]]
        provider = "anthropic"
        id = "unbounded"
        """,
    )
    assert (
        f"catalog {tmp_path / 'bad.toml'}: model anthropic/unbounded: "
        "Model 'unbounded' is missing required parameters.max_output_tokens"
    ) in message


def test_max_output_tokens_may_come_from_a_later_catalog(tmp_path: Path) -> None:
    first = write(tmp_path / "a.toml", '[[models]]\nprovider = "anthropic"\nid = "late"\n')
    second = write(
        tmp_path / "b.toml", '[[models]]\nprovider = "anthropic"\nid = "late"\nparameters = { max_output_tokens = 9 }\n'
    )
    model = ModelRegistry.load([first, second], discover=False).get(ModelId("anthropic", "late"))
    assert model is not None and model.parameters is not None and model.parameters.max_output_tokens == 9


def test_missing_max_output_tokens_names_every_contributing_catalog(tmp_path: Path) -> None:
    first = write(tmp_path / "a.toml", '[[models]]\nprovider = "anthropic"\nid = "m"\n')
    second = write(tmp_path / "b.toml", '[[models]]\nprovider = "anthropic"\nid = "m"\naliases = ["mm"]\n')
    with pytest.raises(ConfigurationError) as info:
        ModelRegistry.load([first, second], discover=False)
    assert f"catalogs {first}, {second}: model anthropic/m:" in str(info.value)


def test_legacy_max_tokens_satisfies_the_requirement_with_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path / "seed.toml",
        """
        [[models]]
        provider = "anthropic"
        id = "seed-era"
        [models.parameters]
        max_tokens = 4096
        """,
    )
    with pytest.warns(DeprecationWarning, match=f"catalog {path}: model anthropic/seed-era"):
        registry = ModelRegistry.load([path], discover=False)
    model = registry.get(ModelId("anthropic", "seed-era"))
    assert model is not None and model.parameters is not None
    assert model.parameters.max_output_tokens == 4096


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "[[models]\nprovider = ")
    assert f"Failed to parse catalog at {tmp_path / 'bad.toml'}:" in message


def test_bad_api_format_names_file_and_provider(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.toml",
        """
        [[providers]]
        id = "gw"
        name = "GW"
        api_format = "grpc"
        auth_schemes = ["api-key"]
        """,
    )
    with pytest.raises(ConfigurationError) as info:
        ProviderRegistry.load([path], discover=False)
    assert f"catalog {path}: provider gw: field 'api_format' has unknown value 'grpc'" in str(info.value)


def test_base_url_that_is_not_a_url_is_an_error_not_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.toml",
        """
        [[providers]]
        id = "gw"
        name = "GW"
        api_format = "openai-chat"
        auth_schemes = ["api-key"]
        base_url = "localhost:8080"
        """,
    )
    with pytest.raises(ConfigurationError, match="provider gw: base_url 'localhost:8080' is not an http"):
        load_registries([path], discover=False)


def test_unreadable_catalog_is_a_configuration_error(tmp_path: Path) -> None:
    folder = tmp_path / "catalog.toml"
    folder.mkdir()
    with pytest.raises(ConfigurationError, match=f"cannot read catalog {folder}"):
        ModelRegistry.load([str(folder)], discover=False)


def test_missing_additional_catalog_is_skipped(tmp_path: Path) -> None:
    registry = ModelRegistry.load([str(tmp_path / "absent.toml")], discover=False)
    assert len(registry.all()) == 15


def test_a_single_path_is_not_iterated_character_by_character(tmp_path: Path) -> None:
    path = write(
        tmp_path / "one.toml", '[[models]]\nprovider = "xai"\nid = "g"\nparameters = { max_output_tokens = 1 }\n'
    )
    assert ModelRegistry.load(path, discover=False).get(ModelId("xai", "g")) is not None
    assert ModelRegistry.load(Path(path), discover=False).get(ModelId("xai", "g")) is not None


def test_load_registries_returns_both_from_one_parse(tmp_path: Path) -> None:
    path = write(
        tmp_path / "gw.toml",
        """
        [[providers]]
        id = "gw"
        name = "GW"
        api_format = "openai-chat"
        auth_schemes = []

        [[models]]
        provider = "gw"
        id = "m"
        aliases = ["gwm"]
        parameters = { max_output_tokens = 1, max_tokens = 2 }
        """,
    )
    with pytest.warns(DeprecationWarning) as record:
        providers, models = load_registries([path], discover=False)
    assert len([w for w in record if issubclass(w.category, DeprecationWarning)]) == 1
    assert providers.get("gw") is not None
    assert models.resolve("gwm") == ModelId("gw", "m")


def test_missing_toml_parser_asks_for_tomli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "x.toml", "")
    monkeypatch.setattr(_loader, "sys", types.SimpleNamespace(version_info=(3, 10)))
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ConfigurationError, match=r"pip install tomli"):
        ModelRegistry.load([path], discover=False)
    # The built-in catalog needs no parser at all.
    assert len(ModelRegistry.load(discover=False).all()) == 15


# --- discovery ------------------------------------------------------------------------------


PROJECT_CATALOG = """
[[models]]
provider = "anthropic"
id = "project-model"
aliases = ["shared", "proj"]
parameters = { max_output_tokens = 1 }
"""


def test_project_catalog_is_discovered_in_the_working_directory(isolated: Path) -> None:
    write(Path.cwd() / ".steer" / "catalog.toml", PROJECT_CATALOG)
    assert ModelRegistry.load().resolve("proj") == ModelId("anthropic", "project-model")


def test_user_catalog_is_discovered_in_xdg_config_home(isolated: Path) -> None:
    write(
        isolated / "xdg" / "steer" / "catalog.toml",
        """
        [[providers]]
        id = "userprov"
        name = "User"
        api_format = "xai"
        auth_schemes = ["api-key"]
        """,
    )
    assert ProviderRegistry.load().get("userprov") is not None


def test_user_catalog_overrides_the_project_catalog(isolated: Path) -> None:
    write(Path.cwd() / ".steer" / "catalog.toml", PROJECT_CATALOG)
    write(
        isolated / "xdg" / "steer" / "catalog.toml",
        """
        [[models]]
        provider = "anthropic"
        id = "project-model"
        parameters = { max_output_tokens = 99 }
        """,
    )
    extra = write(
        isolated / "extra.toml",
        """
        [[models]]
        provider = "anthropic"
        id = "project-model"
        display_name = "From extra"
        """,
    )
    model = ModelRegistry.load([extra]).get(ModelId("anthropic", "project-model"))
    assert model is not None and model.parameters is not None
    assert model.parameters.max_output_tokens == 99
    assert model.display_name == "From extra"


def test_discovery_disabled_ignores_project_and_user_catalogs(isolated: Path) -> None:
    write(Path.cwd() / ".steer" / "catalog.toml", PROJECT_CATALOG)
    write(isolated / "xdg" / "steer" / "catalog.toml", "this is not toml [")
    registry = ModelRegistry.load(discover=False)
    assert registry.by_alias("proj") is None
    with pytest.raises(ConfigurationError, match="Failed to parse catalog at"):
        ModelRegistry.load()


def test_user_config_dir_per_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert user_config_dir(environ={}, platform="linux", home=home) == home / ".config" / "steer"
    assert user_config_dir(environ={"XDG_CONFIG_HOME": "/x/y"}, platform="linux", home=home) == Path("/x/y/steer")
    # A relative XDG_CONFIG_HOME is invalid per the XDG spec and ignored.
    assert (
        user_config_dir(environ={"XDG_CONFIG_HOME": "rel"}, platform="linux", home=home) == home / ".config" / "steer"
    )
    assert (
        user_config_dir(environ={}, platform="darwin", home=home) == home / "Library" / "Application Support" / "steer"
    )
    appdata = str(tmp_path / "Roaming")
    assert user_config_dir(environ={"APPDATA": appdata}, platform="win32") == Path(appdata) / "steer" / "config"
    assert user_config_dir(environ={}, platform="win32") is None


def test_importing_the_catalog_reads_nothing_and_loads_no_toml_parser(tmp_path: Path) -> None:
    # A project catalog and a user catalog exist, so any discovery at import would open them.
    write(tmp_path / ".steer" / "catalog.toml", PROJECT_CATALOG)
    write(tmp_path / "xdg" / "steer" / "catalog.toml", PROJECT_CATALOG)
    code = (
        "import builtins, io, sys\n"
        "opened = []\n"
        "real_open = io.open\n"
        "def spy(file, *args, **kwargs):\n"
        "    opened.append(str(file))\n"
        "    return real_open(file, *args, **kwargs)\n"
        "builtins.open = io.open = spy\n"
        "import steer_sync._catalog, steer_sync._auth\n"
        "assert 'tomllib' not in sys.modules and 'tomli' not in sys.modules, 'toml parser imported'\n"
        "assert not [p for p in opened if p.endswith(('.toml', '.json'))], opened\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
