"""A child-process body for the multi-process FileAuthStorage test.

It lives in its own module because ``spawn`` children import their target by module
name, and pytest's importlib mode does not put test modules on ``sys.path``.
"""

from __future__ import annotations

from typing import Any

from steer_sync._auth import FileAuthStorage


def write_keys(path: str, index: int, writes: int, barrier: Any) -> None:
    """Wait for every writer, then store ``writes`` API keys under distinct providers."""
    storage = FileAuthStorage(path)
    barrier.wait()
    for n in range(writes):
        storage.set_api_key(f"p{index}-{n}", f"key-{index}-{n}")
