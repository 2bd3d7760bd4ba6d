"""A real ``redis-server`` per test session, started on a free port and stopped by PID.

Outside CI a machine without ``redis-server`` (or without the ``redis``/``celery`` Python
packages) leaves these tests out with a notice naming what to install; under ``CI=true``
they fail instead. (The lead may move this onto the shared helper in tests/conftest.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from typing import Iterator

import pytest

# The helpers live beside this file; with --import-mode=importlib tests import them by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _needs import free_port, left_out


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
