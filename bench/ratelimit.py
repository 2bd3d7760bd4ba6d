"""Benchmark: client-side rate limits against a provider that enforces a quota.

A loopback server plays a provider with a request quota: a token bucket refilled at
``quota / 60`` requests per second that holds at most two seconds' share (real providers
hold a whole minute's, so this is stricter), answering 429 with ``retry-after`` when it is
empty. 3 processes x 8 threads then call it as fast as they can for a while, with:

* ``RedisRateLimiter`` at the quota, shared by the 3 processes through one redis-server;
* ``LocalRateLimiter`` at the quota, in one process (8 threads);
* ``LocalRateLimiter`` at the quota in each of the 3 processes (what not sharing costs);
* no limiter.

Each client makes one attempt per call (no retries), so every 429 is counted. Throughput is
the answered calls as a percentage of the quota's rate over the run (the initial burst can
lift it above 100 %), and of the most the provider's bucket can answer in the run (the rate
plus its two-second burst). Targets: zero 429s and at least
90 % of the quota with a limiter at the quota (shared by every process that calls).

Usage::

    make bench-ratelimit      # or: python bench/ratelimit.py [--quota 1200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from steer_sync import Message, RateLimited, RetryPolicy
from steer_sync.testing import ErrorReply, LoopbackServer, RecordedRequest, Turn

PROCESSES = 3
THREADS = 8
MODEL = "anthropic/claude-sonnet-4-5"


class QuotaBucket:
    """The provider's side: a token bucket of requests, thread-safe."""

    def __init__(self, per_minute: float, capacity_seconds: float = 2.0) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * capacity_seconds)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()
        self.answered = 0
        self.refused = 0

    def __call__(self, request: RecordedRequest) -> Any:
        with self.lock:
            now = time.monotonic()
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.level >= 1.0:
                self.level -= 1.0
                self.answered += 1
                return Turn(text="ok", usage=(10, 2))
            self.refused += 1
            wait = (1.0 - self.level) / self.rate
        return ErrorReply(429, "quota exceeded", retry_after=round(wait, 3))


def _worker(
    url: str, limiter_spec: Tuple[str, Dict[str, Any]], threads: int, start: float, stop: float, out: Any
) -> None:
    kind, options = limiter_spec
    limiter: Any = None
    if kind == "redis":
        from steer_sync.contrib.redis import RedisRateLimiter

        limiter = RedisRateLimiter(**options)
    elif kind == "local":
        from steer_sync import LocalRateLimiter

        limiter = LocalRateLimiter(**options)
    from steer_sync.testing._client import client_for

    client = client_for(url, retry_policy=RetryPolicy(max_attempts=1), rate_limiter=limiter)
    counts = {"ok": 0, "429": 0, "other": 0}
    lock = threading.Lock()
    prompt = [Message.user("hi")]

    def run() -> None:
        client.complete(MODEL, prompt)  # warm the connection outside the measured window
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < stop:
            try:
                client.complete(MODEL, prompt)
                outcome = "ok"
            except RateLimited:
                outcome = "429"
            except Exception:  # counted, not fatal: the benchmark reports it
                outcome = "other"
            if time.time() <= stop:
                with lock:
                    counts[outcome] += 1

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    client.close()
    out.put(counts)


def _run(quota: float, seconds: float, spec: Tuple[str, Dict[str, Any]], processes: int) -> Dict[str, float]:
    bucket = QuotaBucket(quota)
    # Each thread's first call warms its connection; those are answered outside the quota.
    warmups = [processes * THREADS]
    warm_lock = threading.Lock()

    def answer(request: RecordedRequest) -> Any:
        with warm_lock:
            if warmups[0] > 0:
                warmups[0] -= 1
                return Turn(text="warm")
        return bucket(request)

    context = multiprocessing.get_context("spawn")
    with LoopbackServer(default=answer) as server:
        start = time.time() + 6.0  # time for the processes to start and warm up
        stop = start + seconds
        queue: Any = context.Queue()
        procs = [
            context.Process(target=_worker, args=(server.url, spec, THREADS, start, stop, queue))
            for _ in range(processes)
        ]
        for proc in procs:
            proc.start()
        totals = {"ok": 0, "429": 0, "other": 0}
        for _ in procs:
            for key, value in queue.get(timeout=seconds + 120).items():
                totals[key] += value
        for proc in procs:
            proc.join()
    allowed = quota / 60.0 * seconds
    most = allowed + bucket.capacity  # what the provider's bucket can answer at all
    return {**totals, "throughput": 100.0 * totals["ok"] / allowed, "of_most": 100.0 * totals["ok"] / most}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start_redis() -> Tuple[Optional[subprocess.Popen[str]], Optional[str]]:
    program = shutil.which("redis-server")
    if program is None:
        print("redis-server not found (apt-get install -y redis-server): the Redis row is left out")
        return None, None
    port = _free_port()
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Ready to accept connections" in line:
            break
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, f"redis://127.0.0.1:{port}/0"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quota", type=float, default=1200.0, help="requests per minute the provider allows")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    args = parser.parse_args(argv)
    quota, seconds = args.quota, args.seconds
    redis_process, redis_url = _start_redis()
    rows: List[Tuple[str, Dict[str, float]]] = []
    try:
        if redis_url is not None:
            spec = ("redis", {"url": redis_url, "requests_per_minute": quota, "key_prefix": "bench"})
            name = f"RedisRateLimiter, {PROCESSES} processes x {THREADS} threads"
            rows.append((name, _run(quota, seconds, spec, PROCESSES)))
        spec = ("local", {"requests_per_minute": quota})
        rows.append((f"LocalRateLimiter, 1 process x {THREADS} threads", _run(quota, seconds, spec, 1)))
        name = f"LocalRateLimiter each, {PROCESSES} processes x {THREADS} threads"
        rows.append((name, _run(quota, seconds, spec, PROCESSES)))
        name = f"no limiter, {PROCESSES} processes x {THREADS} threads"
        rows.append((name, _run(quota, seconds, ("none", {}), PROCESSES)))
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(10)
    print(f"\nquota {quota:g} requests/minute ({quota / 60:g}/s), {seconds:g} s per run, one attempt per call")
    print(f"{'setup':<48} {'answered':>9} {'429s':>6} {'other':>6} {'% of quota':>11} {'% of most':>10}")
    for name, row in rows:
        print(
            f"{name:<48} {row['ok']:>9.0f} {row['429']:>6.0f} {row['other']:>6.0f} "
            f"{row['throughput']:>10.1f}% {row['of_most']:>9.1f}%"
        )
    print("% of quota: answered / (quota x run); % of most: answered / (quota x run + the bucket's 2 s burst)")
    print("targets: with a limiter shared by every caller at the quota, 0 429s and >= 90 % of the quota")
    return 0


if __name__ == "__main__":
    sys.exit(main())
