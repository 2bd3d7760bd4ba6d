"""The ``steer_server`` pytest fixture (layer L4), registered through the ``pytest11`` entry point."""

from __future__ import annotations

from typing import Iterator

import pytest

from steer_sync.testing._server import LoopbackServer

__all__ = ["steer_server"]


@pytest.fixture
def steer_server() -> Iterator[LoopbackServer]:
    """Yield a started :class:`~steer_sync.testing.LoopbackServer`, closed after the test.

    The test fails at teardown if a script item could not be rendered (the requests that hit
    it got a 500), so a broken script cannot pass unnoticed.

    :returns: an iterator yielding the server.
    """
    with LoopbackServer() as server:
        yield server
        errors = server.errors
    if errors:
        pytest.fail(
            "steer_sync loopback server could not render the script: "
            + "; ".join(f"{type(e).__name__}: {e}" for e in errors),
            pytrace=False,
        )
