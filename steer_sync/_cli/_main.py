"""The ``steer-sync`` entry point: dispatch to a command and map failures to exit codes (layer L4).

Every failure prints one line saying what to do and exits non-zero; Ctrl-C cancels
the request through its CancellationToken and exits 130 without a traceback (in
``chat`` it cancels only the answer in progress). A closed output pipe
(``| head``) ends the command quietly with exit code 141, as SIGPIPE would.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from steer_sync._cli._calls import _chat, _complete
from steer_sync._cli._demo import _demo
from steer_sync._cli._listing import _models, _providers
from steer_sync._cli._notices import _RetryNotices
from steer_sync._cli._parser import _build_parser
from steer_sync._cli._terminal import _Console
from steer_sync._errors import ApiError, Cancelled, ConfigurationError, SteerError

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_USAGE", "main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: 128 + SIGPIPE: what a shell reports for a writer whose reader went away.
EXIT_BROKEN_PIPE = 141


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
