"""The ``steer-sync`` command: complete, models, providers and demo (layer L4).

Every failure prints one line saying what to do and exits non-zero; Ctrl-C cancels
the request through its CancellationToken and exits 130 without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from types import FrameType
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Sequence, TextIO

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, Reset, TextDelta, ThinkingDelta, ToolUseStart
from steer_sync._errors import ApiError, Cancelled, ConfigurationError, SteerError
from steer_sync._stream import stream_error_to_api_error
from steer_sync._types import CompletionResponse, Message, TokenUsage

if TYPE_CHECKING:
    from steer_sync._client import Client

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Style:
    """ANSI styling, only when the stream is a terminal (and NO_COLOR is unset)."""

    def __init__(self, stream: TextIO) -> None:
        self._on = stream.isatty() and not os.environ.get("NO_COLOR")

    def dim(self, text: str) -> str:
        return f"\033[2m{text}\033[0m" if self._on else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self._on else text


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steer-sync",
        description="Talk to LLM providers from the command line (synchronous, cancellable).",
    )
    parser.add_argument(
        "--catalog",
        action="append",
        default=[],
        metavar="FILE",
        help="extra catalog TOML file, merged over the built-in one (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    complete = commands.add_parser("complete", help="run one completion and print the answer")
    complete.add_argument("-m", "--model", required=True, help="'provider/model-id' or a catalog alias, e.g. sonnet")
    complete.add_argument("-s", "--system", help="system prompt")
    complete.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    complete.add_argument("--json", action="store_true", help="print the CompletionResponse as JSON")
    complete.add_argument("-v", "--verbose", action="store_true", help="print token usage at the end (to stderr)")
    complete.add_argument("prompt", nargs="?", default="-", help="the prompt; '-' or nothing reads standard input")

    models = commands.add_parser("models", help="list the catalog's models")
    models.add_argument("--provider", help="only this provider's models")

    commands.add_parser("providers", help="list providers, their API format, base URL and credential source")
    commands.add_parser("demo", help="stream completions from the built-in loopback server (no key, no network)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code.

    :param argv: arguments without the program name (default ``sys.argv[1:]``).
    """
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "complete":
            return _complete(args)
        if args.command == "models":
            return _models(args)
        if args.command == "providers":
            return _providers(args)
        return _demo()
    except KeyboardInterrupt:
        print("steer-sync: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Cancelled:
        print("steer-sync: cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ConfigurationError as error:
        print(f"steer-sync: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (SteerError, OSError) as error:
        print(f"steer-sync: {error}", file=sys.stderr)
        return EXIT_ERROR


def _client(args: argparse.Namespace) -> Client:
    from steer_sync._client import Client

    return Client.from_env(args.catalog)


def _read_prompt(prompt: str) -> str:
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise ConfigurationError(None, "the prompt is empty: pass it as an argument or on standard input")
    return text


class _CancelOnInterrupt:
    """Turns Ctrl-C into ``token.cancel()`` for the duration of a call.

    The handler does not raise, so the blocked read is woken by the token's socket
    shutdown and the call ends through the normal cancellation path.
    """

    def __init__(self, token: CancellationToken) -> None:
        self._token = token
        self._previous: Any = None

    def __enter__(self) -> _CancelOnInterrupt:
        def handler(signum: int, frame: Optional[FrameType]) -> None:
            self._token.cancel()

        try:
            self._previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread: Ctrl-C stays a KeyboardInterrupt
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _complete(args: argparse.Namespace) -> int:
    prompt = _read_prompt(args.prompt)
    client = _client(args)
    token = CancellationToken()
    messages = [Message.user(prompt)]
    with client, _CancelOnInterrupt(token):
        if args.no_stream:
            response = client.complete(args.model, messages, system=args.system, token=token)
            if not args.json:
                sys.stdout.write(response.extract_text() + "\n")
        else:
            response = _print_stream(
                client.stream_complete(args.model, messages, system=args.system, token=token),
                quiet=args.json,
            )
    if args.json:
        json.dump(response.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    if args.verbose:
        print(_usage_line(response.usage), file=sys.stderr)
    return 0


def _print_stream(stream: Iterator[Any], *, quiet: bool = False, out: Optional[TextIO] = None) -> CompletionResponse:
    """Print text to ``out`` (stdout) and thinking to stderr as chunks arrive; return the final response."""
    out = out if out is not None else sys.stdout
    style = _Style(sys.stderr)
    thinking = False
    wrote_text = False
    with stream as chunks:  # type: ignore[attr-defined]
        for chunk in chunks:
            if isinstance(chunk, TextDelta):
                if thinking:
                    sys.stderr.write("\n")
                    thinking = False
                if not quiet:
                    out.write(chunk.text)
                    out.flush()
                wrote_text = True
            elif isinstance(chunk, ThinkingDelta):
                if not quiet:
                    sys.stderr.write(style.dim(chunk.text))
                    sys.stderr.flush()
                thinking = True
            elif isinstance(chunk, ToolUseStart) and not quiet:
                sys.stderr.write(style.dim(f"\n[tool call: {chunk.name}]\n"))
            elif isinstance(chunk, Reset) and not quiet:
                sys.stderr.write(style.dim("\n[connection lost; restarting the answer]\n"))
            elif isinstance(chunk, MessageComplete):
                if wrote_text and not quiet:
                    out.write("\n")
                return chunk.response
            elif isinstance(chunk, ErrorChunk):
                if wrote_text and not quiet:
                    out.write("\n")
                raise stream_error_to_api_error(chunk.error, getattr(stream, "provider", None))
    raise ApiError(None, "the stream ended without a final message; retry the request")


def _usage_line(usage: Optional[TokenUsage]) -> str:
    if usage is None:
        return "usage: not reported by the provider"
    line = f"usage: {usage.input_tokens} input + {usage.output_tokens} output = {usage.total_tokens} tokens"
    if usage.cache_read_input_tokens:
        line += f" ({usage.cache_read_input_tokens} input from cache)"
    return line


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _models(args: argparse.Namespace) -> int:
    from steer_sync._catalog import ModelRegistry

    registry = ModelRegistry.load(args.catalog)
    rows = []
    for model in registry.all():
        if args.provider and str(model.provider) != args.provider:
            continue
        rows.append(
            [
                f"{model.provider}/{model.id}",
                ", ".join(model.aliases),
                f"{model.context_window_tokens:,}" if model.context_window_tokens else "",
                "yes" if model.recommended else "",
            ]
        )
    if not rows:
        raise ConfigurationError(
            None, f"no models for provider {args.provider!r}; run 'steer-sync providers' to list them"
        )
    print(_table(rows, ["MODEL", "ALIASES", "CONTEXT", "RECOMMENDED"]))
    return 0


def _providers(args: argparse.Namespace) -> int:
    from steer_sync._catalog import base_url_env_vars

    client = _client(args)
    config = client.config_provider
    rows = []
    for provider in client.provider_registry.all():
        pid = provider.id
        base_url = provider.base_url or "(default)"
        for variable in base_url_env_vars(str(pid), provider):
            if (config.env(variable) or "").strip():
                base_url = f"{config.env(variable)} (from {variable})"
                break
        rows.append([str(pid), provider.api_format.value, base_url, _credential_source(client, pid)])
    print(_table(rows, ["PROVIDER", "API FORMAT", "BASE URL", "CREDENTIAL"]))
    return 0


def _credential_source(client: Client, provider_id: Any) -> str:
    """Where the credential would come from, never the credential itself."""
    config = client.config_provider
    if config.plugin_registry.get(provider_id) is not None:
        return "auth plugin"
    config_entry = client.provider_registry.get(provider_id)
    if config_entry is not None and not config_entry.auth_schemes:
        return "none needed"
    variables = config.key_env_vars(provider_id)
    for variable in variables:
        if (config.env(variable) or "").strip():
            return f"environment ({variable})"
    try:
        stored = config.resolve_api_key_for_provider(provider_id)
    except SteerError as error:
        return f"credential store unreadable: {error}"
    if stored is not None:
        return "credential store"
    return f"missing: set {' or '.join(variables)}" if variables else "missing: store an API key"


# --- demo -------------------------------------------------------------------------------

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
