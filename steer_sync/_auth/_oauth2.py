"""An auth plugin for the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4) (layer L2)."""

from __future__ import annotations

import base64
import logging
import os
from typing import Any, Sequence, Tuple, Union
from urllib.parse import quote_plus, urlsplit

from steer_sync._auth._directive import HeaderAuth
from steer_sync._auth._plugin import AuthMethod, AuthPlugin
from steer_sync._auth._storage import AuthStorage
from steer_sync._auth._token_cache import FetchedToken, TokenCache, parse_expires_in
from steer_sync._errors import ApiAuthError, ConfigurationError
from steer_sync._types import ProviderId

__all__ = ["OAuth2ClientCredentialsPlugin"]

_log = logging.getLogger("steer_sync.auth")

#: Seconds the token endpoint may take to answer.
DEFAULT_TOKEN_TIMEOUT = 30.0
_CLIENT_AUTH = ("basic", "body")
_DESCRIPTION_CHARS = 300


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if len(secret) >= 4 else text


class OAuth2ClientCredentialsPlugin(AuthPlugin):
    """Authenticates a provider with a token from the OAuth 2.0 client-credentials grant.

    When a request needs a token, the plugin POSTs ``grant_type=client_credentials`` (and
    ``scope``, the scopes joined by spaces) form-encoded to ``token_url`` (RFC 6749 4.4). The
    client authenticates with HTTP Basic (``client_auth="basic"``, the default RFC 6749 2.3.1
    recommends) or with ``client_id``/``client_secret`` in the body (``client_auth="body"``).
    The client secret is read from the environment variable ``client_secret_env`` each time a
    token is fetched; it is never stored on the plugin, logged, or shown in ``repr()`` or
    messages. The token is cached and fetched again shortly before ``expires_in``, by one
    thread while the others wait. A 401/403 from the provider fetches a new token and re-sends
    once; if that is refused too, the client falls back to the provider's API key where one is
    configured. An error answer (RFC 6749 5.2 ``error``/``error_description``) raises
    ``ApiAuthError`` naming the endpoint, the client id and the error.

    Thread-safe; share one instance. ``requests`` is imported when the first token is fetched.

    Usage::

        plugin = OAuth2ClientCredentialsPlugin(
            "gateway", "https://login.example.com/oauth2/token", "my-app", "GATEWAY_CLIENT_SECRET",
            scopes=["llm.invoke"],
        )
        client = Client.from_env(catalogs=["gateway.toml"], auth_plugins=[plugin])

    :param provider: the provider id this plugin authenticates.
    :param token_url: the authorization server's token endpoint (http or https).
    :param client_id: the client identifier.
    :param client_secret_env: the environment variable holding the client secret.
    :param scopes: the scopes to request (none: the server's default).
    :param client_auth: ``"basic"`` (HTTP Basic, the default) or ``"body"``.
    :param timeout: seconds the token endpoint may take to answer.
    :raises ConfigurationError: if an argument is not of the expected shape.
    """

    def __init__(
        self,
        provider: Union[ProviderId, str],
        token_url: str,
        client_id: str,
        client_secret_env: str,
        *,
        scopes: Sequence[str] = (),
        client_auth: str = "basic",
        timeout: float = DEFAULT_TOKEN_TIMEOUT,
    ) -> None:
        what = f"OAuth2ClientCredentialsPlugin for provider {str(provider)!r}"
        if not isinstance(token_url, str) or urlsplit(token_url).scheme not in ("http", "https"):
            raise ConfigurationError(str(provider), f"{what}: token_url must be an http(s) URL, got {token_url!r}")
        if not urlsplit(token_url).netloc:
            raise ConfigurationError(str(provider), f"{what}: token_url must be an absolute URL, got {token_url!r}")
        if not isinstance(client_id, str) or not client_id.strip():
            raise ConfigurationError(str(provider), f"{what}: client_id must be a non-empty string")
        if not isinstance(client_secret_env, str) or not client_secret_env.strip() or "=" in client_secret_env:
            raise ConfigurationError(
                str(provider),
                f"{what}: client_secret_env must name an environment variable (e.g. 'GATEWAY_CLIENT_SECRET'), "
                "not hold the secret",
            )
        if isinstance(scopes, str) or not all(isinstance(s, str) and s and " " not in s for s in scopes):
            raise ConfigurationError(
                str(provider), f"{what}: scopes must be a list of scope names without spaces, got {scopes!r}"
            )
        if client_auth not in _CLIENT_AUTH:
            raise ConfigurationError(
                str(provider), f"{what}: client_auth must be 'basic' or 'body', got {client_auth!r}"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigurationError(
                str(provider), f"{what}: timeout must be a positive number of seconds, got {timeout!r}"
            )
        self._provider = ProviderId(str(provider))
        self._token_url = token_url
        self._client_id = client_id
        self._secret_env = client_secret_env.strip()
        self._scopes: Tuple[str, ...] = tuple(scopes)
        self._client_auth = client_auth
        self._timeout = float(timeout)
        self._tokens = TokenCache(self._fetch)

    @property
    def provider_id(self) -> ProviderId:
        """The provider this plugin authenticates."""
        return self._provider

    def supported_methods(self) -> Sequence[AuthMethod]:
        """None: the grant needs no interactive login."""
        return ()

    def resolve_auth(self, storage: AuthStorage) -> HeaderAuth:
        """Return the directive; the token is fetched when the first request needs it."""
        return HeaderAuth(headers=self._tokens)

    def is_authenticated(self, storage: AuthStorage) -> bool:
        """Whether a token is cached and not yet due for a refresh."""
        return self._tokens.is_fresh()

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentialsPlugin(provider={str(self._provider)!r}, token_url={self._token_url!r}, "
            f"client_id={self._client_id!r}, client_secret_env={self._secret_env!r}, scopes={list(self._scopes)!r})"
        )

    def __reduce__(self) -> Tuple[Any, ...]:
        # Rebuilt from its settings: a pickle carries neither the token nor the secret.
        return (
            _rebuild,
            (
                str(self._provider),
                self._token_url,
                self._client_id,
                self._secret_env,
                self._scopes,
                self._client_auth,
                self._timeout,
            ),
        )

    # --- the token request ----------------------------------------------------------------

    def _error(self, message: str) -> ApiAuthError:
        return ApiAuthError(
            str(self._provider), f"token endpoint {self._token_url} (client {self._client_id!r}): {message}"
        )

    def _fetch(self) -> FetchedToken:
        import requests

        secret = os.environ.get(self._secret_env, "")
        if not secret.strip():
            raise self._error(f"set the environment variable {self._secret_env} to the client secret")
        secret = secret.strip()
        form = {"grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        headers = {"Accept": "application/json"}
        if self._client_auth == "basic":
            # RFC 6749 2.3.1: id and secret are form-urlencoded before Basic encoding.
            pair = f"{quote_plus(self._client_id)}:{quote_plus(secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form["client_id"] = self._client_id
            form["client_secret"] = secret
        try:
            response = requests.post(
                self._token_url, data=form, headers=headers, timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            # Not chained: the requests error holds the request, whose headers carry the secret.
            raise self._error(f"the request failed ({type(exc).__name__}); check token_url and the network") from None
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        finally:
            response.close()
        if response.status_code != 200:
            raise self._error(_redact(self._refusal(response.status_code, payload), secret))
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in token):
            raise self._error("the answer has no valid 'access_token'")
        token_type = payload.get("token_type")
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            raise self._error(f"token_type {token_type!r} is not supported (only bearer tokens)")
        expires_in = parse_expires_in(payload.get("expires_in"))
        _log.debug(
            "token endpoint %s issued a token for %s (expires in %s s)",
            self._token_url,
            self._provider,
            "?" if expires_in is None else f"{expires_in:g}",
        )
        return FetchedToken(token, expires_in)

    def _refusal(self, status: int, payload: Any) -> str:
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            text = f"HTTP {status} {payload['error']}"
            description = payload.get("error_description")
            if isinstance(description, str) and description:
                text += f": {description[:_DESCRIPTION_CHARS]}"
        else:
            text = f"HTTP {status}"
        hint = (
            "check the client id and the secret in " + self._secret_env
            if status in (400, 401, 403)
            else "the server failed; try again later"
        )
        return f"{text} ({hint})"


def _rebuild(
    provider: str,
    token_url: str,
    client_id: str,
    client_secret_env: str,
    scopes: Tuple[str, ...],
    client_auth: str,
    timeout: float,
) -> OAuth2ClientCredentialsPlugin:
    return OAuth2ClientCredentialsPlugin(
        provider, token_url, client_id, client_secret_env, scopes=scopes, client_auth=client_auth, timeout=timeout
    )
