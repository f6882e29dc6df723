"""The OpenAI error shape for the gateway's classified errors (core's ``ErrorInfo``).

``{"error": {"message", "type", "param", "code"}}`` with the status the OpenAI SDKs
map to their error classes: 429 with ``retry-after``/``retry-after-ms`` (the SDKs
honour them when retrying), 503 on overload (Anthropic's 529 too), 400
``context_length_exceeded``, the upstream's own 401/403 naming the provider.
"""

from __future__ import annotations

import orjson

from .._errors import ErrorInfo, retry_headers
from .._http import Response

__all__ = ["OPENAI_ERRORS", "OpenAIErrors", "error_body"]

# ErrorInfo.kind -> OpenAI's error ``type`` (and the code when the info names none).
_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", None),
    "not_found": ("invalid_request_error", "model_not_found"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "overloaded": ("server_error", "overloaded"),
    "context_length": ("invalid_request_error", "context_length_exceeded"),
    "budget": ("insufficient_quota", "budget_exceeded"),
    "timeout": ("timeout_error", "timeout"),
    "upstream": ("api_error", None),
    "server": ("server_error", None),
    "content_filter": ("invalid_request_error", "content_filter"),
    "too_large": ("invalid_request_error", "request_too_large"),
}


def error_body(info: ErrorInfo) -> dict[str, object]:
    kind, code = _TYPES.get(info.kind if info.status >= 400 else "upstream", ("server_error", None))
    return {
        "error": {
            "message": info.message,
            "type": kind,
            "param": info.param,
            "code": info.code or code,
        }
    }


def _status(info: ErrorInfo) -> int:
    if info.kind == "overloaded":
        return 503  # OpenAI's overload status; Anthropic's 529 means nothing to its SDKs
    if info.kind == "context_length":
        return 400
    # An upstream answer the library could not use (a 200 with a broken body) is still
    # a failure: never answer an error with a success status.
    return info.status if info.status >= 400 else 502


class OpenAIErrors:
    """Core's ``ErrorFormat`` for the OpenAI routes."""

    __slots__ = ()

    def render(self, info: ErrorInfo) -> Response:
        return Response(orjson.dumps(error_body(info)), _status(info), headers=retry_headers(info))

    def event(self, info: ErrorInfo) -> bytes:
        # What OpenAI sends when a stream fails: a data line with an error object (the
        # SDKs raise APIError on it), then the stream ends.
        return b"data: " + orjson.dumps(error_body(info)) + b"\n\n"


OPENAI_ERRORS = OpenAIErrors()
