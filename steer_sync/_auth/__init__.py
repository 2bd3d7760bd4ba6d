"""Credentials, their storage, auth plugins and directives, and auth resolution (layer L2).

Importing this package reads no file and no environment variable.
"""

from typing import TYPE_CHECKING, Any

from steer_sync._auth._config import LlmConfigProvider, ResolvedAuth, ResolvedAuthKind, default_key_env_vars
from steer_sync._auth._credentials import (
    ApiKeyCredential,
    Credential,
    CredentialType,
    OAuth2Credential,
    OAuth2Token,
    credential_from_dict,
)
from steer_sync._auth._directive import (
    AnthropicAuth,
    AuthDirective,
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    HeaderAuth,
    HeaderPair,
    InstructionPolicy,
    OpenAiResponsesAuth,
    QueryParam,
    RequestKind,
    apply_instruction_policy,
)
from steer_sync._auth._plugin import (
    NO_AUTH,
    ApiKeyOrigin,
    ApiKeySource,
    AuthMethod,
    AuthPlugin,
    AuthPluginRegistry,
    AuthSource,
    NoAuthSource,
    PluginSource,
)
from steer_sync._auth._storage import AuthStorage, InMemoryAuthStorage

if TYPE_CHECKING:
    from steer_sync._auth._command_token import CommandTokenPlugin
    from steer_sync._auth._file_storage import FileAuthStorage
    from steer_sync._auth._oauth2 import OAuth2ClientCredentialsPlugin


def __getattr__(name: str) -> Any:
    # The two plugins (and their token cache) load on first use: most processes configure
    # neither, and every cold start would pay for their modules (STYLE 2.8).
    if name == "CommandTokenPlugin":
        from steer_sync._auth._command_token import CommandTokenPlugin

        return CommandTokenPlugin
    if name == "FileAuthStorage":
        # A client built from explicit parts (InMemoryAuthStorage, a worker pool) never
        # touches the credentials file; only Client.from_env and callers who ask load it.
        from steer_sync._auth._file_storage import FileAuthStorage

        return FileAuthStorage
    if name == "OAuth2ClientCredentialsPlugin":
        from steer_sync._auth._oauth2 import OAuth2ClientCredentialsPlugin

        return OAuth2ClientCredentialsPlugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NO_AUTH",
    "AnthropicAuth",
    "ApiKeyCredential",
    "ApiKeyOrigin",
    "ApiKeySource",
    "AuthDirective",
    "AuthErrorAction",
    "AuthErrorContext",
    "AuthHeaderContext",
    "AuthHeaderProvider",
    "AuthMethod",
    "AuthPlugin",
    "AuthPluginRegistry",
    "AuthSource",
    "AuthStorage",
    "CommandTokenPlugin",
    "Credential",
    "CredentialType",
    "FileAuthStorage",
    "HeaderAuth",
    "HeaderPair",
    "InMemoryAuthStorage",
    "InstructionPolicy",
    "LlmConfigProvider",
    "NoAuthSource",
    "OAuth2ClientCredentialsPlugin",
    "OAuth2Credential",
    "OAuth2Token",
    "OpenAiResponsesAuth",
    "PluginSource",
    "QueryParam",
    "RequestKind",
    "ResolvedAuth",
    "ResolvedAuthKind",
    "apply_instruction_policy",
    "credential_from_dict",
    "default_key_env_vars",
]
