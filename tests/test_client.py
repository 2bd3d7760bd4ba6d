"""The Client's cache, retries, fallback and cancellation, with stub providers (core.md 10)."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import pytest

import steer_sync._factory
from steer_sync import (
    AnthropicAuth,
    ApiStreamError,
    AuthenticationFailed,
    AuthHeaderProvider,
    AuthPlugin,
    AuthPluginRegistry,
    CancellationToken,
    Cancelled,
    Client,
    CompletionResponse,
    CompletionStream,
    ConfigurationError,
    ErrorChunk,
    InMemoryAuthStorage,
    InvalidRequest,
    LlmConfigProvider,
    Message,
    MessageComplete,
    ModelId,
    ModelParameters,
    ModelRegistry,
    NetworkError,
    Provider,
    ProviderRegistry,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    Reset,
    RetryPolicy,
    ServerError,
    SseParse,
    SseParseErrorKind,
    StreamCancelled,
    StreamChunk,
    SystemContext,
    TextContent,
    TextDelta,
    ToolSchema,
)
from steer_sync._auth._directive import HeaderPair

FAST = RetryPolicy(base_delay=0, jitter=0)
OK = CompletionResponse([TextContent("ok")])
HI = [Message.user("hi")]
SONNET = ModelId("anthropic", "claude-sonnet-4-5")


def ok_stream() -> CompletionStream:
    return CompletionStream([TextDelta("o"), TextDelta("k"), MessageComplete(OK)])


class StubProvider(Provider):
    """A provider scripted with a list of outcomes for successive stream starts.

    Each outcome is an exception to raise, a list of chunks to stream, or a callable
    returning either.
    """

    def __init__(self, *outcomes: Any, name: str = "stub") -> None:
        self._outcomes = list(outcomes)
        self._name = name
        self.calls = 0
        self.requests: List[Dict[str, Any]] = []
        self.closed = 0

    @property
    def name(self) -> str:
        return self._name

    def _next(self, token: CancellationToken) -> Any:
        self.calls += 1
        outcome = self._outcomes.pop(0) if len(self._outcomes) > 1 else self._outcomes[0]
        if callable(outcome):
            outcome = outcome(token)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def complete(
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: CancellationToken,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionResponse:
        self.requests.append({"model": model_id, "params": call_options, "headers": extra_headers, "system": system})
        outcome = self._next(token)
        if isinstance(outcome, CompletionResponse):
            return outcome
        return CompletionStream(outcome).collect(self.name)

    def stream_complete(
        self,
        model_id: ModelId,
        messages: Sequence[Message],
        system: Optional[SystemContext],
        tools: Optional[Sequence[ToolSchema]],
        call_options: Optional[ModelParameters],
        token: CancellationToken,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> CompletionStream:
        self.requests.append({"model": model_id, "params": call_options, "headers": extra_headers, "system": system})
        outcome = self._next(token)
        if isinstance(outcome, CompletionResponse):
            return CompletionStream.single(MessageComplete(outcome))
        return CompletionStream(outcome)

    def close(self) -> None:
        self.closed += 1


class CompleteOnlyProvider(StubProvider):
    """Implements only complete(): the base class's stream_complete wraps it (the Rust StubProvider)."""

    stream_complete = Provider.stream_complete  # type: ignore[assignment]


def make_client(
    env: Optional[Dict[str, str]] = None,
    plugins: Sequence[AuthPlugin] = (),
    policy: RetryPolicy = FAST,
    config_provider: Optional[LlmConfigProvider] = None,
) -> Client:
    registry = AuthPluginRegistry()
    for plugin in plugins:
        registry.register(plugin)
    providers = ProviderRegistry.load(discover=False)
    config = config_provider or LlmConfigProvider(
        InMemoryAuthStorage(), plugin_registry=registry, env=(env or {}).get, provider_registry=providers
    )
    return Client(config, providers, ModelRegistry.load(discover=False), retry_policy=policy)


def stub_client(provider: Provider, provider_id: str = "anthropic", **kwargs: Any) -> Client:
    client = make_client(**kwargs)
    client.insert_test_provider(provider_id, provider)
    return client


# --- core.md 10.1 / 10.2 ----------------------------------------------------------------


def test_invalidates_cached_provider_on_auth_failure() -> None:
    provider = CompleteOnlyProvider(AuthenticationFailed("anthropic", "bad key"))
    client = stub_client(provider)
    with pytest.raises(AuthenticationFailed):
        client.complete(SONNET, HI)
    assert provider.calls == 1
    assert "anthropic" not in client._providers


def test_invalidates_cached_provider_on_unauthorized_status_code() -> None:
    provider = CompleteOnlyProvider(ServerError("anthropic", 401, "unauthorized"))
    client = stub_client(provider)
    with pytest.raises(ServerError) as info:
        client.complete(SONNET, HI)
    assert info.value.status_code == 401 and provider.calls == 1
    assert "anthropic" not in client._providers


def test_retries_network_errors_for_complete() -> None:
    provider = StubProvider(NetworkError(None, "reset"), NetworkError(None, "reset"), [MessageComplete(OK)])
    assert stub_client(provider).complete(SONNET, HI).extract_text() == "ok"
    assert provider.calls == 3


def test_complete_errors_when_stream_ends_without_message_complete() -> None:
    client = make_client()
    client.insert_test_provider("stream-without-completion", StubProvider([TextDelta("partial")]))
    with pytest.raises(ApiStreamError) as info:
        client.complete(ModelId("stream-without-completion", "m"), HI)
    assert info.value.provider == "stream-without-completion"
    assert info.value.details == "Stream ended without completion response"


def test_complete_maps_stream_cancelled_to_cancelled_api_error() -> None:
    client = make_client()
    client.insert_test_provider("stream-cancelled", StubProvider([ErrorChunk(StreamCancelled())]))
    with pytest.raises(Cancelled) as info:
        client.complete(ModelId("stream-cancelled", "m"), HI)
    assert info.value.provider == "stream-cancelled"


def test_complete_maps_stream_provider_error_to_stream_api_error() -> None:
    failure = ProviderStreamError("stub", ProviderStreamErrorKind.STREAM_ERROR, None, "upstream failed")
    provider = StubProvider([ErrorChunk(failure)])
    with pytest.raises(ApiStreamError, match="upstream failed"):
        stub_client(provider).complete(SONNET, HI)
    assert provider.calls == 5  # retryable kind: every attempt of the policy is used


def test_does_not_retry_non_retryable_complete_error() -> None:
    provider = StubProvider(InvalidRequest("anthropic", "bad"))
    with pytest.raises(InvalidRequest):
        stub_client(provider).complete(SONNET, HI)
    assert provider.calls == 1


def test_retries_network_errors_when_starting_stream() -> None:
    provider = StubProvider(NetworkError(None, "a"), NetworkError(None, "b"), [MessageComplete(OK)])
    with stub_client(provider).stream_complete(SONNET, HI) as stream:
        assert list(stream) == [MessageComplete(OK)]
    assert provider.calls == 3


# --- core.md 10.4 -----------------------------------------------------------------------

TRANSPORT = ErrorChunk(SseParse(SseParseErrorKind.TRANSPORT, "connection reset"))


def test_transport_failure_before_output_is_retried_invisibly() -> None:
    provider = StubProvider([TRANSPORT], [TextDelta("o"), TextDelta("k"), MessageComplete(OK)])
    chunks = list(stub_client(provider).stream_complete(SONNET, HI))
    assert chunks == [TextDelta("o"), TextDelta("k"), MessageComplete(OK)]
    assert provider.calls == 2


def test_transport_failure_after_output_is_passed_on_by_default() -> None:
    provider = StubProvider([TextDelta("o"), TRANSPORT], [MessageComplete(OK)])
    chunks = list(stub_client(provider).stream_complete(SONNET, HI))
    assert chunks == [TextDelta("o"), TRANSPORT]
    assert provider.calls == 1


def test_retry_after_output_emits_reset_then_the_full_answer() -> None:
    provider = StubProvider([TextDelta("o"), TRANSPORT], [TextDelta("o"), TextDelta("k"), MessageComplete(OK)])
    chunks = list(stub_client(provider).stream_complete(SONNET, HI, retry_after_output=True))
    assert chunks == [TextDelta("o"), Reset(), TextDelta("o"), TextDelta("k"), MessageComplete(OK)]


def test_complete_retries_after_output() -> None:
    provider = StubProvider([TextDelta("o"), TRANSPORT], [MessageComplete(OK)])
    assert stub_client(provider).complete(SONNET, HI) == OK
    assert provider.calls == 2


def test_stream_restarts_are_capped_by_the_policy() -> None:
    provider = StubProvider([TRANSPORT])
    chunks = list(stub_client(provider, policy=replace(FAST, max_attempts=3)).stream_complete(SONNET, HI))
    assert chunks == [TRANSPORT]
    assert provider.calls == 3


def test_non_retryable_stream_errors_are_passed_through_once() -> None:
    kind = ProviderStreamErrorKind.from_provider_error_type("invalid_request_error")
    failure = ErrorChunk(ProviderStreamError("stub", kind, "invalid_request_error", "bad"))
    provider = StubProvider([failure])
    assert list(stub_client(provider).stream_complete(SONNET, HI)) == [failure]
    assert provider.calls == 1


def test_a_failed_restart_ends_the_stream_with_a_stream_retry_error() -> None:
    provider = StubProvider([TRANSPORT], InvalidRequest("anthropic", "gone"))
    chunks = list(stub_client(provider).stream_complete(SONNET, HI))
    assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
    error = chunks[0].error
    assert isinstance(error, ProviderStreamError) and error.kind == ProviderStreamErrorKind.STREAM_RETRY
    assert "gone" in error.message


class RecordingPolicy(RetryPolicy):
    """A policy that records the delays it is asked for and returns none."""

    def delay(self, retry_index: int, retry_after: Optional[float] = None, rng: Any = None) -> float:
        DELAYS.append((retry_index, retry_after))
        return 0.0


DELAYS: List[Any] = []


def test_start_retry_backoff_asks_the_policy_with_the_server_hint() -> None:
    DELAYS.clear()
    provider = StubProvider(
        RateLimited("anthropic", "slow", retry_after=2.5), NetworkError(None, "x"), [MessageComplete(OK)]
    )
    stub_client(provider, policy=RecordingPolicy()).complete(SONNET, HI)
    assert DELAYS == [(0, 2.5), (1, None)]


def test_a_retry_after_longer_than_the_cap_is_raised_not_waited() -> None:
    provider = StubProvider(RateLimited("anthropic", "slow", retry_after=3600))
    with pytest.raises(RateLimited) as info:
        stub_client(provider).complete(SONNET, HI)
    assert info.value.retry_after == 3600 and provider.calls == 1


def test_cancel_during_backoff_returns_promptly() -> None:
    first_attempt = threading.Event()

    def fail(token: CancellationToken) -> Exception:
        first_attempt.set()
        return NetworkError(None, "down")

    provider = StubProvider(fail)
    client = stub_client(provider, policy=RetryPolicy(base_delay=3600, jitter=0))
    token = CancellationToken()
    outcome: List[BaseException] = []

    def call() -> None:
        try:
            client.complete(SONNET, HI, token=token)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    assert first_attempt.wait(10)
    token.cancel()
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert provider.calls == 1


def test_a_cancel_reported_as_a_transport_error_is_not_retried() -> None:
    blocked = threading.Event()

    def blocked_read(token: CancellationToken) -> Iterator[StreamChunk]:
        def chunks() -> Iterator[StreamChunk]:
            yield TextDelta("partial")
            blocked.set()
            token.wait()
            # What a naive transport reports when its socket is shut down under it.
            yield TRANSPORT

        return chunks()

    provider = StubProvider(blocked_read)
    client = stub_client(provider)
    token = CancellationToken()
    stream = client.stream_complete(SONNET, HI, token=token, retry_after_output=True)
    assert next(stream) == TextDelta("partial")
    canceller = threading.Thread(target=lambda: (blocked.wait(10), token.cancel()))
    canceller.start()
    rest = list(stream)
    canceller.join(10)
    assert rest == [ErrorChunk(StreamCancelled())]
    assert provider.calls == 1


def test_cancelled_token_before_the_call_raises_cancelled_without_sending() -> None:
    provider = StubProvider([MessageComplete(OK)])
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        stub_client(provider).complete(SONNET, HI, token=token)
    assert provider.calls == 0


def test_closing_a_stream_does_not_cancel_the_callers_token_and_leaves_no_callback() -> None:
    provider = StubProvider([TextDelta("a"), TextDelta("b"), MessageComplete(OK)])
    client = stub_client(provider)
    token = CancellationToken()
    for _ in range(20):
        stream = client.stream_complete(SONNET, HI, token=token)
        next(stream)
        stream.close()
    client.complete(SONNET, HI, token=token)
    assert not token.is_cancelled()
    assert len(token._callbacks) == 0


# --- credentials, fallback and the cache ------------------------------------------------


class StaticHeaders(AuthHeaderProvider):
    def headers(self, context: Any) -> List[HeaderPair]:
        return [HeaderPair("authorization", "Bearer plugin-token")]


class StubPlugin(AuthPlugin):
    def __init__(self, provider_id: str = "anthropic") -> None:
        self._provider_id = provider_id

    @property
    def provider_id(self) -> str:
        return self._provider_id

    def supported_methods(self) -> List[Any]:
        return []

    def resolve_auth(self, storage: Any) -> Any:
        return AnthropicAuth(StaticHeaders())

    def is_authenticated(self, storage: Any) -> bool:
        return True


class Built(List[Dict[str, Any]]):
    """What the fake factory built, in order; ``scripts`` says what to build per credential kind."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: Dict[str, Callable[[], StubProvider]] = {}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Built:
    """Replace the factory: record what each built provider was given, and script it."""
    records = Built()
    scripts = records.scripts

    def fake_create_provider(
        config: Any, *, api_key: Optional[str], directive: Any = None, base_url: Optional[str] = None, **options: Any
    ) -> Provider:
        kind = "plugin" if directive is not None else "key"
        provider = scripts[kind]()
        records.append({"kind": kind, "api_key": api_key, "base_url": base_url, "provider": provider})
        return provider

    monkeypatch.setattr(steer_sync._factory, "create_provider", fake_create_provider)
    return records


def test_plugin_auth_failure_falls_back_to_the_api_key_and_caches_it(built: Any) -> None:
    built.scripts["plugin"] = lambda: StubProvider(AuthenticationFailed("anthropic", "expired"))
    built.scripts["key"] = lambda: StubProvider([MessageComplete(OK)])
    client = make_client(env={"ANTHROPIC_API_KEY": "sk-ant-env"}, plugins=[StubPlugin()])
    assert client.complete(SONNET, HI) == OK
    assert [r["kind"] for r in built] == ["plugin", "key"]
    assert built[1]["api_key"] == "sk-ant-env"
    assert client._providers["anthropic"].provider is built[1]["provider"]
    assert client.complete(SONNET, HI) == OK
    assert len(built) == 2  # the cached fallback serves the next call


def test_fallback_failure_raises_the_fallback_error_chained_to_the_original(built: Any) -> None:
    built.scripts["plugin"] = lambda: StubProvider(AuthenticationFailed("anthropic", "expired"))
    built.scripts["key"] = lambda: StubProvider(InvalidRequest("anthropic", "bad model"))
    client = make_client(env={"ANTHROPIC_API_KEY": "sk-ant-env"}, plugins=[StubPlugin()])
    with pytest.raises(InvalidRequest) as info:
        client.complete(SONNET, HI)
    assert isinstance(info.value.__cause__, AuthenticationFailed)
    assert "anthropic" not in client._providers


def test_plugin_failure_without_an_api_key_raises_the_original(built: Any) -> None:
    built.scripts["plugin"] = lambda: StubProvider(AuthenticationFailed("anthropic", "expired"))
    client = make_client(plugins=[StubPlugin()])
    with pytest.raises(AuthenticationFailed):
        client.complete(SONNET, HI)
    assert [r["kind"] for r in built] == ["plugin"]


def test_an_api_key_failure_only_evicts(built: Any) -> None:
    built.scripts["key"] = lambda: StubProvider(AuthenticationFailed("anthropic", "bad key"))
    client = make_client(env={"ANTHROPIC_API_KEY": "sk-ant-bad"})
    with pytest.raises(AuthenticationFailed):
        client.complete(SONNET, HI)
    assert len(built) == 1 and "anthropic" not in client._providers
    with pytest.raises(AuthenticationFailed):
        client.complete(SONNET, HI)
    assert len(built) == 2  # evicted, so the next call re-reads the credential


def test_complete_with_retry_falls_back_too(built: Any) -> None:
    built.scripts["plugin"] = lambda: StubProvider(AuthenticationFailed("anthropic", "expired"))
    built.scripts["key"] = lambda: StubProvider(OK)
    client = make_client(env={"ANTHROPIC_API_KEY": "sk-ant-env"}, plugins=[StubPlugin()])
    assert client.complete_with_retry(SONNET, HI) == OK


def test_racing_first_calls_create_exactly_one_cached_provider(built: Any) -> None:
    built.scripts["key"] = lambda: StubProvider([MessageComplete(OK)])
    barrier = threading.Barrier(8)
    base = make_client(env={"ANTHROPIC_API_KEY": "sk-ant"}).config_provider

    class RacingConfig:
        """Makes every thread resolve its credential at the same moment."""

        def __getattr__(self, name: str) -> Any:
            return getattr(base, name)

        def resolve_auth_for_provider(self, provider_id: Any) -> Any:
            barrier.wait(10)
            return base.resolve_auth_for_provider(provider_id)

    client = make_client(config_provider=RacingConfig())  # type: ignore[arg-type]
    errors: List[BaseException] = []

    def call() -> None:
        try:
            client.complete(SONNET, HI)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(client._providers) == 1
    cached = client._providers["anthropic"].provider
    assert sum(r["provider"] is cached for r in built) == 1


def test_eviction_leaves_a_fresher_entry_alone() -> None:
    failing = StubProvider(AuthenticationFailed("anthropic", "bad"))
    client = stub_client(failing)
    stale = client._providers["anthropic"]
    fresh = StubProvider([MessageComplete(OK)])
    client.insert_test_provider("anthropic", fresh)
    client._invalidate_if_same(stale.provider and "anthropic", stale)  # type: ignore[arg-type]
    assert client._providers["anthropic"].provider is fresh


def test_missing_key_names_the_variable_to_set() -> None:
    client = make_client()
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        client.complete("anthropic/claude-sonnet-4-5", HI)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        client.complete("openai/gpt-5.4", HI)


def test_unknown_provider_and_alias_name_the_known_ones() -> None:
    client = make_client()
    with pytest.raises(ConfigurationError, match="anthropic"):
        client.complete("nosuch/model", HI)
    with pytest.raises(ConfigurationError, match="sonnet"):
        client.complete("sonet", HI)


def test_models_resolve_through_the_catalog_and_bring_their_parameters() -> None:
    provider = StubProvider([MessageComplete(OK)])
    client = stub_client(provider)
    client.complete("sonnet", HI, call_options=ModelParameters(temperature=0.2))
    request = provider.requests[-1]
    assert request["model"] == SONNET
    assert request["params"].temperature == 0.2
    assert request["params"].max_output_tokens == 32000  # from the catalog
    client.complete("anthropic/claude-released-yesterday", HI, call_options=ModelParameters(max_output_tokens=5))
    assert provider.requests[-1]["model"] == ModelId("anthropic", "claude-released-yesterday")
    assert provider.requests[-1]["params"] == ModelParameters(max_output_tokens=5)
    assert client.model_context_window_tokens("sonnet") == 200000
    assert client.model_max_output_tokens(SONNET) == 32000


def test_extra_headers_and_system_strings_reach_the_provider() -> None:
    provider = StubProvider([MessageComplete(OK)])
    stub_client(provider).complete(SONNET, HI, system="Be terse", extra_headers={"x-trace": "1"})
    assert provider.requests[-1]["headers"] == {"x-trace": "1"}
    assert provider.requests[-1]["system"] == SystemContext("Be terse")


@pytest.mark.parametrize(
    ("messages", "error"),
    [("hi", TypeError), ([], ValueError), (["hi"], TypeError), (Message.user("x"), TypeError)],
)
def test_bad_messages_are_rejected_with_a_clear_error(messages: Any, error: type) -> None:
    with pytest.raises(error, match=r"[Mm]essage"):
        stub_client(StubProvider(OK)).complete(SONNET, messages)


def test_close_closes_cached_providers_and_the_client_stays_usable() -> None:
    provider = StubProvider([MessageComplete(OK)])
    with stub_client(provider) as client:
        pass
    assert provider.closed == 1 and client._providers == {}


def test_a_forked_child_starts_with_an_empty_cache() -> None:
    client = stub_client(StubProvider([MessageComplete(OK)]))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        os.write(write_end, str(len(client._providers)).encode())
        os._exit(0)
    os.close(write_end)
    seen = os.read(read_end, 16).decode()
    os.waitpid(pid, 0)
    assert seen == "0"
    assert len(client._providers) == 1  # the parent keeps its providers
