"""The ``steer-sync`` argument parser: commands, their options and value checks (layer L4)."""

from __future__ import annotations

import argparse
import sys

from steer_sync._types import ThinkingEffort

__all__ = ["_build_parser"]


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, got {text}")
    return value


def _call_options_parser() -> argparse.ArgumentParser:
    """The options shared by the commands that call a model (complete, chat)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-m", "--model", required=True, help="'provider/model-id' or a catalog alias, e.g. sonnet")
    parent.add_argument("-s", "--system", help="system prompt")
    parent.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (e.g. 0.2)")
    parent.add_argument("--max-tokens", type=_positive_int, metavar="N", help="the most tokens the answer may use")
    parent.add_argument(
        "--thinking",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="turn the model's reasoning on (--no-thinking: off); default: the catalog's setting",
    )
    parent.add_argument(
        "--thinking-budget", type=_positive_int, metavar="N", help="reasoning token budget (implies --thinking)"
    )
    parent.add_argument(
        "--effort",
        choices=[effort.value for effort in ThinkingEffort],
        help="reasoning effort (implies --thinking)",
    )
    parent.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="give up on a request after this many seconds",
    )
    parent.add_argument(
        "--json-schema",
        metavar="FILE",
        help="answer as JSON that fits the JSON Schema in FILE (structured output)",
    )
    parent.add_argument(
        "-v", "--verbose", action="store_true", help="print token usage (and the request id) at the end, to stderr"
    )
    return parent


def _build_parser() -> argparse.ArgumentParser:
    from steer_sync import __version__

    parser = argparse.ArgumentParser(
        prog="steer-sync",
        description="Talk to LLM providers from the command line (synchronous, cancellable).",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"steer-sync {__version__} (python {sys.version_info[0]}.{sys.version_info[1]})",
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
    call_options = _call_options_parser()

    complete = commands.add_parser("complete", parents=[call_options], help="run one completion and print the answer")
    complete.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    complete.add_argument("--json", action="store_true", help="print the CompletionResponse as JSON")
    complete.add_argument("prompt", nargs="?", default="-", help="the prompt; '-' or nothing reads standard input")

    commands.add_parser(
        "chat",
        parents=[call_options],
        help="talk with a model: Ctrl-C cancels the answer in progress, Ctrl-D ends the session",
    )

    models = commands.add_parser("models", help="list the catalog's models")
    models.add_argument("--provider", help="only this provider's models")

    commands.add_parser("providers", help="list providers, their API format, base URL and credential source")
    commands.add_parser("demo", help="stream completions from the built-in loopback server (no key, no network)")
    return parser
