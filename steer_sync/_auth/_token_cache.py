"""A bearer token cached until it expires, refreshed by one thread at a time (layer L2).

The shipped token plugins (a command that prints a token, the OAuth2 client-credentials
grant) differ only in how they fetch a token; caching, expiry, the single-flight refresh and
the 401/403 behaviour live here once.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Tuple

from steer_sync._auth._directive import (
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderPair,
)

__all__ = ["DEFAULT_LIFETIME", "FetchedToken", "TokenCache", "parse_expires_in"]

#: How long a token without an expiry (a bare token line, a grant without ``expires_in``)
#: is used before it is fetched again, in seconds.
DEFAULT_LIFETIME = 300.0
#: A token is refreshed this long before it expires (at most; a tenth of its lifetime
#: for short-lived tokens), so a request never leaves with a token about to lapse.
_REFRESH_MARGIN = 60.0


@dataclass(frozen=True)
class FetchedToken:
    """A token as a fetcher returns it; the value is hidden from ``repr()``."""

    #: The bearer token.
    value: str = field(repr=False)
    #: Its lifetime in seconds as the issuer stated it, or ``None`` when it did not say.
    expires_in: Optional[float] = None


def parse_expires_in(value: object) -> Optional[float]:
    """Read an ``expires_in`` field (a number, or digits in a string) as seconds; ``None`` if unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return max(0.0, float(value))
    return None


@dataclass(frozen=True)
class _Cached:
    value: str = field(repr=False)
    #: ``time.monotonic()`` after which the token is refreshed.
    refresh_at: float


class TokenCache(AuthHeaderProvider):
    """Sends ``Authorization: Bearer <token>``, fetching the token when it is missing or stale.

    One thread fetches while the others wait for it (a lock and a second look after taking
    it), so sixteen threads that start at once fetch once. After a 401/403,
    :meth:`on_auth_error` drops the token the refused request carried (unless another thread
    already replaced it) and asks for one retry, which fetches a fresh token.

    Thread-safe. Holds the current token only in memory; never shows it in ``repr()``.

    :param fetch: fetches a new token; raises ``ApiAuthError`` on failure.
    :param ttl: the longest time a token is used, in seconds (``None``: its own expiry).
    :param clock: the monotonic clock (injectable in tests).
    """

    def __init__(
        self,
        fetch: Callable[[], FetchedToken],
        *,
        ttl: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Optional[_Cached] = None
        # The token each thread last sent, so a 401 drops only the token that was refused.
        self._sent = threading.local()

    def __repr__(self) -> str:
        return f"TokenCache(ttl={self._ttl!r}, cached={self._token is not None})"

    def _lifetime(self, fetched: FetchedToken) -> float:
        candidates = [t for t in (fetched.expires_in, self._ttl) if t is not None]
        return max(0.0, min(candidates)) if candidates else DEFAULT_LIFETIME

    def _is_fresh(self, cached: Optional[_Cached]) -> bool:
        return cached is not None and self._clock() < cached.refresh_at

    def current(self) -> str:
        """Return a valid token, fetching one first when none is cached or it is stale.

        :raises ApiAuthError: if fetching fails.
        """
        cached = self._token
        if not self._is_fresh(cached):
            with self._lock:
                cached = self._token
                if not self._is_fresh(cached):
                    started = self._clock()
                    fetched = self._fetch()
                    lifetime = self._lifetime(fetched)
                    margin = min(_REFRESH_MARGIN, lifetime / 10.0)
                    cached = _Cached(fetched.value, started + lifetime - margin)
                    self._token = cached
        assert cached is not None
        self._sent.token = cached
        return cached.value

    def is_fresh(self) -> bool:
        """Whether a token is cached and not yet due for a refresh."""
        return self._is_fresh(self._token)

    def invalidate(self) -> None:
        """Forget the cached token; the next request fetches a new one."""
        with self._lock:
            self._token = None

    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        """``Authorization: Bearer <token>`` with a valid token.

        :raises ApiAuthError: if fetching a token fails.
        """
        return (HeaderPair("Authorization", f"Bearer {self.current()}"),)

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        """Drop the refused token (once, whichever thread comes first) and retry once."""
        refused = getattr(self._sent, "token", None)
        with self._lock:
            if self._token is refused:
                self._token = None
        return AuthErrorAction.RETRY_ONCE

    def __reduce__(self) -> Tuple[object, ...]:
        raise TypeError("a TokenCache holds a live token and cannot be pickled")
