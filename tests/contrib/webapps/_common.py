"""What both test web apps share: a client pointed at the loopback server (from the environment)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping, Tuple

from steer_sync import Client, InMemoryAuthStorage, Message, RetryPolicy
from steer_sync._stream import CompletionStream
from steer_sync.contrib.wsgi import WEB_TIMEOUTS

# As a real app would: steer_sync's warnings go to the server's log (the tests read it).
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

# The loopback server's address and dummy keys come from the environment gunicorn was
# started with (LoopbackServer.environ); no retries, so every failure reaches the browser.
CLIENT = Client.from_env(
    storage=InMemoryAuthStorage(),
    discover_catalogs=False,
    retry_policy=RetryPolicy(max_attempts=1),
    # A stall limit far above the tests' waits: a test that sees the upstream closed saw
    # the disconnect, not the limit.
    provider_options={"timeouts": dataclasses.replace(WEB_TIMEOUTS, stream_idle=60.0, total=None)},
)


def start(query: Mapping[str, str]) -> Tuple[CompletionStream, str, float]:
    """Start the stream a request asks for: ``?q=...&format=sse|text&heartbeat=N``."""
    stream = CLIENT.stream_complete("anthropic/claude-sonnet-4-5", [Message.user(query.get("q", "hi"))])
    return stream, query.get("format", "sse"), float(query.get("heartbeat", "10"))
