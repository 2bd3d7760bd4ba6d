"""Benchmarks: steer_sync against plain requests + sseclient-py + json.loads, in one run.

Prints one table of ratios (steer_sync / baseline; lower is better) with the
project's targets, and exits with status 1 while any target is missed. The loopback
server runs in a separate process so that its work does not compete with the measured
client for the GIL. Both sides are measured in the same run, interleaved, best of each:
the machine's own noise (other jobs on a shared machine) then hits both alike.

Scenarios: import; cold start to the first answer (a new process per sample); a small
non-streamed call; client CPU per streamed delta; 32 threads sharing one client; the
peak RSS of a 32-thread process; 1 to 256 threads sharing one client (time per stream and
RSS per thread, each count in its own process); one huge output (100,000 tool-input
deltas, a 10 MiB text answer: CPU per delta against a short stream of the same deltas,
and traced peak memory against the answer's size); memory growth; cancel latency.

Usage::

    make bench            # or: python bench/run.py [--quick]; make bench-quick
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import queue
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
COLD_STARTS = 15
SCALING_THREADS = (1, 8, 32, 128, 256)
HUGE_TOOL_DELTAS = 100_000
HUGE_TEXT_BYTES = 10 * 1024 * 1024
SHORT_DELTAS = 2_000
#: One text delta of the 10 MiB answer: 1 KiB of plain words.
TEXT_PIECE = ("lorem ipsum dolor sit amet " * 40)[:1024]

HEADERS = {"x-api-key": "bench-key", "anthropic-version": "2023-06-01", "content-type": "application/json"}
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


# --- the server process -------------------------------------------------------------------


def _anthropic_stream(events: int, piece: Optional[str] = None, tool: bool = False) -> List[bytes]:
    """An Anthropic Messages event stream of ``events`` deltas.

    :param piece: the text of every delta (default: ``"token <i> "``).
    :param tool: stream a tool call's input (``input_json_delta``) instead of text; the
        deltas then form one JSON object ``{"text": "<pieces>"}``.
    """
    from steer_sync.testing import sse_event

    if tool:
        block: Dict[str, Any] = {"type": "tool_use", "id": "toolu_bench", "name": "write", "input": {}}
        pieces = ['{"text": "'] + [piece or "abcdefghij"] * (events - 2) + ['"}']
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece if piece is not None else f"token {i} "} for i in range(events)]

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
        sse_event({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"),
    ]
    for delta in deltas:
        parts.append(sse_event({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"))
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


def _in_parts(events: List[bytes]) -> List[bytes]:
    """A stream body in 16 KiB parts, as a real server's writes arrive."""
    body = b"".join(events)
    return [body[i : i + 16384] for i in range(0, len(body), 16384)]


#: The huge-output streams (path prefix: ``_anthropic_stream`` arguments) and their short
#: twins of the same deltas, to tell whether the cost per delta stays flat as output grows.
_HUGE: Dict[str, Tuple[int, Optional[str], bool]] = {
    "/tool-huge": (HUGE_TOOL_DELTAS, None, True),
    "/tool-short": (SHORT_DELTAS, None, True),
    "/text-huge": (HUGE_TEXT_BYTES // len(TEXT_PIECE), TEXT_PIECE, False),
    "/text-short": (SHORT_DELTAS, TEXT_PIECE, False),
}


def _serve(ready: Any, stop: Any) -> None:
    from steer_sync.testing import LoopbackServer, RecordedRequest, Reply

    big_parts = _in_parts(_anthropic_stream(STREAM_EVENTS))
    huge = {prefix: _in_parts(_anthropic_stream(*args)) for prefix, args in _HUGE.items()}
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
        for prefix, parts in huge.items():
            if path.startswith(prefix):
                return Reply(headers=stream_headers, body=parts, chunked=True)
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

    runs = 5 if quick else 15
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
    rounds = 2 if quick else 3
    messages = _messages()
    errors: List[BaseException] = []

    def run(worker: Callable[[], None]) -> float:
        # The clock starts inside the barrier, as the last thread arrives: after wait() the
        # main thread may not run again before the workers are done.
        starts: List[float] = []
        barrier = threading.Barrier(THREADS + 1, action=lambda: starts.append(time.perf_counter()))

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
        for thread in threads:
            thread.join()
        return time.perf_counter() - starts[0]

    client = _client(url, "")

    def ours() -> None:
        with client.stream_complete("anthropic/claude-sonnet-4-5", messages) as stream:
            for chunk in stream:
                if type(chunk) is ErrorChunk:
                    raise RuntimeError(str(chunk.error))
                if type(chunk) is MessageComplete:
                    break

    # One session per thread for the floor, kept across runs as our client keeps its pool.
    sessions = [requests.Session() for _ in range(THREADS)]
    free: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()
    local = threading.local()

    def baseline() -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = free.get()
        response = session.post(
            url + "/v1/messages", json=dict(BODY, stream=True), headers=HEADERS, stream=True, timeout=(10, 600)
        )
        for event in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
            json.loads(event.data)
        response.close()

    def run_baseline() -> float:
        for session in sessions:
            free.put(session)
        return run(baseline)

    ours_connections = 0
    ours_time, base_time = float("inf"), float("inf")
    for index in range(rounds + 1):  # round 0 opens the connections of both sides: not timed
        before = _connections(url)
        elapsed = run(ours)
        ours_connections += _connections(url) - before - 1  # the stats request is one
        ours_time = min(ours_time, elapsed) if index else ours_time
        elapsed = run_baseline()
        base_time = min(base_time, elapsed) if index else base_time
    for session in sessions:
        session.close()
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


#: A new process's way to its first answer through steer_sync (one non-streamed call): what a
#: script, a CLI run or a fresh worker does. Prints the seconds from before the import to the
#: answer.
_COLD_OURS = """
import time
start = time.perf_counter()
from steer_sync import Client, Message
client = Client.from_env()
answer = client.complete_with_retry("anthropic/claude-sonnet-4-5", [Message.user("hi")])
assert answer.extract_text() == "Hello!", answer
print(time.perf_counter() - start)
"""

#: The floor's equivalent: import requests, one call, decode the JSON.
_COLD_FLOOR = """
import time
start = time.perf_counter()
import json, os, requests
response = requests.post(
    os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages",
    data=json.dumps(BODY),
    headers=HEADERS,
    timeout=(10, 600),
)
response.raise_for_status()
assert json.loads(response.content)["content"][0]["text"] == "Hello!"
print(time.perf_counter() - start)
""".replace("BODY", repr(BODY)).replace("HEADERS", repr(HEADERS))


def _compile_package() -> None:
    """Write the package's bytecode, as ``pip install`` does, so no cold start compiles source.

    Under ``PYTHONDONTWRITEBYTECODE`` (or in a fresh checkout) every new process would
    otherwise compile steer_sync from source while the floor's site-packages are compiled.
    """
    import compileall

    import steer_sync

    compileall.compile_dir(os.path.dirname(steer_sync.__file__), quiet=1)


def bench_cold_start(url: str, quick: bool) -> Tuple[Tuple[float, float], Tuple[float, float], Tuple[float, float]]:
    """Seconds from a new process's first import to its first answer: ours, the floor's.

    :returns: (ours, the floor's) best in-process times; best whole-process times
        (interpreter start to exit); least process CPU time (user + system, the least
        disturbed by other jobs on a shared machine). Samples are interleaved.
    """
    import resource
    import tempfile

    runs = 7 if quick else COLD_STARTS
    _compile_package()
    with tempfile.TemporaryDirectory() as home:
        # An empty home: no user catalog or credentials file, only the environment's key.
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home, ANTHROPIC_API_KEY="bench-key")
        env["ANTHROPIC_BASE_URL"] = url

        def cpu() -> float:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime

        def sample(code: str) -> Tuple[float, float, float]:
            start, start_cpu = time.perf_counter(), cpu()
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=home, env=env)
            if done.returncode:
                raise RuntimeError(f"a cold start failed:\n{done.stderr}")
            return float(done.stdout), time.perf_counter() - start, cpu() - start_cpu

        ours: List[Tuple[float, float, float]] = []
        base: List[Tuple[float, float, float]] = []
        sample(_COLD_OURS)  # warm the OS file cache for both sides
        sample(_COLD_FLOOR)
        for _ in range(runs):
            ours.append(sample(_COLD_OURS))
            base.append(sample(_COLD_FLOOR))
    best = [(min(o[i] for o in ours), min(b[i] for b in base)) for i in range(3)]
    return best[0], best[1], best[2]


#: One process of the threads runs: ``threads`` threads share one client (or, for the floor,
#: a requests session each) and each makes ``per_thread`` small streamed calls. Prints JSON.
_THREADS_CHILD = """
import json, resource, sys, threading, time

side, url, threads, per_thread = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


if side == "ours":
    from steer_sync import Client, ErrorChunk, InMemoryAuthStorage, LlmConfigProvider, Message, MessageComplete
    from steer_sync import ModelRegistry, ProviderRegistry, RetryPolicy

    env = {"ANTHROPIC_API_KEY": "bench-key", "ANTHROPIC_BASE_URL": url}
    providers = ProviderRegistry.load(discover=False)
    config = LlmConfigProvider(InMemoryAuthStorage(), env=env.get, provider_registry=providers)
    client = Client(config, providers, ModelRegistry.load(discover=False), retry_policy=RetryPolicy(max_attempts=1))
    messages = [Message.user("hi")]

    def one():
        with client.stream_complete("anthropic/claude-sonnet-4-5", messages) as stream:
            for chunk in stream:
                if type(chunk) is ErrorChunk:
                    raise RuntimeError(str(chunk.error))
                if type(chunk) is MessageComplete:
                    break

else:
    import requests, sseclient

    sessions = threading.local()
    body = BODY
    headers = HEADERS

    def one():
        session = getattr(sessions, "session", None)
        if session is None:
            session = sessions.session = requests.Session()
        response = session.post(url + "/v1/messages", json=body, headers=headers, stream=True, timeout=(10, 600))
        for event in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
            json.loads(event.data)
        response.close()

def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


one()  # modules, catalogs and the first connection: not part of the run
before = status_kib("VmRSS:")
try:  # reset the peak (VmHWM) to the current RSS, so the import's peak does not count
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
except OSError:
    pass
errors = []
# The clock starts inside the barrier, as the last thread arrives: after wait() the main
# thread may not run again before the workers are done.
starts = []
barrier = threading.Barrier(threads + 1, action=lambda: starts.append((time.perf_counter(), time.process_time())))


def work():
    try:
        one()  # each thread's connection is opened before the clock starts
    except BaseException as error:
        errors.append(repr(error))
    barrier.wait()
    try:
        for _ in range(per_thread):
            one()
    except BaseException as error:
        errors.append(repr(error))


pool = [threading.Thread(target=work) for _ in range(threads)]
for thread in pool:
    thread.start()
barrier.wait()
for thread in pool:
    thread.join()
wall = time.perf_counter() - starts[0][0]
cpu = time.process_time() - starts[0][1]
peak = status_kib("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(
    json.dumps(
        {
            "wall": wall,
            "cpu": cpu,
            "streams": threads * per_thread,
            "peak_kib": peak,
            "before_kib": before,
            "errors": errors[:3],
            "error_count": len(errors),
        }
    )
)
""".replace("BODY", repr(dict(BODY, stream=True))).replace("HEADERS", repr(HEADERS))


def _threads_child(side: str, url: str, threads: int, per_thread: int) -> Dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_CHILD, side, url, str(threads), str(per_thread)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"the {side} {threads}-thread process failed:\n{done.stderr}")
    result: Dict[str, Any] = json.loads(done.stdout)
    if result["error_count"]:
        raise RuntimeError(f"{side}, {threads} threads: {result['error_count']} errors, e.g. {result['errors']}")
    return result


def bench_scaling(url: str, quick: bool) -> Tuple[Dict[int, Tuple[float, float]], float, float, Dict[int, float]]:
    """Threads sharing one client, each count in its own process; and the 32-thread peak RSS.

    :returns: per thread count, the best seconds per stream and the least RSS growth per
        thread (bytes); then the least peak RSS (bytes) of a 32-thread process, ours and the
        floor's (run next to each other in every round); then the floor's best seconds per
        stream at 32 and at the most threads (a session per thread), to tell the cost of
        many threads in one process from ours.
    """
    rounds = 2 if quick else 3
    # Streams per count; at least 4 per thread, so one thread's late start or early end
    # does not decide the time.
    total = 512 if quick else 1024
    per_stream: Dict[int, float] = {}
    per_thread_rss: Dict[int, float] = {}
    peaks: Dict[str, List[int]] = {"ours": [], "base": []}
    base_per_stream: Dict[int, float] = {}
    for _ in range(rounds):
        for threads in SCALING_THREADS:
            if threads in (THREADS, max(SCALING_THREADS)):
                base = _threads_child("base", url, threads, max(4, total // threads))
                base_per_stream[threads] = min(
                    base_per_stream.get(threads, float("inf")), base["wall"] / base["streams"]
                )
                if threads == THREADS:
                    peaks["base"].append(base["peak_kib"] * 1024)
            result = _threads_child("ours", url, threads, max(4, total // threads))
            per_stream[threads] = min(per_stream.get(threads, float("inf")), result["wall"] / result["streams"])
            growth = max(0, result["peak_kib"] - result["before_kib"]) * 1024 / threads
            per_thread_rss[threads] = min(per_thread_rss.get(threads, float("inf")), growth)
            if threads == THREADS:
                peaks["ours"].append(result["peak_kib"] * 1024)
    scaling = {threads: (per_stream[threads], per_thread_rss[threads]) for threads in SCALING_THREADS}
    return scaling, min(peaks["ours"]), min(peaks["base"]), base_per_stream


def bench_huge(url: str, quick: bool) -> Dict[str, Tuple[float, float, int, int]]:
    """One huge streamed output (100,000 tool-input deltas; a 10 MiB text answer).

    :returns: per kind (``"tool"``, ``"text"``): the best client CPU per delta of the huge
        stream and of a short stream of the same deltas, the traced peak memory (bytes) while
        the huge stream is consumed and the answer's size (bytes).
    """
    from steer_sync import MessageComplete, TextDelta, ToolUseInputDelta

    runs = 2 if quick else 4
    messages = _messages()
    results: Dict[str, Tuple[float, float, int, int]] = {}
    for kind, delta_type in (("tool", ToolUseInputDelta), ("text", TextDelta)):
        huge, short = _client(url, f"/{kind}-huge"), _client(url, f"/{kind}-short")

        def consume(client: Any, delta_type: type = delta_type) -> Tuple[float, int]:
            start = time.thread_time()
            deltas = 0
            response = None
            with client.stream_complete("anthropic/claude-sonnet-4-5", messages) as stream:
                for chunk in stream:
                    if type(chunk) is delta_type:
                        deltas += 1
                    elif type(chunk) is MessageComplete:
                        response = chunk.response
                        break
            cpu = (time.thread_time() - start) / deltas
            assert response is not None, "the stream ended without MessageComplete"
            if delta_type is TextDelta:
                size = len(response.extract_text())
            else:
                (call,) = response.extract_tool_calls()
                size = len(call.parameters["text"])
            return cpu, size

        consume(short)
        short_cpu, huge_cpu = float("inf"), float("inf")
        for _ in range(runs):  # interleaved, best of each
            for _ in range(5):
                short_cpu = min(short_cpu, consume(short)[0])
            huge_cpu = min(huge_cpu, consume(huge)[0])
        gc.collect()
        tracemalloc.start()
        _, size = consume(huge)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        huge.close()
        short.close()
        results[kind] = (huge_cpu, short_cpu, peak, size)
    return results


# --- the report ---------------------------------------------------------------------------


def _row(name: str, ours: str, base: str, ratio: Optional[float], target: str, ok: bool) -> List[str]:
    return [name, ours, base, f"{ratio:.2f}x" if ratio is not None else "-", target, "ok" if ok else "MISSED"]


def _ratio_row(name: str, ours: str, base: str, ratio: float, limit: float) -> List[str]:
    return _row(name, ours, base, ratio, f"<= {limit:.2f}x", ratio <= limit)


def _mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args(argv)
    _compile_package()
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    server = context.Process(target=_serve, args=(ready, stop), daemon=True)
    server.start()
    url = ready.get(timeout=120)
    rows: List[List[str]] = []

    def show(row: List[str]) -> None:
        rows.append(row)
        print("  ".join(row), file=sys.stderr, flush=True)  # progress; the table follows

    try:
        ours, base = bench_import(args.quick)
        show(_ratio_row("import steer_sync", f"{ours * 1e3:.1f} ms", f"{base * 1e3:.1f} ms", ours / base, 1.15))
        (ours, base), (ours_process, base_process), (ours_cpu, base_cpu) = bench_cold_start(url, args.quick)
        show(
            _ratio_row(
                "cold start to the first answer", f"{ours * 1e3:.1f} ms", f"{base * 1e3:.1f} ms", ours / base, 1.1
            )
        )
        show(
            _row(
                "  whole process (start to exit)",
                f"{ours_process * 1e3:.1f} ms",
                f"{base_process * 1e3:.1f} ms",
                ours_process / base_process,
                "(informational)",
                True,
            )
        )
        show(
            _row(
                "  process CPU, user + system",
                f"{ours_cpu * 1e3:.1f} ms",
                f"{base_cpu * 1e3:.1f} ms",
                ours_cpu / base_cpu,
                "(informational)",
                True,
            )
        )
        ours, base = bench_small_call(url, args.quick)
        show(_ratio_row("small non-streamed call", f"{ours * 1e6:.0f} us", f"{base * 1e6:.0f} us", ours / base, 0.7))
        ours, base, ours_rate, base_rate = bench_stream_cpu(url, args.quick)
        show(
            _ratio_row(
                f"client CPU per delta ({STREAM_EVENTS} events)",
                f"{ours * 1e6:.2f} us",
                f"{base * 1e6:.2f} us",
                ours / base,
                0.7,
            )
        )
        show(
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
        show(_ratio_row(f"{THREADS} threads x streams, wall time", f"{ours:.2f} s", f"{base:.2f} s", ours / base, 0.9))
        show(
            _row(
                "  errors / connections opened",
                f"{errors} / {connections}",
                "-",
                None,
                f"0 / <= {THREADS}",
                errors == 0 and 0 < connections <= THREADS,
            )
        )
        scaling, ours_peak, base_peak, base_scaling = bench_scaling(url, args.quick)
        show(
            _ratio_row(
                f"peak RSS, {THREADS}-thread process", _mib(ours_peak), _mib(base_peak), ours_peak / base_peak, 1.1
            )
        )
        reference = scaling[THREADS][0]
        for threads, (per_stream, per_thread) in scaling.items():
            name = f"{threads} threads, one client: per stream / RSS per thread"
            value = f"{per_stream * 1e3:.2f} ms / {per_thread / 1024:.0f} KiB"
            if threads == max(SCALING_THREADS):
                show(
                    _row(
                        name,
                        value,
                        f"{THREADS} threads",
                        per_stream / reference,
                        "<= 1.20x",
                        per_stream <= 1.2 * reference,
                    )
                )
            else:
                show(_row(name, value, "-", per_stream / reference, f"(vs {THREADS} threads)", True))
        most = max(SCALING_THREADS)
        show(
            _row(
                f"  floor, a session per thread: {most} vs {THREADS} threads",
                "-",
                f"{base_scaling[most] * 1e3:.2f} / {base_scaling[THREADS] * 1e3:.2f} ms",
                base_scaling[most] / base_scaling[THREADS],
                "(informational)",
                True,
            )
        )
        huge = bench_huge(url, args.quick)
        for kind, label in (("tool", f"{HUGE_TOOL_DELTAS:,} tool-input deltas"), ("text", "a 10 MiB text answer")):
            huge_cpu, short_cpu, peak, size = huge[kind]
            show(
                _row(
                    f"{label}: CPU per delta",
                    f"{huge_cpu * 1e6:.2f} us",
                    f"{short_cpu * 1e6:.2f} us ({SHORT_DELTAS:,})",
                    huge_cpu / short_cpu,
                    "<= 1.50x",
                    huge_cpu <= 1.5 * short_cpu,
                )
            )
            show(
                _row(
                    f"{label}: peak memory",
                    _mib(peak),
                    f"{_mib(size)} answer",
                    peak / size,
                    "<= 3.00x",
                    peak <= 3 * size,
                )
            )
        growth = bench_memory(url, args.quick)
        show(
            _row(
                "memory growth over 1,000 calls", f"{growth / 1024:.1f} KiB", "-", None, "< 64 KiB", growth < 64 * 1024
            )
        )
        p50, p99 = bench_cancel(url, args.quick)
        show(
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
        "\nbaseline: requests + sseclient-py + json.loads, measured in this run, interleaved, best of each side; "
        "the loopback server runs in its own process."
    )
    return 0 if all(row[-1] == "ok" for row in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
