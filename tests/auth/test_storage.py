"""Credentials and credential stores: serde shapes, secrecy, file safety and concurrency."""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any, List

import pytest

from steer_sync._auth import (
    ApiKeyCredential,
    AuthStorage,
    CredentialType,
    FileAuthStorage,
    InMemoryAuthStorage,
    OAuth2Credential,
    OAuth2Token,
    credential_from_dict,
)
from steer_sync._errors import AuthError, AuthIoError, AuthStorageError, InvalidCredential

TOKEN = OAuth2Token(
    access_token="access-secret", refresh_token="refresh-secret", expires_at=1_700_000_000.5, id_token="id-secret"
)

LEGACY_STORE = {
    "anthropic": {
        "AuthTokens": {
            "type": "AuthTokens",
            "access_token": "old_access_token",
            "refresh_token": "old_refresh_token",
            "expires_at": {"secs_since_epoch": 1678886400, "nanos_since_epoch": 0},
        }
    }
}


# --- credential values ------------------------------------------------------------------------


def test_credential_type_accepts_the_legacy_name() -> None:
    assert CredentialType("AuthTokens") is CredentialType.OAUTH2
    assert CredentialType("OAuth2") is CredentialType.OAUTH2
    assert str(CredentialType.API_KEY) == "ApiKey"
    with pytest.raises(ValueError):
        CredentialType("Password")


def test_oauth2_token_uses_the_serde_shape() -> None:
    data = OAuth2Credential(TOKEN).to_dict()
    assert data == {
        "type": "OAuth2",
        "access_token": "access-secret",
        "refresh_token": "refresh-secret",
        "expires_at": {"secs_since_epoch": 1_700_000_000, "nanos_since_epoch": 500_000_000},
        "id_token": "id-secret",
    }
    assert credential_from_dict(data) == OAuth2Credential(TOKEN)


def test_absent_id_token_is_omitted() -> None:
    token = OAuth2Token("a", "r", 10.0)
    assert "id_token" not in token.to_dict()
    assert OAuth2Token.from_dict(token.to_dict()) == token


def test_legacy_auth_tokens_tag_reads_as_oauth2() -> None:
    credential = credential_from_dict(LEGACY_STORE["anthropic"]["AuthTokens"])
    assert isinstance(credential, OAuth2Credential)
    assert credential.credential_type is CredentialType.OAUTH2
    assert credential.token.access_token == "old_access_token"
    assert credential.token.expires_at == 1_678_886_400


def test_api_key_credential_shape() -> None:
    credential = ApiKeyCredential("sk-secret")
    assert credential.to_dict() == {"type": "ApiKey", "value": "sk-secret"}
    assert ApiKeyCredential.from_dict(credential.to_dict()) == credential
    assert credential.credential_type is CredentialType.API_KEY


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "Password", "value": "x"}, "unknown credential type 'Password'"),
        ({"type": "ApiKey"}, "ApiKey field 'value' must be a string"),
        ({"type": "OAuth2", "access_token": "a", "refresh_token": "r"}, "'expires_at' must be"),
        (
            {"type": "OAuth2", "access_token": "a", "refresh_token": "r", "expires_at": {"secs_since_epoch": "x"}},
            "'expires_at' must be",
        ),
        ([], "a credential must be a JSON object"),
    ],
)
def test_malformed_credentials_are_rejected(data: Any, message: str) -> None:
    with pytest.raises(InvalidCredential, match=message):
        credential_from_dict(data)


def test_expires_within() -> None:
    token = OAuth2Token("a", "r", expires_at=1000.0)
    assert token.expires_within(300, now=800.0)
    assert not token.expires_within(300, now=600.0)
    assert token.expires_within(0, now=1001.0)


@pytest.mark.parametrize(
    "value",
    [TOKEN, OAuth2Credential(TOKEN), ApiKeyCredential("sk-ant-secret")],
    ids=["token", "oauth2", "api-key"],
)
def test_secrets_never_appear_in_repr_or_str(value: object) -> None:
    for text in (repr(value), str(value), f"{value}", repr([value])):
        assert "secret" not in text
        assert "***" in text


# --- shared storage behaviour ---------------------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AuthStorage:
    if request.param == "memory":
        return InMemoryAuthStorage()
    return FileAuthStorage(tmp_path / "store" / "credentials.json")


def test_set_get_remove_round_trip(storage: AuthStorage) -> None:
    assert storage.get_credential("anthropic", CredentialType.API_KEY) is None
    storage.set_credential("anthropic", ApiKeyCredential("k1"))
    storage.set_credential("anthropic", OAuth2Credential(TOKEN))
    assert storage.get_credential("anthropic", CredentialType.API_KEY) == ApiKeyCredential("k1")
    assert storage.get_credential("anthropic", CredentialType.OAUTH2) == OAuth2Credential(TOKEN)
    storage.remove_credential("anthropic", CredentialType.API_KEY)
    assert storage.get_credential("anthropic", CredentialType.API_KEY) is None
    assert storage.get_auth_tokens("anthropic") == TOKEN
    storage.remove_credential("anthropic", CredentialType.API_KEY)  # removing nothing is fine


def test_convenience_methods(storage: AuthStorage) -> None:
    storage.set_api_key("openai", "sk-1")
    storage.set_api_key("openai", "sk-2")
    assert storage.get_api_key("openai") == "sk-2"
    assert storage.get_api_key("google") is None
    storage.remove_api_key("openai")
    assert storage.get_api_key("openai") is None
    storage.set_auth_tokens("openai", TOKEN)
    assert storage.get_auth_tokens("openai") == TOKEN
    storage.remove_auth_tokens("openai")
    assert storage.get_auth_tokens("openai") is None


def test_in_memory_repr_shows_keys_not_secrets() -> None:
    storage = InMemoryAuthStorage()
    storage.set_api_key("xai", "xai-secret")
    assert "secret" not in repr(storage) and "xai-ApiKey" in repr(storage)


# --- the file store -------------------------------------------------------------------------


def test_file_store_uses_steers_json_shape(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    storage = FileAuthStorage(path)
    storage.set_api_key("openai", "sk-x")
    storage.set_auth_tokens("anthropic", TOKEN)
    assert json.loads(path.read_text()) == {
        "openai": {"ApiKey": {"type": "ApiKey", "value": "sk-x"}},
        "anthropic": {"OAuth2": OAuth2Credential(TOKEN).to_dict()},
    }


def test_file_store_reads_the_legacy_auth_tokens_entry(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(LEGACY_STORE))
    storage = FileAuthStorage(path)
    token = storage.get_auth_tokens("anthropic")
    assert token is not None and token.access_token == "old_access_token"
    # Writing OAuth2 replaces the legacy entry instead of keeping two.
    storage.set_auth_tokens("anthropic", TOKEN)
    assert list(json.loads(path.read_text())["anthropic"]) == ["OAuth2"]
    storage.remove_auth_tokens("anthropic")
    assert not path.exists()


def test_file_and_lock_are_created_0600_regardless_of_umask(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "credentials.json"
    old = os.umask(0)
    try:
        FileAuthStorage(path).set_api_key("openai", "sk-x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new-dir" / "credentials.json.lock").stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_writes_replace_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    storage = FileAuthStorage(path)
    storage.set_api_key("openai", "sk-1")
    first_inode = path.stat().st_ino
    storage.set_api_key("google", "g-1")
    assert path.stat().st_ino != first_inode  # a new file was renamed over the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json", "credentials.json.lock"]


def test_a_failed_write_leaves_the_old_store_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "credentials.json"
    storage = FileAuthStorage(path)
    storage.set_api_key("openai", "sk-1")
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(AuthIoError, match=f"cannot update credential store {path}"):
        storage.set_api_key("google", "g-1")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json", "credentials.json.lock"]


def test_remove_keeps_other_providers_and_deletes_an_empty_store(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    storage = FileAuthStorage(path)
    storage.set_api_key("openai", "sk-1")
    storage.set_api_key("google", "g-1")
    storage.remove_api_key("openai")
    assert json.loads(path.read_text()) == {"google": {"ApiKey": {"type": "ApiKey", "value": "g-1"}}}
    storage.remove_api_key("google")
    assert not path.exists()


def test_entries_this_version_does_not_know_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"anthropic": {"Passkey": {"type": "Passkey", "blob": 1}}}))
    FileAuthStorage(path).set_api_key("anthropic", "k")
    assert json.loads(path.read_text())["anthropic"]["Passkey"] == {"type": "Passkey", "blob": 1}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"], ids=["syntax", "array", "binary"])
def test_corrupt_store_is_a_clear_error_and_is_not_overwritten(tmp_path: Path, content: str) -> None:
    path = tmp_path / "credentials.json"
    path.write_bytes(content.encode("latin-1"))
    storage = FileAuthStorage(path)
    with pytest.raises(AuthStorageError) as info:
        storage.get_api_key("openai")
    assert str(path) in str(info.value) and "fix or remove the file" in str(info.value)
    with pytest.raises(AuthStorageError):
        storage.set_api_key("openai", "sk-new")
    assert path.read_bytes() == content.encode("latin-1")


def test_malformed_entry_names_the_file_and_entry_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"openai": {"ApiKey": {"type": "ApiKey", "value": 5}}, "xai": "sk-secret"}))
    storage = FileAuthStorage(path)
    with pytest.raises(AuthStorageError, match=r"credentials.json: openai/ApiKey: Invalid credential"):
        storage.get_api_key("openai")
    with pytest.raises(AuthStorageError, match="entry 'xai' must be a JSON object") as info:
        storage.get_api_key("xai")
    assert "secret" not in str(info.value)


def test_default_path_is_in_the_user_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert FileAuthStorage().path == tmp_path / "xdg" / "steer" / "credentials.json"
    assert FileAuthStorage.default().path == tmp_path / "xdg" / "steer" / "credentials.json"


def test_no_user_config_dir_is_an_error_not_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delenv("APPDATA", raising=False)
    with pytest.raises(AuthStorageError, match=r"pass FileAuthStorage\(path=...\)"):
        FileAuthStorage()


def test_storage_errors_are_auth_errors() -> None:
    assert issubclass(AuthStorageError, AuthError) and issubclass(AuthIoError, AuthError)


# --- concurrency ----------------------------------------------------------------------------


def test_concurrent_thread_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    shared = FileAuthStorage(path)
    threads_count, writes = 8, 50
    barrier = threading.Barrier(threads_count)
    errors: List[BaseException] = []

    def writer(index: int) -> None:
        # Half the threads share one instance, half have their own: both must be safe.
        storage = shared if index % 2 == 0 else FileAuthStorage(path)
        try:
            barrier.wait()
            for n in range(writes):
                storage.set_api_key(f"t{index}-{n}", f"key-{index}-{n}")
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = json.loads(path.read_text())
    assert len(store) == threads_count * writes
    assert shared.get_api_key("t7-49") == "key-7-49"


def test_concurrent_process_writers_lose_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # spawn (not fork) so no lock state is inherited; children import the worker by name.
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    worker = importlib.import_module("_storage_worker")
    path = tmp_path / "credentials.json"
    processes_count, writes = 4, 25
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes_count)
    processes = [
        context.Process(target=worker.write_keys, args=(str(path), i, writes, barrier)) for i in range(processes_count)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    assert [p.exitcode for p in processes] == [0] * processes_count
    store = json.loads(path.read_text())
    assert sorted(store) == sorted(f"p{i}-{n}" for i in range(processes_count) for n in range(writes))


# --- crashes, symlinks and hostile files (issue 18, items 10 and 13) -------------------------

_KILLED_WRITER = """
import os, sys, time
from steer_sync._auth import FileAuthStorage

real_replace = os.replace

def stop_before_rename(src, dst):
    # The temp file is written and synced: report it and wait to be killed with SIGKILL.
    print(src, flush=True)
    time.sleep(600)

os.replace = stop_before_rename
FileAuthStorage(sys.argv[1]).set_api_key("anthropic", "sk-ant-killed-secret")
"""


def _kill_a_writer_before_its_rename(path: Path) -> Path:
    import signal
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert proc.stdout is not None
        temp = Path(proc.stdout.readline().strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert temp.exists(), "the killed writer should have left its temp file"
    return temp


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and file modes are POSIX")
def test_temp_file_left_by_a_killed_writer_is_0600_and_removed_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    FileAuthStorage(path).set_api_key("openai", "sk-1")
    temp = _kill_a_writer_before_its_rename(path)
    assert stat.S_IMODE(temp.stat().st_mode) == 0o600
    assert b"sk-ant-killed-secret" in temp.read_bytes()

    FileAuthStorage(path).set_api_key("google", "g-1")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json", "credentials.json.lock"]
    assert FileAuthStorage(path).get_api_key("anthropic") is None


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_temp_file_left_by_a_killed_writer_is_removed_by_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    FileAuthStorage(path).set_api_key("openai", "sk-1")
    _kill_a_writer_before_its_rename(path)

    assert FileAuthStorage(path).get_api_key("openai") == "sk-1"

    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json", "credentials.json.lock"]


def test_other_files_in_the_folder_are_not_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    keep = [tmp_path / ".other.json.123.0123456789ab.tmp", tmp_path / ".credentials.json.tmp", tmp_path / "notes.txt"]
    for file in keep:
        file.write_text("x")
    FileAuthStorage(path).set_api_key("openai", "sk-1")
    assert all(file.exists() for file in keep)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_a_symlinked_store_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "credentials.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"openai": {"ApiKey": {"type": "ApiKey", "value": "sk-1"}}}))
    link = tmp_path / "config" / "credentials.json"
    link.parent.mkdir()
    link.symlink_to(real)
    storage = FileAuthStorage(link)

    storage.set_api_key("google", "g-1")
    storage.remove_api_key("openai")

    assert link.is_symlink() and Path(os.readlink(link)) == real
    assert json.loads(real.read_text()) == {"google": {"ApiKey": {"type": "ApiKey", "value": "g-1"}}}
    assert sorted(p.name for p in real.parent.iterdir()) == ["credentials.json"]  # no temp left beside it
    storage.remove_api_key("google")
    assert link.is_symlink() and json.loads(real.read_text()) == {}


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_a_store_symlink_to_a_missing_file_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "credentials.json"
    link.symlink_to(tmp_path / "elsewhere" / "missing.json")
    with pytest.raises(AuthStorageError, match=r"is a symlink to .*missing.json, which does not exist"):
        FileAuthStorage(link).set_api_key("openai", "sk-1")
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="O_NOFOLLOW and symlinks are POSIX")
def test_a_dangling_lock_symlink_is_refused_and_its_target_never_created(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    planted = tmp_path / "planted-target"
    (tmp_path / "credentials.json.lock").symlink_to(planted)
    with pytest.raises(AuthStorageError, match=r"lock file .*credentials.json.lock is a symlink"):
        FileAuthStorage(path).set_api_key("openai", "sk-1")
    assert not planted.exists()
    assert not path.exists()


def test_a_deeply_nested_store_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    storage = FileAuthStorage(path)
    with pytest.raises(AuthStorageError, match=rf"credential store {path} nests JSON too deeply"):
        storage.get_api_key("openai")
    with pytest.raises(AuthStorageError, match="nests JSON too deeply"):
        storage.set_api_key("openai", "sk-1")
    assert path.read_text().startswith("[[[")  # not overwritten


def test_a_deeply_nested_store_reaches_the_caller_of_client_as_a_steer_error(tmp_path: Path) -> None:
    from steer_sync import Message, SteerError
    from steer_sync._auth import LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry
    from steer_sync._client import Client

    path = tmp_path / "credentials.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    providers = ProviderRegistry.load([], discover=False)
    config = LlmConfigProvider(FileAuthStorage(path), env={}.get, provider_registry=providers)
    client = Client(config, providers, ModelRegistry.load([], discover=False))
    try:
        with pytest.raises(SteerError, match=rf"credential store {path} nests JSON too deeply"):
            client.complete("anthropic/claude-sonnet-4-5", [Message.user("hi")])
    finally:
        client.close()


def _exception_chain(error: BaseException) -> List[BaseException]:
    """``error`` and every exception reachable from it through ``__cause__`` or ``__context__``."""
    seen: List[BaseException] = []
    pending: List[BaseException] = [error]
    while pending:
        current = pending.pop()
        if any(current is other for other in seen):
            continue
        seen.append(current)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


@pytest.mark.parametrize(
    "tail", [b"\xff", b"\n}"], ids=["not-utf8", "not-json"]
)  # a UnicodeDecodeError's .object, a JSONDecodeError's .doc
def test_a_corrupt_store_error_holds_no_byte_of_the_file(tmp_path: Path, tail: bytes) -> None:
    from steer_sync import ApiAuthError, Message
    from steer_sync._auth import LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry
    from steer_sync._client import Client

    path = tmp_path / "credentials.json"
    path.write_bytes(b'{"openai": {"ApiKey": {"type": "ApiKey", "value": "sk-file-secret"}}}' + tail)
    with pytest.raises(AuthStorageError) as direct:
        FileAuthStorage(path).get_api_key("openai")
    providers = ProviderRegistry.load([], discover=False)
    config = LlmConfigProvider(FileAuthStorage(path), env={}.get, provider_registry=providers)
    client = Client(config, providers, ModelRegistry.load([], discover=False))
    try:
        with pytest.raises(ApiAuthError) as through_client:  # the client chains the storage error
            client.complete("anthropic/claude-sonnet-4-5", [Message.user("hi")])
    finally:
        client.close()
    for outer in (direct.value, through_client.value):
        chain = _exception_chain(outer)
        assert any(isinstance(e, AuthStorageError) for e in chain)
        for error in chain:
            assert not isinstance(error, (UnicodeDecodeError, json.JSONDecodeError)), type(error)
            held = repr((error.args, vars(error), str(error)))
            assert "sk-file-secret" not in held, type(error)
