"""Deciding which credential a provider call uses (layer L2; core.md 5.7).

:class:`LlmConfigProvider` resolves auth for a provider id in this order:

1. an auth plugin registered for the provider (else the one its catalog ``auth`` table
   configures) returns a directive (its errors propagate);
2. a provider whose catalog entry says ``auth_schemes = []`` needs nothing;
3. the first non-blank environment variable of :meth:`LlmConfigProvider.key_env_vars`;
4. the API key in the credential store;
5. nothing.

Deviations from steer, as API.md asks: ``ANTHROPIC_API_KEY`` is read before
``CLAUDE_API_KEY``; a catalog provider reads the variables named by its ``api_key_env`` (one
or a list) or ``<PROVIDER_ID>_API_KEY``; and an empty or blank variable counts as unset (R19),
so it cannot shadow a real key further down the list. The variable names come from the
catalog (:func:`steer_sync._catalog.key_env_vars`; the built-in catalog declares the
built-in providers'), not from a table here.
"""

from __future__ import annotations

import enum
import os
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

from steer_sync._auth._directive import AuthDirective
from steer_sync._auth._plugin import (
    NO_AUTH,
    ApiKeyOrigin,
    ApiKeySource,
    AuthMethod,
    AuthPlugin,
    AuthPluginRegistry,
    AuthSource,
    PluginSource,
)
from steer_sync._auth._storage import ApiKeyCredential, AuthStorage
from steer_sync._catalog import ProviderRegistry, key_env_vars

__all__ = ["LlmConfigProvider", "ResolvedAuth", "ResolvedAuthKind", "default_key_env_vars"]


def default_key_env_vars(provider_id: str, api_key_env: Union[str, Sequence[str], None] = None) -> Tuple[str, ...]:
    """Return the environment variables that may hold a provider's API key, in lookup order.

    The catalog decides (:func:`steer_sync._catalog.key_env_vars`): the built-in catalog
    declares the built-in providers' variables.

    :param provider_id: the provider id.
    :param api_key_env: the catalog entry's ``api_key_env`` (a name or names); when set it wins.
    :returns: those names, the built-in provider's, or ``<PROVIDER_ID>_API_KEY`` (upper case,
        ``-``, ``.`` and other characters not allowed in a variable name turned into ``_``).
    """
    if api_key_env:
        return (api_key_env,) if isinstance(api_key_env, str) else tuple(api_key_env)
    return key_env_vars(provider_id)


class ResolvedAuthKind(enum.Enum):
    """What :meth:`LlmConfigProvider.resolve_auth_for_provider` found."""

    #: An auth plugin's directive.
    PLUGIN = "plugin"
    #: An API key (from the environment or the store).
    API_KEY = "api_key"
    #: The provider needs no credential (``auth_schemes = []``).
    NOT_REQUIRED = "not_required"
    #: No credential was found.
    NONE = "none"


_MASK = "'***'"


@dataclass(frozen=True, repr=False)
class ResolvedAuth:
    """The outcome of auth resolution for one provider; the API key is hidden from ``repr()``.

    Build with :meth:`plugin`, :meth:`with_api_key`, :meth:`none_required` or :meth:`none`.
    """

    #: What was found.
    kind: ResolvedAuthKind
    #: How the provider is authenticated (recorded with the cached provider).
    source: AuthSource = NO_AUTH
    #: The plugin's directive, for :attr:`ResolvedAuthKind.PLUGIN`.
    directive: Optional[AuthDirective] = None
    #: The API key credential, for :attr:`ResolvedAuthKind.API_KEY`.
    credential: Optional[ApiKeyCredential] = None

    @classmethod
    def plugin(cls, directive: AuthDirective, method: AuthMethod = AuthMethod.OAUTH) -> ResolvedAuth:
        """Auth by a plugin's directive."""
        return cls(ResolvedAuthKind.PLUGIN, PluginSource(method), directive=directive)

    @classmethod
    def with_api_key(cls, api_key: str, origin: ApiKeyOrigin) -> ResolvedAuth:
        """Auth by an API key found in ``origin``."""
        return cls(ResolvedAuthKind.API_KEY, ApiKeySource(origin), credential=ApiKeyCredential(api_key))

    @classmethod
    def none_required(cls) -> ResolvedAuth:
        """The provider needs no credential; build it with ``api_key=None``."""
        return cls(ResolvedAuthKind.NOT_REQUIRED)

    @classmethod
    def none(cls) -> ResolvedAuth:
        """No credential was found."""
        return cls(ResolvedAuthKind.NONE)

    @property
    def api_key(self) -> Optional[str]:
        """The API key, when :attr:`kind` is :attr:`ResolvedAuthKind.API_KEY`."""
        return self.credential.value if self.credential is not None else None

    @property
    def key_required(self) -> bool:
        """Whether the provider needs a credential (``False`` only for :attr:`ResolvedAuthKind.NOT_REQUIRED`)."""
        return self.kind is not ResolvedAuthKind.NOT_REQUIRED

    @property
    def is_usable(self) -> bool:
        """Whether a provider can be built from this (anything except :attr:`ResolvedAuthKind.NONE`)."""
        return self.kind is not ResolvedAuthKind.NONE

    def __repr__(self) -> str:
        parts = [f"kind={self.kind.name}", f"source={self.source!r}"]
        if self.directive is not None:
            parts.append(f"directive={type(self.directive).__name__}")
        if self.credential is not None:
            parts.append(f"api_key={_MASK}")
        return f"ResolvedAuth({', '.join(parts)})"


class LlmConfigProvider:
    """Resolves the credential each provider call uses: plugin, environment, then store.

    Holds no credential itself; every call reads the environment and the store again, so a
    key set later is picked up (the client caches providers, which amortises this).
    Thread-safe if the storage and the ``env`` callable are.

    Usage::

        config = LlmConfigProvider(FileAuthStorage())
        config.resolve_auth_for_provider(ProviderId("anthropic"))

    :param storage: the credential store.
    :param plugin_registry: auth plugins (default: an empty registry).
    :param env: reads one environment variable (default ``os.environ.get``; inject a dict's
        ``get`` in tests).
    :param provider_registry: catalog providers, for ``api_key_env`` and ``auth_schemes``
        (default: none, so only built-in variable names and ``<ID>_API_KEY`` are used).
    """

    def __init__(
        self,
        storage: AuthStorage,
        plugin_registry: Optional[AuthPluginRegistry] = None,
        env: Callable[[str], Optional[str]] = os.environ.get,
        provider_registry: Optional[ProviderRegistry] = None,
    ) -> None:
        self._storage = storage
        self._plugins = plugin_registry if plugin_registry is not None else AuthPluginRegistry()
        self._env = env
        self._providers = provider_registry
        # Plugins built from catalog ``auth`` tables, kept so their cached tokens survive
        # the client dropping and rebuilding a provider.
        self._catalog_plugins: Dict[str, AuthPlugin] = {}
        self._catalog_lock = threading.Lock()

    @classmethod
    def new_with_plugins(cls, storage: AuthStorage, plugin_registry: AuthPluginRegistry) -> LlmConfigProvider:
        """Build with an explicit plugin registry (steer ``new_with_plugins``)."""
        return cls(storage, plugin_registry)

    @property
    def auth_storage(self) -> AuthStorage:
        """The credential store."""
        return self._storage

    @property
    def plugin_registry(self) -> AuthPluginRegistry:
        """The auth plugins."""
        return self._plugins

    @property
    def provider_registry(self) -> Optional[ProviderRegistry]:
        """The catalog providers consulted for key variables and ``auth_schemes``, if any."""
        return self._providers

    def __repr__(self) -> str:
        return f"LlmConfigProvider(storage={self._storage!r}, plugins={self._plugins!r})"

    def env(self, name: str) -> Optional[str]:
        """Read one environment variable through the injected reader; blank values read as ``None``.

        :param name: the variable name.
        :returns: the value with surrounding whitespace removed, or ``None`` if unset or blank.
        """
        value = self._env(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def key_env_vars(self, provider_id: str) -> Tuple[str, ...]:
        """Return the environment variables read for ``provider_id``'s API key, in order.

        Error messages use this to name the variable to set.
        """
        config = self._providers.get(provider_id) if self._providers is not None else None
        return key_env_vars(provider_id, config)

    def resolve_api_key_for_provider(self, provider_id: str) -> Optional[Tuple[str, ApiKeyOrigin]]:
        """Find an API key: the environment first (first non-blank variable), then the store.

        Surrounding whitespace is stripped from the key.

        :param provider_id: the provider id.
        :returns: ``(key, origin)``, or ``None`` when there is no key.
        :raises AuthError: if the credential store cannot be read.
        """
        for name in self.key_env_vars(provider_id):
            value = self.env(name)
            if value is not None:
                return value, ApiKeyOrigin.ENV
        stored = self._storage.get_api_key(str(provider_id))
        if stored is not None and stored.strip():
            return stored.strip(), ApiKeyOrigin.STORED
        return None

    def resolve_auth_for_provider(self, provider_id: str) -> ResolvedAuth:
        """Decide how to authenticate ``provider_id`` (see the module docstring for the order).

        :param provider_id: the provider id.
        :returns: the resolution; :attr:`ResolvedAuthKind.NONE` when nothing was found.
        :raises AuthError: from the plugin or the credential store; a failing plugin is not
            replaced by an API key.
        """
        plugin = self._plugins.get(provider_id) or self.catalog_plugin(provider_id)
        if plugin is not None:
            directive = plugin.resolve_auth(self._storage)
            if directive is not None:
                return ResolvedAuth.plugin(directive, AuthMethod.OAUTH)
        config = self._providers.get(provider_id) if self._providers is not None else None
        if config is not None and not config.auth_schemes:
            return ResolvedAuth.none_required()
        found = self.resolve_api_key_for_provider(provider_id)
        if found is not None:
            return ResolvedAuth.with_api_key(found[0], found[1])
        return ResolvedAuth.none()

    def catalog_plugin(self, provider_id: str) -> Optional[AuthPlugin]:
        """The plugin the provider's catalog ``auth`` table configures, built once; ``None`` if none.

        A plugin registered for the provider in the plugin registry wins over this one.

        :raises ConfigurationError: if the catalog's settings are invalid.
        """
        config = self._providers.get(provider_id) if self._providers is not None else None
        auth = getattr(config, "auth", None)
        if auth is None:
            return None
        with self._catalog_lock:
            plugin = self._catalog_plugins.get(str(provider_id))
            if plugin is None:
                from steer_sync._auth._catalog_auth import plugin_for_catalog_auth

                plugin = plugin_for_catalog_auth(str(provider_id), auth)
                self._catalog_plugins[str(provider_id)] = plugin
            return plugin

    def resolve_auth_source(self, provider_id: str) -> AuthSource:
        """Return only the source of :meth:`resolve_auth_for_provider`."""
        return self.resolve_auth_for_provider(provider_id).source
