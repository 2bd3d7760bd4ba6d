"""The error tree: messages, attributes, status mapping, stream error values."""

from __future__ import annotations

import pickle
from typing import Dict, List

import pytest

import steer_sync
from steer_sync import (
    ApiAuthError,
    ApiError,
    ApiStreamError,
    ApiTimeout,
    AuthenticationFailed,
    AuthError,
    Cancelled,
    ConfigurationError,
    InvalidRequest,
    NetworkError,
    NoChoices,
    ProviderStreamError,
    ProviderStreamErrorKind,
    RateLimited,
    RequestBlocked,
    ResponseParsingError,
    ServerError,
    SseParse,
    SseParseErrorKind,
    SteerError,
    StreamCancelled,
    UnknownApiError,
    UnsupportedFeature,
)
from steer_sync import _errors as errors_module
from steer_sync._errors import map_http_status

API_ERROR_NAMES = [
    "NetworkError",
    "AuthenticationFailed",
    "ApiAuthError",
    "RateLimited",
    "InvalidRequest",
    "ServerError",
    "ApiTimeout",
    "Cancelled",
    "ResponseParsingError",
    "NoChoices",
    "RequestBlocked",
    "UnknownApiError",
    "ConfigurationError",
    "UnsupportedFeature",
    "ApiStreamError",
]


@pytest.mark.parametrize("name", API_ERROR_NAMES)
def test_every_api_error_is_an_api_error_and_a_steer_error(name: str) -> None:
    cls = getattr(steer_sync, name)
    assert issubclass(cls, ApiError) and issubclass(cls, SteerError)
    assert not issubclass(AuthError, ApiError) and issubclass(AuthError, SteerError)


@pytest.mark.parametrize(
    ("error", "template"),
    [
        (NetworkError("openai", "connection refused"), "Network error: connection refused"),
        (AuthenticationFailed("anthropic", "invalid x-api-key"), "Authentication failed: invalid x-api-key"),
        (ApiAuthError(None, "refresh failed"), "Auth error: refresh failed"),
        (RateLimited("openai", "slow down", 2.0), "Rate limited by openai: slow down"),
        (InvalidRequest("openai", "bad model"), "Invalid request to openai: bad model"),
        (ServerError("xai", 503, "unavailable"), "xai server error (Status: 503): unavailable"),
        (ApiTimeout("google"), "Request timed out for google"),
        (Cancelled("anthropic"), "Request cancelled for anthropic"),
        (ResponseParsingError("openai", "bad json"), "Failed to parse response from openai: bad json"),
        (NoChoices("google"), "API returned no choices/candidates for google"),
        (RequestBlocked("google", "SAFETY"), "Request blocked by google: SAFETY"),
        (UnknownApiError("x", "weird"), "Unknown API error from x: weird"),
        (ConfigurationError(None, "no key"), "Configuration error: no key"),
        (UnsupportedFeature("xai", "images", "not yet"), "xai does not support images: not yet"),
        (ApiStreamError("openai", "ended"), "Stream error from openai: ended"),
    ],
)
def test_messages_follow_the_rust_templates(error: ApiError, template: str) -> None:
    assert error.message == template
    assert str(error).startswith(template)


def test_attributes_always_exist() -> None:
    for error in (NetworkError(None, "x"), Cancelled("p"), ConfigurationError(None, "c")):
        assert error.status_code is None and error.retry_after is None and error.should_retry is None
    assert RateLimited("p", "d", 1.5).retry_after == 1.5
    assert ServerError("p", 502, "d").status_code == 502
    assert isinstance(ConfigurationError(None, "x"), ValueError)


def test_messages_tell_the_user_what_to_do() -> None:
    assert "retry" in str(RateLimited("openai", "slow down"))
    assert "API key" in str(AuthenticationFailed("openai", "bad key"))
    assert "fix the request" in str(InvalidRequest("openai", "bad"))


def test_errors_survive_pickling_with_their_attributes() -> None:
    original = RateLimited("openai", "slow", 3.0)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is RateLimited and copy.retry_after == 3.0 and str(copy) == str(original)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (408, ApiTimeout),
        (409, ServerError),
        (429, RateLimited),
        (400, InvalidRequest),
        (404, InvalidRequest),
        (413, InvalidRequest),
        (500, ServerError),
        (503, ServerError),
        (529, ServerError),
        (302, UnknownApiError),
    ],
)
def test_status_mapping(status: int, cls: type) -> None:
    error = map_http_status("p", status, "details", retry_after=1.0, should_retry=True)
    assert type(error) is cls
    assert error.status_code == status
    assert error.retry_after == 1.0 and error.should_retry is True


def test_provider_stream_error_kinds() -> None:
    kind = ProviderStreamErrorKind.from_provider_error_type
    for raw in (
        "stream_error",
        "error",
        "stream_retry",
        "rate_limit_exceeded",
        "rate_limit_error",
        "response_failed",
        "overloaded_error",
        "service_unavailable_error",
        "timeout_error",
    ):
        assert kind(raw).is_retryable(), raw
    assert kind("rate_limit_error") == ProviderStreamErrorKind.RATE_LIMIT_EXCEEDED
    assert str(kind("error")) == "stream_error"
    unknown = kind("invalid_request_error")
    assert not unknown.is_retryable() and str(unknown) == "invalid_request_error"
    assert kind(None) == ProviderStreamErrorKind.STREAM_ERROR


def test_stream_error_values_display() -> None:
    assert str(StreamCancelled()) == "Request cancelled"
    assert str(SseParse(SseParseErrorKind.TRANSPORT, "reset")) == "SSE parse error: Transport error: reset"
    error = ProviderStreamError("anthropic", ProviderStreamErrorKind.OVERLOADED, None, "Overloaded")
    assert str(error) == "anthropic error (overloaded_error): Overloaded"
    assert error.error_type == "overloaded_error"
    assert ProviderStreamError("x", ProviderStreamErrorKind.OVERLOADED, "raw", "m").error_type == "raw"


# --- rebuilding from args and from a pickle (Celery moves errors between processes) -----------


def _every_error_instance() -> List[BaseException]:
    samples: Dict[str, BaseException] = {
        "ApiError": errors_module.ApiError("p", "details", 500, 1.5, True, "req_1"),
        "NetworkError": errors_module.NetworkError("p", "connection reset", "req_2"),
        "AuthenticationFailed": errors_module.AuthenticationFailed("p", "bad key", 401, "req_3"),
        "ApiAuthError": errors_module.ApiAuthError("p", "refresh failed"),
        "RateLimited": errors_module.RateLimited("p", "slow down", 2.5, 429, False, "req_4"),
        "InvalidRequest": errors_module.InvalidRequest("p", "bad model", 404, False, "req_5"),
        "ServerError": errors_module.ServerError("p", 503, "overloaded", 4.0, True, "req_6"),
        "ApiTimeout": errors_module.ApiTimeout("p", "deadline", 408, "req_7"),
        "Cancelled": errors_module.Cancelled("p"),
        "ResponseParsingError": errors_module.ResponseParsingError("p", "not JSON", "req_8"),
        "NoChoices": errors_module.NoChoices("p", "req_9"),
        "RequestBlocked": errors_module.RequestBlocked("p", "SAFETY", "req_10"),
        "UnknownApiError": errors_module.UnknownApiError("p", "HTTP 999", 999, "req_11"),
        "ConfigurationError": errors_module.ConfigurationError("p", "no key"),
        "UnsupportedFeature": errors_module.UnsupportedFeature("p", "images", "not here"),
        "ApiStreamError": errors_module.ApiStreamError("p", "cut short", "req_12"),
        # Not an ApiError: it carries the answer text, what did not fit and where.
        "StructuredOutputError": steer_sync.StructuredOutputError('{"a": "x"}', "expected int, got str", "a"),
    }
    found = []
    for name in steer_sync.__all__:
        value = getattr(steer_sync, name)
        if isinstance(value, type) and issubclass(value, errors_module.SteerError):
            # AuthError and its subclasses take one message, like Exception.
            found.append(samples.get(name) or value(f"{name} happened"))
    assert len(found) >= len(samples)
    return found


def _same(a: BaseException, b: BaseException) -> None:
    assert type(a) is type(b)
    assert str(a) == str(b) and a.args == b.args
    for attribute in ("provider", "details", "status_code", "retry_after", "should_retry", "request_id", "feature"):
        assert getattr(a, attribute, None) == getattr(b, attribute, None), attribute


def test_every_exported_error_rebuilds_from_its_args() -> None:
    for error in _every_error_instance():
        _same(error, type(error)(*error.args))


def test_every_exported_error_survives_pickle() -> None:
    for error in _every_error_instance():
        _same(error, pickle.loads(pickle.dumps(error)))


def test_a_request_id_set_after_construction_travels_with_args_and_pickle() -> None:
    error = errors_module.map_http_status("openai", 429, "slow", retry_after=3.0)
    error.request_id = "req_late"
    for copy in (type(error)(*error.args), pickle.loads(pickle.dumps(error))):
        assert isinstance(copy, errors_module.RateLimited)
        assert (copy.request_id, copy.retry_after, copy.status_code) == ("req_late", 3.0, 429)


def test_the_408_timeout_keeps_its_status_when_rebuilt() -> None:
    error = errors_module.map_http_status("anthropic", 408, "slow")
    assert type(error)(*error.args).status_code == 408


def test_every_error_takes_the_provider_first() -> None:
    assert errors_module.NetworkError("openai", "reset").provider == "openai"
    assert errors_module.ConfigurationError("my-gw", "bad URL").provider == "my-gw"
    assert errors_module.ApiAuthError("anthropic", "refresh failed").provider == "anthropic"
    assert str(errors_module.ConfigurationError(None, "no key")) == "Configuration error: no key"
