"""Fixtures for the contrib tests: a loopback provider, real gunicorn servers, a raw HTTP client,
and a real ``redis-server`` per test session (started on a free port, stopped by PID).

gunicorn, Django, redis-server and the redis/celery packages are optional: outside CI a missing
one skips with the command that installs it; with ``CI=true`` it fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from steer_sync.testing import LoopbackServer

WEBAPPS = Path(__file__).resolve().parent / "webapps"
GUARD = 20.0  # backstop for a broken test, never a measurement


def require(what: str, available: bool, install: str) -> None:
    """Skip (visibly) when ``what`` is missing, or fail when running under CI=true."""
    if available:
        return
    message = f"{what} is not installed; install it with: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_module(name: str) -> None:
    require(name, importlib.util.find_spec(name) is not None, ".venv/bin/pip install -e '.[test]'")


def _has_setting(name: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == name for setting in KNOWN_SETTINGS)


class Gunicorn:
    """One gunicorn master started on an ephemeral port; stopped by its PID."""

    def __init__(self, app: str, worker_class: str, env: Dict[str, str], chdir: Path = WEBAPPS) -> None:
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            "127.0.0.1:0",
            "--chdir",
            str(chdir),
            "--workers",
            "1",
            "--worker-class",
            worker_class,
            "--threads",
            "4" if worker_class == "gthread" else "1",
            "--timeout",
            "30",
            "--graceful-timeout",
            "1",
            "--log-level",
            "info",
            app,
        ]
        if _has_setting("control_socket_disable"):
            # gunicorn 25+ opens a control socket in $HOME, shared by every instance.
            args.insert(-1, "--no-control-socket")
        self.lines: List[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        listening = self.wait_for_line(r"Listening at: http://127\.0\.0\.1:(\d+)")
        booted = self.wait_for_line(r"Booting worker with pid")
        if listening is None or booted is None:
            self.stop()
            raise RuntimeError("gunicorn did not start:\n" + "\n".join(self.lines))
        self.port = int(listening.group(1))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = GUARD) -> Optional[re.Match[str]]:
        """The first log line matching ``pattern``, waiting for it; ``None`` on timeout."""
        regex = re.compile(pattern)
        found: List[re.Match[str]] = []

        def seen() -> bool:
            for line in self.lines:
                match = regex.search(line)
                if match:
                    found.append(match)
                    return True
            return self.proc.poll() is not None

        with self._changed:
            self._changed.wait_for(seen, timeout)
        return found[0] if found else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(GUARD)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(GUARD)
        self._reader.join(GUARD)


class HttpClient:
    """A raw HTTP/1.1 client over one socket: reads the head, then the chunked body piecewise."""

    def __init__(self, port: int, target: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD)
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n".encode())
        self.raw = b""
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        self.body = b""
        self.ended = False  # the terminating zero-length chunk arrived

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.raw:
            self.raw += self._recv()
        head, _, self.raw = self.raw.partition(marker)
        return head

    def read_chunk(self) -> bytes:
        """The next chunk's data; ``b""`` at the terminating chunk. Raises EOFError if cut off."""
        assert self.headers.get("transfer-encoding") == "chunked", self.headers
        size = int(self._read_until(b"\r\n").split(b";")[0], 16)
        while len(self.raw) < size + 2:
            self.raw += self._recv()
        data, self.raw = self.raw[:size], self.raw[size + 2 :]
        if size == 0:
            self.ended = True
        self.body += data
        return data

    def read_until(self, needle: bytes) -> None:
        while needle not in self.body:
            if not self.read_chunk():
                raise AssertionError(f"body ended without {needle!r}: {self.body!r}")

    def read_all(self) -> bytes:
        """Read to the end of the body; stops quietly if the server cuts the connection."""
        try:
            while self.read_chunk():
                pass
        except (EOFError, ConnectionResetError):
            pass
        return self.body

    def close(self) -> None:
        self.sock.close()


def parse_sse(body: bytes) -> List[Tuple[str, object]]:
    """``(event, data)`` for every event; comments (heartbeats) as ``(":", text)``."""
    import json

    events: List[Tuple[str, object]] = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        name, data = "message", None
        for line in block.split("\n"):
            if line.startswith(":"):
                events.append((":", line[1:].strip()))
            elif line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        if data is not None:
            events.append((name, data))
    return events


@pytest.fixture(scope="module")
def provider() -> Iterator[LoopbackServer]:
    """One loopback provider per module (gunicorn needs its address at start)."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_script(provider: LoopbackServer) -> Iterator[None]:
    provider.clear()
    yield
    errors = provider.errors
    assert not errors, errors


def gunicorn_env(provider: LoopbackServer) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.endswith("_BASE_URL")}
    env.update(provider.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WEBAPPS), env.get("PYTHONPATH", "")]))
    env["HOME"] = env.get("HOME", "/tmp")
    return env


# The helpers live beside this file; with --import-mode=importlib tests import them by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _needs import free_port, left_out  # noqa: E402


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a fresh, empty, non-persistent redis-server on 127.0.0.1."""
    program = shutil.which("redis-server")
    if program is None:
        left_out("redis-server is not installed; install it with: apt-get install -y redis-server")
    port = free_port()
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        # redis-server says when it accepts connections; an exit ends the output instead.
        for line in process.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server exited with {process.wait()} before accepting connections")
        # Keep reading its log so a full pipe can never block the server.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
