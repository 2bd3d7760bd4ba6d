"""CommandTokenPlugin through a real Client, real subprocesses and the loopback server."""

from __future__ import annotations

import logging
import pickle
import threading
from pathlib import Path
from typing import List

import pytest

from steer_sync import ApiAuthError, AuthenticationFailed, CommandTokenPlugin, ConfigurationError, Message
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

MODEL = "gw/some-model"


def _bearer(server: LoopbackServer) -> List[str]:
    return [r.headers.get("authorization", "") for r in server.requests]


def test_sixteen_threads_at_once_run_the_command_once(
    server: LoopbackServer, token_command, gateway, tmp_path: Path
) -> None:
    plugin = CommandTokenPlugin("gw", token_command.argv("bare"))
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    barrier = threading.Barrier(16)
    texts: List[str] = []
    failures: List[BaseException] = []

    def call() -> None:
        try:
            barrier.wait()
            texts.append(client.complete(MODEL, [Message.user("hi")]).extract_text())
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(texts) == 16
    assert token_command.runs == 1
    assert _bearer(server) == ["Bearer cmd-secret-token-1"] * 16


def test_a_cached_token_is_reused_until_it_expires(server: LoopbackServer, token_command, gateway, tmp_path) -> None:
    catalog = gateway.catalog(tmp_path, f"{server.url}/v1")
    long_lived = gateway.client(catalog, [CommandTokenPlugin("gw", token_command.argv("json:3600"))])
    long_lived.complete(MODEL, [Message.user("one")])
    long_lived.complete(MODEL, [Message.user("two")])
    assert token_command.runs == 1

    expired = gateway.client(catalog, [CommandTokenPlugin("gw", token_command.argv("json:0"))])
    expired.complete(MODEL, [Message.user("three")])
    expired.complete(MODEL, [Message.user("four")])
    assert token_command.runs == 3
    assert _bearer(server)[-2:] == ["Bearer cmd-secret-token-2", "Bearer cmd-secret-token-3"]


def test_a_bare_token_is_fetched_again_after_the_ttl(server: LoopbackServer, token_command, gateway, tmp_path) -> None:
    plugin = CommandTokenPlugin("gw", token_command.argv("bare"), ttl=100)
    now = [1000.0]
    plugin._tokens._clock = lambda: now[0]  # a fake clock instead of waiting 100 s
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    client.complete(MODEL, [Message.user("one")])
    now[0] += 85.0  # before the refresh margin (a tenth of the ttl)
    client.complete(MODEL, [Message.user("two")])
    assert token_command.runs == 1
    now[0] += 10.0  # inside the margin: refreshed before it lapses
    client.complete(MODEL, [Message.user("three")])
    assert token_command.runs == 2
    assert _bearer(server) == ["Bearer cmd-secret-token-1"] * 2 + ["Bearer cmd-secret-token-2"]


def test_a_401_refreshes_once_and_resends(server: LoopbackServer, token_command, gateway, tmp_path) -> None:
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"), [CommandTokenPlugin("gw", token_command.argv("json:3600"))]
    )
    server.queue(ErrorReply(401, "token revoked"), Turn(text="fresh"))
    assert client.complete(MODEL, [Message.user("hi")]).extract_text() == "fresh"
    assert token_command.runs == 2
    assert _bearer(server) == ["Bearer cmd-secret-token-1", "Bearer cmd-secret-token-2"]


def test_a_second_401_falls_back_to_the_api_key(
    server: LoopbackServer, token_command, gateway, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"),
        [CommandTokenPlugin("gw", token_command.argv("json:3600"))],
        env={"GW_TEST_KEY": gateway.FALLBACK_KEY},
    )
    server.queue(ErrorReply(401, "no"), ErrorReply(403, "still no"), Turn(text="with the key"))
    assert client.complete(MODEL, [Message.user("hi")]).extract_text() == "with the key"
    assert token_command.runs == 2
    assert _bearer(server) == [
        "Bearer cmd-secret-token-1",
        "Bearer cmd-secret-token-2",
        f"Bearer {gateway.FALLBACK_KEY}",
    ]
    # The fallback provider stays: the next call goes straight to the key.
    client.complete(MODEL, [Message.user("again")])
    assert token_command.runs == 2
    assert _bearer(server)[-1] == f"Bearer {gateway.FALLBACK_KEY}"
    assert "cmd-secret-token" not in caplog.text
    assert "falling back to the API key" in caplog.text


def test_a_second_401_without_an_api_key_raises(server: LoopbackServer, token_command, gateway, tmp_path) -> None:
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"), [CommandTokenPlugin("gw", token_command.argv("bare"))]
    )
    server.queue(ErrorReply(401, "no"), ErrorReply(401, "no"))
    with pytest.raises(AuthenticationFailed) as caught:
        client.complete(MODEL, [Message.user("hi")])
    assert "cmd-secret-token" not in str(caught.value)
    assert token_command.runs == 2


def _error_for(mode: str, server: LoopbackServer, token_command, gateway, tmp_path, **kwargs: float) -> ApiAuthError:
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"), [CommandTokenPlugin("gw", token_command.argv(mode), **kwargs)]
    )
    with pytest.raises(ApiAuthError) as caught:
        client.complete(MODEL, [Message.user("hi")])
    assert server.requests == []  # nothing was sent without a token
    error = caught.value
    for text in (str(error), repr(error), pickle.dumps(error).decode("latin-1")):
        assert "cmd-secret-token" not in text
    assert error.provider == "gw"
    assert str(token_command.script) in str(error)  # names the command and its arguments
    return error


def test_a_failing_command_names_itself_and_its_last_stderr_line(
    server: LoopbackServer, token_command, gateway, tmp_path
) -> None:
    error = _error_for("fail", server, token_command, gateway, tmp_path)
    assert "exit status 3" in str(error)
    assert "You do not currently have an active account" in str(error)
    assert "some warning" not in str(error)


def test_a_token_the_failing_command_echoes_on_stderr_is_redacted(
    server: LoopbackServer, token_command, gateway, tmp_path
) -> None:
    error = _error_for("leak", server, token_command, gateway, tmp_path)
    assert "refusing to use [redacted]" in str(error)


def test_a_token_echoed_in_json_on_stdout_and_on_stderr_is_redacted(
    server: LoopbackServer, token_command, gateway, tmp_path
) -> None:
    error = _error_for("leak-json", server, token_command, gateway, tmp_path)
    assert "refusing to use [redacted]" in str(error)


def test_a_token_printed_before_a_hang_is_redacted_from_the_timeout_error(
    server: LoopbackServer, token_command, gateway, tmp_path
) -> None:
    # The timeout only needs to outlast the script's start and two writes.
    error = _error_for("leak-hang", server, token_command, gateway, tmp_path, timeout=3)
    assert "did not finish within 3 s" in str(error)
    assert "refusing to use [redacted]" in str(error)


SECRET_ARGS = ["--token=tok-secret-1", "--password", "pw-secret-2", "client_secret=cs-secret-3", "--API-KEY", "k-4"]


def test_secret_looking_arguments_are_masked_in_repr_and_errors(
    server: LoopbackServer, token_command, gateway, tmp_path
) -> None:
    command = [*token_command.argv("fail"), *SECRET_ARGS]
    plugin = CommandTokenPlugin("gw", command)
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    with pytest.raises(ApiAuthError) as caught:
        client.complete(MODEL, [Message.user("hi")])
    with pytest.raises(ConfigurationError) as refused:
        CommandTokenPlugin("gw", [*SECRET_ARGS, 3])  # type: ignore[list-item]
    texts = [repr(plugin), str(caught.value), repr(caught.value), str(refused.value)]
    for text in texts:
        for secret in ("tok-secret-1", "pw-secret-2", "cs-secret-3", "k-4"):
            assert secret not in text, text
    assert "'--token=***' --password '***' 'client_secret=***' --API-KEY '***'" in str(caught.value)
    assert str(token_command.script) in repr(plugin)  # the rest stays readable
    assert plugin.command == tuple(command)  # the real command still runs (and pickles)
    assert pickle.loads(pickle.dumps(plugin)).command == tuple(command)


def test_masking_keeps_positional_words_and_masks_only_values() -> None:
    from steer_sync._catalog._configs import CommandAuthConfig, masked_command

    assert masked_command(["gcloud", "auth", "print-access-token", "--format=json"]) == (
        "gcloud",
        "auth",
        "print-access-token",
        "--format=json",
    )
    assert masked_command(["vault", "read", "-field=token", "--secret-id", "s", "key=v=w", "--password"]) == (
        "vault",
        "read",
        "-field=token",
        "--secret-id",
        "***",
        "key=***",
        "--password",
    )
    config = CommandAuthConfig(("tool", "--token=tok-secret-1"), ttl=5.0)
    assert repr(config) == "CommandAuthConfig(command=('tool', '--token=***'), ttl=5.0, timeout=None)"


def test_a_hanging_command_times_out(server: LoopbackServer, token_command, gateway, tmp_path) -> None:
    error = _error_for("hang", server, token_command, gateway, tmp_path, timeout=0.5)
    assert "did not finish within 0.5 s" in str(error)


def test_a_silent_command_is_an_error(server: LoopbackServer, token_command, gateway, tmp_path) -> None:
    error = _error_for("silent", server, token_command, gateway, tmp_path)
    assert "printed no token" in str(error)


def test_a_missing_program_is_an_error(server: LoopbackServer, gateway, tmp_path) -> None:
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"), [CommandTokenPlugin("gw", ["no-such-token-tool-xyz", "print"])]
    )
    with pytest.raises(ApiAuthError, match="'no-such-token-tool-xyz' was not found"):
        client.complete(MODEL, [Message.user("hi")])


def test_the_token_never_shows_in_reprs_or_pickles(server: LoopbackServer, token_command, gateway, tmp_path) -> None:
    plugin = CommandTokenPlugin("gw", token_command.argv("bare"))
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    client.complete(MODEL, [Message.user("hi")])
    assert token_command.runs == 1
    directive = plugin.resolve_auth(client.config_provider.auth_storage)
    for text in (repr(plugin), repr(client), repr(directive), repr(directive.headers.headers(None))):  # type: ignore[arg-type]
        assert "cmd-secret-token" not in text
    restored = pickle.loads(pickle.dumps(plugin))
    assert b"cmd-secret-token" not in pickle.dumps(plugin)
    assert restored.command == plugin.command and not restored.is_authenticated(client.config_provider.auth_storage)


@pytest.mark.parametrize(
    ("command", "kwargs", "message"),
    [
        ("gcloud auth print-access-token", {}, "list of arguments"),
        ([], {}, "non-empty list"),
        (["gcloud", 3], {}, "non-empty list"),
        (["gcloud"], {"ttl": 0}, "ttl must be a positive number"),
        (["gcloud"], {"timeout": -1}, "timeout must be a positive number"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_error(command: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CommandTokenPlugin("gw", command, **kwargs)  # type: ignore[arg-type]


def test_a_failing_command_falls_back_to_a_configured_api_key(
    server: LoopbackServer, token_command, gateway, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"),
        [CommandTokenPlugin("gw", token_command.argv("fail"))],
        env={"GW_TEST_KEY": gateway.FALLBACK_KEY},
    )
    assert client.complete(MODEL, [Message.user("hi")]).extract_text()
    assert _bearer(server) == [f"Bearer {gateway.FALLBACK_KEY}"]
    assert "falling back to the API key" in caplog.text
