"""The client's provider cache: entries, leases, retirement, the credential fallback, fork reset (layer L3).

Providers are built on first use from the resolved credential and cached per provider id;
a call leases the provider it uses, so ``close()`` spares it until that call lets go. A
refused plugin credential evicts its provider (retired: ``close()`` still closes it) and
may fall back to the API key. After ``os.fork()`` a child starts with an empty cache.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple, TypeVar, Union

from steer_sync._errors import ApiAuthError, ApiError, AuthError, ConfigurationError
from steer_sync._provider import Provider
from steer_sync._retry import should_invalidate_provider
from steer_sync._types import ProviderId

if TYPE_CHECKING:
    from steer_sync._auth import LlmConfigProvider
    from steer_sync._catalog import ProviderRegistry

__all__ = ["CacheState", "ProviderCache", "ProviderEntry"]

_log = logging.getLogger("steer_sync.client")

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderEntry:
    """A cached provider and where its credential came from."""

    provider: Provider
    #: True when the credential came from an auth plugin (the API-key fallback applies).
    from_plugin: bool


class CacheState:
    """The state of one provider cache, held by a client and every client derived from it.

    ``with_options`` clients point to their parent's holder, so they share providers and
    pools; after ``os.fork()`` the holder itself is emptied once in the child, so the
    sharing survives the fork (resetting each client would give each its own cache).
    """

    __slots__ = ("lock", "providers", "retired", "in_use", "closing", "pid", "__weakref__")

    lock: Any
    providers: Dict[ProviderId, ProviderEntry]
    #: Evicted providers (a refused credential, invalidate_provider) that calls in flight
    #: may still use: close() releases their pooled connections too.
    retired: weakref.WeakSet[Provider]
    #: id(provider) -> [provider, calls using it]: close() leaves these to their last call.
    in_use: Dict[int, List[Any]]
    #: ids of providers close() found in use: the last call using one closes it.
    closing: Set[int]
    #: The process that built the providers.
    pid: int

    def __init__(self) -> None:
        self.reset()
        _LIVE_STATES.add(self)

    def reset(self) -> None:
        """Forget every provider without closing it (the fork child's start)."""
        # After fork the inherited sessions share sockets with the parent: drop them
        # without closing (closing would shut the parent's connections down).
        self.lock = threading.RLock()
        self.providers = {}
        self.retired = weakref.WeakSet()
        self.in_use = {}
        self.closing = set()
        self.pid = os.getpid()


class ProviderCache:
    """The provider cache half of ``Client``: ``_cache`` is set by ``Client.__init__``.

    Thread-safe: every read and change of the cache holds ``_lock``; credentials are
    resolved and providers built outside it where they may block.
    """

    _config: LlmConfigProvider
    _provider_registry: ProviderRegistry
    _provider_options: Dict[str, Any]
    #: Shared with the clients derived by ``with_options``.
    _cache: CacheState

    @property
    def _lock(self) -> Any:
        return self._cache.lock

    @property
    def _providers(self) -> Dict[ProviderId, ProviderEntry]:
        return self._cache.providers

    @property
    def _retired(self) -> weakref.WeakSet[Provider]:
        return self._cache.retired

    @property
    def _in_use(self) -> Dict[int, List[Any]]:
        return self._cache.in_use

    @property
    def _closing(self) -> Set[int]:
        return self._cache.closing

    def invalidate_provider(self, provider_id: Union[ProviderId, str]) -> None:
        """Drop the cached provider so the next call re-reads its credential."""
        with self._lock:
            entry = self._providers.pop(ProviderId(provider_id), None)
            if entry is not None:
                self._retired.add(entry.provider)

    def insert_test_provider(self, provider_id: Union[ProviderId, str], provider: Provider) -> None:
        """Install ``provider`` for ``provider_id`` (tests; no credential fallback)."""
        with self._lock:
            self._providers[ProviderId(provider_id)] = ProviderEntry(provider, from_plugin=False)

    def close(self) -> None:
        """Release every cached provider's connections.

        Calls in flight finish, retries and stream restarts included: a provider still
        in use is closed when the last call using it ends. The client stays usable: a
        later call builds its provider again (like ``requests.Session``).
        """
        with self._lock:
            providers = [entry.provider for entry in self._providers.values()]
            providers.extend(self._retired)
            self._providers.clear()
            self._retired.clear()
            idle = []
            for provider in providers:
                if id(provider) in self._in_use:
                    self._closing.add(id(provider))
                else:
                    idle.append(provider)
        for provider in idle:
            provider.close()

    def _get_entry(self, provider_id: ProviderId) -> ProviderEntry:
        if self._cache.pid != os.getpid():
            self._cache.reset()  # where os.register_at_fork is missing
        with self._lock:
            entry = self._providers.get(provider_id)
        if entry is not None:
            return entry
        config = self._provider_config(provider_id)
        # Resolving a credential may read a file or a keyring: never under the lock.
        try:
            resolved = self._config.resolve_auth_for_provider(provider_id)
        except AuthError as error:
            # A corrupt credential store or a login that must be redone: say so, with
            # the provider, rather than the Rust "Unexpected internal error".
            raise ApiAuthError(str(provider_id), f"could not read the credential for {provider_id}: {error}") from error
        with self._lock:
            entry = self._providers.get(provider_id)
            if entry is None:
                entry = self._build_entry(config, resolved)
                self._providers[provider_id] = entry
            return entry

    def _lease_entry(self, provider_id: ProviderId) -> ProviderEntry:
        """The cached entry, marked in use until :meth:`_let_go`: ``close()`` spares it till then."""
        while True:
            entry = self._get_entry(provider_id)
            with self._lock:
                # Still cached means close() has not closed it; otherwise fetch again.
                if self._providers.get(provider_id) is entry:
                    self._hold(entry.provider)
                    return entry

    def _hold(self, provider: Provider) -> None:
        """Mark ``provider`` in use by one more call (released by :meth:`_let_go`)."""
        with self._lock:
            held = self._in_use.get(id(provider))
            if held is None:
                self._in_use[id(provider)] = [provider, 1]
            else:
                held[1] += 1

    def _let_go(self, provider: Provider) -> None:
        """End one call's use of ``provider``; the last call closes it if ``close()`` retired it."""
        with self._lock:
            held = self._in_use.get(id(provider))
            if held is None or held[0] is not provider:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del self._in_use[id(provider)]
            if id(provider) not in self._closing:
                return
            self._closing.discard(id(provider))
        provider.close()

    def _provider_config(self, provider_id: ProviderId) -> Any:
        config = self._provider_registry.get(provider_id)
        if config is None:
            known = ", ".join(sorted(str(c.id) for c in self._provider_registry.all()))
            raise ConfigurationError(
                str(provider_id),
                f"No provider configuration found for {provider_id!r}; known providers: {known}. "
                "Add it to a catalog file ([[providers]]) to use it.",
            )
        return config

    def _build_entry(self, config: Any, resolved: Any) -> ProviderEntry:
        from steer_sync._factory import create_provider

        base_url = self._base_url(config)
        if resolved.directive is not None:
            provider = create_provider(
                config, api_key=None, directive=resolved.directive, base_url=base_url, **self._provider_options
            )
            return ProviderEntry(provider, from_plugin=True)
        if resolved.api_key is None and not resolved.key_required:
            provider = create_provider(config, api_key=None, base_url=base_url, **self._provider_options)
            return ProviderEntry(provider, from_plugin=False)
        if resolved.api_key is not None:
            self._warn_if_keys_disagree(config, resolved.api_key)
        if resolved.api_key is None:
            token = self._auth_token(config)
            if token is None:
                raise self._missing_key_error(config.id)
            # As the anthropic SDK does: a bearer token when no API key is set.
            options = {**self._provider_options, "auth_token": token}
            return ProviderEntry(create_provider(config, api_key=None, base_url=base_url, **options), from_plugin=False)
        provider = create_provider(config, api_key=resolved.api_key, base_url=base_url, **self._provider_options)
        return ProviderEntry(provider, from_plugin=False)

    def _base_url(self, config: Any) -> Optional[str]:
        from steer_sync._catalog import base_url_env_vars  # the catalog loads with the first provider

        for variable in base_url_env_vars(str(config.id), config):
            value = (self._config.env(variable) or "").strip()
            if value:
                return value
        base_url: Optional[str] = config.base_url
        return base_url

    def _warn_if_keys_disagree(self, config: Any, used: str) -> None:
        # As google-genai does for GOOGLE_API_KEY and GEMINI_API_KEY: say which one won.
        present = [(name, self._config.env(name)) for name in self._config.key_env_vars(config.id)]
        present = [(name, value) for name, value in present if value]
        if len(present) > 1 and present[0][1] == used and any(value != used for _, value in present[1:]):
            others = " and ".join(name for name, _ in present[1:])
            _log.warning("Both %s and %s are set. Using %s.", present[0][0], others, present[0][0])

    def _auth_token(self, config: Any) -> Optional[str]:
        from steer_sync._catalog import auth_token_env_vars

        for variable in auth_token_env_vars(str(config.id)):
            value = (self._config.env(variable) or "").strip()
            if value:
                return value
        return None

    def _missing_key_error(self, provider_id: ProviderId) -> ConfigurationError:
        variables = self._config.key_env_vars(provider_id)
        if variables:
            names = " or ".join(variables)
            how = f"set {names}"
        else:
            how = "store an API key for it"
        return ConfigurationError(
            str(provider_id),
            f"No API key for provider {str(provider_id)!r}: {how} (or store a key in the credential store).",
        )

    def _invalidate_if_same(self, provider_id: ProviderId, entry: ProviderEntry) -> None:
        # Only evict the entry that failed: another thread may already have installed
        # a fresh one, which must survive.
        with self._lock:
            if self._providers.get(provider_id) is entry:
                del self._providers[provider_id]
                self._retired.add(entry.provider)

    def _fall_back(
        self,
        provider_id: ProviderId,
        entry: ProviderEntry,
        error: ApiError,
        attempt: Callable[[Provider], T],
    ) -> Tuple[T, ProviderEntry]:
        """Handle a failure that survived retries: evict, then maybe retry with an API key.

        :returns: the fallback's result and its entry, leased: the caller lets it go with
            :meth:`_let_go` once it no longer uses the provider (a stream: when it ends).
        """
        if not should_invalidate_provider(error):
            raise error
        self._invalidate_if_same(provider_id, entry)
        if not entry.from_plugin:
            raise error
        key = self._config.resolve_api_key_for_provider(provider_id)
        if key is None:
            raise error
        from steer_sync._factory import create_provider

        config = self._provider_config(provider_id)
        fallback = ProviderEntry(
            create_provider(config, api_key=key[0], base_url=self._base_url(config), **self._provider_options),
            from_plugin=False,
        )
        _log.warning("auth plugin credential for %s was refused; falling back to the API key", provider_id)
        self._hold(fallback.provider)
        try:
            result = attempt(fallback.provider)
        except BaseException as exc:
            # Nobody else has seen this provider: release its pool now.
            self._let_go(fallback.provider)
            fallback.provider.close()
            if isinstance(exc, ApiError):
                raise exc from error
            raise
        with self._lock:
            current = self._providers.get(provider_id)
            if current is None or current is entry:
                self._providers[provider_id] = fallback
                return result, fallback
            # Another thread installed a fresh entry meanwhile: it stays cached, and ours
            # serves only this call, closed when the call lets it go.
            self._closing.add(id(fallback.provider))
        return result, fallback


def _all_caches_after_fork() -> None:
    for state in list(_LIVE_STATES):
        state.reset()


#: Every live cache holder (weakly), emptied in a child after ``os.fork()``.
_LIVE_STATES: weakref.WeakSet[CacheState] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_all_caches_after_fork)
