"""The ``steer-sync`` command: complete, chat, models, providers and demo (layer L4).

``steer_sync._cli:main`` is the console script (setup.cfg) and ``python -m steer_sync``.
The package is split by job: :mod:`._main` (dispatch and exit codes), :mod:`._parser`
(arguments), :mod:`._calls` (``complete`` and ``chat``), :mod:`._output` (printing a stream),
:mod:`._notices` (retry notices), :mod:`._terminal` (styling, status line, Ctrl-C),
:mod:`._listing` (``models``, ``providers``) and :mod:`._demo`.
"""

from steer_sync._cli._main import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, main

# Importable from here as before the split (the CLI tests use them).
from steer_sync._cli._notices import _RetryNotices as _RetryNotices
from steer_sync._cli._output import _print_summary as _print_summary
from steer_sync._cli._terminal import _Console as _Console

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_USAGE", "main"]
