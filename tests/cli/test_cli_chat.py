"""steer-sync chat: a conversation through pipes and on a pseudo-terminal, with a cancelled answer."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any, Callable, Dict, List

from steer_sync.testing import ErrorReply, LoopbackServer, Turn


def command(*args: str) -> List[str]:
    return [sys.executable, "-m", "steer_sync", *args]


def _user_texts(body: Dict[str, Any]) -> List[str]:
    return [block["text"] for message in body["messages"] for block in message["content"] if message["role"] == "user"]


def test_chat_through_pipes_keeps_the_conversation(server: LoopbackServer, env: Dict[str, str]) -> None:
    server.queue(Turn(text="Hello Ada."), Turn(text="Your name is Ada.", usage=(9, 4)))
    result = subprocess.run(
        command("chat", "-m", "sonnet", "-s", "Be brief", "-v"),
        input="My name is Ada\n\nWhat is my name?\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout == "Hello Ada.\nYour name is Ada.\n"  # no prompt when stdin is not a terminal
    assert "usage: 9 input + 4 output = 13 tokens" in result.stderr
    _, second = server.requests  # the empty line sent nothing
    assert second.json["system"][0]["text"] == "Be brief"
    roles = [message["role"] for message in second.json["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert "Hello Ada." in str(second.json["messages"][1]["content"])
    assert _user_texts(second.json) == ["My name is Ada", "What is my name?"]


def test_a_failed_answer_does_not_end_the_chat(server: LoopbackServer, env: Dict[str, str]) -> None:
    server.queue(ErrorReply(400, "prompt too long"), Turn(text="Fine."))
    result = subprocess.run(
        command("chat", "-m", "sonnet"), input="a\nb\n", env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout == "Fine.\n"
    assert "prompt too long" in result.stderr
    assert _user_texts(server.requests[-1].json) == ["b"]  # the failed question was dropped


def test_ctrl_c_cancels_the_answer_not_the_session_and_ctrl_d_ends_it(
    server: LoopbackServer, spawn: Callable[..., Any]
) -> None:
    story = "Once upon a time, in a land far away"
    server.queue(Turn(text=story, stall_after=4), Turn(text="A short one.", usage=(3, 3)))
    terminal = spawn("chat", "-m", "sonnet")
    terminal.expect(b"Ctrl-D ends the session")
    terminal.expect(b"> ")
    terminal.send(b"Tell me a story\n")
    server.wait_for_stalls(1, timeout=30)
    terminal.expect(b"Once")  # the start of the answer is on the screen
    terminal.process.send_signal(signal.SIGINT)
    terminal.expect(b"[answer cancelled]")
    terminal.expect(b"> ")  # the session goes on
    terminal.send(b"A shorter story, please\n")
    terminal.expect(b"A short one.")
    terminal.expect(b"> ")
    terminal.send(b"\x04")  # Ctrl-D at an empty prompt
    assert terminal.finish() == 0
    assert b"Traceback" not in terminal.seen
    # The cancelled question left the conversation: the next request starts afresh.
    assert _user_texts(server.requests[-1].json) == ["A shorter story, please"]


def test_ctrl_c_at_the_prompt_clears_the_line(server: LoopbackServer, spawn: Callable[..., Any]) -> None:
    server.queue(Turn(text="Still here."))
    terminal = spawn("chat", "-m", "sonnet")
    terminal.expect(b"> ")
    # A signal that lands after the prompt is written but before the read starts waits
    # for the next one (the read is only interrupted once it blocks), so press again.
    for _ in range(20):
        terminal.process.send_signal(signal.SIGINT)
        try:
            terminal.expect(b"> ", timeout=1)
            break
        except AssertionError:
            continue
    terminal.send(b"hello\n")
    terminal.expect(b"Still here.")
    terminal.expect(b"> ")
    terminal.send(b"\x04")
    assert terminal.finish() == 0 and b"Traceback" not in terminal.seen
