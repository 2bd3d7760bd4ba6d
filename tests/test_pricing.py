"""Catalog prices: the ``pricing`` table, its checks, the built-in prices and cost arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from steer_sync._catalog import ModelConfig, ModelPricing, ModelRegistry
from steer_sync._catalog._loader import builtin_catalog, parse_catalog
from steer_sync._errors import ConfigurationError
from steer_sync._types import TokenUsage

SONNET = ModelPricing(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)


def _catalog(pricing: Any) -> Dict[str, Any]:
    return {"models": [{"provider": "anthropic", "id": "claude-x", "pricing": pricing}]}


def test_every_builtin_model_has_prices() -> None:
    for model in builtin_catalog().models:
        assert model.pricing is not None, model.id
        assert model.pricing.input > 0 and model.pricing.output > model.pricing.input, model.id


def test_builtin_prices_are_the_published_ones() -> None:
    models = {model.id: model for model in builtin_catalog().models}
    assert models["claude-sonnet-4-5"].pricing == SONNET
    # gpt-5.4-pro lists no cached-input rate: cache reads then cost the input price.
    pro = models["gpt-5.4-pro-2026-03-05"].pricing
    assert pro == ModelPricing(input=30.0, output=180.0, cache_read=None, cache_write=30.0)


def test_a_catalog_file_sets_and_replaces_prices(tmp_path: Path) -> None:
    extra = tmp_path / "prices.toml"
    extra.write_text(
        '[[models]]\nprovider = "anthropic"\nid = "claude-sonnet-4-5"\n'
        "pricing = { input = 2.5, output = 12 }\n"
        '[[models]]\nprovider = "anthropic"\nid = "claude-haiku-4-5"\nrecommended = true\n'
    )
    registry = ModelRegistry.load([str(extra)])
    sonnet = registry.get(registry.resolve("sonnet"))
    assert sonnet is not None and sonnet.pricing == ModelPricing(2.5, 12.0)
    haiku = registry.get(registry.resolve("haiku"))  # no pricing in the later entry: the built-in one stays
    assert haiku is not None and haiku.pricing == ModelPricing(1.0, 5.0, 0.1, 1.25)


def test_pricing_round_trips_through_to_dict() -> None:
    config = ModelConfig.from_dict(
        {"provider": "anthropic", "id": "claude-x", "pricing": {"input": 1, "output": 2, "cache_read": 0.5}}
    )
    assert config.pricing == ModelPricing(1.0, 2.0, 0.5, None)
    assert config.to_dict()["pricing"] == {"input": 1.0, "output": 2.0, "cache_read": 0.5}
    assert ModelConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("pricing", "message"),
    [
        ({"input": 1, "output": 2, "cache_hit": 0.1}, r"unknown keys \['cache_hit'\]; it accepts input, output"),
        ({"input": -1, "output": 2}, r"'pricing.input' must be a finite number >= 0"),
        ({"input": 1, "output": float("inf")}, r"'pricing.output' must be a finite number"),
        ({"input": 1, "output": float("nan")}, r"'pricing.output' must be a finite number"),
        ({"input": "3", "output": 2}, r"'pricing.input' must be a number, not str"),
        ({"input": True, "output": 2}, r"'pricing.input' must be a number, not bool"),
        ({"output": 2}, r"missing required field 'pricing.input'"),
        ([1, 2], r"'pricing' must be a table"),
    ],
)
def test_bad_prices_are_refused_naming_file_and_model(pricing: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"catalog /c.toml: model anthropic/claude-x: .*" + message):
        parse_catalog(_catalog(pricing), "/c.toml")


def test_cost_bills_cache_reads_and_writes_apart_from_plain_input() -> None:
    # input_tokens counts every prompt token (1000), of which 600 were read from and 100
    # written to the cache: 300 uncached.
    usage = TokenUsage(1000, 200, 1200, cache_read_input_tokens=600, cache_creation_input_tokens=100)
    expected = (300 * 3.0 + 600 * 0.3 + 100 * 3.75 + 200 * 15.0) / 1e6
    assert SONNET.cost(usage) == pytest.approx(expected)


def test_missing_cache_prices_fall_back_to_the_input_price() -> None:
    usage = TokenUsage(1000, 0, 1000, cache_read_input_tokens=400, cache_creation_input_tokens=100)
    assert ModelPricing(input=2.0, output=8.0).cost(usage) == pytest.approx(1000 * 2.0 / 1e6)


def test_cost_is_the_same_whichever_way_a_provider_reports_cached_tokens() -> None:
    # Anthropic reports input_tokens WITHOUT the cache; OpenAI's (and xAI's) prompt tokens and Gemini's
    # promptTokenCount INCLUDE the cached ones. The parsers normalise both to "input_tokens
    # counts every prompt token", which is what ModelPricing.cost relies on.
    from steer_sync._providers.anthropic._response import _map_usage
    from steer_sync._providers.gemini._response import _parse_usage as gemini_usage
    from steer_sync._providers.openai_chat._response import map_usage
    from steer_sync._providers.openai_chat._wire import ChatDialect
    from steer_sync._providers.openai_responses._response import _parse_usage as responses_usage

    anthropic = _map_usage({"input_tokens": 400, "cache_read_input_tokens": 600, "output_tokens": 50})
    responses = responses_usage(
        {"input_tokens": 1000, "output_tokens": 50, "input_tokens_details": {"cached_tokens": 600}}
    )
    gemini = gemini_usage({"promptTokenCount": 1000, "candidatesTokenCount": 50, "cachedContentTokenCount": 600})
    chat = map_usage(
        {"prompt_tokens": 1000, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": 600}},
        ChatDialect("openai"),
    )
    assert responses is not None and gemini is not None and chat is not None
    pricing = ModelPricing(input=2.0, output=10.0, cache_read=0.2)
    expected = (400 * 2.0 + 600 * 0.2 + 50 * 10.0) / 1e6
    for usage in (anthropic, responses, gemini, chat):
        assert usage.input_tokens == 1000 and usage.cache_read_input_tokens == 600
        assert pricing.cost(usage) == pytest.approx(expected)
