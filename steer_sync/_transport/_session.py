"""Session configuration: pools with our connections, no retries, no cookies, no netrc.

Deviations from steer (documented choices):

* Redirects are not followed: a 3xx becomes ``UnknownApiError`` (core.md 4.1 "anything else").
  Following them would re-send ``x-api-key``-style headers to another host, and a 301/302
  would turn the POST into a GET. :func:`send` therefore calls the adapter directly.
* ``netrc`` credentials are never applied (requests would do so with ``trust_env`` and could
  overwrite a provider's ``Authorization`` header); proxy and CA-bundle environment variables
  are honoured.
"""

from __future__ import annotations

import os
from http.cookiejar import Cookie, CookiePolicy
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from steer_sync._transport._connection import POOL_CLASSES

if TYPE_CHECKING:
    from urllib.request import Request as _CookieRequest

__all__ = ["close_session", "new_session", "send"]


def new_session(pool_maxsize: int, static_headers: Mapping[str, str]) -> requests.Session:
    """A session for one provider, configured once and never changed afterwards.

    :param pool_maxsize: connections kept per host (the pool never blocks).
    :param static_headers: headers sent with every request.
    :returns: the session, with our adapter mounted for ``http://`` and ``https://``.
    """
    session = requests.Session()
    session.cookies = RequestsCookieJar(policy=_NoCookies())
    # Bodies are decoded by the transport, per block; only ask for encodings it decodes.
    session.headers["Accept-Encoding"] = "gzip, deflate"
    session.headers.update(static_headers)
    adapter = _Adapter(
        pool_connections=4, pool_maxsize=pool_maxsize, max_retries=Retry(0, read=False), pool_block=False
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def close_session(session: requests.Session) -> None:
    """Close every pooled connection of ``session`` now, not when the pools are collected.

    ``Session.close()`` only drops the pools (urllib3 2's ``PoolManager.clear()`` leaves
    closing their sockets to the garbage collector), so a provider kept alive by a reference
    cycle or a traceback would hold its idle sockets open. Each pool is closed explicitly:
    idle connections close at once; a connection in use by a call in flight is closed when
    that call releases it.
    """
    managers: List[Any] = []
    for adapter in {id(a): a for a in session.adapters.values()}.values():
        manager = getattr(adapter, "poolmanager", None)
        if manager is not None:
            managers.append(manager)
        managers.extend(getattr(adapter, "proxy_manager", {}).values())
    for manager in managers:
        pools = manager.pools
        for key in list(pools.keys()):
            try:
                pool = pools[key]
            except KeyError:  # dropped meanwhile by another thread
                continue
            pool.close()
    session.close()


#: The environment variables requests reads for a request's proxies and CA bundle; their
#: values (and the URL's origin) key the cache of merged settings.
_SETTINGS_ENV = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
_CACHE_MAX = 256
_settings_cache: Dict[Tuple[Optional[str], ...], Mapping[str, Any]] = {}
_url_cache: Dict[str, str] = {}


def _environment_settings(session: requests.Session, url: str) -> Mapping[str, Any]:
    """``session.merge_environment_settings`` for ``url``, computed once per origin and environment.

    requests scans the whole environment twice per call for proxies (about a sixth of a
    small call's CPU). The result depends only on the URL's origin and the variables in
    :data:`_SETTINGS_ENV` for sessions made by :func:`new_session` (they set no proxies,
    verify or cert of their own), so a change to one of those variables is seen at the next
    call. Other spellings (``Https_Proxy``) count when an origin is first seen.
    """
    getenv = os.environ.get
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, *[getenv(name) for name in _SETTINGS_ENV])
    settings = _settings_cache.get(key)
    if settings is None:
        settings = session.merge_environment_settings(url, {}, True, None, None)
        if len(_settings_cache) >= _CACHE_MAX:
            _settings_cache.clear()
        _settings_cache[key] = settings
    return settings


def _prepare(
    session: requests.Session, url: str, data: bytes, headers: Mapping[str, str], params: Optional[Mapping[str, str]]
) -> requests.PreparedRequest:
    """What ``session.prepare_request`` builds for our requests, without its per-call extras.

    Skipped because they never apply to our sessions: cookies (the jar accepts none),
    auth and ``~/.netrc`` (we send none), session params and hooks (never set).
    """
    prepared = requests.PreparedRequest()
    prepared.method = "POST"
    if params:
        prepared.prepare_url(url, dict(params))
    else:
        # Endpoint URLs repeat on every call; requoting and IDNA-checking them costs ~20 us.
        cached = _url_cache.get(url)
        if cached is None:
            prepared.prepare_url(url, {})
            if len(_url_cache) >= _CACHE_MAX:
                _url_cache.clear()
            cached = _url_cache[url] = prepared.url or url
        prepared.url = cached
    merged = CaseInsensitiveDict(session.headers)
    merged.update(headers)
    prepared.prepare_headers(merged)
    prepared.prepare_body(data, None)
    return prepared


def send(
    session: requests.Session,
    url: str,
    data: bytes,
    headers: Mapping[str, str],
    params: Optional[Mapping[str, str]],
    timeout: Tuple[Any, Any],
) -> requests.Response:
    """POST ``data`` through the session's adapter and return once the headers have arrived.

    :param timeout: urllib3's ``(connect, read)`` limits.
    :returns: the unread (``stream=True``) response.
    """
    prepared = _prepare(session, url, data, headers, params)
    prepared_url = prepared.url or url
    settings = _environment_settings(session, prepared_url)
    # The adapter directly, not session.send(): no redirect following (a redirect body
    # would be read without bound, and API-key headers re-sent), no cookie jar updates.
    adapter = session.get_adapter(prepared_url)
    return adapter.send(
        prepared,
        stream=True,
        timeout=timeout,
        verify=True if settings["verify"] is None else settings["verify"],
        cert=settings["cert"],
        proxies=settings["proxies"],
    )


class _Adapter(HTTPAdapter):
    """``HTTPAdapter`` whose pools (direct and through HTTP proxies) use our connections."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # SOCKS pools need their own connection classes; those responses fall back to
        # urllib3's reading and shutdown (see HttpResponse).
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(POOL_CLASSES)
        return manager


class _NoCookies(CookiePolicy):
    """Accepts and returns no cookie: one call's cookies must not reach another."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = False

    def set_ok(self, cookie: Cookie, request: _CookieRequest) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: _CookieRequest) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: _CookieRequest) -> bool:
        return False

    def path_return_ok(self, path: str, request: _CookieRequest) -> bool:
        return False
