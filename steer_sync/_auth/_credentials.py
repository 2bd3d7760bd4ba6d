"""Credentials as values and their JSON (de)serialisation (layer L2).

Credential JSON shapes are steer's serde shapes (core.md 6.1), so a store written by one
can be read by the other::

    {"anthropic": {"OAuth2": {"type": "OAuth2", "access_token": "...", "refresh_token": "...",
                              "expires_at": {"secs_since_epoch": 1700000000, "nanos_since_epoch": 0}}},
     "openai":    {"ApiKey": {"type": "ApiKey", "value": "sk-..."}}}

The old tag ``"AuthTokens"`` is read as ``"OAuth2"``. Secrets never appear in ``repr()``,
``str()`` or error messages.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Union

from steer_sync._errors import InvalidCredential

__all__ = [
    "ApiKeyCredential",
    "Credential",
    "CredentialType",
    "OAuth2Credential",
    "OAuth2Token",
    "credential_from_dict",
]

_MASK = "'***'"
_NANOS = 1_000_000_000


class CredentialType(enum.Enum):
    """The kind of a stored credential; its value is the JSON key (``"OAuth2"``, ``"ApiKey"``).

    ``CredentialType("AuthTokens")`` (steer's old name) is :attr:`OAUTH2`.
    """

    #: OAuth 2 tokens from a login flow.
    OAUTH2 = "OAuth2"
    #: A static API key.
    API_KEY = "ApiKey"

    @classmethod
    def _missing_(cls, value: object) -> Optional[CredentialType]:
        return cls.OAUTH2 if value == "AuthTokens" else None

    def __str__(self) -> str:
        return self.value


def _invalid(detail: str) -> InvalidCredential:
    return InvalidCredential(f"Invalid credential: {detail}")


def _field(data: Mapping[str, Any], key: str, kind: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _invalid(f"{kind} field '{key}' must be a string")
    return value


def _expiry_from_json(value: object) -> float:
    if isinstance(value, Mapping):
        secs = value.get("secs_since_epoch")
        nanos = value.get("nanos_since_epoch", 0)
        if isinstance(secs, int) and not isinstance(secs, bool) and isinstance(nanos, int) and 0 <= nanos < _NANOS:
            return secs + nanos / _NANOS
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _invalid('\'expires_at\' must be {"secs_since_epoch": int, "nanos_since_epoch": int}')


def _expiry_to_json(expires_at: float) -> Dict[str, int]:
    secs, nanos = divmod(round(expires_at * _NANOS), _NANOS)
    return {"secs_since_epoch": int(secs), "nanos_since_epoch": int(nanos)}


@dataclass(frozen=True, repr=False)
class OAuth2Token:
    """OAuth 2 tokens from a login flow (steer ``OAuth2Token``, formerly ``AuthTokens``).

    Immutable; the tokens are hidden from ``repr()``.
    """

    #: The bearer token sent with requests.
    access_token: str
    #: The token used to get a new access token.
    refresh_token: str
    #: When the access token expires, in seconds since the Unix epoch.
    expires_at: float
    #: The OpenID Connect id token, when the provider issues one.
    id_token: Optional[str] = None

    def expires_within(self, seconds: float, *, now: Optional[float] = None) -> bool:
        """Whether the access token expires within ``seconds`` from ``now`` (or has expired).

        :param seconds: the margin.
        :param now: the current epoch time (default: ``time.time()``).
        """
        current = time.time() if now is None else now
        return self.expires_at <= current + seconds

    def to_dict(self) -> Dict[str, Any]:
        """Serialise in steer's shape (``expires_at`` as seconds and nanoseconds; ``id_token`` omitted when absent)."""
        out: Dict[str, Any] = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": _expiry_to_json(self.expires_at),
        }
        if self.id_token is not None:
            out["id_token"] = self.id_token
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OAuth2Token:
        """Inverse of :meth:`to_dict`.

        :raises InvalidCredential: if a field is missing or has the wrong type.
        """
        if not isinstance(data, Mapping):
            raise _invalid("an OAuth2 token must be a JSON object")
        id_token = data.get("id_token")
        if id_token is not None and not isinstance(id_token, str):
            raise _invalid("OAuth2 field 'id_token' must be a string")
        return cls(
            access_token=_field(data, "access_token", "OAuth2"),
            refresh_token=_field(data, "refresh_token", "OAuth2"),
            expires_at=_expiry_from_json(data.get("expires_at")),
            id_token=id_token,
        )

    def __repr__(self) -> str:
        id_token = _MASK if self.id_token is not None else "None"
        return (
            f"OAuth2Token(access_token={_MASK}, refresh_token={_MASK}, "
            f"expires_at={self.expires_at!r}, id_token={id_token})"
        )


@dataclass(frozen=True, repr=False)
class OAuth2Credential:
    """A stored OAuth 2 login: ``{"type": "OAuth2", ...token fields}``."""

    #: The tokens.
    token: OAuth2Token

    @property
    def credential_type(self) -> CredentialType:
        """Always :attr:`CredentialType.OAUTH2`."""
        return CredentialType.OAUTH2

    def to_dict(self) -> Dict[str, Any]:
        """Serialise in steer's internally tagged shape."""
        return {"type": CredentialType.OAUTH2.value, **self.token.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OAuth2Credential:
        """Inverse of :meth:`to_dict`; the tag may be ``"OAuth2"`` or ``"AuthTokens"``.

        :raises InvalidCredential: if the data is not an OAuth2 credential.
        """
        credential = credential_from_dict(data)
        if not isinstance(credential, OAuth2Credential):
            raise _invalid("expected an OAuth2 credential")
        return credential

    def __repr__(self) -> str:
        return f"OAuth2Credential(token={self.token!r})"


@dataclass(frozen=True, repr=False)
class ApiKeyCredential:
    """A stored API key: ``{"type": "ApiKey", "value": "..."}``; the key is hidden from ``repr()``."""

    #: The API key.
    value: str

    @property
    def credential_type(self) -> CredentialType:
        """Always :attr:`CredentialType.API_KEY`."""
        return CredentialType.API_KEY

    def to_dict(self) -> Dict[str, Any]:
        """Serialise in steer's internally tagged shape."""
        return {"type": CredentialType.API_KEY.value, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApiKeyCredential:
        """Inverse of :meth:`to_dict`.

        :raises InvalidCredential: if the data is not an API-key credential.
        """
        credential = credential_from_dict(data)
        if not isinstance(credential, ApiKeyCredential):
            raise _invalid("expected an ApiKey credential")
        return credential

    def __repr__(self) -> str:
        return f"ApiKeyCredential(value={_MASK})"


#: Any stored credential.
Credential = Union[OAuth2Credential, ApiKeyCredential]


def credential_from_dict(data: Mapping[str, Any]) -> Credential:
    """Read a credential from steer's tagged JSON shape (``"AuthTokens"`` accepted for OAuth2).

    :param data: the JSON object.
    :returns: the credential.
    :raises InvalidCredential: if the tag is unknown or a field is missing or wrong.
    """
    if not isinstance(data, Mapping):
        raise _invalid("a credential must be a JSON object")
    tag = data.get("type")
    try:
        kind = CredentialType(tag)
    except ValueError:
        raise _invalid(f"unknown credential type {tag!r}; expected 'OAuth2' or 'ApiKey'") from None
    if kind is CredentialType.API_KEY:
        return ApiKeyCredential(_field(data, "value", "ApiKey"))
    return OAuth2Credential(OAuth2Token.from_dict(data))
