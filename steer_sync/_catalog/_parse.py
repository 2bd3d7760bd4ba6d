"""Catalog entry checks: a raw TOML table -> a checked config value (layer L2, no I/O).

Used by ``ProviderConfig.from_dict``/``ModelConfig.from_dict`` and by the catalog loader.
Each check raises :class:`_EntryError` naming the field and what it must be; the caller
adds the entry (and the loader the file) to the message.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from steer_sync._catalog._configs import (
    ApiFormat,
    AuthConfig,
    AuthScheme,
    CommandAuthConfig,
    ModelConfig,
    ModelPricing,
    OAuth2AuthConfig,
    ProviderConfig,
)
from steer_sync._errors import ConfigurationError
from steer_sync._types import ModelParameters, ProviderId, ThinkingConfig, ThinkingEffort

_U32_MAX = 2**32 - 1


class _EntryError(ValueError):
    """A catalog entry is invalid; the loader adds the file and entry to the message."""


def _entry_label(data: Mapping[str, Any], kind: str, index: Optional[int] = None) -> str:
    """Name an entry in error messages: ``anthropic/claude-x``, ``my-gw`` or ``models[3]``."""
    ident = data.get("id") if isinstance(data, Mapping) else None
    if kind == "model":
        provider = data.get("provider") if isinstance(data, Mapping) else None
        if isinstance(provider, str) and isinstance(ident, str):
            return f"{provider}/{ident}"
    elif isinstance(ident, str):
        return ident
    return f"{kind}s[{index}]" if index is not None else f"<{kind} without an id>"


def _type_name(value: object) -> str:
    return type(value).__name__


def _require(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise _EntryError(f"missing required field '{key}'")
    return data[key]


def _as_str(value: object, key: str, *, allow_blank: bool = True) -> str:
    if not isinstance(value, str):
        raise _EntryError(f"field '{key}' must be a string, not {_type_name(value)}")
    if not allow_blank and not value.strip():
        raise _EntryError(f"field '{key}' must not be empty")
    return value


def _as_bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise _EntryError(f"field '{key}' must be true or false, not {_type_name(value)}")
    return value


def _as_u32(value: object, key: str) -> int:
    # bool is an int subclass; `true` is never a token count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _EntryError(f"field '{key}' must be an integer, not {_type_name(value)}")
    if not 0 <= value <= _U32_MAX:
        raise _EntryError(f"field '{key}' must be between 0 and {_U32_MAX}, not {value}")
    return value


def _as_float(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _EntryError(f"field '{key}' must be a number, not {_type_name(value)}")
    if not math.isfinite(value):
        # TOML has nan and inf; neither can be sent in a JSON request body.
        raise _EntryError(f"field '{key}' must be a finite number, not {value!r}")
    return float(value)


def _as_table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _EntryError(f"field '{key}' must be a table, not {_type_name(value)}")
    return value


def _as_str_list(value: object, key: str) -> List[str]:
    if not isinstance(value, (list, tuple)):
        raise _EntryError(f"field '{key}' must be an array of strings, not {_type_name(value)}")
    for item in value:
        if not isinstance(item, str):
            raise _EntryError(f"field '{key}' must contain only strings, found {_type_name(item)}")
    return list(value)


def _enum_value(enum_cls: Any, value: object, key: str) -> Any:
    choices = ", ".join(member.value for member in enum_cls)
    if not isinstance(value, str):
        raise _EntryError(f"field '{key}' must be one of {choices}, not {_type_name(value)}")
    try:
        return enum_cls(value)
    except ValueError:
        raise _EntryError(f"field '{key}' has unknown value '{value}'; expected one of {choices}") from None


def _check_base_url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise _EntryError(f"base_url '{value}' is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise _EntryError(f"base_url '{value}' is not an http(s) URL such as 'https://api.example.com/v1'")
    return value


def _provider_from_table(data: Mapping[str, Any]) -> ProviderConfig:
    if not isinstance(data, Mapping):
        raise _EntryError(f"expected a table, not {_type_name(data)}")
    ident = _as_str(_require(data, "id"), "id", allow_blank=False)
    if ident != ident.strip() or "/" in ident:
        raise _EntryError(f"field 'id' must not contain '/' or surrounding spaces, got '{ident}'")
    name = _as_str(_require(data, "name"), "name")
    api_format = _enum_value(ApiFormat, _require(data, "api_format"), "api_format")
    raw_schemes = _require(data, "auth_schemes")
    if not isinstance(raw_schemes, (list, tuple)):
        raise _EntryError(f"field 'auth_schemes' must be an array, not {_type_name(raw_schemes)}")
    schemes = tuple(_enum_value(AuthScheme, s, "auth_schemes") for s in raw_schemes)
    base_url = None
    if data.get("base_url") is not None:
        base_url = _check_base_url(_as_str(data["base_url"], "base_url"))
    api_key_env = _env_names(data, "api_key_env")
    base_url_env = _env_names(data, "base_url_env")
    headers: Dict[str, str] = {}
    if data.get("headers") is not None:
        for name_, value in _as_table(data["headers"], "headers").items():
            headers[name_] = _as_str(value, f"headers.{name_}")
    query: Dict[str, str] = {}
    if data.get("query") is not None:
        for name_, value in _as_table(data["query"], "query").items():
            query[name_] = _as_str(value, f"query.{name_}")
    auth = _auth_from_table(data["auth"]) if data.get("auth") is not None else None
    return ProviderConfig(
        id=ProviderId(ident),
        name=name,
        api_format=api_format,
        auth_schemes=schemes,
        base_url=base_url,
        api_key_env=api_key_env,
        headers=headers,
        auth=auth,
        query=query,
        base_url_env=base_url_env,
    )


def _positive_seconds(value: object, key: str) -> float:
    seconds = _as_float(value, key)
    if not seconds > 0 or seconds == float("inf"):
        raise _EntryError(f"field '{key}' must be a positive number of seconds, not {value!r}")
    return seconds


def _auth_from_table(value: object) -> AuthConfig:
    table = _as_table(value, "auth")
    kinds = [key for key in ("command", "oauth2") if key in table]
    if len(kinds) != 1:
        raise _EntryError(
            "field 'auth' must hold exactly one of 'command' (e.g. auth = { command = [\"gcloud\", \"auth\", "
            "\"print-access-token\"] }) or 'oauth2' (auth = { oauth2 = { token_url = ..., client_id = ..., "
            "client_secret_env = ... } })"
        )
    if kinds == ["command"]:
        unknown = sorted(set(table) - {"command", "ttl", "timeout"})
        if unknown:
            raise _EntryError(f"field 'auth' has unknown keys {unknown}; a command accepts 'ttl' and 'timeout'")
        command = _as_str_list(table["command"], "auth.command")
        if not command or not command[0].strip():
            raise _EntryError('field \'auth.command\' must name a program, e.g. ["gcloud", "auth", ...]')
        ttl = _positive_seconds(table["ttl"], "auth.ttl") if table.get("ttl") is not None else None
        timeout = _positive_seconds(table["timeout"], "auth.timeout") if table.get("timeout") is not None else None
        return CommandAuthConfig(tuple(command), ttl, timeout)
    unknown = sorted(set(table) - {"oauth2"})
    if unknown:
        raise _EntryError(f"field 'auth' has unknown keys {unknown} next to 'oauth2'")
    oauth = _as_table(table["oauth2"], "auth.oauth2")
    token_url = _as_str(_require_in(oauth, "token_url"), "auth.oauth2.token_url", allow_blank=False)
    parts = urlsplit(token_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _EntryError(f"field 'auth.oauth2.token_url' must be an http(s) URL, got '{token_url}'")
    client_id = _as_str(_require_in(oauth, "client_id"), "auth.oauth2.client_id", allow_blank=False)
    secret_env = _as_str(
        _require_in(oauth, "client_secret_env"), "auth.oauth2.client_secret_env", allow_blank=False
    ).strip()
    if "=" in secret_env or " " in secret_env:
        raise _EntryError(
            "field 'auth.oauth2.client_secret_env' must name the environment variable that holds the secret"
        )
    scopes: List[str] = []
    if oauth.get("scopes") is not None:
        scopes = _as_str_list(oauth["scopes"], "auth.oauth2.scopes")
    return OAuth2AuthConfig(token_url, client_id, secret_env, tuple(scopes))


def _require_in(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise _EntryError(f"missing required field 'auth.oauth2.{key}'")
    return data[key]


def _env_name(value: object, key: str) -> str:
    name = _as_str(value, key, allow_blank=False).strip()
    if "=" in name:
        raise _EntryError(f"field '{key}' must be an environment variable name, got '{name}'")
    return name


def _env_names(data: Mapping[str, Any], key: str) -> Union[str, Tuple[str, ...], None]:
    """A field that names one environment variable (a string) or several (an array)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise _EntryError(f"field '{key}' must name at least one environment variable")
        return tuple(_env_name(item, key) for item in _as_str_list(value, key))
    return _env_name(value, key)


def _thinking_from_table(data: Mapping[str, Any]) -> ThinkingConfig:
    key = "parameters.thinking_config"
    if "enabled" not in data:
        raise _EntryError(f"missing required field '{key}.enabled'")
    effort = None
    if data.get("effort") is not None:
        effort = _enum_value(ThinkingEffort, data["effort"], f"{key}.effort")
    budget = None
    if data.get("budget_tokens") is not None:
        budget = _as_u32(data["budget_tokens"], f"{key}.budget_tokens")
    include = None
    if data.get("include_thoughts") is not None:
        include = _as_bool(data["include_thoughts"], f"{key}.include_thoughts")
    return ThinkingConfig(
        enabled=_as_bool(data["enabled"], f"{key}.enabled"),
        effort=effort,
        budget_tokens=budget,
        include_thoughts=include,
    )


def _parameters_from_table(data: Mapping[str, Any], source: str, label: str) -> ModelParameters:
    max_output = data.get("max_output_tokens")
    if data.get("max_tokens") is not None:
        # Seed-era catalogs used `max_tokens`; steer now ignores it silently, which drops the limit.
        warnings.warn(
            f"catalog {source}: model {label}: 'parameters.max_tokens' is deprecated; "
            "rename it to 'parameters.max_output_tokens'",
            DeprecationWarning,
            stacklevel=2,
        )
        if max_output is None:
            max_output = _as_u32(data["max_tokens"], "parameters.max_tokens")
    thinking = None
    if data.get("thinking_config") is not None:
        thinking = _thinking_from_table(_as_table(data["thinking_config"], "parameters.thinking_config"))
    try:
        return _checked_parameters(data, max_output, thinking)
    except ConfigurationError as exc:  # a range check of ModelParameters: name the entry too
        raise _EntryError(f"parameters: {exc.details}") from None


def _checked_parameters(
    data: Mapping[str, Any], max_output: object, thinking: Optional[ThinkingConfig]
) -> ModelParameters:
    return ModelParameters(
        temperature=_as_float(data["temperature"], "parameters.temperature")
        if data.get("temperature") is not None
        else None,
        max_output_tokens=_as_u32(max_output, "parameters.max_output_tokens") if max_output is not None else None,
        top_p=_as_float(data["top_p"], "parameters.top_p") if data.get("top_p") is not None else None,
        thinking_config=thinking,
    )


_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")


def _pricing_from_table(value: object) -> ModelPricing:
    table = _as_table(value, "pricing")
    unknown = sorted(set(table) - set(_PRICE_KEYS))
    if unknown:
        raise _EntryError(
            f"field 'pricing' has unknown keys {unknown}; it accepts {', '.join(_PRICE_KEYS)} "
            "(US dollars per million tokens)"
        )
    prices: Dict[str, Optional[float]] = {}
    for key in _PRICE_KEYS:
        if table.get(key) is None:
            if key in ("input", "output"):
                raise _EntryError(f"missing required field 'pricing.{key}' (US dollars per million tokens)")
            prices[key] = None
            continue
        price = _as_float(table[key], f"pricing.{key}")
        if not 0 <= price < float("inf"):
            raise _EntryError(f"field 'pricing.{key}' must be a finite number >= 0, not {table[key]!r}")
        prices[key] = price
    return ModelPricing(**prices)  # type: ignore[arg-type]


def _model_from_table(data: Mapping[str, Any], source: str) -> ModelConfig:
    if not isinstance(data, Mapping):
        raise _EntryError(f"expected a table, not {_type_name(data)}")
    provider = _as_str(_require(data, "provider"), "provider", allow_blank=False)
    ident = _as_str(_require(data, "id"), "id", allow_blank=False)
    display_name = None
    if data.get("display_name") is not None:
        display_name = _as_str(data["display_name"], "display_name")
    aliases = _as_str_list(data.get("aliases", []), "aliases")
    recommended = _as_bool(data.get("recommended", False), "recommended")
    context = None
    if data.get("context_window_tokens") is not None:
        context = _as_u32(data["context_window_tokens"], "context_window_tokens")
    parameters = None
    if data.get("parameters") is not None:
        parameters = _parameters_from_table(_as_table(data["parameters"], "parameters"), source, f"{provider}/{ident}")
    pricing = _pricing_from_table(data["pricing"]) if data.get("pricing") is not None else None
    return ModelConfig(
        provider=ProviderId(provider),
        id=ident,
        display_name=display_name,
        aliases=tuple(aliases),
        recommended=recommended,
        context_window_tokens=context,
        parameters=parameters,
        pricing=pricing,
        structured_output=(
            _as_bool(data["structured_output"], "structured_output")
            if data.get("structured_output") is not None
            else None
        ),
    )
