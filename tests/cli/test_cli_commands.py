"""steer-sync options and failure reporting, in process, through pipes and on a pseudo-terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import steer_sync
from steer_sync import RateLimited
from steer_sync._cli import EXIT_BROKEN_PIPE, _Console, _print_summary, _RetryNotices, main
from steer_sync._types import TokenUsage
from steer_sync.testing import ErrorReply, LoopbackServer, Turn


def command(*args: str) -> List[str]:
    return [sys.executable, "-m", "steer_sync", *args]


def run(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"steer-sync {steer_sync.__version__} (python 3.")


def test_call_options_reach_the_request(server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.queue(Turn(text="a"), Turn(text="b"), Turn(text="c"))
    args = ["complete", "-m", "sonnet", "--no-thinking", "--temperature", "0.3", "--max-tokens", "55", "hi"]
    assert run(args, capsys)[0] == 0
    body = server.requests[-1].json
    assert body["temperature"] == 0.3 and body["max_tokens"] == 55 and "thinking" not in body

    args = ["complete", "-m", "sonnet", "--thinking-budget", "2048", "--max-tokens", "4096", "--system", "terse", "hi"]
    assert run(args, capsys)[0] == 0
    body = server.requests[-1].json
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["system"][0]["text"] == "terse"

    assert run(["complete", "-m", "openai/gpt-5.4", "--effort", "high", "hi"], capsys)[0] == 0
    assert server.requests[-1].json["reasoning"]["effort"] == "high"


def test_json_schema_asks_for_structured_output(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    path = tmp_path / "city answer.json"
    path.write_text(json.dumps(schema))
    server.queue(Turn(json={"city": "Paris"}))
    code, out, _ = run(["complete", "-m", "openai/gpt-5.4", "--json-schema", str(path), "capital?"], capsys)
    assert code == 0 and json.loads(out) == {"city": "Paris"}
    text_format = server.requests[-1].json["text"]["format"]
    assert text_format["type"] == "json_schema" and text_format["name"] == "city_answer"
    assert text_format["schema"]["properties"] == schema["properties"]


@pytest.mark.parametrize(
    ("content", "problem"), [(None, "cannot read"), ("{nope", "not valid JSON"), ("[1]", "must hold a JSON object")]
)
def test_a_bad_json_schema_file_is_refused_before_sending(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], tmp_path: Path, content: Optional[str], problem: str
) -> None:
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_text(content)
    code, _, err = run(["complete", "-m", "sonnet", "--json-schema", str(path), "hi"], capsys)
    assert code != 0 and problem in err and str(path) in err
    assert server.requests == []


def test_bad_option_values_are_refused_before_sending(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["--max-tokens", "0"], ["--timeout", "-1"], ["--effort", "huge"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["complete", "-m", "sonnet", *args, "hi"])
        assert exit_info.value.code == 2
        assert args[0] in capsys.readouterr().err
    assert server.requests == []


def test_timeout_ends_a_stalled_answer(server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.queue(Turn(text="Once upon a time", stall_after=1))
    code, _, err = run(["complete", "-m", "sonnet", "--timeout", "0.5", "hi"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "deadline of 0.5 s passed" in err


@pytest.mark.parametrize(
    "subcommand", [["models"], ["providers"], ["complete", "-m", "sonnet", "hi"], ["chat", "-m", "sonnet"], ["demo"]]
)
def test_a_missing_catalog_is_refused_by_every_subcommand(
    subcommand: List[str], server: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["--catalog", "missing.toml", *subcommand], capsys)
    assert code == 2 and out == ""
    assert err == "steer-sync: Configuration error: catalog file 'missing.toml' does not exist; check the path\n"
    assert server.requests == []


def test_an_unknown_model_suggests_a_close_one(server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["complete", "-m", "sonet", "hi"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "Unknown model or alias: sonet. Did you mean 'sonnet'? Use 'provider/model-id'" in err
    assert "haiku" not in err and "steer-sync models" in err  # no dump of every alias
    code, _, err = run(["chat", "-m", "antropic/claude-sonnet-4-5"], capsys)
    assert code == 2 and "Unknown provider: antropic. Did you mean 'anthropic'? Known providers: " in err


def test_each_retry_is_one_line_and_the_final_error_counts_attempts(
    server: LoopbackServer, env: Dict[str, str]
) -> None:
    server.queue(ErrorReply(429, "slow down", retry_after=0.05), ErrorReply(400, "bad thing"))
    result = subprocess.run(
        command("complete", "-m", "sonnet", "hi"), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and result.stdout == ""
    notice, final = result.stderr.splitlines()
    assert notice.startswith("steer-sync: anthropic: attempt 1 of 5 failed (RateLimited: ")
    assert "slow down" in notice
    wait = notice.rpartition("; retrying in ")[2]
    assert wait in ("0.2 s", "0.3 s")  # 0.25 s, +/- 20 % jitter
    assert "bad thing" in final and final.endswith(f"(gave up after 2 attempts; the last wait was {wait})")
    assert "waiting for" not in result.stderr  # stderr is a pipe: no indicator


def test_a_retry_notice_clears_the_waiting_indicator_on_a_terminal(
    server: LoopbackServer, env: Dict[str, str], spawn: Callable[..., Any]
) -> None:
    server.queue(ErrorReply(503, "overloaded", retry_after=0.05), Turn(text="Recovered."))
    terminal = spawn("complete", "-m", "sonnet", "hi", stdout=subprocess.PIPE)
    terminal.expect(b"waiting for sonnet (")
    before = terminal.expect(b"steer-sync: anthropic: attempt 1 of 5 failed (ServerError: ")
    assert before.endswith(b"\r\033[K")  # the indicator is erased before the notice
    assert terminal.finish() == 0
    assert terminal.process.stdout is not None and terminal.process.stdout.read() == b"Recovered.\n"
    assert terminal.seen.endswith(b"\r\033[K")  # and erased when the answer starts


def test_the_waiting_indicator_runs_until_the_first_token_and_ctrl_c_cancels(
    server: LoopbackServer, env: Dict[str, str], spawn: Callable[..., Any]
) -> None:
    server.queue(Turn(text="never sent", stall_after=0))
    terminal = spawn("complete", "-m", "sonnet", "hi")
    server.wait_for_stalls(1, timeout=30)
    terminal.expect(b"waiting for sonnet (")
    terminal.process.send_signal(2)
    assert terminal.finish() == 130
    tail = terminal.seen[terminal.seen.rindex(b"waiting for sonnet") :]
    assert b"\r\033[Ksteer-sync: cancelled" in tail and b"Traceback" not in terminal.seen


@pytest.mark.parametrize("no_stream", [False, True])
def test_a_closed_pipe_ends_quietly(
    no_stream: bool, server: LoopbackServer, env: Dict[str, str], spawn: Callable[..., Any]
) -> None:
    server.queue(Turn(text="x" * 300_000))
    args = ["complete", "-m", "sonnet", "hi"] + (["--no-stream"] if no_stream else [])
    # stdout is a pipe read like `| head -c 20`; stderr is a terminal where a message would show.
    # Buffered as usual: with PYTHONUNBUFFERED a large write to a closed pipe may end short
    # without an error (CPython does not retry a partial unbuffered write).
    environment = {name: value for name, value in env.items() if name != "PYTHONUNBUFFERED"}
    terminal = spawn(*args, stdout=subprocess.PIPE, environment=environment)
    assert terminal.process.stdout is not None
    assert terminal.process.stdout.read(20) == b"x" * 20
    terminal.process.stdout.close()
    assert terminal.finish() == EXIT_BROKEN_PIPE
    assert b"Broken pipe" not in terminal.seen and b"Exception" not in terminal.seen
    assert b"steer-sync:" not in terminal.seen


def test_a_closed_pipe_in_a_shell_pipeline(server: LoopbackServer, env: Dict[str, str]) -> None:
    server.queue(Turn(text="y" * 300_000))
    line = " ".join(command("complete", "-m", "sonnet", "hi")) + " | head -c 20"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", line], env=env, capture_output=True, timeout=60)
    assert result.stdout == b"y" * 20 and result.stderr == b""
    assert result.returncode == EXIT_BROKEN_PIPE


def test_verbose_prints_usage_then_the_call_identity(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.queue(Turn(text="Hi", usage=(5, 2)))
    code, out, err = run(["complete", "-m", "sonnet", "-v", "--no-stream", "hi"], capsys)
    assert code == 0 and out == "Hi\n"
    assert err.splitlines()[0] == "usage: 5 input + 2 output = 7 tokens"
    # Fields that later waves add to CompletionResponse are shown when present.
    response = SimpleNamespace(
        usage=TokenUsage.from_input_output(1, 1), model="claude-x", request_id="req_9", cost=0.0015
    )
    _print_summary(_Console(sys.stderr), response)  # type: ignore[arg-type]
    assert capsys.readouterr().err.splitlines() == [
        "usage: 1 input + 1 output = 2 tokens",
        "model: claude-x",
        "request id: req_9",
        "cost: $0.001500",
    ]


def test_json_output_is_unchanged_by_the_new_options(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.queue(Turn(text="Hi!", usage=(4, 2)))
    code, out, _ = run(["complete", "-m", "gemini", "--json", "--temperature", "0", "Hi"], capsys)
    assert code == 0 and json.loads(out)["content"][0] == {"type": "text", "text": "Hi!"}
    assert server.requests[-1].json["generationConfig"]["temperature"] == 0


class AttemptFailed:
    """Stands in for the observability event of the same name (same fields)."""

    def __init__(self, provider: str, model: str, attempt: int, error: Exception, retry_in: object) -> None:
        self.provider, self.model, self.attempt, self.error, self.retry_in = provider, model, attempt, error, retry_in


def test_retry_notices_also_read_attempt_failed_events(capsys: pytest.CaptureFixture[str]) -> None:
    notices = _RetryNotices(_Console(sys.stderr))
    error = RateLimited("openai", "slow down", 1.5)
    notices.on_event(AttemptFailed("openai", "gpt", 1, error, 1.5))
    notices.on_event(AttemptFailed("openai", "gpt", 2, error, None))  # gives up: no notice
    notices.on_event(object())
    err = capsys.readouterr().err
    assert (
        err == "steer-sync: openai: attempt 1 failed (RateLimited: Rate limited by openai: slow down "
        "(wait and retry, or lower the request rate)); retrying in 1.5 s\n"
    )
    assert notices.explain(error).endswith("(gave up after 2 attempts; the last wait was 1.5 s)")
