"""Benchmarks: steer_sync against plain requests + sseclient-py + json.loads, in one run.

Prints one table of ratios (steer_sync / baseline; lower is better) with the
project's targets. The loopback server runs in a separate process so that its
work does not compete with the measured client for the GIL.

Usage::

    make bench            # or: python bench/run.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests
import sseclient

STREAM_EVENTS = 20_000
THREADS = 32
STREAMS_PER_THREAD = 20
SMALL_STREAM_EVENTS = 50
MEMORY_CALLS = 1_000
CANCEL_TRIES = 100

HEADERS = {"x-api-key": "bench-key", "anthropic-version": "2023-06-01", "content-type": "application/json"}
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


# --- the server process -------------------------------------------------------------------


def _anthropic_stream(events: int) -> List[bytes]:
    from steer_sync.testing import sse_event

    parts = [
        sse_event(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_bench",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 12, "output_tokens": 1},
                },
            },
            "message_start",
        ),
        sse_event(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
    ]
    for i in range(events):
        parts.append(
            sse_event(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"token {i} "}},
                "content_block_delta",
            )
        )
    parts += [
        sse_event({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": events},
            },
            "message_delta",
        ),
        sse_event({"type": "message_stop"}, "message_stop"),
    ]
    return parts


def _serve(ready: Any, stop: Any) -> None:
    from steer_sync.testing import LoopbackServer, RecordedRequest, Reply

    big = b"".join(_anthropic_stream(STREAM_EVENTS))
    # Sent in 16 KiB parts, as a real server's writes arrive.
    big_parts = [big[i : i + 16384] for i in range(0, len(big), 16384)]
    small_events = _anthropic_stream(SMALL_STREAM_EVENTS)
    small = b"".join(small_events)
    # Stalls after the first text delta, on an event boundary.
    stalled = [b"".join(small_events[:3]), b"".join(small_events[3:])]
    message = json.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello!"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 3},
        }
    ).encode()
    stream_headers = (("content-type", "text/event-stream"),)
    holder: Dict[str, Any] = {}

    def route(request: RecordedRequest) -> Reply:
        path = request.path
        if path.startswith("/stats"):
            server = holder["server"]
            return Reply.from_json({"connections": server.connection_count})
        if path.startswith("/big"):
            return Reply(headers=stream_headers, body=big_parts, chunked=True)
        if path.startswith("/stall"):
            return Reply(headers=stream_headers, body=stalled, stall_after=1)
        wants_stream = isinstance(request.json, dict) and request.json.get("stream")
        if wants_stream:
            return Reply(headers=stream_headers, body=[small], chunked=True)
        return Reply(headers=(("content-type", "application/json"),), body=message, chunked=False)

    with LoopbackServer(default=route) as server:
        holder["server"] = server
        ready.put(server.url)
        stop.wait()


# --- helpers ------------------------------------------------------------------------------


def _client(url: str, prefix: str) -> Any:
    from steer_sync import Client, InMemoryAuthStorage, LlmConfigProvider, ModelRegistry, ProviderRegistry, RetryPolicy

    env = {"ANTHROPIC_API_KEY": "bench-key", "ANTHROPIC_BASE_URL": url + prefix}
    providers = ProviderRegistry.load(discover=False)
    config = LlmConfigProvider(InMemoryAuthStorage(), env=env.get, provider_registry=providers)
    return Client(config, providers, ModelRegistry.load(discover=False), retry_policy=RetryPolicy(max_attempts=1))


def _messages() -> Any:
    from steer_sync import Message

    return [Message.user("hi")]


def _median_time(fn: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _connections(url: str) -> int:
    count: int = requests.get(url + "/stats").json()["connections"]
    return count


# --- the measurements ---------------------------------------------------------------------


def bench_import(quick: bool) -> Tuple[float, float]:
    runs = 7 if quick else 21

    def import_time(statement: str) -> float:
        code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        samples = [
            float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(runs)
        ]
        return statistics.median(samples)

    return import_time("import steer_sync"), import_time("import json, requests, sseclient")


def bench_small_call(url: str, quick: bool) -> Tuple[float, float]:
    calls = 100 if quick else 400
    client = _client(url, "")
    messages = _messages()
    session = requests.Session()

    def ours() -> None:
        client.complete_with_retry("anthropic/claude-sonnet-4-5", messages)

    def baseline() -> None:
        session.post(url + "/v1/messages", json=BODY, headers=HEADERS, timeout=(10, 600)).json()

    for fn in (ours, baseline):  # warm both connection pools
        fn()
    ours_samples, base_samples = [], []
    for _ in range(8):  # interleaved blocks, best median of each side
        ours_samples.append(_median_time(ours, calls // 8))
        base_samples.append(_median_time(baseline, calls // 8))
    ours_time, base_time = min(ours_samples), min(base_samples)
    client.close()
    session.close()
    return ours_time, base_time


def bench_stream_cpu(url: str, quick: bool) -> Tuple[float, float, float, float]:
    from steer_sync import MessageComplete, TextDelta

    runs = 3 if quick else 9
    client = _client(url, "/big")
    messages = _messages()
    session = requests.Session()

    walls: Dict[str, float] = {"ours": float("inf"), "base": float("inf")}

    def ours() -> float:
        wall = time.perf_counter()
        start = time.thread_time()
        deltas = 0
        with client.stream_complete("anthropic/claude-sonnet-4-5", messages) as stream:
            for chunk in stream:
                if type(chunk) is TextDelta:
                    deltas += 1
                elif type(chunk) is MessageComplete:
                    break
        assert deltas == STREAM_EVENTS, deltas
        walls["ours"] = min(walls["ours"], time.perf_counter() - wall)
        return (time.thread_time() - start) / deltas

    def baseline() -> float:
        wall = time.perf_counter()
        start = time.thread_time()
        deltas = 0
        body = dict(BODY, stream=True)
        response = session.post(url + "/big/v1/messages", json=body, headers=HEADERS, stream=True, timeout=(10, 600))
        for event in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
            data = json.loads(event.data)
            if data["type"] == "content_block_delta":
                deltas += 1
        response.close()
        assert deltas == STREAM_EVENTS, deltas
        walls["base"] = min(walls["base"], time.perf_counter() - wall)
        return (time.thread_time() - start) / deltas

    ours()
    baseline()
    # Interleaved, best of several: the machine's own noise hits both sides alike.
    ours_samples, base_samples = [], []
    for _ in range(runs):
        ours_samples.append(ours())
        base_samples.append(baseline())
    ours_cpu, base_cpu = min(ours_samples), min(base_samples)
    client.close()
    return ours_cpu, base_cpu, STREAM_EVENTS / walls["ours"], STREAM_EVENTS / walls["base"]


def bench_threads(url: str, quick: bool) -> Tuple[float, float, int, int]:
    from steer_sync import ErrorChunk, MessageComplete

    per_thread = 5 if quick else STREAMS_PER_THREAD
    messages = _messages()
    errors: List[BaseException] = []

    def run(worker: Callable[[], None]) -> float:
        barrier = threading.Barrier(THREADS + 1)

        def body() -> None:
            barrier.wait()
            try:
                for _ in range(per_thread):
                    worker()
            except BaseException as error:  # counted, never swallowed silently
                errors.append(error)

        threads = [threading.Thread(target=body) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start

    before = _connections(url)
    client = _client(url, "")

    def ours() -> None:
        with client.stream_complete("anthropic/claude-sonnet-4-5", messages) as stream:
            for chunk in stream:
                if type(chunk) is ErrorChunk:
                    raise RuntimeError(str(chunk.error))
                if type(chunk) is MessageComplete:
                    break

    ours_time = run(ours)
    ours_connections = _connections(url) - before - 1
    sessions = threading.local()

    def baseline() -> None:
        session = getattr(sessions, "session", None)
        if session is None:
            session = sessions.session = requests.Session()
        response = session.post(
            url + "/v1/messages", json=dict(BODY, stream=True), headers=HEADERS, stream=True, timeout=(10, 600)
        )
        for event in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
            json.loads(event.data)
        response.close()

    base_time = run(baseline)
    client.close()
    return ours_time, base_time, len(errors), ours_connections


def bench_memory(url: str, quick: bool) -> int:
    calls = 300 if quick else MEMORY_CALLS
    client = _client(url, "")
    messages = _messages()
    for _ in range(200):
        client.complete("anthropic/claude-sonnet-4-5", messages)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(calls):
        client.complete("anthropic/claude-sonnet-4-5", messages)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    client.close()
    return after - before


def bench_cancel(url: str, quick: bool) -> Tuple[float, float]:
    from steer_sync import CancellationToken, ErrorChunk, StreamCancelled

    tries = 30 if quick else CANCEL_TRIES
    client = _client(url, "/stall")
    messages = _messages()
    latencies: List[float] = []
    for _ in range(tries):
        token = CancellationToken()
        stream = client.stream_complete("anthropic/claude-sonnet-4-5", messages, token=token)
        next(stream)  # the first event arrived; the server now stalls
        done = threading.Event()
        ended: List[float] = []

        def read(stream: Any = stream, ended: List[float] = ended, done: threading.Event = done) -> None:
            for chunk in stream:
                if type(chunk) is ErrorChunk:
                    assert isinstance(chunk.error, StreamCancelled), chunk
                    ended.append(time.perf_counter())
            done.set()

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.005)  # let the reader block in recv(): the case being measured
        start = time.perf_counter()
        token.cancel()
        if not done.wait(10):
            raise RuntimeError("a cancelled stream did not stop within 10 s")
        reader.join()
        latencies.append(ended[0] - start)
    client.close()
    latencies.sort()
    return statistics.median(latencies), latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


# --- the report ---------------------------------------------------------------------------


def _row(name: str, ours: str, base: str, ratio: Optional[float], target: str, ok: bool) -> List[str]:
    return [name, ours, base, f"{ratio:.2f}x" if ratio is not None else "-", target, "ok" if ok else "MISSED"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    server = context.Process(target=_serve, args=(ready, stop), daemon=True)
    server.start()
    url = ready.get(timeout=60)
    rows: List[List[str]] = []
    try:
        ours, base = bench_import(args.quick)
        rows.append(
            _row(
                "import steer_sync",
                f"{ours * 1e3:.1f} ms",
                f"{base * 1e3:.1f} ms",
                ours / base,
                "<= 1.15x",
                ours / base <= 1.15,
            )
        )
        ours, base = bench_small_call(url, args.quick)
        rows.append(
            _row(
                "small non-streamed call",
                f"{ours * 1e6:.0f} us",
                f"{base * 1e6:.0f} us",
                ours / base,
                "<= 1.20x",
                ours / base <= 1.2,
            )
        )
        ours, base, ours_rate, base_rate = bench_stream_cpu(url, args.quick)
        rows.append(
            _row(
                f"client CPU per delta ({STREAM_EVENTS} events)",
                f"{ours * 1e6:.2f} us",
                f"{base * 1e6:.2f} us",
                ours / base,
                "<= 1.00x",
                ours / base <= 1.0,
            )
        )
        rows.append(
            _row(
                "  events per second over loopback",
                f"{ours_rate:,.0f}/s",
                f"{base_rate:,.0f}/s",
                base_rate / ours_rate,
                "(informational)",
                True,
            )
        )
        ours, base, errors, connections = bench_threads(url, args.quick)
        rows.append(
            _row(
                f"{THREADS} threads x streams, wall time",
                f"{ours:.2f} s",
                f"{base:.2f} s",
                ours / base,
                "<= 1.30x",
                ours / base <= 1.3,
            )
        )
        rows.append(
            _row(
                "  errors / connections opened",
                f"{errors} / {connections}",
                "-",
                None,
                f"0 / <= {THREADS}",
                errors == 0 and 0 < connections <= THREADS,
            )
        )
        growth = bench_memory(url, args.quick)
        rows.append(
            _row(
                "memory growth over 1,000 calls", f"{growth / 1024:.1f} KiB", "-", None, "< 64 KiB", growth < 64 * 1024
            )
        )
        p50, p99 = bench_cancel(url, args.quick)
        rows.append(
            _row(
                "cancel a stalled stream (p50 / p99)",
                f"{p50 * 1e3:.1f} / {p99 * 1e3:.1f} ms",
                "-",
                None,
                "p99 < 50 ms",
                p99 < 0.05,
            )
        )
    finally:
        stop.set()
        server.join(10)
    header = ["benchmark", "steer_sync", "baseline", "ratio", "target", "result"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(
        "\nbaseline: requests + sseclient-py + json.loads, measured in this run; the loopback server runs "
        "in its own process."
    )
    return 0 if all(row[-1] == "ok" for row in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
