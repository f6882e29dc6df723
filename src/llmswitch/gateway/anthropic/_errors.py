"""Errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``,
with the status codes and error types the ``anthropic`` SDK maps to its exception
classes (``RateLimitError`` 429, ``OverloadedError`` 529, ...)."""

from __future__ import annotations

import orjson

from .._errors import ErrorInfo, retry_headers
from .._response import Response

__all__ = ["ANTHROPIC_ERRORS", "AnthropicErrors", "error_body"]

# ErrorInfo.kind -> (HTTP status, Anthropic error type); None: keep the classified status.
_KINDS: dict[str, tuple[int | None, str]] = {
    "invalid_request": (None, "invalid_request_error"),
    "context_length": (400, "invalid_request_error"),
    "content_filter": (400, "invalid_request_error"),
    "too_large": (413, "request_too_large"),
    "authentication": (401, "authentication_error"),
    "permission": (403, "permission_error"),
    "not_found": (404, "not_found_error"),
    "rate_limit": (429, "rate_limit_error"),
    "overloaded": (529, "overloaded_error"),
    "timeout": (None, "timeout_error"),
    "upstream": (None, "api_error"),
    "server": (None, "api_error"),
}
# By status, for kinds above that keep theirs and for any other kind (budgets...).
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# Anthropic's own wording of a context overflow (WIRE.md 6.5), which clients match on.
_TOO_LONG = "prompt is too long"


def _status_and_type(info: ErrorInfo) -> tuple[int, str]:
    status, kind_type = _KINDS.get(info.kind, (None, ""))
    if status is None:
        status = info.status
        kind_type = _STATUS_TYPES.get(status) or kind_type
    if not kind_type:
        kind_type = "api_error" if status >= 500 else "invalid_request_error"
    return status, kind_type


def _message(info: ErrorInfo) -> str:
    if info.kind == "context_length" and not info.message.startswith(_TOO_LONG):
        return f"{_TOO_LONG}: {info.message}"
    return info.message


def error_body(info: ErrorInfo) -> tuple[int, bytes]:
    """The status and the JSON body of ``info`` in Anthropic's shape."""
    status, kind = _status_and_type(info)
    body = {"type": "error", "error": {"type": kind, "message": _message(info)}}
    return status, orjson.dumps(body)


class AnthropicErrors:
    """The ErrorFormat of ``/v1/messages`` (core's ``ErrorFormat`` protocol)."""

    def render(self, info: ErrorInfo) -> Response:
        status, body = error_body(info)
        return Response(body, status, headers=[*info.headers, *retry_headers(info)])

    def event(self, info: ErrorInfo) -> bytes:
        """The mid-stream ``event: error`` (what would have been the HTTP error)."""
        return b"event: error\ndata: " + error_body(info)[1] + b"\n\n"


ANTHROPIC_ERRORS = AnthropicErrors()
