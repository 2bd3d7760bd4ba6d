"""Auth directives: per-request headers, query parameters and prompt policy from a plugin (layer L2).

A directive is what an :class:`AuthPlugin` hands a provider instead of an API key. The
provider asks its header provider for fresh headers on every attempt, and on a 401/403
asks it once whether to retry (after a token refresh, for example).
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

from steer_sync._auth._record import _Record
from steer_sync._types import SystemContext

__all__ = [
    "AnthropicAuth",
    "AuthDirective",
    "AuthErrorAction",
    "AuthErrorContext",
    "AuthHeaderContext",
    "AuthHeaderProvider",
    "HeaderAuth",
    "HeaderPair",
    "InstructionPolicy",
    "OpenAiResponsesAuth",
    "QueryParam",
    "RequestKind",
    "apply_instruction_policy",
]


class RequestKind(enum.Enum):
    """Whether headers are wanted for a complete or a streamed request."""

    COMPLETE = "complete"
    STREAM = "stream"


class HeaderPair(_Record):
    """One HTTP header a directive adds (immutable; compared by value)."""

    __slots__ = ("name", "value")
    _hidden = frozenset({"value"})

    #: Header name.
    name: str
    #: Header value; may be a secret, so it is never logged (nor in the repr).
    value: str

    def __init__(self, name: str, value: str) -> None:
        self._set(name=name, value=value)


class QueryParam(_Record):
    """One URL query parameter a directive adds (immutable; compared by value)."""

    __slots__ = ("name", "value")

    #: Parameter name.
    name: str
    #: Parameter value.
    value: str

    def __init__(self, name: str, value: str) -> None:
        self._set(name=name, value=value)


class AuthHeaderContext(_Record):
    """What the header provider knows about the request it is asked for headers for."""

    __slots__ = ("model_id", "request_kind")

    #: The model id, when known.
    model_id: Optional[str]
    #: Complete or stream.
    request_kind: RequestKind

    def __init__(self, model_id: Optional[str], request_kind: RequestKind) -> None:
        self._set(model_id=model_id, request_kind=request_kind)


class AuthErrorContext(_Record):
    """What the header provider is told about a refused request."""

    __slots__ = ("status", "body_snippet", "request_kind")

    #: The HTTP status (401 or 403).
    status: Optional[int]
    #: The start of the response body (at most 512 characters plus ``...``).
    body_snippet: Optional[str]
    #: Complete or stream.
    request_kind: RequestKind

    def __init__(self, status: Optional[int], body_snippet: Optional[str], request_kind: RequestKind) -> None:
        self._set(status=status, body_snippet=body_snippet, request_kind=request_kind)


class AuthErrorAction(enum.Enum):
    """What to do after a 401/403."""

    RETRY_ONCE = "retry_once"
    REAUTH_REQUIRED = "reauth_required"
    NO_ACTION = "no_action"


class AuthHeaderProvider(abc.ABC):
    """Produces the auth headers for each request; implemented by auth plugins.

    Both methods may block (a token refresh is a network call) and must be thread-safe.
    """

    @abc.abstractmethod
    def headers(self, context: AuthHeaderContext) -> Sequence[HeaderPair]:
        """Headers for one request attempt.

        :raises AuthError: if no valid credential can be produced.
        """

    def on_auth_error(self, context: AuthErrorContext) -> AuthErrorAction:
        """Decide what to do after the provider refused a request (default: nothing)."""
        return AuthErrorAction.NO_ACTION


@dataclass(frozen=True)
class InstructionPolicy:
    """How a directive shapes the system prompt (core.md 2.5).

    Build with :meth:`prefix`, :meth:`default_if_empty` or :meth:`override`.
    """

    #: ``"prefix"``, ``"default_if_empty"`` or ``"override"``.
    kind: str
    #: The policy's text.
    text: str

    @classmethod
    def prefix(cls, text: str) -> InstructionPolicy:
        """Put ``text`` before the system prompt."""
        return cls("prefix", text)

    @classmethod
    def default_if_empty(cls, text: str) -> InstructionPolicy:
        """Use ``text`` when there is no system prompt."""
        return cls("default_if_empty", text)

    @classmethod
    def override(cls, text: str) -> InstructionPolicy:
        """Replace the system prompt with ``text``, keeping it as an operating-mode section."""
        return cls("override", text)


def apply_instruction_policy(system: Optional[SystemContext], policy: Optional[InstructionPolicy]) -> Optional[str]:
    """Build the system text a directive-authenticated request sends (core.md 2.5).

    :param system: the caller's system context.
    :param policy: the directive's policy, or ``None``.
    :returns: the system text, or ``None`` for none.
    """
    base = system.prompt.strip() if system is not None else ""
    context = system.render_with_prompt(base) if system is not None else None
    if policy is None:
        return context
    if policy.kind == "prefix":
        return f"{policy.text}\n{context}" if context else policy.text
    if policy.kind == "default_if_empty":
        return context if context else policy.text
    text = policy.text
    if base:
        text += "\n\n## Operating Mode\n" + base
    if system is not None and system.environment is not None:
        env = system.environment.as_context().strip()
        if env:
            text += "\n\n" + env
    return text


@dataclass(frozen=True)
class AnthropicAuth:
    """A directive for the Anthropic Messages API."""

    #: Supplies the auth headers per request.
    headers: AuthHeaderProvider
    #: How to shape the system prompt.
    instruction_policy: Optional[InstructionPolicy] = None
    #: Extra URL query parameters.
    query_params: Tuple[QueryParam, ...] = ()


@dataclass(frozen=True)
class OpenAiResponsesAuth:
    """A directive for the OpenAI Responses API."""

    #: Supplies the auth headers per request.
    headers: AuthHeaderProvider
    #: A full endpoint URL that replaces the provider's.
    base_url_override: Optional[str] = None
    #: Whether the endpoint only accepts streaming requests.
    require_streaming: bool = False
    #: How to shape the system prompt.
    instruction_policy: Optional[InstructionPolicy] = None
    #: Values for the request's ``include`` list.
    include: Tuple[str, ...] = ()


class HeaderAuth(_Record):
    """A directive for any API format: per-request headers and query parameters only.

    The shipped plugins (:class:`~steer_sync.CommandTokenPlugin`,
    :class:`~steer_sync.OAuth2ClientCredentialsPlugin`) return it. The provider is built
    without an API key; the header provider's headers are sent with every attempt (after the
    provider's own, before the caller's ``extra_headers``), and a 401/403 asks it once
    whether to retry.
    """

    __slots__ = ("headers", "query_params")

    #: Supplies the auth headers per request.
    headers: AuthHeaderProvider
    #: Extra URL query parameters.
    query_params: Tuple[QueryParam, ...]

    def __init__(self, headers: AuthHeaderProvider, query_params: Tuple[QueryParam, ...] = ()) -> None:
        self._set(headers=headers, query_params=query_params)


AuthDirective = Union[AnthropicAuth, OpenAiResponsesAuth, HeaderAuth]
