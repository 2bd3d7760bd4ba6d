"""What the contrib tests need from outside: a program or a Python package.

Outside CI a missing need leaves the test out with a notice naming what to install; under
``CI=true`` it fails instead, so CI can never pass by not running it.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def left_out(reason: str) -> NoReturn:
    """Skip with ``reason`` outside CI; fail under CI (a missing program must not pass CI)."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def need_module(name: str, install: str) -> None:
    try:
        __import__(name)
    except ImportError:
        left_out(f"the Python package {name!r} is missing; install it with: {install}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
