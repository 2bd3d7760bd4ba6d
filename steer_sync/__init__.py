"""steer_sync: a synchronous, thread-based client for LLM provider APIs.

Anthropic Messages, OpenAI Responses and Chat Completions, Google Gemini, xAI and any
OpenAI-compatible endpoint, behind one blocking :class:`Client` that is safe to share
between threads, cancellable from any thread, and cheap to import.

Usage::

    from steer_sync import Client, Message

    client = Client.from_env()
    print(client.complete("sonnet", [Message.user("Hello")]).extract_text())

``import steer_sync`` loads only values, errors and the client skeleton; catalogs,
credential stores and the HTTP stack (``requests``) load on first use.
"""

import importlib as _importlib
import logging as _logging
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any
from typing import Dict as _Dict
from typing import List as _List

from steer_sync._cancellation import CancellationToken
from steer_sync._chunks import (
    ContentBlockStop,
    ErrorChunk,
    MessageComplete,
    Reset,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolUseInputDelta,
    ToolUseStart,
)
from steer_sync._client import Client
from steer_sync._errors import (
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
    StreamError,
    UnknownApiError,
    UnsupportedFeature,
)
from steer_sync._provider import CompletionRequest, Provider
from steer_sync._retry import RetryPolicy
from steer_sync._stream import CompletionStream
from steer_sync._timeouts import Timeouts
from steer_sync._types import (
    CommandExecution,
    CompletionResponse,
    ImageContent,
    Message,
    ModelId,
    ModelParameters,
    ProviderId,
    RedactedThought,
    Role,
    SignedThought,
    SimpleThought,
    SystemContext,
    TextContent,
    ThinkingConfig,
    ThinkingEffort,
    Thought,
    TokenUsage,
    ToolCall,
    ToolCallContent,
    ToolResult,
    ToolSchema,
)

if _TYPE_CHECKING:
    from steer_sync._auth import (
        AnthropicAuth,
        AuthHeaderProvider,
        AuthPlugin,
        AuthPluginRegistry,
        AuthStorage,
        CommandTokenPlugin,
        FileAuthStorage,
        InMemoryAuthStorage,
        InstructionPolicy,
        LlmConfigProvider,
        OAuth2ClientCredentialsPlugin,
        OpenAiResponsesAuth,
    )
    from steer_sync._catalog import ApiFormat, ModelConfig, ModelRegistry, ProviderConfig, ProviderRegistry
    from steer_sync._ratelimit import LocalRateLimiter, RateLimiter
    from steer_sync._types._structured import JsonSchema, StructuredOutputError, ToolChoice

__version__ = "0.1.0"

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

#: Names loaded on first access (PEP 562), so that importing the package stays cheap.
_LAZY: _Dict[str, str] = {
    "AnthropicAuth": "steer_sync._auth",
    "AuthHeaderProvider": "steer_sync._auth",
    "AuthPlugin": "steer_sync._auth",
    "AuthPluginRegistry": "steer_sync._auth",
    "AuthStorage": "steer_sync._auth",
    "CommandTokenPlugin": "steer_sync._auth",
    "FileAuthStorage": "steer_sync._auth",
    "InMemoryAuthStorage": "steer_sync._auth",
    "InstructionPolicy": "steer_sync._auth",
    "LlmConfigProvider": "steer_sync._auth",
    "OAuth2ClientCredentialsPlugin": "steer_sync._auth",
    "OpenAiResponsesAuth": "steer_sync._auth",
    "ApiFormat": "steer_sync._catalog",
    "ModelConfig": "steer_sync._catalog",
    "ModelRegistry": "steer_sync._catalog",
    "ProviderConfig": "steer_sync._catalog",
    "ProviderRegistry": "steer_sync._catalog",
    "LocalRateLimiter": "steer_sync._ratelimit",
    "RateLimiter": "steer_sync._ratelimit",
    "JsonSchema": "steer_sync._types._structured",
    "StructuredOutputError": "steer_sync._types._structured",
    "ToolChoice": "steer_sync._types._structured",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'steer_sync' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> _List[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AnthropicAuth",
    "ApiAuthError",
    "ApiError",
    "ApiFormat",
    "ApiStreamError",
    "ApiTimeout",
    "AuthError",
    "AuthHeaderProvider",
    "AuthPlugin",
    "AuthPluginRegistry",
    "AuthStorage",
    "AuthenticationFailed",
    "CancellationToken",
    "Cancelled",
    "Client",
    "CommandExecution",
    "CommandTokenPlugin",
    "CompletionRequest",
    "CompletionResponse",
    "CompletionStream",
    "ConfigurationError",
    "ContentBlockStop",
    "ErrorChunk",
    "FileAuthStorage",
    "ImageContent",
    "InMemoryAuthStorage",
    "InstructionPolicy",
    "InvalidRequest",
    "JsonSchema",
    "LlmConfigProvider",
    "LocalRateLimiter",
    "Message",
    "MessageComplete",
    "ModelConfig",
    "ModelId",
    "ModelParameters",
    "ModelRegistry",
    "NetworkError",
    "NoChoices",
    "OAuth2ClientCredentialsPlugin",
    "OpenAiResponsesAuth",
    "Provider",
    "ProviderConfig",
    "ProviderId",
    "ProviderRegistry",
    "ProviderStreamError",
    "ProviderStreamErrorKind",
    "RateLimited",
    "RateLimiter",
    "RedactedThought",
    "RequestBlocked",
    "Reset",
    "ResponseParsingError",
    "RetryPolicy",
    "Role",
    "ServerError",
    "SignedThought",
    "SimpleThought",
    "SseParse",
    "SseParseErrorKind",
    "SteerError",
    "StreamCancelled",
    "StreamChunk",
    "StreamError",
    "StructuredOutputError",
    "SystemContext",
    "TextContent",
    "TextDelta",
    "ThinkingConfig",
    "ThinkingDelta",
    "ThinkingEffort",
    "Thought",
    "Timeouts",
    "TokenUsage",
    "ToolCall",
    "ToolCallContent",
    "ToolChoice",
    "ToolResult",
    "ToolSchema",
    "ToolUseInputDelta",
    "ToolUseStart",
    "UnknownApiError",
    "UnsupportedFeature",
]
