"""Where credentials are kept: the storage interface and the in-memory store (layer L2).

The credentials themselves and their JSON shapes are in :mod:`._credentials` (re-exported
here); the JSON file store is in :mod:`._file_storage`.
"""

from __future__ import annotations

import abc
import threading
from typing import Dict, Optional, Tuple

from steer_sync._auth._credentials import (
    ApiKeyCredential,
    Credential,
    CredentialType,
    OAuth2Credential,
    OAuth2Token,
    credential_from_dict,
)

__all__ = [
    "ApiKeyCredential",
    "AuthStorage",
    "Credential",
    "CredentialType",
    "InMemoryAuthStorage",
    "OAuth2Credential",
    "OAuth2Token",
    "credential_from_dict",
]


class AuthStorage(abc.ABC):
    """Where credentials are kept, per provider id and credential type.

    Implementations must be thread-safe. Every method may raise :class:`AuthError`.
    """

    @abc.abstractmethod
    def get_credential(self, provider: str, credential_type: CredentialType) -> Optional[Credential]:
        """Return the stored credential of this type for ``provider``, or ``None``.

        :param provider: the provider id (its storage key).
        :param credential_type: which credential.
        :raises AuthError: if the store cannot be read.
        """

    @abc.abstractmethod
    def set_credential(self, provider: str, credential: Credential) -> None:
        """Store ``credential`` for ``provider``, replacing one of the same type.

        :raises AuthError: if the store cannot be written.
        """

    @abc.abstractmethod
    def remove_credential(self, provider: str, credential_type: CredentialType) -> None:
        """Remove the credential of this type for ``provider``; no error if there is none.

        :raises AuthError: if the store cannot be written.
        """

    def get_api_key(self, provider: str) -> Optional[str]:
        """Return the stored API key for ``provider``, or ``None``."""
        credential = self.get_credential(provider, CredentialType.API_KEY)
        return credential.value if isinstance(credential, ApiKeyCredential) else None

    def set_api_key(self, provider: str, api_key: str) -> None:
        """Store an API key for ``provider``."""
        self.set_credential(provider, ApiKeyCredential(api_key))

    def remove_api_key(self, provider: str) -> None:
        """Remove the stored API key for ``provider``."""
        self.remove_credential(provider, CredentialType.API_KEY)

    def get_auth_tokens(self, provider: str) -> Optional[OAuth2Token]:
        """Return the stored OAuth 2 tokens for ``provider``, or ``None``."""
        credential = self.get_credential(provider, CredentialType.OAUTH2)
        return credential.token if isinstance(credential, OAuth2Credential) else None

    def set_auth_tokens(self, provider: str, token: OAuth2Token) -> None:
        """Store OAuth 2 tokens for ``provider``."""
        self.set_credential(provider, OAuth2Credential(token))

    def remove_auth_tokens(self, provider: str) -> None:
        """Remove the stored OAuth 2 tokens for ``provider``."""
        self.remove_credential(provider, CredentialType.OAUTH2)


class InMemoryAuthStorage(AuthStorage):
    """Credentials in a dict, for tests and short-lived processes. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: Dict[Tuple[str, CredentialType], Credential] = {}

    def get_credential(self, provider: str, credential_type: CredentialType) -> Optional[Credential]:
        """Return the credential of this type for ``provider``, or ``None``."""
        with self._lock:
            return self._credentials.get((str(provider), credential_type))

    def set_credential(self, provider: str, credential: Credential) -> None:
        """Store ``credential`` for ``provider``, replacing one of the same type."""
        with self._lock:
            self._credentials[(str(provider), credential.credential_type)] = credential

    def remove_credential(self, provider: str, credential_type: CredentialType) -> None:
        """Remove the credential of this type for ``provider``, if any."""
        with self._lock:
            self._credentials.pop((str(provider), credential_type), None)

    def __repr__(self) -> str:
        with self._lock:
            keys = sorted(f"{p}-{t}" for p, t in self._credentials)
        return f"InMemoryAuthStorage({keys!r})"
