"""Fixtures for the real-socket tests: a started loopback server on 127.0.0.1."""

from __future__ import annotations

from typing import Iterator

import pytest

from steer_sync.testing import LoopbackServer


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A started :class:`LoopbackServer`; the test fails if a script item could not render."""
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors
