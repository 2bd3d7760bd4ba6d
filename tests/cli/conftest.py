"""Fixtures for driving the steer-sync command: a loopback server, and a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

import steer_sync
from steer_sync.testing import LoopbackServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LoopbackServer]:
    """A loopback server with the environment (of this process and of children) pointing at it."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as loopback:
        for name, value in loopback.environ.items():
            monkeypatch.setenv(name, value)
        yield loopback


@pytest.fixture
def env(server: LoopbackServer) -> Dict[str, str]:
    """The environment for a steer-sync subprocess talking to ``server``."""
    result = dict(os.environ)
    result["PYTHONUNBUFFERED"] = "1"
    # The checkout, so the subprocess imports this steer_sync even where it is not installed.
    package_parent = str(Path(steer_sync.__file__).resolve().parents[1])
    result["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, result.get("PYTHONPATH")]))
    return result


def command(*args: str) -> List[str]:
    """The steer-sync command line, run by this interpreter."""
    return [sys.executable, "-m", "steer_sync", *args]


class Terminal:
    """A steer-sync process on a pseudo-terminal (stdin, and stdout/stderr unless piped).

    :meth:`expect` reads the terminal until some bytes appear (each call continues after
    the previous match), so a test acts on what the user would see, not on time.
    """

    def __init__(self, args: List[str], env: Dict[str, str], *, stdout: Optional[int] = None) -> None:
        self.controller, terminal = pty.openpty()
        self.process = subprocess.Popen(
            args,
            stdin=terminal,
            stdout=terminal if stdout is None else stdout,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        self.seen = b""
        self._position = 0
        self._eof = False

    def _read(self, timeout: float) -> bool:
        if self._eof or not select.select([self.controller], [], [], timeout)[0]:
            return False
        try:
            data = os.read(self.controller, 65536)
        except OSError:  # the terminal closed with the process
            data = b""
        if not data:
            self._eof = True
            return False
        self.seen += data
        return True

    def expect(self, needle: bytes, timeout: float = 30) -> bytes:
        """Wait until ``needle`` appears after the previous match; return what came before it."""
        deadline = time.monotonic() + timeout
        while True:
            index = self.seen.find(needle, self._position)
            if index >= 0:
                before = self.seen[self._position : index]
                self._position = index + len(needle)
                return before
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError(f"{needle!r} never appeared; the terminal showed {self.seen!r}")

    def send(self, data: bytes) -> None:
        """Type ``data`` (b"\\x04" at the start of a line is Ctrl-D)."""
        os.write(self.controller, data)

    def finish(self, timeout: float = 30) -> int:
        """Read everything until the process ends; return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(max(0.0, deadline - time.monotonic())):
            pass
        code = self.process.wait(timeout)
        os.close(self.controller)
        return code

    def close(self) -> None:
        """Kill the process if a failed test left it running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def spawn(env: Dict[str, str]) -> Iterator[Callable[..., Terminal]]:
    """``spawn("complete", "-m", "sonnet", "hi", stdout=subprocess.PIPE)``: steer-sync on a terminal.

    Processes a failed test left running are killed at the end.
    """
    opened: List[Terminal] = []

    def start(*args: str, stdout: Optional[int] = None, environment: Optional[Dict[str, str]] = None) -> Terminal:
        terminal = Terminal(command(*args), env if environment is None else environment, stdout=stdout)
        opened.append(terminal)
        return terminal

    yield start
    for terminal in opened:
        terminal.close()


@pytest.fixture
def cli_command() -> Callable[..., List[str]]:
    """The steer-sync command line builder (``cli_command("models")``)."""
    return command
