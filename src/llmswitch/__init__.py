"""llmswitch: one typed API over every major LLM provider.

from llmswitch import Client

client = Client()
resp = client.chat("openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
print(resp.text)
"""

from __future__ import annotations

from ._builder import RequestBuilder
from ._capabilities import Capabilities
from ._version import __version__
from .client import AsyncChatStream, AsyncClient, ChatStream, Client
from .config import Config, ProviderConfig, load_config
from .conversation import Conversation
from .errors import (
    AllProvidersFailedError,
    AuthenticationError,
    BudgetExceededError,
    CapabilityError,
    CircuitOpenError,
    ConfigurationError,
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    KEKUnavailableError,
    KeyDecryptionError,
    KeyVaultError,
    LLMError,
    LLMTimeoutError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderPluginError,
    ProviderUnavailableError,
    QuotaExceeded,
    RateLimitError,
    RateLimitExceeded,
    StateStoreError,
    StorageError,
    StructuredOutputError,
    TransportError,
    UserKeyRequiredError,
)
from .events import (
    Accumulator,
    Event,
    ReasoningDelta,
    ReasoningEnd,
    RefusalDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from .fim import CodeCompletion
from .messages import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    EmbedRequest,
    FinishReason,
    HealthStatus,
    ImagePart,
    Message,
    ModelInfo,
    ReasoningBlock,
    Seam,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from .providers._plugins import ProviderPlugin
from .wire import Timeout

__all__ = [
    "Accumulator",
    "AllProvidersFailedError",
    "AsyncChatStream",
    "AsyncClient",
    "AuthenticationError",
    "BudgetExceededError",
    "Capabilities",
    "CapabilityError",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "CircuitOpenError",
    "Client",
    "CodeCompletion",
    "Config",
    "ConfigurationError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "Conversation",
    "EmbedRequest",
    "EmbeddingResponse",
    "Event",
    "FinishReason",
    "HealthStatus",
    "ImagePart",
    "InvalidRequestError",
    "KEKUnavailableError",
    "KeyDecryptionError",
    "KeyVaultError",
    "LLMError",
    "LLMTimeoutError",
    "Message",
    "ModelInfo",
    "ModelNotFoundError",
    "PermissionDeniedError",
    "ProviderConfig",
    "ProviderError",
    "ProviderPlugin",
    "ProviderPluginError",
    "ProviderUnavailableError",
    "QuotaExceeded",
    "RateLimitError",
    "RateLimitExceeded",
    "ReasoningBlock",
    "ReasoningDelta",
    "ReasoningEnd",
    "RefusalDelta",
    "RequestBuilder",
    "Seam",
    "StateStoreError",
    "StorageError",
    "StreamEnd",
    "StreamStart",
    "StructuredOutputError",
    "TextDelta",
    "TextPart",
    "Timeout",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "TransportError",
    "Usage",
    "UserKeyRequiredError",
    "__version__",
    "load_config",
]
