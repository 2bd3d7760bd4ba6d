"""Terminal helpers of the ``steer-sync`` command: styling, stderr lines, waiting indicator, Ctrl-C (layer L4).

:class:`_Console` owns stderr: one line at a time plus one transient status line on a
terminal, which :class:`_Waiting` (the elapsed-time indicator) redraws. :class:`_Style` adds
ANSI styling only on a terminal. :class:`_CancelOnInterrupt` turns Ctrl-C into a cancel.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from types import FrameType
from typing import Any, Optional, TextIO

from steer_sync._cancellation import CancellationToken

__all__ = ["_CancelOnInterrupt", "_Console", "_Style", "_Waiting"]


class _Style:
    """ANSI styling, only when the stream is a terminal (and NO_COLOR is unset)."""

    def __init__(self, stream: TextIO) -> None:
        self._on = stream.isatty() and not os.environ.get("NO_COLOR")

    def dim(self, text: str) -> str:
        return f"\033[2m{text}\033[0m" if self._on else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self._on else text


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
