"""The ``complete`` and ``chat`` commands: options to a model call, the prompt loop (layer L4).

Ctrl-C cancels the request through its CancellationToken (in ``chat`` only the answer in
progress); the answer is streamed to stdout while a waiting indicator and retry notices go
to stderr.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from steer_sync._cancellation import CancellationToken
from steer_sync._cli._notices import _RetryNotices
from steer_sync._cli._output import _print_stream, _print_summary
from steer_sync._cli._terminal import _CancelOnInterrupt, _Console, _Waiting
from steer_sync._errors import ApiError, Cancelled, ConfigurationError
from steer_sync._types import Message, ModelParameters, ThinkingConfig, ThinkingEffort

if TYPE_CHECKING:
    from steer_sync._client import Client

__all__ = ["_chat", "_client", "_complete"]


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
    keywords: Dict[str, Any] = {"system": args.system, "call_options": _call_options(args), "token": token}
    if args.json_schema is not None:
        keywords["response_format"] = _json_schema(args.json_schema)
    return keywords


def _json_schema(path: str) -> Any:
    """The ``--json-schema`` file as a ``JsonSchema`` named after the file.

    :raises ConfigurationError: naming the file when it cannot be read or is not a JSON object.
    """
    import re
    from pathlib import Path

    from steer_sync._types._structured import JsonSchema

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(None, f"cannot read the JSON Schema file {path!r}: {error.strerror}") from None
    except ValueError as error:
        raise ConfigurationError(None, f"the JSON Schema file {path!r} is not valid JSON: {error}") from None
    if not isinstance(schema, dict):
        raise ConfigurationError(
            None, f'the JSON Schema file {path!r} must hold a JSON object, e.g. {{"type": "object"}}'
        )
    # Providers accept names of letters, digits, '_' and '-' (at most 64): derive one from the file.
    name = re.sub(r"[^A-Za-z0-9_-]", "_", Path(path).stem)[:64] or "response"
    return JsonSchema(schema, name=name)


def _read_prompt(prompt: str) -> str:
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise ConfigurationError(None, "the prompt is empty: pass it as an argument or on standard input")
    return text


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
