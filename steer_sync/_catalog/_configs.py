"""Catalog entries: provider and model configuration values (layer L2, no I/O).

A catalog (core.md 5.1) declares ``[[providers]]`` and ``[[models]]``. This module holds the
immutable values they become and the checks that turn a raw TOML table into one; reading
files and layering catalogs lives in :mod:`steer_sync._catalog._loader`.

Deviation from the spec: :class:`ModelConfig` is frozen, and :meth:`ModelConfig.merge_with`
returns the merged value instead of changing ``self`` (registries are shared by threads, so
their entries must not change under a reader).
"""

from __future__ import annotations

import enum
import math
import types
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from steer_sync._errors import ConfigurationError
from steer_sync._types import ModelId, ModelParameters, ProviderId, ThinkingConfig, ThinkingEffort

__all__ = ["ApiFormat", "AuthScheme", "CommandAuthConfig", "ModelConfig", "OAuth2AuthConfig", "ProviderConfig"]

_U32_MAX = 2**32 - 1


class ApiFormat(enum.Enum):
    """The wire format a provider speaks; picks the provider implementation."""

    #: OpenAI Responses API (``/v1/responses``).
    OPENAI_RESPONSES = "openai-responses"
    #: OpenAI Chat Completions API, also spoken by most compatible servers.
    OPENAI_CHAT = "openai-chat"
    #: Anthropic Messages API.
    ANTHROPIC = "anthropic"
    #: Google Gemini ``generateContent``.
    GOOGLE = "google"
    #: xAI (Chat Completions with xAI's extensions).
    XAI = "xai"

    def __str__(self) -> str:
        return self.value


class AuthScheme(enum.Enum):
    """A way a provider accepts credentials."""

    #: A static API key.
    API_KEY = "api-key"
    #: An OAuth 2 login, handled by an auth plugin.
    OAUTH2 = "oauth2"

    def __str__(self) -> str:
        return self.value


class _EntryError(ValueError):
    """A catalog entry is invalid; the loader adds the file and entry to the message."""


@dataclass(frozen=True)
class CommandAuthConfig:
    """A catalog provider's ``auth = { command = [...] }``: a token printed by a command."""

    #: The program and its arguments (run without a shell).
    command: Tuple[str, ...]
    #: The longest time a token is used, in seconds, or ``None``.
    ttl: Optional[float] = None
    #: Seconds the command may run, or ``None`` for the default.
    timeout: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as the catalog's ``auth`` table."""
        out: Dict[str, Any] = {"command": list(self.command)}
        if self.ttl is not None:
            out["ttl"] = self.ttl
        if self.timeout is not None:
            out["timeout"] = self.timeout
        return out


@dataclass(frozen=True)
class OAuth2AuthConfig:
    """A catalog provider's ``auth = { oauth2 = {...} }``: the client-credentials grant."""

    #: The token endpoint.
    token_url: str
    #: The client identifier.
    client_id: str
    #: The environment variable holding the client secret (never the secret itself).
    client_secret_env: str
    #: The scopes to request.
    scopes: Tuple[str, ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as the catalog's ``auth`` table."""
        inner: Dict[str, Any] = {
            "token_url": self.token_url,
            "client_id": self.client_id,
            "client_secret_env": self.client_secret_env,
        }
        if self.scopes:
            inner["scopes"] = list(self.scopes)
        return {"oauth2": inner}


#: What a catalog provider's ``auth`` table becomes.
AuthConfig = Union[CommandAuthConfig, OAuth2AuthConfig]


@dataclass(frozen=True)
class ProviderConfig:
    """A provider declared by a catalog: how to reach it and which wire format it speaks.

    Immutable and thread-safe. A later catalog that declares the same ``id`` replaces the
    whole entry.
    """

    #: The provider id, used in model ids (``"anthropic"``, ``"my-gw"``).
    id: ProviderId
    #: A human-readable name.
    name: str
    #: The wire format.
    api_format: ApiFormat
    #: The credential kinds the provider accepts; empty means it needs no credential.
    auth_schemes: Tuple[AuthScheme, ...]
    #: An http(s) URL that replaces the format's default endpoint base.
    base_url: Optional[str] = None
    #: The environment variable(s) that hold the API key, read in order: a name, or a tuple of
    #: names (a catalog array). Unset: the built-in catalog's names for a built-in id, else
    #: ``<ID>_API_KEY``.
    api_key_env: Union[str, Tuple[str, ...], None] = None
    #: Static headers sent with every request to this provider (read-only mapping).
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: The auth plugin the catalog configures for this provider (``auth = {...}``), or ``None``.
    auth: Optional[AuthConfig] = None
    #: Query parameters sent with every request to this provider (read-only mapping).
    query: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: The environment variable(s) whose first non-blank value replaces ``base_url``: a name,
    #: or a tuple of names. Unset: the built-in catalog's names for a built-in id, else none.
    base_url_env: Union[str, Tuple[str, ...], None] = None

    def __post_init__(self) -> None:
        # Callers may pass plain strings; normalise them (typed as object so the checks stay).
        ident: object = self.id
        if not isinstance(ident, ProviderId):
            object.__setattr__(self, "id", ProviderId(str(ident)))
        api_format: object = self.api_format
        if not isinstance(api_format, ApiFormat):
            object.__setattr__(self, "api_format", ApiFormat(api_format))
        schemes = tuple(s if isinstance(s, AuthScheme) else AuthScheme(s) for s in self.auth_schemes)
        object.__setattr__(self, "auth_schemes", schemes)
        # A read-only copy, so the frozen value cannot be changed through the caller's dict.
        object.__setattr__(self, "headers", types.MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "query", types.MappingProxyType(dict(self.query)))
        for name in ("api_key_env", "base_url_env"):
            value: object = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))

    @property
    def api_key_env_vars(self) -> Tuple[str, ...]:
        """The entry's own ``api_key_env`` names, in lookup order (empty when unset)."""
        return _names(self.api_key_env)

    @property
    def base_url_env_vars(self) -> Tuple[str, ...]:
        """The entry's own ``base_url_env`` names, in lookup order (empty when unset)."""
        return _names(self.base_url_env)

    @property
    def requires_credentials(self) -> bool:
        """Whether the provider needs a credential at all (``auth_schemes`` is not empty)."""
        return bool(self.auth_schemes)

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as a catalog ``[[providers]]`` table (absent optional fields omitted)."""
        out: Dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "api_format": self.api_format.value,
            "auth_schemes": [s.value for s in self.auth_schemes],
        }
        if self.base_url is not None:
            out["base_url"] = self.base_url
        for name in ("api_key_env", "base_url_env"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value if isinstance(value, str) else list(value)
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.auth is not None:
            out["auth"] = self.auth.to_dict()
        if self.query:
            out["query"] = dict(self.query)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProviderConfig:
        """Build from a catalog ``[[providers]]`` table, checking every field.

        :param data: the table.
        :returns: the provider config.
        :raises ConfigurationError: if a field is missing or invalid.
        """
        try:
            return _provider_from_table(data)
        except _EntryError as exc:
            raise ConfigurationError(None, f"provider {_entry_label(data, 'provider')}: {exc}") from None


@dataclass(frozen=True)
class ModelConfig:
    """A model declared by a catalog: its aliases and default parameters.

    Immutable and thread-safe; layering catalogs builds new values with :meth:`merge_with`.
    """

    #: The provider that serves the model.
    provider: ProviderId
    #: The provider's model id, sent on the wire.
    id: str
    #: A human-readable name (never used to resolve a model).
    display_name: Optional[str] = None
    #: Short names that resolve to this model; global across providers.
    aliases: Tuple[str, ...] = ()
    #: Whether the catalog recommends the model for general use.
    recommended: bool = False
    #: The advertised context window, in tokens.
    context_window_tokens: Optional[int] = None
    #: Default parameters for calls to this model.
    parameters: Optional[ModelParameters] = None
    #: Whether the model takes the format's native structured output (``response_format``);
    #: ``False`` sends a forced tool instead, ``None`` (unset) means native, the default of
    #: every built-in provider. Catalog key ``structured_output = false``.
    structured_output: Optional[bool] = None

    def __post_init__(self) -> None:
        provider: object = self.provider
        if not isinstance(provider, ProviderId):
            object.__setattr__(self, "provider", ProviderId(str(provider)))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    @property
    def model_id(self) -> ModelId:
        """The model's :class:`ModelId`."""
        return ModelId(self.provider, self.id)

    def effective_parameters(self, call_options: Optional[ModelParameters]) -> Optional[ModelParameters]:
        """Return the catalog parameters overlaid with the call's options (the call wins).

        :param call_options: the parameters passed to the call, or ``None``.
        :returns: the merged parameters, or ``None`` when neither side has any.
        """
        if self.parameters is None:
            return call_options
        if call_options is None:
            return self.parameters
        return self.parameters.merge(call_options)

    def merge_with(self, other: ModelConfig) -> ModelConfig:
        """Return this entry layered with a later catalog's entry for the same model (core.md 5.3).

        Aliases are appended when new (order kept); ``recommended`` always comes from
        ``other`` (its default is ``False``, so a later entry that only tweaks parameters
        also turns it off, as in steer); ``display_name``, ``context_window_tokens`` and
        ``structured_output`` are replaced only when ``other`` sets them; parameters are merged field by field with
        ``other`` winning.

        :param other: the later entry.
        :returns: the merged entry (``self`` is unchanged).
        """
        aliases: List[str] = list(self.aliases)
        for alias in other.aliases:
            if alias not in aliases:
                aliases.append(alias)
        if self.parameters is not None and other.parameters is not None:
            parameters: Optional[ModelParameters] = self.parameters.merge(other.parameters)
        else:
            parameters = other.parameters if other.parameters is not None else self.parameters
        return ModelConfig(
            provider=self.provider,
            id=self.id,
            display_name=other.display_name if other.display_name is not None else self.display_name,
            aliases=tuple(aliases),
            recommended=other.recommended,
            context_window_tokens=(
                other.context_window_tokens if other.context_window_tokens is not None else self.context_window_tokens
            ),
            parameters=parameters,
            structured_output=(
                other.structured_output if other.structured_output is not None else self.structured_output
            ),
        )

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as a catalog ``[[models]]`` table (absent optional fields omitted)."""
        out: Dict[str, Any] = {"provider": str(self.provider), "id": self.id}
        if self.display_name is not None:
            out["display_name"] = self.display_name
        out["aliases"] = list(self.aliases)
        out["recommended"] = self.recommended
        if self.context_window_tokens is not None:
            out["context_window_tokens"] = self.context_window_tokens
        if self.parameters is not None:
            out["parameters"] = self.parameters.to_dict()
        if self.structured_output is not None:
            out["structured_output"] = self.structured_output
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build from a catalog ``[[models]]`` table, checking every field.

        ``max_output_tokens`` is not required here: it may come from a later catalog, so
        the registry checks it after layering.

        :param data: the table.
        :returns: the model config.
        :raises ConfigurationError: if a field is missing or invalid.
        """
        try:
            return _model_from_table(data, source="<dict>")
        except _EntryError as exc:
            raise ConfigurationError(None, f"model {_entry_label(data, 'model')}: {exc}") from None


# --- field checks shared by from_dict and the catalog loader --------------------------------


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


def _names(value: Union[str, Tuple[str, ...], None]) -> Tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


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
    return ModelConfig(
        provider=ProviderId(provider),
        id=ident,
        display_name=display_name,
        aliases=tuple(aliases),
        recommended=recommended,
        context_window_tokens=context,
        parameters=parameters,
        structured_output=(
            _as_bool(data["structured_output"], "structured_output")
            if data.get("structured_output") is not None
            else None
        ),
    )
