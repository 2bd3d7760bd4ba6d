"""The JSON file credential store: locking, atomic writes, temp-file cleanup (layer L2).

:class:`FileAuthStorage` keeps the store document (steer's shape, see :mod:`._credentials`)
in one file (mode ``0600``). Every change is a
read-modify-write under a thread lock and an inter-process lock on a sidecar
``<file>.lock`` (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows), and is written
to a temporary file in the same folder that is synced and then renamed over the store, so
readers see the old or the new document, never half of one. Temporary files are created
``0600``; ones a killed writer left behind (``.<name>.<pid>.<hex>.tmp``, holding every key)
are removed by the next write, and by the next read when no writer holds the lock.

If the store path is a symlink (a dotfiles setup), writes go through to the file it points
to and the link stays; a link to a missing file is refused. The lock file is never
followed: a symlink there is refused, so the library cannot be made to create files elsewhere.

Deviation from steer: a store that is not valid JSON is an error here, where steer's
keyring store treats it as empty and overwrites it on the next write, losing credentials.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, MutableMapping, Optional, Tuple, Union

from steer_sync._auth._credentials import Credential, CredentialType, credential_from_dict
from steer_sync._auth._storage import AuthStorage
from steer_sync._catalog._paths import default_credentials_path
from steer_sync._errors import AuthIoError, AuthStorageError, InvalidCredential

__all__ = ["FileAuthStorage"]

_Store = Dict[str, Any]


def _open_lock_file(lock_path: Path) -> int:
    # O_NOFOLLOW: a (dangling) symlink planted at the lock path must not make us create or
    # open its target.
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(str(lock_path), flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and lock_path.is_symlink()):
            raise AuthStorageError(
                f"Storage error: the credential lock file {lock_path} is a symlink; it is not followed, remove the link"
            ) from None
        raise


@contextlib.contextmanager
def _interprocess_lock(lock_path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``lock_path`` (created ``0600``) across processes.

    Yields whether the lock is held: always ``True`` when ``blocking``; without
    ``blocking`` (POSIX only) ``False`` if another process holds it.
    """
    fd = _open_lock_file(lock_path)
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
                yield True
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class FileAuthStorage(AuthStorage):
    """Credentials in a JSON file shared with steer's store shape; safe across threads and processes.

    The file and its sidecar lock file are created with mode ``0600`` (the folder with
    ``0700``). Reads need no lock because writes replace the file atomically. If ``path``
    is a symlink, writes go through to its target and the link is kept; temp files a
    killed writer left are removed by the next write or read.

    Usage::

        storage = FileAuthStorage()                 # <user config dir>/credentials.json
        storage.set_api_key("anthropic", "sk-ant-...")

    :param path: the store file (default: ``<user config dir>/credentials.json``).
    :raises AuthStorageError: if no path is given and no user config dir is known; later
        calls raise it for a file that is not a store (not JSON, nested too deeply), a
        symlink to a missing file, or a symlink at the lock path.
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
        # Each failure is raised after its except block: a UnicodeDecodeError's .object and a
        # JSONDecodeError's .doc hold the whole file, credentials included, and an error raised
        # inside the block would keep them as its __context__ even with `from None`.
        store: Any = None
        problem: Optional[str] = None
        try:
            store = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            problem = "is not UTF-8 text; fix or remove the file"
        except json.JSONDecodeError as exc:
            # exc.msg and the position only: the document itself may hold secrets.
            problem = f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); fix or remove the file"
        except RecursionError:
            problem = "nests JSON too deeply to read; it is not a credential store, fix or remove the file"
        if problem is not None:
            raise AuthStorageError(f"Storage error: credential store {self._path} {problem}")
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
        self._clean_stale_temps_if_idle()
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

    def _target(self) -> Path:
        """The file writes replace: the store path, or the file a symlink there points to."""
        if not self._path.is_symlink():
            return self._path
        target = Path(os.path.realpath(self._path))
        if not target.exists():
            raise AuthStorageError(
                f"Storage error: credential store {self._path} is a symlink to {target}, which does not exist; "
                "create that file or remove the link"
            )
        return target

    @staticmethod
    def _stale_temps(target: Path) -> Iterator[Path]:
        pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9]+\.[0-9a-f]{{12}}\.tmp")
        try:
            names = os.listdir(target.parent)
        except OSError:
            return
        for name in names:
            if pattern.fullmatch(name):
                yield target.parent / name

    def _clean_stale_temps(self, target: Path) -> None:
        # Called with the inter-process lock held: no writer is between creating its temp file
        # and renaming it, so every temp file of ours is left over from a killed writer.
        for stale in self._stale_temps(target):
            with contextlib.suppress(OSError):
                stale.unlink()

    def _clean_stale_temps_if_idle(self) -> None:
        if os.name != "posix" or self._path.is_symlink():
            return
        if next(self._stale_temps(self._path), None) is None:
            return
        with contextlib.suppress(OSError, AuthStorageError), _interprocess_lock(self.lock_path, blocking=False) as held:
            if held:
                self._clean_stale_temps(self._path)

    def _write_store(self, store: _Store) -> None:
        target = self._target()
        directory = target.parent
        self._clean_stale_temps(target)
        if not store and target == self._path:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            return
        data = json.dumps(store, indent=2, ensure_ascii=False).encode("utf-8")
        import secrets  # only writes need it; kept off the import path (STYLE 2.8)

        tmp = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
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
            os.replace(tmp, target)
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
