"""The ``steer-sync`` command: complete, chat, models, providers and demo (layer L4).

Every failure prints one line saying what to do and exits non-zero; Ctrl-C cancels
the request through its CancellationToken and exits 130 without a traceback (in
``chat`` it cancels only the answer in progress). A closed output pipe
(``| head``) ends the command quietly with exit code 141, as SIGPIPE would.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, Reset, TextDelta, ThinkingDelta, ToolUseStart
from steer_sync._errors import ApiError, Cancelled, ConfigurationError, SteerError
from steer_sync._observe import RETRY_MESSAGE
from steer_sync._stream import stream_error_to_api_error
from steer_sync._types import CompletionResponse, Message, ModelParameters, ThinkingConfig, ThinkingEffort, TokenUsage

if TYPE_CHECKING:
    from steer_sync._client import Client

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: 128 + SIGPIPE: what a shell reports for a writer whose reader went away.
EXIT_BROKEN_PIPE = 141


class _Style:
    """ANSI styling, only when the stream is a terminal (and NO_COLOR is unset)."""

    def __init__(self, stream: TextIO) -> None:
        self._on = stream.isatty() and not os.environ.get("NO_COLOR")

    def dim(self, text: str) -> str:
        return f"\033[2m{text}\033[0m" if self._on else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self._on else text


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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code.

    :param argv: arguments without the program name (default ``sys.argv[1:]``).
    """
    args = _build_parser().parse_args(argv)
    console = _Console(sys.stderr)
    notices = _RetryNotices(console)
    try:
        _check_catalogs(args.catalog)
        with notices.from_logging():
            if args.command == "complete":
                return _complete(args, console, notices)
            if args.command == "chat":
                return _chat(args, console, notices)
            if args.command == "models":
                return _models(args)
            if args.command == "providers":
                return _providers(args)
            return _demo()
    except KeyboardInterrupt:
        console.line("steer-sync: interrupted")
        return EXIT_INTERRUPTED
    except Cancelled:
        console.line("steer-sync: cancelled")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except ConfigurationError as error:
        console.line(f"steer-sync: {error}")
        return EXIT_USAGE
    except ApiError as error:
        console.line(f"steer-sync: {notices.explain(error)}")
        return EXIT_ERROR
    except (SteerError, OSError) as error:
        console.line(f"steer-sync: {error}")
        return EXIT_ERROR


def _silence_stdout() -> None:
    """Point stdout at devnull after its reader went away.

    The Python docs' recipe for SIGPIPE: without it, the interpreter's final flush of
    stdout raises BrokenPipeError again and prints "Exception ignored ...".
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests, IDEs)
        pass


def _check_catalogs(paths: Sequence[str]) -> None:
    """Refuse a ``--catalog`` file that does not exist, in every subcommand alike."""
    for path in paths:
        if not os.path.isfile(path):
            raise ConfigurationError(None, f"catalog file {path!r} does not exist; check the path")


def _client(args: argparse.Namespace) -> Client:
    from steer_sync._client import Client

    options: Dict[str, Any] = {}
    timeout = getattr(args, "timeout", None)
    if timeout is not None:
        # Until per-call ``timeout=`` exists, the whole-request deadline is a client
        # limit: Timeouts.total bounds each request from its send to the end of the body.
        from dataclasses import replace

        from steer_sync._transport import Timeouts

        options["provider_options"] = {"timeouts": replace(Timeouts(), total=timeout)}
    return Client.from_env(args.catalog, **options)


def _call_options(args: argparse.Namespace) -> Optional[ModelParameters]:
    """ModelParameters from the command line, or None when no option was given."""
    thinking: Optional[ThinkingConfig] = None
    wants_thinking = args.thinking
    if wants_thinking is None and (args.effort is not None or args.thinking_budget is not None):
        wants_thinking = True
    if wants_thinking is not None:
        thinking = ThinkingConfig(
            enabled=wants_thinking,
            effort=ThinkingEffort(args.effort) if args.effort is not None else None,
            budget_tokens=args.thinking_budget,
        )
    params = ModelParameters(temperature=args.temperature, max_output_tokens=args.max_tokens, thinking_config=thinking)
    return None if params == ModelParameters() else params


def _call_keywords(args: argparse.Namespace, token: CancellationToken) -> Dict[str, Any]:
    """The keyword arguments every model call of this command takes.

    One place, so per-call options (``timeout=``, ``response_format=``) are one line each.
    """
    return {"system": args.system, "call_options": _call_options(args), "token": token}


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


def _complete(args: argparse.Namespace, console: _Console, notices: _RetryNotices) -> int:
    prompt = _read_prompt(args.prompt)
    client = _client(args)
    token = CancellationToken()
    messages = [Message.user(prompt)]
    keywords = _call_keywords(args, token)
    with client, _CancelOnInterrupt(token):
        notices.reset()
        with _Waiting(console, args.model) as waiting:
            if args.no_stream:
                response = client.complete(args.model, messages, **keywords)
                waiting.stop()
                if not args.json:
                    sys.stdout.write(response.extract_text() + "\n")
            else:
                stream = client.stream_complete(args.model, messages, **keywords)
                response = _print_stream(stream, quiet=args.json, on_first_chunk=waiting.stop)
    if args.json:
        json.dump(response.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    sys.stdout.flush()
    if args.verbose:
        _print_summary(console, response)
    return 0


def _chat(args: argparse.Namespace, console: _Console, notices: _RetryNotices) -> int:
    """A conversation on the terminal: one line per turn, answers streamed.

    Ctrl-C during an answer cancels that answer (its question is dropped from the
    conversation, so the next turn does not follow an unanswered question); Ctrl-C at
    the prompt clears the line; Ctrl-D (end of input) ends the session with exit code 0.
    """
    client = _client(args)
    interactive = sys.stdin.isatty()
    try:
        # Ctrl-C at the prompt must clear the line even when the parent started us with
        # SIGINT ignored (Python then installs no handler of its own).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread
        pass
    with client:
        client.resolve_model(args.model)  # an unknown model fails now, not after the first question
        if interactive:
            console.line(f"chatting with {args.model}: Ctrl-C cancels an answer, Ctrl-D ends the session")
        messages: List[Message] = []
        while True:
            try:
                line = _read_turn(interactive)
            except KeyboardInterrupt:
                console.line("")
                continue
            if line is None:
                if interactive:
                    console.line("")
                return 0
            if not line.strip():
                continue
            messages.append(Message.user(line))
            token = CancellationToken()
            notices.reset()
            try:
                with _CancelOnInterrupt(token), _Waiting(console, args.model) as waiting:
                    stream = client.stream_complete(args.model, messages, **_call_keywords(args, token))
                    response = _print_stream(stream, on_first_chunk=waiting.stop)
            except Cancelled:
                messages.pop()
                console.line("[answer cancelled]")
                continue
            except ConfigurationError:
                raise
            except ApiError as error:
                messages.pop()
                console.line(f"steer-sync: {notices.explain(error)}")
                continue
            messages.append(Message.assistant(response.content))
            if args.verbose:
                _print_summary(console, response)


def _read_turn(interactive: bool) -> Optional[str]:
    """The next line the user typed, or None at the end of input."""
    if interactive:
        try:
            return input("> ")
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _print_stream(
    stream: Iterator[Any],
    *,
    quiet: bool = False,
    out: Optional[TextIO] = None,
    on_first_chunk: Optional[Callable[[], None]] = None,
) -> CompletionResponse:
    """Print text to ``out`` (stdout) and thinking to stderr as chunks arrive; return the final response."""
    out = out if out is not None else sys.stdout
    style = _Style(sys.stderr)
    thinking = False
    wrote_text = False
    with stream as chunks:  # type: ignore[attr-defined]
        for chunk in chunks:
            if on_first_chunk is not None:
                on_first_chunk()
                on_first_chunk = None
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
                    out.flush()
                return chunk.response
            elif isinstance(chunk, ErrorChunk):
                if wrote_text and not quiet:
                    out.write("\n")
                    out.flush()
                raise stream_error_to_api_error(chunk.error, getattr(stream, "provider", None))
    raise ApiError(None, "the stream ended without a final message; retry the request")


def _print_summary(console: _Console, response: CompletionResponse) -> None:
    """The ``-v`` lines: usage, then what identifies the call when the response carries it.

    ``model``, ``request_id`` and ``cost`` are read with getattr so this works before and
    after those fields exist on ``CompletionResponse``.
    """
    console.line(_usage_line(response.usage))
    for label, name in (("model", "model"), ("request id", "request_id")):
        value = getattr(response, name, None)
        if value:
            console.line(f"{label}: {value}")
    cost = getattr(response, "cost", None)
    if cost is not None:
        console.line(f"cost: ${cost:.6f}")


# --- stderr: status line, waiting indicator, retry notices ------------------------------


class _Console:
    """Stderr lines, plus one transient status line on a terminal. Thread-safe.

    The waiting indicator (a thread) and retry notices (logging, later listeners) both
    write here; the lock keeps a notice from being drawn over by the indicator.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._status_shown = False
        try:
            self.is_terminal = stream.isatty()
        except (ValueError, AttributeError):
            self.is_terminal = False

    def status(self, text: str) -> None:
        """Draw (or redraw) the transient status line; only on a terminal."""
        if not self.is_terminal:
            return
        with self._lock:
            self._stream.write("\r\033[K" + text)
            self._stream.flush()
            self._status_shown = True

    def clear_status(self) -> None:
        """Erase the status line, if one is shown."""
        with self._lock:
            self._clear()

    def line(self, text: str) -> None:
        """Write one line (erasing the status line first)."""
        with self._lock:
            self._clear()
            self._stream.write(text + "\n")
            self._stream.flush()

    def _clear(self) -> None:
        if self._status_shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._status_shown = False


class _Waiting:
    """Elapsed time on a terminal's stderr until the first chunk (or the answer) arrives.

    A daemon thread redraws the status line ten times a second; nothing is drawn when
    stderr is not a terminal. :meth:`stop` is idempotent and erases the line.
    """

    _FRAMES = "|/-\\"

    def __init__(self, console: _Console, model: str) -> None:
        self._console = console
        self._model = model
        self._done = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> _Waiting:
        if self._console.is_terminal:
            started = time.monotonic()
            self._draw(started, "|")
            self._thread = threading.Thread(target=self._run, args=(started,), name="steer-sync-waiting", daemon=True)
            self._thread.start()
        return self

    def _draw(self, started: float, frame: str) -> None:
        self._console.status(f"{frame} waiting for {self._model} ({time.monotonic() - started:.1f}s)")

    def _run(self, started: float) -> None:
        for frame in itertools.cycle(self._FRAMES):
            if self._done.wait(0.1):
                return
            self._draw(started, frame)

    def stop(self) -> None:
        """Stop the indicator and erase it."""
        if self._done.is_set():
            return
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        self._console.clear_status()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _RetryNotices:
    """One stderr line per failed attempt that will be retried, and the give-up summary.

    Today the client reports retries as WARNING log records on ``steer_sync.client``;
    :meth:`from_logging` translates them. When listeners exist this becomes
    ``client.add_listener(notices.on_event)``, feeding :meth:`attempt_failed` from
    ``AttemptFailed(provider, model, attempt, error, retry_in)`` events.
    """

    #: The client's retry log message (steer_sync/_observe.py), for requests and stream restarts.
    _RETRY = RETRY_MESSAGE

    def __init__(self, console: _Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._failed_attempts = 0
        self._last_wait: Optional[float] = None

    def reset(self) -> None:
        """Start counting for a new call."""
        with self._lock:
            self._failed_attempts = 0
            self._last_wait = None

    def attempt_failed(
        self,
        provider: Optional[str],
        attempt: int,
        error: object,
        retry_in: Optional[float],
        max_attempts: Optional[int] = None,
    ) -> None:
        """Print the notice for attempt ``attempt`` (1-based) that failed with ``error``.

        :param retry_in: the wait before the next attempt; ``None`` when the stream is
            restarted after a short backoff the client does not report.
        """
        with self._lock:
            self._failed_attempts = max(self._failed_attempts, attempt)
            if retry_in is not None:
                self._last_wait = retry_in
        of = f" of {max_attempts}" if max_attempts else ""
        what = " ".join(str(error).split())  # one line, whatever the provider sent
        kind = type(error).__name__
        where = f"{provider}: " if provider else ""
        then = f"retrying in {retry_in:.1f} s" if retry_in is not None else "restarting the answer"
        self._console.line(f"steer-sync: {where}attempt {attempt}{of} failed ({kind}: {what}); {then}")

    def explain(self, error: ApiError) -> str:
        """The final message for ``error``, with the attempts made when there were retries."""
        with self._lock:
            failed, wait = self._failed_attempts, self._last_wait
        if not failed:
            return str(error)
        waited = f"; the last wait was {wait:.1f} s" if wait is not None else ""
        return f"{error} (gave up after {failed + 1} attempts{waited})"

    def on_event(self, event: object) -> None:
        """A client listener: prints ``AttemptFailed`` events that will be retried.

        Duck-typed on the event's class name and fields, so it works as soon as the
        observability events exist (``client.add_listener(notices.on_event)``) without
        importing them here; other events are ignored.
        """
        if type(event).__name__ != "AttemptFailed":
            return
        retry_in = getattr(event, "retry_in", None)
        if retry_in is None:  # the call gives up: the final error message reports it
            return
        self.attempt_failed(
            getattr(event, "provider", None),
            int(getattr(event, "attempt", 0)),
            getattr(event, "error", None),
            float(retry_in),
        )

    def from_logging(self) -> _LogBridge:
        """A context manager that routes the client's retry log records here."""
        return _LogBridge(self)

    def on_record(self, record: logging.LogRecord) -> None:
        """Turn one WARNING record of ``steer_sync.client`` into a notice."""
        args: Sequence[Any] = record.args if isinstance(record.args, tuple) else ()
        if record.msg == self._RETRY and len(args) == 7:
            provider, _model, attempt, max_attempts, _kind, retry_in, error = args
            self.attempt_failed(str(provider), int(attempt), error, float(retry_in), int(max_attempts))
        else:
            self._console.line(f"steer-sync: warning: {record.getMessage()}")


class _LogBridge(logging.Handler):
    """A logging handler, attached for the command's duration, feeding :class:`_RetryNotices`."""

    _LOGGER = "steer_sync.client"

    def __init__(self, notices: _RetryNotices) -> None:
        super().__init__(logging.WARNING)
        self._notices = notices

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._notices.on_record(record)
        except Exception:  # a notice must never break the call
            self.handleError(record)

    def __enter__(self) -> _LogBridge:
        logging.getLogger(self._LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(self._LOGGER).removeHandler(self)


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
                _prices(model.pricing),
            ]
        )
    if not rows:
        raise ConfigurationError(
            None, f"no models for provider {args.provider!r}; run 'steer-sync providers' to list them"
        )
    print(_table(rows, ["MODEL", "ALIASES", "CONTEXT", "RECOMMENDED", "USD/MTOK(IN/OUT/CACHED)"]))
    return 0


def _prices(pricing: Any) -> str:
    """A model's prices per million input, output and cache-read tokens as ``3/15/0.3``, or blank."""
    if pricing is None:
        return ""
    read = pricing.cache_read if pricing.cache_read is not None else pricing.input
    return "/".join(f"{price:g}" for price in (pricing.input, pricing.output, read))


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
