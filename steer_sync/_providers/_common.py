"""Helpers every provider shares: header merging, compact JSON, the auth-directive send (layer L2).

Nothing here knows a provider or a wire format. :func:`send_with_directive` implements the
directive contract of core.md 6.6 once, so no provider repeats it: fresh headers from the
directive's header provider on every attempt, and one re-send after a 401/403 when the header
provider asks for it.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union
from urllib.parse import urlsplit, urlunsplit

from steer_sync._auth._directive import (
    AuthErrorAction,
    AuthErrorContext,
    AuthHeaderContext,
    AuthHeaderProvider,
    RequestKind,
)
from steer_sync._cancellation import CancellationToken
from steer_sync._errors import (
    ApiAuthError,
    ApiError,
    AuthenticationFailed,
    ConfigurationError,
    InvalidRequest,
    UnsupportedFeature,
)
from steer_sync._providers._checks import check_api_key, check_headers
from steer_sync._transport import CallOptions, HttpResponse, Transport, json_dumps
from steer_sync._transport._redact import REDACTED, Redactor

__all__ = [
    "SNIPPET_CHARS",
    "body_snippet",
    "check_api_key",
    "check_headers",
    "json_dumps",
    "merge_headers",
    "normalize_endpoint_url",
    "plugin_failure",
    "split_image_data_url",
    "send_with_auth_retry",
    "send_with_directive",
]

T = TypeVar("T")


@functools.cache
def _version_segment() -> re.Pattern[str]:
    """A path segment naming an API version (``v1``, ``v1beta``), compiled on first need.

    The default bases (``https://api.anthropic.com``) have no segment starting with ``v``,
    so a plain first call never pays the compile (about 0.35 ms).
    """
    return re.compile(r"v\d+[a-z0-9]*", re.IGNORECASE)


def split_image_data_url(data_url: str, provider: str, api: str) -> Tuple[str, str]:
    """Split a ``data:image/...;base64,...`` URL into its media type and base64 payload.

    For APIs that take inline images as a media type plus base64 data (Anthropic, Gemini).

    :param data_url: the image's data URL.
    :param provider: the provider id, for errors.
    :param api: the API's name, for the non-base64 error message.
    :returns: ``(media_type, base64_data)``.
    :raises InvalidRequest: for a malformed or non-base64 data URL.
    :raises UnsupportedFeature: for a media type that is not an image.
    """
    meta, sep, payload = data_url.partition(",")
    if not sep:
        raise InvalidRequest(provider, "Image data URL is missing ',' separator")
    if not meta.startswith("data:"):
        raise InvalidRequest(provider, "Image data URL must start with 'data:'")
    segments = meta[len("data:") :].split(";")
    if not any(segment.lower() == "base64" for segment in segments):
        raise InvalidRequest(provider, f"{api} image data URLs must be base64 encoded")
    media_type = segments[0] if segments[0].strip() else "application/octet-stream"
    if not media_type.startswith("image/"):
        raise UnsupportedFeature(provider, "image input mime type", f"Unsupported image media type '{media_type}'")
    return media_type, payload


def normalize_endpoint_url(
    base_url: Optional[str], default: str, endpoint: str, *, replace: Sequence[str] = (), provider: Optional[str] = None
) -> str:
    """Turn a configured base URL into an OpenAI-style endpoint URL (spec 2.1, improved per Q26).

    The rule reads the URL *path* only, so a query string (``?api-version=...``) survives:

    * a path ending in ``endpoint`` is the endpoint already and is kept;
    * a path ending in one of ``replace`` (an endpoint copied from another API) loses it first;
    * a path with a version segment anywhere (``/v1``, ``/api/v1``, ``/v1beta/openai``) gets
      ``endpoint``; any other path, the empty one included, gets ``/v1`` + ``endpoint``.

    A trailing ``/`` is ignored. Give the full endpoint URL for a server that fits none of these.

    :param base_url: the configured base URL, or ``None``/blank for ``default``.
    :param default: the provider's default endpoint URL.
    :param endpoint: the endpoint path, e.g. ``/chat/completions``.
    :param replace: other endpoint paths to strip before appending ``endpoint``.
    :param provider: the provider id, for the error.
    :returns: the endpoint URL.
    :raises ConfigurationError: if the URL is not an absolute ``http``/``https`` URL.
    """
    text = (base_url or "").strip() or default
    try:
        parts = urlsplit(text)
        _ = parts.port  # reading it validates it: a non-numeric port raises ValueError
    except ValueError as exc:
        raise ConfigurationError(provider, f"base URL {text!r} is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(provider, f"base URL {text!r} must be an absolute http(s) URL such as https://host/v1")
    path = parts.path.rstrip("/")
    for other in replace:
        if path.endswith(other):
            path = path[: -len(other)]
            break
    if not path.endswith(endpoint):
        # Only "v" and "V" fold to "v" under IGNORECASE, so other segments cannot match.
        versioned = any(
            segment[:1] in ("v", "V") and _version_segment().fullmatch(segment) for segment in path.split("/")
        )
        path += endpoint if versioned else "/v1" + endpoint
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


#: How much of a refused request's body the header provider is shown (core.md 6.6).
SNIPPET_CHARS = 512


def merge_headers(*layers: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """Merge header mappings; a later layer overrides an earlier one, case-insensitively.

    Pass the provider's own headers first, then the catalog's static headers, then the
    caller's ``extra_headers``. The name is spelled as the last layer that set it.

    :param layers: header mappings, in increasing priority; ``None`` entries are skipped.
    :returns: a new ``dict`` with one entry per header name.
    """
    merged: Dict[str, Tuple[str, str]] = {}
    for layer in layers:
        if not layer:
            continue
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def body_snippet(body: Union[bytes, str], limit: int = SNIPPET_CHARS) -> str:
    """The start of a response body as text: ``limit`` characters, plus ``"..."`` if cut.

    :param body: the body, bytes (decoded as UTF-8, bad bytes replaced) or text.
    :param limit: the most characters to keep.
    :returns: the snippet.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    return text[:limit] + "..." if len(text) > limit else text


def send_with_directive(
    transport: Transport,
    url: str,
    body: Mapping[str, Any],
    *,
    base_headers: Mapping[str, str],
    directive_headers: Optional[AuthHeaderProvider],
    request_kind: RequestKind,
    model_id: Optional[str],
    token: CancellationToken,
    params: Optional[Mapping[str, str]] = None,
    stream: bool = False,
    describe_error: Optional[Callable[[int, bytes], Optional[str]]] = None,
    extra_headers: Optional[Mapping[str, str]] = None,
    call: Optional[CallOptions] = None,
) -> HttpResponse:
    """Send a request whose auth headers come from a directive's header provider (core.md 6.6).

    Each attempt asks ``directive_headers`` for fresh headers (a failure becomes
    ``ApiAuthError``). Headers are layered ``base_headers``, then the directive's, then
    ``extra_headers`` (case-insensitive; later wins). On a 401/403 the header provider's
    ``on_auth_error`` is told the status and the start of the body; if it answers
    ``RETRY_ONCE`` on the first attempt the request is sent once more, otherwise the
    ``AuthenticationFailed`` is raised. Without a directive this is a plain
    :meth:`Transport.post`.

    :param transport: the provider's transport.
    :param url: the endpoint URL.
    :param body: the JSON body.
    :param base_headers: the provider's own headers for this request.
    :param directive_headers: the directive's header provider, or ``None``.
    :param request_kind: complete or stream (passed to the header provider).
    :param model_id: the model id (passed to the header provider).
    :param token: the call's cancellation token.
    :param params: query parameters (for example a directive's).
    :param stream: whether the body will be streamed.
    :param describe_error: turns an error status and body into the error's details.
    :param extra_headers: the caller's headers, applied last.
    :param call: the call's own limits, deadline and query (see :class:`CallOptions`).
    :returns: the 2xx response (see :meth:`Transport.post`).
    :raises ApiAuthError: if the header provider could not produce headers or judge a 401/403.
    :raises AuthenticationFailed: on a 401/403 that is not retried (or fails again).
    :raises ApiError: anything else :meth:`Transport.post` raises.
    """
    if directive_headers is None:
        return transport.post(
            url,
            body,
            headers=merge_headers(base_headers, extra_headers),
            token=token,
            params=params,
            stream=stream,
            describe_error=describe_error,
            call=call,
        )
    provider = transport.provider
    header_context = AuthHeaderContext(model_id=model_id, request_kind=request_kind)
    bodies: List[bytes] = []

    def describe(status: int, raw: bytes) -> Optional[str]:
        # Keeps the raw body for on_auth_error; the details still come from the provider.
        bodies.append(raw)
        return describe_error(status, raw) if describe_error is not None else None

    def post(auth_headers: Mapping[str, str]) -> HttpResponse:
        del bodies[:]
        return transport.post(
            url,
            body,
            headers=merge_headers(base_headers, auth_headers, extra_headers),
            token=token,
            params=params,
            stream=stream,
            describe_error=describe,
            call=call,
        )

    return send_with_auth_retry(
        post, directive_headers, header_context, provider, refused_body=lambda: bodies[-1] if bodies else None
    )


def send_with_auth_retry(
    send: Callable[[Mapping[str, str]], T],
    header_provider: AuthHeaderProvider,
    context: AuthHeaderContext,
    provider: str,
    *,
    refused_body: Callable[[], Optional[bytes]] = lambda: None,
) -> T:
    """Run ``send`` with a header provider's fresh headers; re-send once after a 401/403 if asked.

    The one implementation of the directive contract of core.md 6.6, shared by
    :func:`send_with_directive` and the factory's header-directive wrapper: every attempt
    asks ``header_provider`` for its headers (a plugin failure becomes ``ApiAuthError``, see
    :func:`plugin_failure`); on ``AuthenticationFailed`` its ``on_auth_error`` is shown the
    status and a snippet (the start of the refused body when ``refused_body`` has it, else
    the error's details; at most :data:`SNIPPET_CHARS` characters), and only ``RETRY_ONCE``
    on the first refusal sends again. A second refusal is raised without asking again:
    asking would force a second token refresh for nothing (spec Q27).

    :param send: sends one attempt with the given auth headers (the caller merges its own).
    :param header_provider: the directive's header provider.
    :param context: what the header provider is told about the request.
    :param provider: the provider id, for errors.
    :param refused_body: the raw body of the refused response, when the sender kept it.
    :returns: what ``send`` returned.
    :raises ApiAuthError: if the header provider could not produce headers or judge a 401/403.
    :raises AuthenticationFailed: on a 401/403 that is not retried (or fails again).
    """
    retried = False
    while True:
        auth_headers = _directive_header_map(header_provider, context, provider)
        try:
            return send(auth_headers)
        except AuthenticationFailed as refused:
            if retried:
                raise
            raw = refused_body()
            snippet = body_snippet(raw if raw is not None else (refused.details or ""))
            error_context = AuthErrorContext(
                status=refused.status_code, body_snippet=snippet, request_kind=context.request_kind
            )
            try:
                action = header_provider.on_auth_error(error_context)
            except ApiError:
                raise
            except Exception as exc:  # a plugin's failure, whatever its type, is an auth error
                raise plugin_failure(provider, exc, auth_headers.values()) from None
            if action is not AuthErrorAction.RETRY_ONCE:
                raise
            retried = True


def _directive_header_map(
    provider_of_headers: AuthHeaderProvider, context: AuthHeaderContext, provider: str
) -> Dict[str, str]:
    try:
        pairs = provider_of_headers.headers(context)
    except ApiError:
        raise
    except Exception as exc:  # a plugin's failure, whatever its type, is an auth error
        raise plugin_failure(provider, exc) from None
    return {pair.name: pair.value for pair in pairs}


@functools.cache
def _plugin_redactions() -> Tuple[Tuple[re.Pattern[str], str], ...]:
    """The patterns :func:`plugin_failure` scrubs, with their replacements.

    Compiled on the first plugin failure, not at import: together they cost about 1 ms of
    every cold start's first call, which only an error path needs.
    """
    return (
        # A URL's query string (an OAuth client secret or a key may ride in it).
        (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#'\"]*)\?[^\s#'\"]*", re.IGNORECASE), rf"\1?{REDACTED}"),
        # The credential after an auth scheme (``Bearer <token>``).
        (re.compile(r"\b(bearer|basic)(\s+)[^\s,;'\"]+", re.IGNORECASE), rf"\1\2{REDACTED}"),
        # The value of a field whose name says it is secret (``client_secret=...``,
        # ``'Authorization': '...'``).
        (
            re.compile(
                r"((?:secret|password|passwd|token|api[_-]?key|authorization|cookie)[\w-]*['\"]?\s*[:=]\s*['\"]?)"
                r"(?!\[redacted\])[^\s,;&'\"}]+",
                re.IGNORECASE,
            ),
            rf"\1{REDACTED}",
        ),
    )


#: The most characters of a plugin's message an error keeps.
_PLUGIN_MESSAGE_CHARS = 500


def plugin_failure(provider: str, exc: BaseException, secrets: Iterable[str] = ()) -> ApiAuthError:
    """The ``ApiAuthError`` for an auth plugin's exception: its class and a redacted message only.

    Raise it ``from None``: the plugin's exception is not kept as the cause, since a
    ``requests`` error carries the request and its headers. The message loses ``secrets``
    (the headers just sent), URL query strings, a credential after ``Bearer``/``Basic``, and
    the values of fields named like secrets.

    :param provider: the provider id.
    :param exc: what the plugin raised.
    :param secrets: values known to be secret (the plugin's headers of this request).
    :returns: the error to raise.
    """
    text = Redactor(secrets)(str(exc))
    for pattern, replacement in _plugin_redactions():
        text = pattern.sub(replacement, text)
    if len(text) > _PLUGIN_MESSAGE_CHARS:
        text = text[:_PLUGIN_MESSAGE_CHARS] + "..."
    name = type(exc).__name__
    return ApiAuthError(
        provider, f"the auth plugin failed ({name}): {text}" if text else f"the auth plugin failed ({name})"
    )
