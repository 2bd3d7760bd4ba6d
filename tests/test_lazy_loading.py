"""What a plain first call loads (STYLE.md 2.8): optional machinery waits for a call that uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from steer_sync.testing import LoopbackServer, RecordedRequest, Reply

_MESSAGE = {
    "id": "msg_lazy",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}

_CALL = (
    "import json, sys, steer_sync\n"
    "client = steer_sync.Client.from_env(discover_catalogs=False)\n"
    "answer = client.complete('anthropic/claude-sonnet-4-5', [steer_sync.Message.user('hi')])\n"
    "assert answer.extract_text() == 'Hello!', answer\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def test_a_plain_call_loads_no_structured_output_or_schema_module(tmp_path: Path) -> None:
    def route(request: RecordedRequest) -> Any:
        return Reply.from_json(_MESSAGE)

    with LoopbackServer(default=route) as server:
        env = {
            "PATH": "",
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path),
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": server.url,
        }
        done = subprocess.run([sys.executable, "-c", _CALL], capture_output=True, text=True, env=env, check=True)
    loaded = set(json.loads(done.stdout))
    assert "steer_sync._providers.anthropic._provider" in loaded  # the call went through the provider
    for optional in (
        "steer_sync._types._structured",
        "steer_sync._providers._structured",
        "steer_sync._providers._schema",
        "steer_sync._providers.anthropic._schema",
    ):
        assert optional not in loaded, optional
