"""Fixtures for the loopback server's own tests.

The ``steer_server`` fixture normally arrives through the ``pytest11`` entry point of an
installed steer_sync; importing it here also makes it available when the tests run from a
plain checkout (``PYTHONPATH=. pytest``). A conftest fixture overrides the plugin's, so both
ways give the same fixture.
"""

from steer_sync.testing._pytest_plugin import steer_server

__all__ = ["steer_server"]
