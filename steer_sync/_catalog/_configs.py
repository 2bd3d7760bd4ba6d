"""Catalog entries: provider and model configuration values (layer L2, no I/O).

A catalog (core.md 5.1) declares ``[[providers]]`` and ``[[models]]``. This module holds the
immutable values they become; the checks that turn a raw TOML table into one live in
:mod:`steer_sync._catalog._parse`, and reading files and layering catalogs in
:mod:`steer_sync._catalog._loader`.

Deviation from the spec: :class:`ModelConfig` is frozen, and :meth:`ModelConfig.merge_with`
returns the merged value instead of changing ``self`` (registries are shared by threads, so
their entries must not change under a reader).
"""

from __future__ import annotations

import enum
import types
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from steer_sync._errors import ConfigurationError
from steer_sync._types import ModelId, ModelParameters, ProviderId, TokenUsage

__all__ = [
    "ApiFormat",
    "AuthScheme",
    "CommandAuthConfig",
    "ModelConfig",
    "ModelPricing",
    "OAuth2AuthConfig",
    "ProviderConfig",
    "masked_command",
]


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


#: Words that make an argument's name (``--token``, ``client_secret=``) mark its value a secret.
_SECRET_WORDS = ("secret", "token", "password", "key")
#: What a masked argument value shows instead.
_MASK = "***"


def masked_command(command: Sequence[object]) -> Tuple[object, ...]:
    """The command as reprs and messages may show it: values of secret-looking arguments masked.

    ``--token=abc`` and ``client_secret=abc`` show as ``--token=***`` and ``client_secret=***``
    (the name before the first ``=`` holds secret, token, password or key, in any case); an
    option with such a name and no ``=`` (``--password abc``) masks the argument after it.
    Positional words (``print-access-token``) and the program stay readable.

    :param command: the program and its arguments (non-strings are kept as they are).
    :returns: the arguments to show.
    """
    shown: List[object] = []
    mask_next = False
    for arg in command:
        if mask_next:
            shown.append(_MASK)
            mask_next = False
            continue
        if isinstance(arg, str):
            name, equals, _ = arg.partition("=")
            if any(word in name.lower() for word in _SECRET_WORDS):
                if equals:
                    arg = f"{name}={_MASK}"
                elif arg.startswith("-"):
                    mask_next = True
        shown.append(arg)
    return tuple(shown)


@dataclass(frozen=True)
class CommandAuthConfig:
    """A catalog provider's ``auth = { command = [...] }``: a token printed by a command."""

    #: The program and its arguments (run without a shell).
    command: Tuple[str, ...]
    #: The longest time a token is used, in seconds, or ``None``.
    ttl: Optional[float] = None
    #: Seconds the command may run, or ``None`` for the default.
    timeout: Optional[float] = None

    def __repr__(self) -> str:
        # Arguments may carry a secret (``--token=...``); a repr shows them masked.
        return (
            f"CommandAuthConfig(command={masked_command(self.command)!r}, ttl={self.ttl!r}, timeout={self.timeout!r})"
        )

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
        # _parse builds this module's values, so it is imported here rather than at the top.
        from steer_sync._catalog._parse import _entry_label, _EntryError, _provider_from_table

        try:
            return _provider_from_table(data)
        except _EntryError as exc:
            raise ConfigurationError(None, f"provider {_entry_label(data, 'provider')}: {exc}") from None


@dataclass(frozen=True)
class ModelPricing:
    """A model's list prices, in US dollars per million tokens (a catalog's ``pricing`` table).

    Immutable and thread-safe. ``cache_read`` and ``cache_write`` default to the ``input``
    price when a provider lists no separate rate.

    Usage::

        pricing = ModelPricing(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
        pricing.cost(response.usage)  # US dollars
    """

    #: Price of a prompt token that is neither read from nor written to the cache.
    input: float
    #: Price of a generated token (reasoning tokens included).
    output: float
    #: Price of a prompt token read from the provider's cache, or ``None`` for ``input``.
    cache_read: Optional[float] = None
    #: Price of a prompt token written to the provider's cache, or ``None`` for ``input``.
    cache_write: Optional[float] = None

    def cost(self, usage: TokenUsage) -> float:
        """What ``usage`` costs, in US dollars.

        :class:`TokenUsage` counts every prompt token in ``input_tokens``, the cached ones
        included, for every provider (the Anthropic parser adds its separately reported
        cache reads and writes back in; OpenAI and Gemini report them inside the prompt
        count). So the uncached prompt tokens are ``input_tokens`` minus the cache reads and
        writes, each group billed at its own price, plus ``output_tokens`` at ``output``.

        :param usage: the tokens a call reported.
        :returns: the cost in US dollars.
        """
        read = usage.cache_read_input_tokens
        written = usage.cache_creation_input_tokens
        uncached = max(usage.input_tokens - read - written, 0)
        read_price = self.input if self.cache_read is None else self.cache_read
        write_price = self.input if self.cache_write is None else self.cache_write
        total = uncached * self.input + read * read_price + written * write_price + usage.output_tokens * self.output
        return total / 1_000_000

    def to_dict(self) -> Dict[str, float]:
        """Serialise as the catalog's ``pricing`` table (absent cache prices omitted)."""
        out = {"input": self.input, "output": self.output}
        if self.cache_read is not None:
            out["cache_read"] = self.cache_read
        if self.cache_write is not None:
            out["cache_write"] = self.cache_write
        return out


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
    #: List prices (``pricing = { input = ..., output = ... }``), or ``None`` when the catalog has none.
    pricing: Optional[ModelPricing] = None
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
        ``other`` winning; ``pricing`` is replaced whole when ``other`` sets it.

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
            pricing=other.pricing if other.pricing is not None else self.pricing,
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
        if self.pricing is not None:
            out["pricing"] = self.pricing.to_dict()
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
        from steer_sync._catalog._parse import _entry_label, _EntryError, _model_from_table

        try:
            return _model_from_table(data, source="<dict>")
        except _EntryError as exc:
            raise ConfigurationError(None, f"model {_entry_label(data, 'model')}: {exc}") from None


def _names(value: Union[str, Tuple[str, ...], None]) -> Tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
