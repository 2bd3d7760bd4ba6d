"""The steer-sync command, in process and as a real subprocess (with and without a terminal)."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

import steer_sync
from steer_sync._cli import main
from steer_sync.testing import ErrorReply, LoopbackServer, ToolCallSpec, Turn


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LoopbackServer]:
    """A loopback server with the environment pointing every provider at it."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as loopback:
        for name, value in loopback.environ.items():
            monkeypatch.setenv(name, value)
        yield loopback


def run(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_complete_streams_text_to_stdout_and_thinking_to_stderr(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.queue(Turn(thinking="Pondering.", thinking_signature="c2ln", text="Bonjour !", usage=(7, 3)))
    code, out, err = run(["complete", "-m", "sonnet", "-s", "Be terse", "-v", "Hello in French?"], capsys)
    assert code == 0
    assert out == "Bonjour !\n"
    assert "Pondering." in err and "\033[" not in err  # not a terminal: no styling
    assert "usage: 7 input + 3 output = 10 tokens" in err
    body = server.requests[-1].json
    assert body["stream"] is True and body["system"][0]["text"] == "Be terse"
    assert body["messages"][-1]["content"][0]["text"] == "Hello in French?"


def test_complete_json_prints_the_response(server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.queue(Turn(text="Hi!", tool_calls=[ToolCallSpec("call_1", "lookup", {"q": "x"})], usage=(4, 2)))
    code, out, _ = run(["complete", "-m", "openai/gpt-5.4", "--no-stream", "--json", "Hi"], capsys)
    assert code == 0
    response = json.loads(out)
    assert response["content"][0] == {"type": "text", "text": "Hi!"}
    assert response["content"][1]["tool_call"] == {"id": "call_1", "name": "lookup", "parameters": {"q": "x"}}
    assert response["usage"]["input_tokens"] == 4


def test_complete_reads_the_prompt_from_stdin(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    code, out, _ = run(["complete", "-m", "gemini"], capsys)
    assert code == 0 and out.strip()
    assert server.requests[-1].json["contents"][-1]["parts"][0]["text"] == "from stdin\n"


def test_a_missing_key_is_one_line_naming_the_variable(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    code, out, err = run(["complete", "-m", "grok", "hi"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "XAI_API_KEY" in err


def test_an_api_error_is_one_line_with_what_to_do(server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.queue(ErrorReply(401, "invalid x-api-key"))
    code, _, err = run(["complete", "-m", "sonnet", "hi"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "invalid x-api-key" in err and "API key" in err
    assert "steer-sync-test-key" not in err


def test_an_unknown_model_names_the_known_ones(server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["complete", "-m", "nosuch/model", "hi"], capsys)
    assert code == 2 and "anthropic" in err


def test_models_lists_the_catalog(capsys: pytest.CaptureFixture[str], server: LoopbackServer) -> None:
    code, out, _ = run(["models"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["MODEL", "ALIASES", "CONTEXT", "RECOMMENDED", "USD/MTOK(IN/OUT/CACHED)"]
    sonnet = next(line for line in lines if line.startswith("anthropic/claude-sonnet-4-5 "))
    assert "sonnet" in sonnet and "200,000" in sonnet and "yes" in sonnet
    assert sonnet.split()[-1] == "3/15/0.3"  # the catalog's prices
    code, out, _ = run(["models", "--provider", "google"], capsys)
    assert code == 0 and all(line.startswith("google/") for line in out.splitlines()[1:])
    code, _, err = run(["models", "--provider", "nosuch"], capsys)
    assert code == 2 and "nosuch" in err


def test_models_include_extra_catalogs(
    capsys: pytest.CaptureFixture[str], server: LoopbackServer, tmp_path: Path
) -> None:
    catalog = tmp_path / "extra.toml"
    catalog.write_text(
        '[[providers]]\nid = "gw"\nname = "Gateway"\napi_format = "openai-chat"\nauth_schemes = ["api-key"]\n'
        '[[models]]\nprovider = "gw"\nid = "m1"\naliases = ["mine"]\n[models.parameters]\nmax_output_tokens = 10\n'
    )
    code, out, _ = run(["--catalog", str(catalog), "models", "--provider", "gw"], capsys)
    assert code == 0 and "gw/m1" in out and "mine" in out


def test_providers_shows_credential_sources_without_secrets(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    code, out, _ = run(["providers"], capsys)
    assert code == 0
    rows: Dict[str, str] = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "environment (ANTHROPIC_API_KEY)" in rows["anthropic"]
    assert f"{server.url} (from ANTHROPIC_BASE_URL)" in rows["anthropic"]
    assert "openai-responses" in rows["openai"]
    assert "missing: set GOOGLE_API_KEY or GEMINI_API_KEY" in rows["google"]
    assert "steer-sync-test-key" not in out


def test_demo_streams_every_api_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo"], capsys)
    assert code == 0
    for label in ("Anthropic Messages", "OpenAI Responses", "OpenAI Chat Completions", "Google Gemini", "xAI"):
        assert f"== {label}" in out
    assert out.count("It is 22 degrees and sunny in Paris.") == 5
    assert out.count('-> get_weather({"city": "Paris"})') == 5
    assert err.count("The user wants the weather") == 5


def _subprocess_env(server: LoopbackServer) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(server.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # The checkout, so the subprocess imports this steer_sync even where it is not installed.
    package_parent = str(Path(steer_sync.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env


def test_ctrl_c_cancels_cleanly_with_exit_code_130(server: LoopbackServer) -> None:
    story = "Once upon a time, in a land far away"
    server.queue(Turn(text=story, stall_after=6))
    process = subprocess.Popen(
        [sys.executable, "-m", "steer_sync", "complete", "-m", "sonnet", "Tell me a story"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_subprocess_env(server),
    )
    server.wait_for_stalls(1, timeout=30)
    assert process.stdout is not None
    # Wait until the streamed text has reached the terminal, then press Ctrl-C.
    assert select.select([process.stdout], [], [], 30)[0]
    first = os.read(process.stdout.fileno(), 4096)
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert b"Traceback" not in err and b"cancelled" in err
    out = first + rest
    assert first and story.encode().startswith(out.rstrip(b"\n"))


def test_thinking_is_dimmed_on_a_terminal(server: LoopbackServer) -> None:
    server.queue(Turn(thinking="Pondering.", thinking_signature="c2ln", text="Done."))
    controller, terminal = pty.openpty()
    env = _subprocess_env(server)
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "steer_sync", "complete", "-m", "sonnet", "hi"],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    out, _ = process.communicate(timeout=30)
    seen = b""
    while select.select([controller], [], [], 0.5)[0]:
        try:
            data = os.read(controller, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        seen += data
    os.close(controller)
    assert process.returncode == 0 and out == b"Done.\n"
    assert b"\033[2mPondering.\033[0m" in seen


def _run_on_a_terminal(args: List[str], env: Dict[str, str]) -> Tuple[int, bytes]:
    """Run a command with stdout and stderr on a pseudo-terminal; return its exit code and output."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(args, stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL, env=env)
    os.close(terminal)
    seen = b""
    while True:
        ready = select.select([controller], [], [], 30)[0]
        if not ready:
            break
        try:
            data = os.read(controller, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        seen += data
    os.close(controller)
    return process.wait(30), seen


def test_the_console_script_runs_the_demo_on_a_terminal(server: LoopbackServer) -> None:
    script = Path(sys.executable).parent / "steer-sync"
    assert script.exists(), "install the package (make test does) to get the steer-sync command"
    env = _subprocess_env(server)
    env.pop("NO_COLOR", None)
    code, seen = _run_on_a_terminal([str(script), "demo"], env)
    assert code == 0
    assert b"\033[1m== Anthropic Messages" in seen  # headings are bold on a terminal
    assert seen.count(b"It is 22 degrees and sunny in Paris.") == 5


def test_models_and_providers_work_on_a_terminal(server: LoopbackServer) -> None:
    env = _subprocess_env(server)
    code, seen = _run_on_a_terminal([sys.executable, "-m", "steer_sync", "models", "--provider", "xai"], env)
    assert code == 0 and b"xai/grok-4-1-fast-reasoning" in seen
    code, seen = _run_on_a_terminal([sys.executable, "-m", "steer_sync", "providers"], env)
    assert code == 0 and b"environment (XAI_API_KEY)" in seen and b"steer-sync-test-key" not in seen
