"""Value types shared by every layer: ids, parameters, messages, tools, responses (layer L0)."""

from steer_sync._types._ids import ModelId, ProviderId
from steer_sync._types._messages import (
    AssistantContent,
    AssistantMessage,
    CommandExecution,
    DataUrlSource,
    ImageContent,
    ImageSource,
    Message,
    MessageData,
    RedactedThought,
    Role,
    SessionFileSource,
    SignedThought,
    SimpleThought,
    TextContent,
    Thought,
    ToolCallContent,
    ToolMessage,
    UrlSource,
    UserContent,
    UserMessage,
)
from steer_sync._types._params import ModelParameters, ThinkingConfig, ThinkingEffort
from steer_sync._types._response import CompletionResponse, TokenUsage
from steer_sync._types._system import EnvironmentContext, SystemContext
from steer_sync._types._tools import ToolCall, ToolResult, ToolSchema

__all__ = [
    "AssistantContent",
    "AssistantMessage",
    "CommandExecution",
    "CompletionResponse",
    "DataUrlSource",
    "EnvironmentContext",
    "ImageContent",
    "ImageSource",
    "Message",
    "MessageData",
    "ModelId",
    "ModelParameters",
    "ProviderId",
    "RedactedThought",
    "Role",
    "SessionFileSource",
    "SignedThought",
    "SimpleThought",
    "SystemContext",
    "TextContent",
    "ThinkingConfig",
    "ThinkingEffort",
    "Thought",
    "TokenUsage",
    "ToolCall",
    "ToolCallContent",
    "ToolMessage",
    "ToolResult",
    "ToolSchema",
    "UrlSource",
    "UserContent",
    "UserMessage",
]
