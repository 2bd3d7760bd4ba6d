"""Turning a catalog provider's ``auth = {...}`` table into the auth plugin it names (layer L2)."""

from __future__ import annotations

from steer_sync._auth._command_token import DEFAULT_COMMAND_TIMEOUT, CommandTokenPlugin
from steer_sync._auth._oauth2 import OAuth2ClientCredentialsPlugin
from steer_sync._auth._plugin import AuthPlugin
from steer_sync._catalog._configs import AuthConfig, CommandAuthConfig

__all__ = ["plugin_for_catalog_auth"]


def plugin_for_catalog_auth(provider_id: str, auth: AuthConfig) -> AuthPlugin:
    """Build the plugin a catalog provider's ``auth`` table configures.

    :param provider_id: the provider id.
    :param auth: the parsed ``auth`` table.
    :returns: a :class:`CommandTokenPlugin` or an :class:`OAuth2ClientCredentialsPlugin`.
    :raises ConfigurationError: if the settings are invalid.
    """
    if isinstance(auth, CommandAuthConfig):
        timeout = auth.timeout if auth.timeout is not None else DEFAULT_COMMAND_TIMEOUT
        return CommandTokenPlugin(provider_id, auth.command, ttl=auth.ttl, timeout=timeout)
    return OAuth2ClientCredentialsPlugin(
        provider_id, auth.token_url, auth.client_id, auth.client_secret_env, scopes=auth.scopes
    )
