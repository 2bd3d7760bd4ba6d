"""ProviderTask in a real Celery worker (prefork pool, Redis broker and JSON result backend)
calling the loopback server, plus in-process checks of its retry hand-off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, ClassVar, Dict, Iterator, List

import pytest
from _needs import left_out, need_module

from steer_sync import AuthenticationFailed, CompletionResponse, RateLimited, TokenUsage
from steer_sync.testing import ErrorReply, LoopbackServer, RecordedRequest, ToolCallSpec, Turn

HERE = Path(__file__).resolve().parent


def _echo(request: RecordedRequest) -> Turn:
    """Answer each request with its own prompt, so crossed answers show."""
    content = request.json_dict()["messages"][-1]["content"]
    text = content if isinstance(content, str) else "".join(part.get("text", "") for part in content)
    return Turn(text=f"echo: {text}", usage=(len(text), 2))


@pytest.fixture(scope="module")
def provider() -> Iterator[LoopbackServer]:
    with LoopbackServer(default=_echo) as server:
        yield server


@pytest.fixture(scope="module")
def worker(redis_url: str, provider: LoopbackServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ``celery worker`` subprocess (prefork, 4 processes) on a queue of its own."""
    need_module("celery", "pip install 'steer-sync[celery]'")
    need_module("redis", "pip install 'steer-sync[redis]'")
    queue = f"steer-sync-test-{uuid.uuid4().hex}"
    home = tmp_path_factory.mktemp("home")
    env = {
        **os.environ,
        **provider.environ,
        "STEER_TEST_REDIS_URL": redis_url,
        "STEER_TEST_QUEUE": queue,
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "_celery_tasks", "worker",
        "--pool=prefork", "--concurrency=4", "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queue,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=str(HERE), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log: List[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the worker logs "celery@host ready." once it consumes
            log.append(line)
            if " ready." in line:
                break
        else:
            pytest.fail(f"the celery worker exited with {process.wait()}:\n{''.join(log)}")
        threading.Thread(target=lambda: log.extend(process.stdout or ()), daemon=True).start()
        os.environ["STEER_TEST_REDIS_URL"] = redis_url
        os.environ["STEER_TEST_QUEUE"] = queue
        sys.path.insert(0, str(HERE))
        import _celery_tasks

        _celery_tasks.app.conf.update(broker_url=redis_url, result_backend=redis_url, task_default_queue=queue)
        yield _celery_tasks
    finally:
        process.terminate()  # warm shutdown: the worker finishes and exits
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_task_retried_twice_on_429_completes_through_the_broker(worker: Any, provider: LoopbackServer) -> None:
    provider.clear()
    provider.queue(ErrorReply(429, "slow down", retry_after=1), ErrorReply(429, "slow down", retry_after=1))
    result = worker.ask.delay("third time lucky").get(timeout=30)
    assert result["retries"] == 2  # two broker retries, not two sleeps in the worker
    assert CompletionResponse.from_dict(result["response"]).extract_text() == "echo: third time lucky"
    assert len(provider.requests) == 3


def test_a_401_arrives_as_authentication_failed_through_the_json_backend(worker: Any, provider: LoopbackServer) -> None:
    provider.clear()
    provider.queue(ErrorReply(401, "invalid x-api-key"))
    with pytest.raises(AuthenticationFailed) as caught:
        worker.ask.delay("who am I").get(timeout=30)
    assert caught.value.provider == "anthropic"
    assert caught.value.status_code == 401
    assert len(provider.requests) == 1  # not retried


def test_a_returned_response_dict_rebuilds_to_an_equal_response(worker: Any, provider: LoopbackServer) -> None:
    provider.clear()
    call = ToolCallSpec("toolu_1", "lookup", {"city": "Paris", "days": [1, 2]})
    provider.queue(Turn(text="Let me check.", tool_calls=[call], usage=(21, 8)))
    data = worker.ask.delay("weather?").get(timeout=30)["response"]
    rebuilt = CompletionResponse.from_dict(data)
    assert rebuilt == CompletionResponse.from_dict(json.loads(json.dumps(data)))
    assert rebuilt.to_dict() == data
    assert rebuilt.extract_text() == "Let me check."
    (tool_call,) = rebuilt.extract_tool_calls()
    assert (tool_call.id, tool_call.name, tool_call.parameters) == ("toolu_1", "lookup", call.arguments)
    assert rebuilt.usage == TokenUsage(21, 8, 29)


def test_twenty_concurrent_tasks_in_a_prefork_worker_get_their_own_answers(
    worker: Any, provider: LoopbackServer
) -> None:
    provider.clear()
    texts = [f"question {i}" for i in range(20)]
    pending = [worker.ask.delay(text) for text in texts]
    results: List[Dict[str, Any]] = [p.get(timeout=45) for p in pending]
    answers = [CompletionResponse.from_dict(r["response"]).extract_text() for r in results]
    assert answers == [f"echo: {text}" for text in texts]
    assert os.getpid() not in {r["pid"] for r in results}


# --- in-process: the hand-off to the broker, without a worker -----------------------------


@pytest.fixture
def eager_app(monkeypatch: pytest.MonkeyPatch, provider: LoopbackServer) -> Any:
    need_module("celery", "pip install 'steer-sync[celery]'")
    from celery import Celery

    from steer_sync import InMemoryAuthStorage, LocalRateLimiter, Message
    from steer_sync.contrib.celery import ProviderTask

    for name, value in provider.environ.items():
        monkeypatch.setenv(name, value)
    app = Celery("steer_sync_eager", broker="memory://", backend="cache+memory://")

    class Plain(ProviderTask):
        client_options: ClassVar[Dict[str, Any]] = {"discover_catalogs": False, "storage": InMemoryAuthStorage()}

    class Limited(Plain):
        rate_limiter = LocalRateLimiter(requests_per_minute=1)

    def body(self: ProviderTask, text: str) -> Dict[str, Any]:
        resp = self.client.complete("anthropic/claude-sonnet-4-5", [Message.user(text)])
        return {"text": resp.extract_text(), "retries": self.request.retries}

    plain = app.task(base=Plain, bind=True, max_retries=2, name="plain")(body)
    limited = app.task(base=Limited, bind=True, max_retries=2, name="limited")(body)
    return plain, limited


def test_a_long_retry_after_goes_to_the_broker_not_to_sleep(eager_app: Any, provider: LoopbackServer) -> None:
    provider.clear()
    provider.queue(ErrorReply(429, "slow down", retry_after=3600))
    # Eager mode re-runs a retried task at once: a worker that slept would hit the test timeout.
    plain, _ = eager_app
    result = plain.apply(args=("hello",)).get()
    assert result == {"text": "echo: hello", "retries": 1}


def test_a_rate_limit_turn_far_away_is_handed_to_the_broker(eager_app: Any, provider: LoopbackServer) -> None:
    provider.clear()
    _, limited = eager_app
    limited.apply(args=("first",)).get()  # takes the only turn this minute
    outcome = limited.apply(args=("second",))
    with pytest.raises(RateLimited) as caught:
        outcome.get()
    assert caught.value.retry_after is not None and caught.value.retry_after > 1
    assert len(provider.requests) == 1  # the refused turns sent nothing


# --- in-process: one client per worker process ------------------------------------------


@pytest.fixture
def app_and_base() -> Iterator[Any]:
    """A throw-away Celery app and a ProviderTask base that counts the clients it builds."""
    need_module("celery", "pip install 'steer-sync[celery]'")
    from celery import Celery

    from steer_sync import Client, InMemoryAuthStorage
    from steer_sync.contrib.celery import ProviderTask

    built: List[Client] = []

    class Counted(ProviderTask):
        def make_client(self) -> Client:
            client = Client.from_env(discover_catalogs=False, storage=InMemoryAuthStorage())
            built.append(client)
            return client

    yield Celery("steer_sync_clients", broker="memory://", backend="cache+memory://"), Counted, built
    for client in built:
        client.close()


def _task(app: Any, base: type, name: str) -> Any:
    def body(self: Any) -> None:
        return None

    return app.task(base=base, bind=True, name=name)(body)


def test_two_task_types_share_one_client_per_process(app_and_base: Any) -> None:
    from steer_sync import LocalRateLimiter

    app, counted, built = app_and_base
    first, second = _task(app, counted, "first"), _task(app, counted, "second")
    assert first.client is second.client
    assert first.client is first.client
    assert len(built) == 1

    class OwnLimiter(counted):  # type: ignore[misc, valid-type]
        rate_limiter = LocalRateLimiter(requests_per_minute=10)

    # Settings of its own make a client of its own (and only one).
    third, fourth = _task(app, OwnLimiter, "third"), _task(app, OwnLimiter, "fourth")
    assert third.client is fourth.client
    assert third.client is not first.client
    assert len(built) == 2


def test_a_new_process_builds_its_own_client(app_and_base: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from steer_sync.contrib import celery as steer_celery

    app, counted, built = app_and_base
    first, second = _task(app, counted, "first"), _task(app, counted, "second")
    parent = first.client
    real_pid = os.getpid()
    monkeypatch.setattr(steer_celery.os, "getpid", lambda: real_pid + 100_000)  # as if forked
    child = second.client
    assert child is not parent
    assert first.client is child
    assert built == [parent, child]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_never_uses_its_parents_client(app_and_base: Any) -> None:
    app, counted, built = app_and_base
    task = _task(app, counted, "first")
    parent = task.client
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any test machinery
        try:
            answer = b"fresh" if task.client is not parent and task.client is task.client else b"inherited"
        except BaseException:
            answer = b"failed"
        os.write(write, answer)
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 64) == b"fresh"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert task.client is parent  # the parent keeps its own
    assert len(built) == 1


def test_eight_threads_asking_at_once_build_one_client(app_and_base: Any) -> None:
    app, counted, built = app_and_base
    tasks = [_task(app, counted, f"task{i}") for i in range(2)]
    barrier = threading.Barrier(8)
    seen: List[Any] = []
    lock = threading.Lock()

    def ask(index: int) -> None:
        barrier.wait()
        client = tasks[index % 2].client
        with lock:
            seen.append(client)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 8
    assert len(built) == 1
    assert all(client is built[0] for client in seen)


def test_the_worker_policy_never_waits_more_than_a_second() -> None:
    need_module("celery", "pip install 'steer-sync[celery]'")
    from steer_sync.contrib.celery import MAX_WAIT_IN_WORKER, WORKER_RETRY_POLICY

    assert all(WORKER_RETRY_POLICY.delay(n) <= MAX_WAIT_IN_WORKER for n in range(10) for _ in range(50))
    assert WORKER_RETRY_POLICY.max_retry_after <= MAX_WAIT_IN_WORKER


def test_missing_programs_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y redis-server"):
        left_out("redis-server is not installed; install it with: apt-get install -y redis-server")
