"""CompletionStream: an iterator of chunks that owns, and always releases, its connection (layer L1)."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections import deque
from types import TracebackType
from typing import Any, Callable, Deque, Iterable, Iterator, Optional, Type, Union

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import ErrorChunk, MessageComplete, Reset, StreamChunk, TextDelta
from steer_sync._errors import (
    ApiError,
    ApiStreamError,
    ApiTimeout,
    Cancelled,
    ProviderStreamError,
    RequestBlocked,
    StreamCancelled,
    StreamError,
)
from steer_sync._types import CompletionResponse

__all__ = ["CompletionStream", "stream_error_to_api_error"]

#: The raw error type a stream reports when the call's total deadline passed.
DEADLINE_EXCEEDED = "deadline_exceeded"
#: The raw error type a stream reports when a safety system blocked the prompt or answer.
REQUEST_BLOCKED = "request_blocked"


def stream_error_to_api_error(error: StreamError, provider: Optional[str]) -> ApiError:
    """Turn a stream failure value into the exception ``collect()`` raises.

    A ``ProviderStreamError`` with a ``cause`` (a restart that failed) gives back that
    error itself, with its own class, ``retry_after`` and ``request_id``.

    :param error: the value carried by an ``ErrorChunk``.
    :param provider: the provider id, for the message.
    """
    result: ApiError
    if isinstance(error, ProviderStreamError) and error.cause is not None:
        # A restart that failed: the error it raised, not a generic stream error.
        return error.cause
    if isinstance(error, StreamCancelled):
        result = Cancelled(provider)
    elif isinstance(error, ProviderStreamError) and error.raw_error_type == DEADLINE_EXCEEDED:
        result = ApiTimeout(provider, error.message)
    elif isinstance(error, ProviderStreamError) and error.raw_error_type == REQUEST_BLOCKED:
        result = RequestBlocked(provider, error.message)
    else:
        result = ApiStreamError(provider, str(error))
    result.stream_error = error
    result.request_id = getattr(error, "request_id", None)
    return result


class CompletionStream(Iterator[StreamChunk]):
    """The chunks of one completion, as an iterator and a context manager.

    Iteration never raises for provider or network failures: they arrive as an
    ``ErrorChunk``. The stream owns its HTTP response and releases it when iteration
    ends, when :meth:`close` is called, or when the ``with`` block exits.

    Thread safety: one thread iterates; :meth:`close` may be called from any thread
    at any time, and wakes a reader blocked on the network or waiting in :meth:`next_chunk`.
    A ``next()`` or :meth:`next_chunk` while another thread's is running raises
    ``RuntimeError`` in the second thread and leaves the first one's iteration untouched.

    Usage::

        with client.stream_complete("sonnet", [Message.user("hi")]) as stream:
            for chunk in stream:
                if isinstance(chunk, TextDelta):
                    print(chunk.text, end="", flush=True)
    """

    __slots__ = (
        "_iterator",
        "_token",
        "_on_close",
        "_closed",
        "_iterating",
        "_released",
        "_lock",
        "_reader",
        "provider",
    )

    def __init__(
        self,
        chunks: Iterable[StreamChunk],
        *,
        token: Optional[CancellationToken] = None,
        on_close: Optional[Callable[[], None]] = None,
        provider: Optional[str] = None,
    ) -> None:
        """
        :param chunks: the chunk source; a generator is closed when the stream is.
        :param token: a token private to this stream; :meth:`close` cancels it, which
            unblocks a reader waiting on the network.
        :param on_close: called once when the stream is released.
        :param provider: the provider id, used in the errors :meth:`collect` raises.
        """
        self._iterator = iter(chunks)
        self._token = token
        self._on_close = on_close
        self._closed = False
        self._iterating = False
        self._released = False
        self._lock = threading.Lock()
        # Held by the thread inside __next__: a second reader is refused, not let into
        # the generator (where it would fail and close the first reader's stream).
        self._reader = threading.Lock()
        #: The provider id, for error messages.
        self.provider = provider

    @classmethod
    def single(cls, chunk: StreamChunk, provider: Optional[str] = None) -> CompletionStream:
        """A stream of exactly one chunk."""
        return cls((chunk,), provider=provider)

    @classmethod
    def from_iterable(
        cls, chunks: Iterable[StreamChunk], on_close: Optional[Callable[[], None]] = None
    ) -> CompletionStream:
        """A stream over any iterable of chunks."""
        return cls(chunks, on_close=on_close)

    def __iter__(self) -> CompletionStream:
        return self

    def __next__(self) -> StreamChunk:
        """The next chunk.

        :raises RuntimeError: if another thread is inside ``next()`` of this stream (a stream
            has one consumer); the other thread's iteration goes on unaffected.
        """
        if not self._reader.acquire(False):
            raise _second_reader("next()")
        # The flag is set before the closed check so that close() in another thread
        # either sees a reader in flight (and leaves cleanup to it) or wins outright.
        self._iterating = True
        try:
            if self._closed:
                raise StopIteration
            return next(self._iterator)
        except BaseException:
            self._closed = True
            self._iterating = False
            self._release()
            raise
        finally:
            self._iterating = False
            try:
                if self._closed:
                    self._release()
            finally:
                self._reader.release()

    def chunk_source(self) -> Iterator[StreamChunk]:
        """The underlying chunk iterator, for a wrapper that owns this stream.

        A wrapper (the client's restarting stream) may iterate this instead of the
        stream itself to save a call per chunk; it must still call :meth:`close`.
        """
        return self._iterator

    @property
    def closed(self) -> bool:
        """Whether the stream has been closed or exhausted."""
        return self._closed

    def close(self) -> None:
        """Stop the stream and release its connection. Idempotent and thread-safe.

        From another thread, this wakes a reader blocked on the network; its
        ``next()`` then ends the stream.
        """
        with self._lock:
            # Under the lock that next_chunk() installs a reader thread with: either it sees
            # the stream closed, or this sees its pump.
            self._closed = True
            pump = self._iterator if isinstance(self._iterator, _ChunkPump) else None
        if self._token is not None:
            self._token.cancel()
        if pump is not None:
            # A reader waiting on the pump is woken here even when the source cannot be
            # (a plain blocking iterable): the pump thread closes the source itself later.
            pump.close()
        if not self._iterating:
            self._release()

    def _release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        close = getattr(self._iterator, "close", None)
        try:
            if close is not None:
                close()
        finally:
            # Cancelling the private token after the connection is released is a
            # no-op for sockets, but unregisters it from the caller's token, so a
            # long-lived caller token does not collect one callback per call.
            if self._token is not None:
                self._token.cancel()
            if self._on_close is not None:
                self._on_close()

    def collect(self, provider: Optional[str] = None) -> CompletionResponse:
        """Consume the stream and return the final response.

        :param provider: the provider id for error messages (defaults to the stream's).
        :returns: the ``CompletionResponse`` of the ``MessageComplete`` chunk.
        :raises Cancelled: if the stream was cancelled.
        :raises ApiTimeout: if the call's deadline passed.
        :raises ApiStreamError: if the stream failed or ended without a final message.
        """
        name = provider if provider is not None else self.provider
        try:
            for chunk in self:
                if isinstance(chunk, MessageComplete):
                    return chunk.response
                if isinstance(chunk, ErrorChunk):
                    raise stream_error_to_api_error(chunk.error, name)
        finally:
            self.close()
        raise ApiStreamError(name, "Stream ended without completion response")

    def __enter__(self) -> CompletionStream:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CompletionStream provider={self.provider!r} closed={self._closed}>"

    # --- conveniences over the chunks: text only, and live display in a notebook ---------

    def text(self) -> Iterator[str]:
        """Iterate over the answer's text deltas only, then close the stream.

        Thinking, tool-call chunks and ``Reset`` are skipped (after a ``Reset`` the
        restarted answer's text follows what was already yielded; iterate the chunks to
        handle restarts). A failure is raised once the text before it has been
        yielded, as :meth:`collect` would raise it.

        Usage::

            for piece in client.stream_complete("sonnet", messages).text():
                print(piece, end="", flush=True)

        :raises Cancelled: if the stream was cancelled.
        :raises ApiTimeout: if the call's deadline passed.
        :raises ApiStreamError: if the stream failed or ended without a final message.
        """
        name = self.provider
        try:
            for chunk in self:
                if isinstance(chunk, TextDelta):
                    yield chunk.text
                elif isinstance(chunk, MessageComplete):
                    return
                elif isinstance(chunk, ErrorChunk):
                    raise stream_error_to_api_error(chunk.error, name)
        finally:
            self.close()
        raise ApiStreamError(name, "Stream ended without completion response")

    def display(self) -> CompletionResponse:
        """Show the answer as it arrives and return the final response.

        In IPython or Jupyter the answer is rendered as Markdown in one output that is
        updated in place, and replaced at the end by the response's full rendering
        (thoughts folded, tool calls, usage). Elsewhere (no IPython, a plain script, the
        IPython terminal) text is printed to stdout as it arrives. IPython is imported here only, never by ``import steer_sync``.

        :returns: the ``CompletionResponse``, as :meth:`collect` would.
        :raises ApiError: as :meth:`collect`, after showing what had arrived.
        """
        try:
            # Through importlib so that type checking does not depend on IPython's stubs.
            ipython: Any = importlib.import_module("IPython.display")
            shell = importlib.import_module("IPython").get_ipython()
        except ImportError:
            return self._print_live()
        # Outside a shell IPython's display() only prints reprs, and a terminal shell cannot
        # update an output in place: both get the plain text.
        if shell is None or type(shell).__name__ == "TerminalInteractiveShell":
            return self._print_live()
        Markdown = ipython.Markdown  # noqa: N806 - IPython's class name
        handle = ipython.display(Markdown(""), display_id=True)
        shown = ""
        name = self.provider
        try:
            for chunk in self:
                if isinstance(chunk, TextDelta):
                    shown += chunk.text
                    handle.update(Markdown(shown))
                elif isinstance(chunk, Reset):
                    shown = ""  # the answer restarts: drop the lost attempt's text
                    handle.update(Markdown(shown))
                elif isinstance(chunk, MessageComplete):
                    handle.update(chunk.response)
                    return chunk.response
                elif isinstance(chunk, ErrorChunk):
                    raise stream_error_to_api_error(chunk.error, name)
        finally:
            self.close()
        raise ApiStreamError(name, "Stream ended without completion response")

    def _print_live(self) -> CompletionResponse:
        out = sys.stdout
        name = self.provider
        wrote = False
        try:
            for chunk in self:
                if isinstance(chunk, TextDelta):
                    out.write(chunk.text)
                    out.flush()
                    wrote = True
                elif isinstance(chunk, Reset) and wrote:
                    out.write("\n[connection lost; the answer restarts]\n")
                elif isinstance(chunk, MessageComplete):
                    if wrote:
                        out.write("\n")
                    return chunk.response
                elif isinstance(chunk, ErrorChunk):
                    if wrote:
                        out.write("\n")
                    raise stream_error_to_api_error(chunk.error, name)
        finally:
            self.close()
        raise ApiStreamError(name, "Stream ended without completion response")

    # --- waiting with a timeout (web heartbeats) ------------------------------------------

    def next_chunk(self, timeout: Optional[float]) -> Optional[StreamChunk]:
        """Wait at most ``timeout`` seconds for the next chunk; ``None`` if none arrived.

        Unlike ``next()``, running out of time does not end the stream: the chunk that
        arrives later is returned by a later call, and every chunk is delivered once, in
        order. This is what a web view needs to write heartbeats while the provider is
        silent (see :mod:`steer_sync.contrib.wsgi`). The stream's stall limit
        (``Timeouts.stream_idle``) and deadline still apply and end the stream with an
        ``ErrorChunk`` as usual.

        How: the first call with a timeout starts one daemon reader thread for this stream
        (plain iteration never starts one), which reads the chunks ahead into a queue that is
        only as long as the answer (no back-pressure: an answer is small, and reading it
        promptly frees the provider connection sooner). From then on ``next()`` reads from
        that queue too. :meth:`close` from any thread still shuts the connection down at once;
        the reader thread then releases the response and ends. A chunk source that cannot be
        woken (a plain blocking iterable given to ``CompletionStream``) keeps its reader
        thread until it yields, but :meth:`close` still ends a ``next()`` or
        ``next_chunk()`` waiting on it at once.

        :param timeout: seconds to wait at most; ``None`` waits like ``next()`` (and starts
            no thread if none was started before).
        :returns: the next chunk, or ``None`` if ``timeout`` passed first.
        :raises StopIteration: when the stream has ended or was closed.
        :raises ValueError: if ``timeout`` is negative.
        :raises RuntimeError: if another thread is inside ``next()`` or ``next_chunk()`` of this
            stream (a stream has one consumer); the other thread's read goes on unaffected.
        """
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
        if not self._reader.acquire(False):
            raise _second_reader("next_chunk()")
        # As in __next__: close() from another thread sees a reader in flight and leaves the
        # release to it. The guard and cleanup are written out in both methods rather than
        # shared through a context manager, because __next__ runs once per streamed delta
        # and a with-block there costs more than the rest of that method.
        self._iterating = True
        try:
            with self._lock:
                if self._closed:
                    raise StopIteration
                source = self._iterator
                if timeout is not None and not isinstance(source, _ChunkPump):
                    source = _ChunkPump(source)
                    self._iterator = source
                    source.start()
            if not isinstance(source, _ChunkPump):
                return next(source)  # no timeout and no reader thread: read in this thread
            item = source.take(timeout)
            if item is None or isinstance(item, StreamChunk):
                return item
            # The end, or the source failed: end the stream as __next__ does.
            if isinstance(item, BaseException):
                raise item
            raise StopIteration
        except BaseException:
            self._closed = True
            self._iterating = False
            self._release()
            raise
        finally:
            self._iterating = False
            try:
                if self._closed:
                    self._release()
            finally:
                self._reader.release()

    def iter_with_idle(self, interval: float) -> Iterator[Optional[StreamChunk]]:
        """Iterate the chunks, yielding ``None`` whenever ``interval`` seconds pass without one.

        Usage (a heartbeat while the provider thinks)::

            with client.stream_complete("sonnet", messages) as stream:
                for chunk in stream.iter_with_idle(10.0):
                    if chunk is None:
                        send_heartbeat()
                    elif isinstance(chunk, TextDelta):
                        send(chunk.text)

        Closing this iterator does not close the stream; its owner does (``with``).
        See :meth:`next_chunk` for how the wait works (one reader thread per stream).

        :param interval: seconds of silence between two ``None`` values (> 0).
        :raises ValueError: if ``interval`` is not positive.
        """
        if not interval > 0:
            raise ValueError(f"interval must be a number of seconds > 0, got {interval!r}")
        return self._idle_ticks(interval)

    def _idle_ticks(self, interval: float) -> Iterator[Optional[StreamChunk]]:
        while True:
            try:
                chunk = self.next_chunk(interval)
            except StopIteration:
                return
            yield chunk


_log = logging.getLogger("steer_sync.stream")


def _second_reader(call: str) -> RuntimeError:
    return RuntimeError(
        f"{call} refused: this CompletionStream is already being iterated by another thread; a "
        "stream has one consumer: read it (iteration, next(), next_chunk()) in one thread; other "
        "threads may only call close()"
    )


class _End:
    """Marks the end of a pumped chunk source."""


_END = _End()
_Item = Union[StreamChunk, _End, BaseException]


class _ChunkPump(Iterator[StreamChunk]):
    """Reads a chunk source on its own daemon thread so that readers can wait with a timeout.

    It replaces the stream's iterator, so ``CompletionStream.__next__`` and ``_release``
    work unchanged: ``next()`` waits without a limit, ``close()`` stops the pump and wakes
    every waiter. The source (a generator) is only ever advanced and closed by the pump
    thread, so it is never closed while it runs ("generator already executing"); a stream
    closed meanwhile has already shut its socket down through its token, which wakes that
    thread's read.
    """

    __slots__ = ("_source", "_items", "_ready", "_stopped")

    def __init__(self, source: Iterator[StreamChunk]) -> None:
        self._source = source
        self._items: Deque[_Item] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._stopped = False

    def start(self) -> None:
        threading.Thread(target=self._run, name="steer_sync-stream-reader", daemon=True).start()

    def _run(self) -> None:
        source = self._source
        try:
            while not self._stopped:
                item: _Item
                try:
                    item = next(source)
                except StopIteration:
                    item = _END
                except BaseException as exc:  # handed to the reader, which raises it
                    item = exc
                with self._ready:
                    self._items.append(item)
                    self._ready.notify_all()
                if not isinstance(item, StreamChunk):
                    return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # nobody is left to tell; the response is released anyway
                    _log.warning("closing a stream's chunk source failed", exc_info=True)

    def take(self, timeout: Optional[float]) -> Optional[_Item]:
        """The next item, or ``None`` when ``timeout`` passed first; ``_END`` once stopped."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items or self._stopped, timeout):
                return None
            if self._stopped or not self._items:
                return _END
            item = self._items[0]
            if isinstance(item, StreamChunk):
                self._items.popleft()
            else:
                self._items[0] = _END  # an end stays an end for every later call
            return item

    def __next__(self) -> StreamChunk:
        item = self.take(None)
        if isinstance(item, StreamChunk):
            return item
        if isinstance(item, BaseException):
            raise item
        raise StopIteration

    def close(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify_all()
