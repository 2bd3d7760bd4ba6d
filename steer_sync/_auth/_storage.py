"""Credentials and where they are kept: in memory or in a JSON file (layer L2).

Credential JSON shapes are steer's serde shapes (core.md 6.1), so a store written by one
can be read by the other::

    {"anthropic": {"OAuth2": {"type": "OAuth2", "access_token": "...", "refresh_token": "...",
                              "expires_at": {"secs_since_epoch": 1700000000, "nanos_since_epoch": 0}}},
     "openai":    {"ApiKey": {"type": "ApiKey", "value": "sk-..."}}}

The old tag ``"AuthTokens"`` is read as ``"OAuth2"``. Secrets never appear in ``repr()``,
``str()`` or error messages.

:class:`FileAuthStorage` keeps that document in one file (mode ``0600``). Every change is a
read-modify-write under a thread lock and an inter-process lock on a sidecar
``<file>.lock`` (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows), and is written
to a temporary file in the same folder that is synced and then renamed over the store, so
readers see the old or the new document, never half of one.

Deviation from steer: a store that is not valid JSON is an error here, where steer's
keyring store treats it as empty and overwrites it on the next write, losing credentials.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import errno
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, MutableMapping, Optional, Tuple, Union

from steer_sync._catalog._paths import default_credentials_path
from steer_sync._errors import AuthIoError, AuthStorageError, InvalidCredential

__all__ = [
    "ApiKeyCredential",
    "AuthStorage",
    "Credential",
    "CredentialType",
    "FileAuthStorage",
    "InMemoryAuthStorage",
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


# --- the file store ---------------------------------------------------------------------------

_Store = Dict[str, Any]


@contextlib.contextmanager
def _interprocess_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created ``0600``) across processes."""
    fd = os.open(str(lock_path), os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt

            # LK_LOCK itself retries for about ten seconds; keep waiting like flock does.
            while True:
                try:
                    os.lseek(fd, 0, os.SEEK_SET)
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)):
                        raise
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class FileAuthStorage(AuthStorage):
    """Credentials in a JSON file shared with steer's store shape; safe across threads and processes.

    The file and its sidecar lock file are created with mode ``0600`` (the folder with
    ``0700``). Reads need no lock because writes replace the file atomically.

    Usage::

        storage = FileAuthStorage()                 # <user config dir>/credentials.json
        storage.set_api_key("anthropic", "sk-ant-...")

    :param path: the store file (default: ``<user config dir>/credentials.json``).
    :raises AuthStorageError: if no path is given and no user config dir is known.
    """

    def __init__(self, path: Optional[Union[str, os.PathLike[str]]] = None) -> None:
        if path is None:
            path = default_credentials_path()
            if path is None:
                raise AuthStorageError(
                    "Storage error: no user config directory is known (HOME/APPDATA unset); "
                    "pass FileAuthStorage(path=...)"
                )
        self._path = Path(os.fspath(path))
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @classmethod
    def default(cls) -> FileAuthStorage:
        """Return the store at the default path, ``<user config dir>/credentials.json``.

        :raises AuthStorageError: if no user config dir is known.
        """
        return cls()

    @property
    def path(self) -> Path:
        """The store file."""
        return self._path

    @property
    def lock_path(self) -> Path:
        """The sidecar lock file (``<path>.lock``)."""
        return self._path.with_name(self._path.name + ".lock")

    def __repr__(self) -> str:
        return f"FileAuthStorage({str(self._path)!r})"

    # reading -----------------------------------------------------------------------------------

    def _read_store(self) -> _Store:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise AuthIoError(f"IO error: cannot read credential store {self._path}: {exc.strerror or exc}") from exc
        try:
            store = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise AuthStorageError(
                f"Storage error: credential store {self._path} is not UTF-8 text; fix or remove the file"
            ) from exc
        except json.JSONDecodeError as exc:
            # exc.msg and the position only: the document itself may hold secrets.
            raise AuthStorageError(
                f"Storage error: credential store {self._path} is not valid JSON "
                f"({exc.msg} at line {exc.lineno} column {exc.colno}); fix or remove the file"
            ) from None
        if not isinstance(store, dict):
            raise AuthStorageError(
                f"Storage error: credential store {self._path} must hold a JSON object of providers; "
                "fix or remove the file"
            )
        return store

    def _provider_table(self, store: _Store, provider: str, *, create: bool) -> Optional[MutableMapping[str, Any]]:
        table = store.get(provider)
        if table is None:
            if not create:
                return None
            table = store[provider] = {}
        if not isinstance(table, dict):
            raise AuthStorageError(
                f"Storage error: credential store {self._path}: entry '{provider}' must be a JSON object"
            )
        return table

    @staticmethod
    def _keys_for(credential_type: CredentialType) -> Tuple[str, ...]:
        if credential_type is CredentialType.OAUTH2:
            return (CredentialType.OAUTH2.value, "AuthTokens")
        return (credential_type.value,)

    def get_credential(self, provider: str, credential_type: CredentialType) -> Optional[Credential]:
        """Return the credential of this type for ``provider``, or ``None``.

        :raises AuthStorageError: if the file is not a valid store or the entry is malformed.
        :raises AuthIoError: if the file cannot be read.
        """
        table = self._provider_table(self._read_store(), str(provider), create=False)
        if table is None:
            return None
        for key in self._keys_for(credential_type):
            if key in table:
                try:
                    credential = credential_from_dict(table[key])
                except InvalidCredential as exc:
                    raise AuthStorageError(
                        f"Storage error: credential store {self._path}: {provider}/{key}: {exc}"
                    ) from None
                if credential.credential_type is not credential_type:
                    raise AuthStorageError(
                        f"Storage error: credential store {self._path}: {provider}/{key} holds a "
                        f"{credential.credential_type} credential"
                    )
                return credential
        return None

    # writing -----------------------------------------------------------------------------------

    def _write_store(self, store: _Store) -> None:
        directory = self._path.parent
        if not store:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            return
        data = json.dumps(store, indent=2, ensure_ascii=False).encode("utf-8")
        import secrets  # only writes need it; kept off the import path (STYLE 2.8)

        tmp = directory / f".{self._path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)  # the umask may have taken bits away; never added any
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        if os.name == "posix":
            # Persist the rename itself; without this a crash can bring back the old file.
            with contextlib.suppress(OSError):
                dir_fd = os.open(str(directory), os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)

    def _update(self, change: Callable[[_Store], bool]) -> None:
        if os.getpid() != self._pid:
            # A forked child may have inherited the lock held by a thread that no longer exists.
            self._lock = threading.Lock()
            self._pid = os.getpid()
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self._lock, _interprocess_lock(self.lock_path):
                store = self._read_store()
                if change(store):
                    self._write_store(store)
        except OSError as exc:
            raise AuthIoError(f"IO error: cannot update credential store {self._path}: {exc.strerror or exc}") from exc

    def set_credential(self, provider: str, credential: Credential) -> None:
        """Store ``credential`` for ``provider``, replacing one of the same type.

        Other providers' entries, and entries this version does not understand, are kept.

        :raises AuthStorageError: if the existing file is not a valid store.
        :raises AuthIoError: if the file cannot be written.
        """
        key = credential.credential_type.value

        def change(store: _Store) -> bool:
            table = self._provider_table(store, str(provider), create=True)
            assert table is not None
            for old in self._keys_for(credential.credential_type):
                table.pop(old, None)
            table[key] = credential.to_dict()
            return True

        self._update(change)

    def remove_credential(self, provider: str, credential_type: CredentialType) -> None:
        """Remove the credential of this type for ``provider``; the file goes when it is empty.

        :raises AuthStorageError: if the existing file is not a valid store.
        :raises AuthIoError: if the file cannot be written.
        """

        def change(store: _Store) -> bool:
            table = self._provider_table(store, str(provider), create=False)
            if table is None:
                return False
            removed = [table.pop(key) for key in self._keys_for(credential_type) if key in table]
            if not removed:
                return False
            if not table:
                del store[str(provider)]
            return True

        self._update(change)
