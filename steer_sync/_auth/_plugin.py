"""Auth plugins and where a provider's credential came from (layer L2).

An :class:`AuthPlugin` turns stored login state (OAuth tokens) into an
:data:`~steer_sync._auth._directive.AuthDirective` for one provider. The
:class:`AuthPluginRegistry` holds at most one plugin per provider id. The ``AuthSource``
values record how a provider entry was authenticated, which decides whether the client
falls back to an API key after a 401/403 (core.md 8.4).

No plugin is registered by default.
"""

from __future__ import annotations

import abc
import enum
import threading
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

from steer_sync._auth._directive import AuthDirective
from steer_sync._auth._record import _Record
from steer_sync._auth._storage import AuthStorage
from steer_sync._errors import AuthError
from steer_sync._types import ProviderId

__all__ = [
    "NO_AUTH",
    "ApiKeyOrigin",
    "ApiKeySource",
    "AuthMethod",
    "AuthPlugin",
    "AuthPluginRegistry",
    "AuthSource",
    "NoAuthSource",
    "PluginSource",
]


class AuthMethod(enum.Enum):
    """A way to log in to a provider."""

    #: An OAuth login (browser or pasted code).
    OAUTH = "OAuth"
    #: Entering an API key.
    API_KEY = "ApiKey"

    def __str__(self) -> str:
        return self.value


class ApiKeyOrigin(enum.Enum):
    """Where an API key was found."""

    #: An environment variable.
    ENV = "env"
    #: The credential store.
    STORED = "stored"

    def __str__(self) -> str:
        return self.value


class ApiKeySource(_Record):
    """The provider was authenticated with an API key."""

    __slots__ = ("origin",)

    #: Where the key came from.
    origin: ApiKeyOrigin

    def __init__(self, origin: ApiKeyOrigin) -> None:
        self._set(origin=origin)

    def __str__(self) -> str:
        return f"api key ({self.origin})"


class PluginSource(_Record):
    """The provider was authenticated by an auth plugin's directive."""

    __slots__ = ("method",)

    #: The login method behind the directive.
    method: AuthMethod

    def __init__(self, method: AuthMethod = AuthMethod.OAUTH) -> None:
        self._set(method=method)

    def __str__(self) -> str:
        return f"plugin ({self.method})"


class NoAuthSource(_Record):
    """No credential was used (none was found, or the provider needs none)."""

    __slots__ = ()

    def __str__(self) -> str:
        return "none"


#: The single :class:`NoAuthSource` value.
NO_AUTH = NoAuthSource()

#: How a provider was authenticated.
AuthSource = Union[ApiKeySource, PluginSource, NoAuthSource]


class AuthPlugin(abc.ABC):
    """Supplies auth directives for one provider from stored login state.

    Implementations must be thread-safe: the client calls :meth:`resolve_auth` from any
    thread, and a token refresh inside a header provider must be guarded by a lock.
    """

    @property
    @abc.abstractmethod
    def provider_id(self) -> ProviderId:
        """The provider this plugin authenticates."""

    @abc.abstractmethod
    def supported_methods(self) -> Sequence[AuthMethod]:
        """The login methods the plugin's flow offers."""

    @abc.abstractmethod
    def resolve_auth(self, storage: AuthStorage) -> Optional[AuthDirective]:
        """Return a directive when a usable login is stored, else ``None``.

        :param storage: the credential store.
        :raises AuthError: if the stored state cannot be used; the error propagates to the
            caller and is not replaced by an API-key lookup.
        """

    @abc.abstractmethod
    def is_authenticated(self, storage: AuthStorage) -> bool:
        """Whether a usable login is stored.

        :param storage: the credential store.
        """

    def create_flow(self, storage: AuthStorage) -> Optional[Any]:
        """Return an interactive login flow, or ``None`` when the plugin has none (the default).

        :param storage: where the flow stores what it obtains.
        """
        return None


def _provider_key(plugin: AuthPlugin) -> str:
    # Plugins ported from Rust may define provider_id() as a method; accept both forms.
    value: object = plugin.provider_id
    if callable(value):
        value = value()
    return str(value)


class AuthPluginRegistry:
    """At most one :class:`AuthPlugin` per provider id. Thread-safe.

    :param plugins: plugins to register at once.
    :raises AuthError: if two plugins are for the same provider.
    """

    def __init__(self, plugins: Iterable[AuthPlugin] = ()) -> None:
        self._lock = threading.Lock()
        self._plugins: Dict[str, AuthPlugin] = {}
        for plugin in plugins:
            self.register(plugin)

    def register(self, plugin: AuthPlugin) -> None:
        """Add a plugin.

        :param plugin: the plugin.
        :raises AuthError: ``Auth plugin conflict for provider {id}`` if one is already
            registered for that provider.
        :raises TypeError: if ``plugin`` is not a plugin (has no ``provider_id``/``resolve_auth``).
        """
        if not (hasattr(plugin, "provider_id") and hasattr(plugin, "resolve_auth")):
            raise TypeError(
                "auth plugins must be AuthPlugin objects such as CommandTokenPlugin('my-gw', [...]), "
                f"not {type(plugin).__name__}"
            )
        key = _provider_key(plugin)
        with self._lock:
            if key in self._plugins:
                raise AuthError(f"Auth plugin conflict for provider {key}")
            self._plugins[key] = plugin

    def get(self, provider_id: str) -> Optional[AuthPlugin]:
        """Return the plugin for ``provider_id``, or ``None``."""
        with self._lock:
            return self._plugins.get(str(provider_id))

    def all(self) -> Tuple[AuthPlugin, ...]:
        """Return every registered plugin, in registration order."""
        with self._lock:
            return tuple(self._plugins.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._plugins)

    def __repr__(self) -> str:
        with self._lock:
            return f"AuthPluginRegistry({list(self._plugins)!r})"
