"""The ``demo`` command: a tool conversation in every API format against the loopback server (layer L4)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Optional, TextIO

from steer_sync._cli._output import _print_stream, _usage_line
from steer_sync._cli._terminal import _Style
from steer_sync._types import Message

__all__ = ["_demo"]

_DEMO_MODELS = [
    ("Anthropic Messages", "anthropic/claude-sonnet-4-5"),
    ("OpenAI Responses", "openai/gpt-5.4"),
    ("OpenAI Chat Completions", "local-chat/llama-3.1-8b"),
    ("Google Gemini", "google/gemini-3-pro-preview"),
    ("xAI", "xai/grok-4-1-fast-reasoning"),
]


def _demo(out: Optional[TextIO] = None) -> int:
    """Run a two-turn tool conversation against each API format on the loopback server."""
    out = out if out is not None else sys.stdout
    from steer_sync._auth import InMemoryAuthStorage, LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry
    from steer_sync._client import Client
    from steer_sync._types import ToolSchema
    from steer_sync.testing import LoopbackServer, ToolCallSpec, Turn

    style = _Style(out)
    weather = ToolSchema(
        "get_weather",
        "Current weather for a city",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    with LoopbackServer() as server, tempfile.TemporaryDirectory() as folder:
        catalog = os.path.join(folder, "demo_catalog.toml")
        with open(catalog, "w", encoding="utf-8") as handle:
            handle.write(
                "[[providers]]\n"
                'id = "local-chat"\nname = "Local OpenAI-compatible server"\n'
                f'api_format = "openai-chat"\nauth_schemes = []\nbase_url = "{server.url}/v1"\n'
            )
        env = {
            "ANTHROPIC_API_KEY": "demo-key",
            "OPENAI_API_KEY": "demo-key",
            "GEMINI_API_KEY": "demo-key",
            "XAI_API_KEY": "demo-key",
            "ANTHROPIC_BASE_URL": server.url,
            "OPENAI_BASE_URL": f"{server.url}/v1",
            "GEMINI_BASE_URL": f"{server.url}/v1beta",
            "XAI_BASE_URL": f"{server.url}/v1",
        }
        providers = ProviderRegistry.load([catalog], discover=False)
        config = LlmConfigProvider(InMemoryAuthStorage(), env=env.get, provider_registry=providers)
        with Client(config, providers, ModelRegistry.load([catalog], discover=False)) as client:
            for label, model in _DEMO_MODELS:
                out.write(style.bold(f"== {label}: {model} (loopback server at {server.url})") + "\n")
                server.queue(
                    Turn(
                        thinking="The user wants the weather; I should call the tool.",
                        text="Let me check the weather in Paris.",
                        tool_calls=[ToolCallSpec("call_1", "get_weather", {"city": "Paris"}, chunks=3)],
                        stop_reason="tool_use",
                    ),
                    Turn(text="It is 22 degrees and sunny in Paris.", usage=(42, 11)),
                )
                messages = [Message.user("What's the weather in Paris?")]
                first = _print_stream(client.stream_complete(model, messages, tools=[weather]), out=out)
                calls = first.extract_tool_calls()
                for call in calls:
                    out.write(style.dim(f"  -> {call.name}({json.dumps(call.parameters)}) = 22C, sunny") + "\n")
                messages += [Message.assistant(first.content)]
                messages += [Message.tool_result(call.id, "22C, sunny") for call in calls]
                final = _print_stream(client.stream_complete(model, messages, tools=[weather]), out=out)
                out.write(style.dim(_usage_line(final.usage)) + "\n\n")
    out.write("All five API formats streamed through the full stack.\n")
    return 0
