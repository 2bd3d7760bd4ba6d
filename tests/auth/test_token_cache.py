"""TokenCache: single-flight refresh and which 401 drops which token, without sockets."""

from __future__ import annotations

import threading
from typing import List

from steer_sync._auth._directive import AuthErrorAction, AuthErrorContext, AuthHeaderContext, RequestKind
from steer_sync._auth._token_cache import FetchedToken, TokenCache, parse_expires_in

CTX = AuthHeaderContext(model_id="m", request_kind=RequestKind.COMPLETE)
REFUSED = AuthErrorContext(status=401, body_snippet="no", request_kind=RequestKind.COMPLETE)


def _counting_cache(expires_in: float = 3600.0) -> tuple[TokenCache, List[str]]:
    issued: List[str] = []

    def fetch() -> FetchedToken:
        issued.append(f"token-{len(issued) + 1}")
        return FetchedToken(issued[-1], expires_in)

    return TokenCache(fetch), issued


def _in_thread(fn) -> None:  # type: ignore[no-untyped-def]
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join()


def test_two_threads_refused_with_the_same_token_refresh_it_once() -> None:
    cache, issued = _counting_cache()
    cache.headers(CTX)
    _in_thread(lambda: cache.headers(CTX))
    assert cache.on_auth_error(REFUSED) is AuthErrorAction.RETRY_ONCE
    _in_thread(lambda: cache.on_auth_error(REFUSED))  # the token is already gone: nothing more
    assert cache.headers(CTX)[0].value == "Bearer token-2"
    _in_thread(lambda: cache.headers(CTX))
    assert issued == ["token-1", "token-2"]


def test_a_late_401_for_an_old_token_keeps_the_new_one() -> None:
    cache, issued = _counting_cache()
    late: List[object] = []
    barrier = threading.Barrier(2)

    def old_request() -> None:
        cache.headers(CTX)  # this thread sends token-1 ...
        barrier.wait()
        barrier.wait()
        late.append(cache.on_auth_error(REFUSED))  # ... and hears of its refusal late

    thread = threading.Thread(target=old_request)
    thread.start()
    barrier.wait()
    cache.headers(CTX)
    cache.on_auth_error(REFUSED)
    assert cache.headers(CTX)[0].value == "Bearer token-2"
    barrier.wait()
    thread.join()
    assert cache.headers(CTX)[0].value == "Bearer token-2"
    assert issued == ["token-1", "token-2"]


def test_the_token_is_not_in_the_repr_of_cache_or_headers() -> None:
    cache, _ = _counting_cache()
    pairs = cache.headers(CTX)
    assert "token-1" not in repr(cache) and "token-1" not in repr(pairs)


def test_expires_in_is_read_leniently() -> None:
    assert parse_expires_in(3600) == 3600.0
    assert parse_expires_in("3599") == 3599.0
    assert parse_expires_in(-5) == 0.0
    assert parse_expires_in(True) is None
    assert parse_expires_in("soon") is None
    assert parse_expires_in(None) is None
