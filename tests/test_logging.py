"""Logging: DEBUG request/response lines without a credential, and ``STEER_SYNC_LOG``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from steer_sync import Client, Message, RetryPolicy
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

HI = [Message.user("hi")]
#: One secret per provider; none may appear anywhere in the log output.
SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-SECRET-anthropic-0123456789",
    "OPENAI_API_KEY": "sk-SECRET-openai-0123456789",
    "GEMINI_API_KEY": "AIza-SECRET-gemini-0123456789",
    "XAI_API_KEY": "xai-SECRET-0123456789",
}
MODELS = ["anthropic/claude-sonnet-4-5", "openai/gpt-5.4", "google/gemini-3-pro-preview", "xai/grok-4-1-fast-reasoning"]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LoopbackServer]:
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as loopback:
        for name, value in loopback.environ.items():
            if name.endswith("_BASE_URL"):
                monkeypatch.setenv(name, value)
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        yield loopback


def test_debug_output_never_contains_a_key(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    policy = RetryPolicy(max_attempts=2, base_delay=0)
    with Client.from_env(retry_policy=policy) as client, caplog.at_level(logging.DEBUG, "steer_sync"):
        for model in MODELS:
            server.queue(Turn(text="plain"), ErrorReply(503, "busy"), Turn(text="streamed"))
            assert client.complete_with_retry(model, HI, max_attempts=1).extract_text() == "plain"
            assert client.complete(model, HI).extract_text() == "streamed"
            server.queue(ErrorReply(401, "bad key"))
            with pytest.raises(Exception):  # noqa: B017 - any failure: only its logging matters
                client.complete(model, HI)
    text = caplog.text + "".join(f"{record.args!r}{record.exc_text}" for record in caplog.records)
    for secret in SECRETS.values():
        assert secret not in text
    requests = [r.getMessage() for r in caplog.records if r.getMessage().startswith("POST ")]
    responses = [r.getMessage() for r in caplog.records if r.getMessage().startswith("HTTP ")]
    assert len(requests) == len(responses) == 4 * 4
    anthropic = next(line for line in requests if "/v1/messages" in line)
    assert anthropic.startswith(f"POST {server.url}/v1/messages headers={{")
    assert "x-api-key: [redacted]" in anthropic and "body=" in anthropic and " bytes" in anthropic
    assert any(line.startswith("HTTP 401 from ") for line in responses)
    assert any("request-id: req_" in line for line in responses)  # a public response header is shown


def test_debug_lines_cost_nothing_when_disabled(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    server.queue(Turn(text="x"))
    with Client.from_env() as client, caplog.at_level(logging.INFO, "steer_sync"):
        client.complete(MODELS[0], HI)
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]


def _run(code: str, env_value: str, server: LoopbackServer) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEER_SYNC_LOG": env_value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_steer_sync_log_info_writes_the_call_line_to_stderr(server: LoopbackServer) -> None:
    server.queue(Turn(text="hello", usage=(10, 5)))
    code = (
        "import steer_sync\n"
        "c = steer_sync.Client.from_env()\n"
        "print(c.complete('anthropic/claude-sonnet-4-5', [steer_sync.Message.user('hi')]).extract_text())\n"
    )
    done = _run(code, "info", server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello"
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "INFO steer_sync.client: call anthropic/claude-sonnet-4-5 ok in " in lines[0]
    assert SECRETS["ANTHROPIC_API_KEY"] not in done.stderr


def test_steer_sync_log_debug_adds_the_http_lines(server: LoopbackServer) -> None:
    server.queue(Turn(text="hello"))
    code = (
        "import steer_sync\n"
        "c = steer_sync.Client.from_env()\n"
        "c.complete('anthropic/claude-sonnet-4-5', [steer_sync.Message.user('hi')])\n"
    )
    done = _run(code, "DEBUG", server)
    assert done.returncode == 0, done.stderr
    assert "DEBUG steer_sync.transport: POST " in done.stderr and "INFO steer_sync.client: call " in done.stderr
    for secret in SECRETS.values():
        assert secret not in done.stderr


def test_steer_sync_log_is_read_by_the_first_client_not_by_import(server: LoopbackServer) -> None:
    code = (
        "import logging, steer_sync\n"
        "logger = logging.getLogger('steer_sync')\n"
        "print(len(logger.handlers), logger.level)\n"
        "steer_sync.Client.from_env(); steer_sync.Client.from_env()\n"
        "print(len(logger.handlers), logger.level)\n"
    )
    done = _run(code, "info", server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0", "2", "20"]  # NullHandler; then one stderr handler, INFO


def test_an_unknown_steer_sync_log_value_is_reported(server: LoopbackServer) -> None:
    done = _run("import steer_sync\nsteer_sync.Client.from_env()\n", "verbose", server)
    assert done.returncode == 0
    assert "STEER_SYNC_LOG='verbose' is not a log level; use STEER_SYNC_LOG=info or STEER_SYNC_LOG=debug" in (
        done.stderr
    )
