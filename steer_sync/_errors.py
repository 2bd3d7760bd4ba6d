"""Every error steer_sync raises or carries, in one tree (layer L0: no I/O).

Raised exceptions::

    SteerError
    ├── ApiError                      a call failed; .provider, .status_code, .retry_after
    │   ├── NetworkError              the server could not be reached, or the body read broke
    │   ├── AuthenticationFailed      401/403: the credential was refused
    │   ├── ApiAuthError              an auth plugin could not produce headers
    │   ├── RateLimited               429: .retry_after seconds when the server said so
    │   ├── InvalidRequest            4xx: the request itself is wrong; do not retry
    │   ├── ServerError               5xx (and 409): .status_code
    │   ├── ApiTimeout                408 or the call's total deadline passed
    │   ├── Cancelled                 the CancellationToken was cancelled
    │   ├── ResponseParsingError      the provider answered something we cannot read
    │   ├── NoChoices                 the provider answered with no candidates
    │   ├── RequestBlocked            a safety system blocked the prompt or the answer
    │   ├── UnknownApiError           anything else
    │   ├── ConfigurationError        bad catalog, unknown model, missing key (also a ValueError)
    │   ├── UnsupportedFeature        the provider cannot do what was asked
    │   └── ApiStreamError            a stream failed (collect() of an ErrorChunk)
    └── AuthError                     credential storage and login flows
        ├── AuthStorageError, AuthIoError, ReauthRequired, InvalidCredential,
        └── UnsupportedMethod, InvalidState, MissingInput

Stream error *values* travel inside ``ErrorChunk`` and are never raised by iteration; they
are defined in :mod:`steer_sync._stream_errors` and re-exported here::

    StreamError
    ├── StreamCancelled               the CancellationToken was cancelled
    ├── SseParse                      .kind (SseParseErrorKind: UTF8, PARSER, TRANSPORT)
    └── ProviderStreamError           an error event; .kind (ProviderStreamErrorKind)

:meth:`CompletionStream.collect` turns them into the matching ``ApiError``.

Messages say what happened and what to do; they never contain credentials.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Tuple

from steer_sync._stream_errors import (
    ProviderStreamError,
    ProviderStreamErrorKind,
    SseParse,
    SseParseErrorKind,
    StreamCancelled,
    StreamError,
)

__all__ = [
    "ApiAuthError",
    "ApiError",
    "ApiStreamError",
    "ApiTimeout",
    "AuthError",
    "AuthIoError",
    "AuthStorageError",
    "AuthenticationFailed",
    "Cancelled",
    "ConfigurationError",
    "InvalidCredential",
    "InvalidRequest",
    "InvalidState",
    "MissingInput",
    "NetworkError",
    "NoChoices",
    "ProviderStreamError",
    "ProviderStreamErrorKind",
    "RateLimited",
    "ReauthRequired",
    "RequestBlocked",
    "ResponseParsingError",
    "ServerError",
    "SseParse",
    "SseParseErrorKind",
    "SteerError",
    "StreamCancelled",
    "StreamError",
    "UnknownApiError",
    "UnsupportedFeature",
    "UnsupportedMethod",
    "map_http_status",
]


class SteerError(Exception):
    """Root of every exception steer_sync raises."""


class ApiError(SteerError):
    """A provider call failed.

    Every attribute always exists (``None`` when unknown), so handlers can read them
    without guarding. Every subclass takes ``provider`` first, then what it knows
    (``details``, a status, ...), each also accepted as a keyword; ``args`` lists the
    constructor's arguments in that order, so ``type(e)(*e.args)`` and ``pickle`` give back an
    equal error (Celery sends errors between processes).

    :ivar provider: the provider id or name the call went to, or ``None``.
    :ivar details: the provider's own explanation, already made readable.
    :ivar status_code: the HTTP status, when the failure came with one.
    :ivar retry_after: seconds the server asked us to wait, when it said so.
    :ivar should_retry: the server's ``x-should-retry`` hint, when it sent one.
    :ivar request_id: the provider's request id, when known.
    """

    #: The name of the matching Rust ``ApiError`` variant.
    variant: ClassVar[str] = "Unknown"
    #: What the user can do about it; appended to the message when set.
    hint: ClassVar[str] = ""
    #: The constructor's parameters, in order: what ``args`` holds.
    _fields: ClassVar[Tuple[str, ...]] = (
        "provider",
        "details",
        "status_code",
        "retry_after",
        "should_retry",
        "request_id",
    )

    def __init__(
        self,
        provider: Optional[str] = None,
        details: Optional[str] = None,
        status_code: Optional[int] = None,
        retry_after: Optional[float] = None,
        should_retry: Optional[bool] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self._setup(
            details or "API error",
            provider=provider,
            details=details,
            status_code=status_code,
            retry_after=retry_after,
            should_retry=should_retry,
            request_id=request_id,
        )

    def _setup(
        self,
        message: str,
        *,
        provider: Optional[str],
        details: Optional[str] = None,
        status_code: Optional[int] = None,
        retry_after: Optional[float] = None,
        should_retry: Optional[bool] = None,
        request_id: Optional[str] = None,
    ) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.provider = provider
        self.details = details
        self.status_code = status_code
        self.retry_after = retry_after
        self.should_retry = should_retry
        self.request_id = request_id
        #: The stream failure value this error was made from (by ``collect()``), if any.
        self.stream_error: Optional[StreamError] = None

    @property
    def args(self) -> Tuple[Any, ...]:
        """The constructor's arguments (current values), so ``type(e)(*e.args)`` rebuilds it."""
        return tuple(getattr(self, name, None) for name in self._fields)

    @args.setter
    def args(self, value: Tuple[Any, ...]) -> None:
        # Exception machinery may assign args; the fields stay the source of truth.
        pass

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), self.args, self.__dict__.copy())

    def __str__(self) -> str:
        text = f"{self.message} ({self.hint})" if self.hint else self.message
        return _with_request_id(text, getattr(self, "request_id", None))

    def __repr__(self) -> str:
        # What a user looks for first: the message, then the fields that say what to do
        # (retry_after above all); unset fields are left out.
        parts = [repr(self.message), f"provider={self.provider!r}"]
        for name in ("status_code", "retry_after", "request_id"):
            value = getattr(self, name, None)
            if value is not None:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: the class and message, then provider, status, retry hint, request id."""
        rows = [("provider", self.provider), ("status", self.status_code)]
        if self.retry_after is not None:
            rows.append(("retry after", f"{self.retry_after:g} s"))
        rows.append(("request id", getattr(self, "request_id", None)))
        table = "".join(f"\n| {label} | {_markdown_cell(value)} |" for label, value in rows if value is not None)
        text = f"**{type(self).__name__}**: {_markdown_cell(str(self))}"
        return f"{text}\n\n| | |\n|---|---|{table}" if table else text


def _with_request_id(text: str, request_id: Optional[str]) -> str:
    """``text`` ending with the request id, which a report to the provider needs."""
    return f"{text} (request id: {request_id})" if request_id else text


def _markdown_cell(value: object) -> str:
    """One line of text that cannot open HTML or break a Markdown table."""
    text = " ".join(str(value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


class NetworkError(ApiError):
    """The server could not be reached, or the connection broke; safe to retry."""

    variant = "Network"
    hint = "check the network and the provider's base URL; the call can be retried"
    _fields = ("provider", "details", "request_id")

    def __init__(self, provider: Optional[str], details: str, request_id: Optional[str] = None) -> None:
        self._setup(f"Network error: {details}", provider=provider, details=details, request_id=request_id)


class AuthenticationFailed(ApiError):
    """The provider refused the credential (HTTP 401 or 403)."""

    variant = "AuthenticationFailed"
    _fields = ("provider", "details", "status_code", "request_id")

    def __init__(
        self,
        provider: Optional[str],
        details: str,
        status_code: Optional[int] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self._setup(
            f"Authentication failed: {details}",
            provider=provider,
            details=details,
            status_code=status_code,
            request_id=request_id,
        )

    def __str__(self) -> str:
        text = f"{self.message} (check the API key or login for provider {self.provider!s})"
        return _with_request_id(text, self.request_id)


class ApiAuthError(ApiError):
    """An auth plugin could not produce request headers (for example a refresh failed)."""

    variant = "AuthError"
    hint = "log in again or configure an API key"
    _fields = ("provider", "details", "request_id")

    def __init__(self, provider: Optional[str], details: str, request_id: Optional[str] = None) -> None:
        self._setup(f"Auth error: {details}", provider=provider, details=details, request_id=request_id)


class RateLimited(ApiError):
    """The provider is rate limiting us (HTTP 429); retried with backoff by the client.

    :ivar retry_after: seconds the provider asked us to wait, or ``None``.
    """

    variant = "RateLimited"
    hint = "wait and retry, or lower the request rate"
    _fields = ("provider", "details", "retry_after", "status_code", "should_retry", "request_id")

    def __init__(
        self,
        provider: Optional[str],
        details: str,
        retry_after: Optional[float] = None,
        status_code: Optional[int] = 429,
        should_retry: Optional[bool] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self._setup(
            f"Rate limited by {provider}: {details}",
            provider=provider,
            details=details,
            retry_after=retry_after,
            status_code=status_code,
            should_retry=should_retry,
            request_id=request_id,
        )


class InvalidRequest(ApiError):
    """The provider rejected the request as malformed (a 4xx status); not retryable."""

    variant = "InvalidRequest"
    hint = "fix the request: the model id, the parameters or the messages"
    _fields = ("provider", "details", "status_code", "should_retry", "request_id")

    def __init__(
        self,
        provider: Optional[str],
        details: str,
        status_code: Optional[int] = None,
        should_retry: Optional[bool] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self._setup(
            f"Invalid request to {provider}: {details}",
            provider=provider,
            details=details,
            status_code=status_code,
            should_retry=should_retry,
            request_id=request_id,
        )


class ServerError(ApiError):
    """The provider failed on its side (5xx, or 409); some statuses are retried.

    :ivar status_code: the HTTP status.
    """

    variant = "ServerError"
    hint = "the provider had a problem; retry later"
    _fields = ("provider", "status_code", "details", "retry_after", "should_retry", "request_id")

    def __init__(
        self,
        provider: Optional[str],
        status_code: int,
        details: str,
        retry_after: Optional[float] = None,
        should_retry: Optional[bool] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self._setup(
            f"{provider} server error (Status: {status_code}): {details}",
            provider=provider,
            details=details,
            status_code=status_code,
            retry_after=retry_after,
            should_retry=should_retry,
            request_id=request_id,
        )


class ApiTimeout(ApiError):
    """The request timed out (HTTP 408, or the call's total deadline passed)."""

    variant = "Timeout"
    hint = "retry, or raise the timeout for long generations"
    _fields = ("provider", "details", "status_code", "request_id")

    def __init__(
        self,
        provider: Optional[str],
        details: Optional[str] = None,
        status_code: Optional[int] = None,
        request_id: Optional[str] = None,
    ) -> None:
        message = f"Request timed out for {provider}"
        if details:
            message = f"{message}: {details}"
        self._setup(message, provider=provider, details=details, status_code=status_code, request_id=request_id)


class Cancelled(ApiError):
    """The call was cancelled through its CancellationToken."""

    variant = "Cancelled"
    _fields = ("provider",)

    def __init__(self, provider: Optional[str]) -> None:
        self._setup(f"Request cancelled for {provider}", provider=provider)


class ResponseParsingError(ApiError):
    """The provider answered with something that is not the documented format."""

    variant = "ResponseParsingError"
    hint = "the provider's response format may have changed; report it with the details"
    _fields = ("provider", "details", "request_id")

    def __init__(self, provider: Optional[str], details: str, request_id: Optional[str] = None) -> None:
        self._setup(
            f"Failed to parse response from {provider}: {details}",
            provider=provider,
            details=details,
            request_id=request_id,
        )


class NoChoices(ApiError):
    """The provider answered with no choices or candidates."""

    variant = "NoChoices"
    hint = "retry; if it persists, the prompt may be filtered"
    _fields = ("provider", "request_id")

    def __init__(self, provider: Optional[str], request_id: Optional[str] = None) -> None:
        self._setup(f"API returned no choices/candidates for {provider}", provider=provider, request_id=request_id)


class RequestBlocked(ApiError):
    """A safety system blocked the prompt or the answer; retrying will not help."""

    variant = "RequestBlocked"
    hint = "change the prompt; retrying the same request will be blocked again"
    _fields = ("provider", "details", "request_id")

    def __init__(self, provider: Optional[str], details: str, request_id: Optional[str] = None) -> None:
        self._setup(
            f"Request blocked by {provider}: {details}", provider=provider, details=details, request_id=request_id
        )


class UnknownApiError(ApiError):
    """A failure that fits no other class."""

    variant = "Unknown"
    _fields = ("provider", "details", "status_code", "request_id")

    def __init__(
        self,
        provider: Optional[str],
        details: str,
        status_code: Optional[int] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self._setup(
            f"Unknown API error from {provider}: {details}",
            provider=provider,
            details=details,
            status_code=status_code,
            request_id=request_id,
        )


class ConfigurationError(ApiError, ValueError):
    """The configuration is wrong: a catalog entry, a model name, a missing credential."""

    variant = "Configuration"
    _fields = ("provider", "details")

    def __init__(self, provider: Optional[str], details: str) -> None:
        self._setup(f"Configuration error: {details}", provider=provider, details=details)


class UnsupportedFeature(ApiError):
    """The provider cannot do what the call asked for."""

    variant = "UnsupportedFeature"
    _fields = ("provider", "feature", "details")

    def __init__(self, provider: Optional[str], feature: str, details: str) -> None:
        self._setup(f"{provider} does not support {feature}: {details}", provider=provider, details=details)
        self.feature = feature


class ApiStreamError(ApiError):
    """A stream failed after it started, or ended without its final message."""

    variant = "StreamError"
    _fields = ("provider", "details", "request_id")

    def __init__(self, provider: Optional[str], details: str, request_id: Optional[str] = None) -> None:
        self._setup(
            f"Stream error from {provider}: {details}", provider=provider, details=details, request_id=request_id
        )


# --- credential storage and login flows -----------------------------------------------


class AuthError(SteerError):
    """Credential storage or a login flow failed."""


class AuthStorageError(AuthError):
    """The credential store could not be read or written."""


class AuthIoError(AuthError):
    """An operating-system error while handling credentials."""


class ReauthRequired(AuthError):
    """The stored login is no longer valid; log in again."""


class InvalidCredential(AuthError):
    """A credential is malformed (for example an API key with spaces)."""


class UnsupportedMethod(AuthError):
    """The provider does not support this authentication method."""


class InvalidState(AuthError):
    """A login flow was driven out of order."""


class MissingInput(AuthError):
    """A login flow needs input it was not given."""


def map_http_status(
    provider: Optional[str],
    status: int,
    details: str,
    *,
    retry_after: Optional[float] = None,
    should_retry: Optional[bool] = None,
) -> ApiError:
    """Map an HTTP error status to the matching ``ApiError`` (the one shared mapping).

    :param provider: the provider id, for the message.
    :param status: the HTTP status code.
    :param details: the provider's explanation, already extracted from the body.
    :param retry_after: the server's retry delay in seconds, if it sent one.
    :param should_retry: the server's ``x-should-retry`` hint, if it sent one.
    :returns: the error to raise.
    """
    error: ApiError
    if status in (401, 403):
        error = AuthenticationFailed(provider, details, status_code=status)
    elif status == 408:
        error = ApiTimeout(provider, status_code=408)
    elif status == 429:
        error = RateLimited(provider, details, retry_after, should_retry=should_retry)
    elif status == 409:
        error = ServerError(provider, status, details, retry_after, should_retry=should_retry)
    elif 400 <= status < 500:
        error = InvalidRequest(provider, details, status_code=status, should_retry=should_retry)
    elif 500 <= status < 600:
        error = ServerError(provider, status, details, retry_after, should_retry=should_retry)
    else:
        error = UnknownApiError(provider, f"HTTP {status}: {details}", status_code=status)
    if error.retry_after is None:
        error.retry_after = retry_after
    if error.should_retry is None:
        error.should_retry = should_retry
    return error
