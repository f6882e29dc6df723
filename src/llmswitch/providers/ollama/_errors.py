"""Ollama error bodies and ``{"error": ...}`` stream lines -> the llmswitch error tree.

Body shape: ``{"error": "<message>"}``, a plain string (docs/providers.md §4). The HTTP status
decides the class; Ollama has no error codes, so the few conditions it signals only in
its wording are matched below, each in one named place.
"""

from __future__ import annotations

import re

from ...errors import (
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from ...messages import ChatRequest
from ...wire import HttpResponse
from .._errors import class_for_status, decode_json, malformed_error, retry_after, who

__all__ = [
    "CONTEXT_OVERFLOW_MESSAGES",
    "error_message",
    "malformed",
    "map_error",
    "stream_error",
]

# The only place Ollama's context-overflow wording is matched (docs/providers.md §5). By default
# Ollama truncates instead; with ``truncate: false`` (chat or embed) it answers
# "the input length exceeds the context length" (400 on current servers, 500 on older).
CONTEXT_OVERFLOW_MESSAGES = ("input length exceeds the context length",)

# 400 ``"<model>" does not support tools`` (or thinking, chat, generate, insert, ...):
# the model lacks a capability the request needs.
_UNSUPPORTED = re.compile(r"does not support (\w+)")

# 404 ``model "llama3.2" not found, try pulling it first`` (quotes vary by version).
_NOT_FOUND = re.compile(r"""model ['"]?([^'"\s]+)['"]? not found""")

_CAPABILITY_HINTS = {
    "tools": "call it without tools=, or pick a model with tool support",
    "thinking": "call it without reasoning=, or pick a thinking model",
    "vision": "send no images, or pick a vision model",
}


def is_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return any(m in lowered for m in CONTEXT_OVERFLOW_MESSAGES)


def error_message(body: bytes) -> str | None:
    """The ``error`` string of an Ollama error body, if it is one."""
    data = decode_json(body)
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, str) and err:
            return err
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]  # type: ignore[no-any-return]  # a proxy's OpenAI shape
    return None


# 499 canceled is transient; 500 runner crash, 502 cloud model unreachable and 503 queue
# full are the server's. Ollama has no 409. Its overflow wording counts on any status
# (400 on current servers, 500 on older ones).
_TRANSIENT = frozenset({408, 499})


def _class_for(status: int, message: str) -> type[ProviderError]:
    return class_for_status(
        status, overflow=is_context_overflow(message), overflow_statuses=None, transient=_TRANSIENT
    )


def _explain(cls: type[ProviderError], message: str, provider: str, model: str | None) -> str:
    if cls is ModelNotFoundError:
        found = _NOT_FOUND.search(message)
        name = model or (found.group(1) if found else "<model>")
        return f"{message} (to download it: llmswitch models pull {provider}/{name})"
    if cls is InvalidRequestError:
        unsupported = _UNSUPPORTED.search(message)
        if unsupported is not None:
            what = unsupported.group(1)
            hint = _CAPABILITY_HINTS.get(what, f"pick a model with the {what} capability")
            return f"{message}: {hint} (see llmswitch models {provider})"
    return message


def map_error(request: ChatRequest | None, response: HttpResponse) -> ProviderError:
    status = response.status
    message = error_message(response.body) or f"HTTP {status} from Ollama"
    cls = _class_for(status, message)
    provider, model = who(request)
    return cls(
        _explain(cls, message, provider or "ollama", model),
        provider=provider,
        model=model,
        status_code=status,
        body=response.body,
        retry_after=retry_after(response.headers, cls, only=(RateLimitError,)),
    )


def stream_error(request: ChatRequest | None, line: bytes, message: str) -> ProviderError:
    """An ``{"error": ...}`` line after the 200: the request was accepted, so the failure
    is the server's (runner crash, model unloaded) — unless it is the overflow wording."""
    cls: type[ProviderError] = (
        ContextLengthExceededError if is_context_overflow(message) else ProviderUnavailableError
    )
    provider, model = who(request)
    return cls(f"stream failed: {message}", provider=provider, model=model, body=line)


def malformed(request: ChatRequest | None, what: str, data: bytes | str) -> ProviderError:
    """Bytes we cannot make sense of; the offending bytes are kept (truncated) in ``body``."""
    return malformed_error(request, "Ollama", what, data)
