"""Bedrock error responses and stream exception frames -> the llmswitch error tree.

HTTP errors (docs/providers.md §4): the code is in the ``x-amzn-ErrorType`` header
(``ValidationException:http://internal.amazon.com/...``, the text before ``:``) or the
body's ``__type``/``code``; the message in ``message`` (sometimes ``Message``); the
request id in ``x-amzn-RequestId``. The code decides the class where it is known (AWS
answers bad credentials with 403 ``UnrecognizedClientException``, which is an
authentication failure, not a permission one); the status decides otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from ...messages import ChatRequest
from ...wire import HttpResponse
from .._errors import class_for_status, decode_json, http_error, malformed_error

__all__ = [
    "CONTEXT_OVERFLOW_MESSAGES",
    "INVALID_MODEL_MESSAGE",
    "error_code",
    "is_context_overflow",
    "malformed",
    "map_error",
    "stream_exception",
]

# The only place Bedrock's context-overflow wording is matched (docs/providers.md §5): a 400
# ValidationException whose message says
#   "Input is too long for requested model."
#   "The model returned the following errors: prompt is too long: 208656 tokens > 200000 maximum"
# (the second is Anthropic's wording relayed by Bedrock).
CONTEXT_OVERFLOW_MESSAGES = ("input is too long", "prompt is too long")

# Bedrock reports an unknown model id as a 400 ValidationException with this message
# (a 404 ResourceNotFoundException is used for models not enabled in the region).
INVALID_MODEL_MESSAGE = "the provided model identifier is invalid"

_BY_CODE: dict[str, type[ProviderError]] = {
    "ValidationException": InvalidRequestError,
    "ConflictException": InvalidRequestError,
    "SerializationException": InvalidRequestError,
    "AccessDeniedException": PermissionDeniedError,
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "IncompleteSignatureException": AuthenticationError,
    "IncompleteSignature": AuthenticationError,
    "MissingAuthenticationTokenException": AuthenticationError,
    "MissingAuthenticationToken": AuthenticationError,
    "ExpiredTokenException": AuthenticationError,
    "InvalidClientTokenId": AuthenticationError,
    "ResourceNotFoundException": ModelNotFoundError,
    "ThrottlingException": RateLimitError,
    "TooManyRequestsException": RateLimitError,
    # Account quota (e.g. tokens per day) on InvokeModel: clears with time like a limit.
    "ServiceQuotaExceededException": RateLimitError,
    "ModelNotReadyException": ProviderUnavailableError,
    "ModelTimeoutException": ProviderUnavailableError,
    "ModelErrorException": ProviderUnavailableError,
    "ModelStreamErrorException": ProviderUnavailableError,
    "InternalServerException": ProviderUnavailableError,
    "ServiceUnavailableException": ProviderUnavailableError,
}

# Stream exception frames name the union member (camelCase) in ``:exception-type``.
_BY_STREAM_TYPE: dict[str, type[ProviderError]] = {
    "throttlingException": RateLimitError,
    "serviceUnavailableException": ProviderUnavailableError,
    "internalServerException": ProviderUnavailableError,
    "modelStreamErrorException": ProviderUnavailableError,
    "modelTimeoutException": ProviderUnavailableError,
    "validationException": InvalidRequestError,
}


def is_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return any(m in lowered for m in CONTEXT_OVERFLOW_MESSAGES)


def _refine(cls: type[ProviderError], message: str) -> type[ProviderError]:
    if cls is InvalidRequestError:
        if is_context_overflow(message):
            return ContextLengthExceededError
        if message.lower().startswith(INVALID_MODEL_MESSAGE):
            return ModelNotFoundError
    return cls


# 424 failed dependency (the model behind Bedrock failed) is transient; Bedrock has no 409
# of that kind (ConflictException is the request's fault).
_TRANSIENT = frozenset({408, 424})


def error_code(headers: Mapping[str, str], body: Any) -> str | None:
    """The AWS error code, as botocore's rest-json parser finds it."""
    raw = headers.get("x-amzn-errortype")
    if not raw and isinstance(body, dict):
        raw = body.get("code") or body.get("Code") or body.get("__type")
    if not isinstance(raw, str) or not raw:
        return None
    return raw.split(":", 1)[0].rsplit("#", 1)[-1] or None


def map_error(request: ChatRequest | None, response: HttpResponse) -> ProviderError:
    status = response.status
    body = decode_json(response.body)
    code = error_code(response.headers, body)
    message = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("Message")
    if not isinstance(message, str) or not message:
        message = f"HTTP {status} from Bedrock" + (f" ({code})" if code else "")
    cls = _BY_CODE.get(code or "") or class_for_status(status, transient=_TRANSIENT)
    # Without a request the provider layer fills in its own id (it may not be "bedrock").
    # Bedrock documents no retry-after, but a proxy in front may send one.
    return http_error(
        _refine(cls, message),
        request,
        message,
        status=status,
        body=response.body,
        headers=response.headers,
        why="not found, not enabled for this account, or not available in this region",
        code=code,
        request_id=response.headers.get("x-amzn-requestid"),
    )


def stream_exception(
    request: ChatRequest, headers: Mapping[str, Any], payload: bytes
) -> ProviderError:
    """An exception (or error) frame after the 200. Unknown types are the server's
    failure, so retryable (ProviderUnavailableError)."""
    if headers.get(":message-type") == "error":
        code = headers.get(":error-code")
        message = headers.get(":error-message")
    else:
        code = headers.get(":exception-type")
        message = None
        body = decode_json(payload)
        if isinstance(body, dict):
            message = body.get("message") or body.get("Message")
            original = body.get("originalMessage")
            if isinstance(original, str) and original and original != message:
                message = f"{message}: {original}" if message else original
    code = code if isinstance(code, str) and code else None
    if not isinstance(message, str) or not message:
        message = code or "exception frame in the stream"
    cls = _BY_STREAM_TYPE.get(code or "")
    if cls is None:
        # The error frame's code may use the HTTP spelling (ThrottlingException).
        cls = _BY_CODE.get(code or "", ProviderUnavailableError)
    cls = _refine(cls, message)
    return cls(
        f"stream failed: {message}",
        provider=request.provider,
        model=request.model,
        body=payload or None,
        code=code,
    )


def malformed(request: ChatRequest | None, what: str, data: bytes | str) -> ProviderError:
    """Bytes we cannot make sense of; the offending bytes are kept (truncated) in ``body``."""
    return malformed_error(request, "Bedrock", what, data)
