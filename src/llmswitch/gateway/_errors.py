"""One classification of every failure, rendered by each wire format in its own shape.

:func:`classify` turns the llmswitch error tree (and the gateway's own
:class:`~._http.HttpError`) into an :class:`ErrorInfo`: the HTTP status, a kind the
formats map to their error types, a message safe to show (error messages are redacted by
the library; an upstream failure names its provider), and the retry hint. The OpenAI
routes render it in OpenAI's shape (``openai/_errors.py``), ``/v1/messages`` in
Anthropic's, the admin API and the operations endpoints with :data:`PLAIN`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .. import errors as e
from .._json import dumps
from .._log import get_logger

if TYPE_CHECKING:
    from ._response import Response

__all__ = ["PLAIN", "ErrorFormat", "ErrorInfo", "HttpError", "classify", "retry_headers"]

log = get_logger("llmswitch.gateway")


class HttpError(Exception):
    """A failure of the gateway itself (bad JSON, unknown route, body too large, a bad
    access key, a model the key may not use), rendered in the route's error format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.param = param
        self.headers = tuple(headers)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """``kind``: ``invalid_request``, ``authentication``, ``permission``, ``not_found``,
    ``rate_limit``, ``overloaded``, ``context_length``, ``budget``, ``timeout``,
    ``upstream``, ``server``, ``content_filter`` or ``too_large``."""

    status: int
    kind: str
    message: str
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    provider: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class ErrorFormat(Protocol):
    """How one wire format answers a failure: the whole HTTP response, or (once a stream
    has started) the error event written into it."""

    def render(self, info: ErrorInfo) -> Response: ...

    def event(self, info: ErrorInfo) -> bytes: ...


_KIND_OF_STATUS = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    405: "invalid_request",
    409: "invalid_request",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limit",
    503: "overloaded",
    529: "overloaded",
}


def _named(exc: e.LLMError, what: str) -> str:
    """An upstream failure's message, naming the provider (the library's message already
    says provider/model; this keeps it when it does not)."""
    text = str(exc)
    provider = exc.provider
    if provider and provider not in text:
        text = f"{provider}: {text}"
    return text or what


def classify(exc: BaseException) -> ErrorInfo:
    """The :class:`ErrorInfo` of ``exc`` (anything else than the known tree: a 500 with a
    generic message; the exception itself is logged, never shown)."""
    if isinstance(exc, HttpError):
        fallback = "server" if exc.status >= 500 else "invalid_request"
        kind = exc.type or _KIND_OF_STATUS.get(exc.status, fallback)
        return ErrorInfo(
            exc.status, kind, exc.message, code=exc.code, param=exc.param, headers=exc.headers
        )
    if isinstance(exc, e.AllProvidersFailedError) and exc.errors:
        # Every deployment failed: answer as the last one did (a fallback chain of
        # rate-limited providers is a 429, not a 500).
        inner = classify(exc.errors[-1])
        return ErrorInfo(
            inner.status, inner.kind, str(exc) or inner.message, code=inner.code,
            param=inner.param, retry_after=inner.retry_after, provider=inner.provider,
        )  # fmt: skip
    if isinstance(exc, e.LLMError):
        return _classify_llm(exc)
    log.error("gateway: unexpected %s while serving a request", type(exc).__name__, exc_info=exc)
    return ErrorInfo(500, "server", "the gateway failed to answer this request")


def _classify_llm(exc: e.LLMError) -> ErrorInfo:
    provider = exc.provider
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, e.ContextLengthExceededError):
        return ErrorInfo(400, "context_length", _named(exc, "the prompt is too long"),
                         code="context_length_exceeded", provider=provider)  # fmt: skip
    if isinstance(exc, e.RateLimitError):
        return ErrorInfo(429, "rate_limit", _named(exc, "rate limited by the provider"),
                         code="rate_limit_exceeded", retry_after=retry_after,
                         provider=provider)  # fmt: skip
    if isinstance(exc, e.ProviderUnavailableError):
        return ErrorInfo(503, "overloaded", _named(exc, "the provider is overloaded"),
                         code="overloaded", retry_after=retry_after, provider=provider)  # fmt: skip
    if isinstance(exc, e.AuthenticationError):
        status = exc.status_code if exc.status_code in (401, 403) else 401
        message = f"the provider {provider or ''} refused the gateway's credentials: {exc}"
        return ErrorInfo(status, "authentication" if status == 401 else "permission",
                         message, code="upstream_authentication", provider=provider)  # fmt: skip
    if isinstance(exc, e.PermissionDeniedError):
        return ErrorInfo(403, "permission", _named(exc, "permission denied by the provider"),
                         code="upstream_permission_denied", provider=provider)  # fmt: skip
    if isinstance(exc, e.ModelNotFoundError):
        return ErrorInfo(404, "not_found", _named(exc, "model not found"),
                         code="model_not_found", provider=provider)  # fmt: skip
    if isinstance(exc, e.ContentFilterError):
        return ErrorInfo(400, "content_filter", _named(exc, "blocked by the content filter"),
                         code="content_filter", provider=provider)  # fmt: skip
    if isinstance(exc, e.InvalidRequestError):
        return ErrorInfo(400, "invalid_request", _named(exc, "invalid request"),
                         code="invalid_request", provider=provider)  # fmt: skip
    if isinstance(exc, e.ProviderError):
        # A 2xx with a malformed body (or no status at all) is the provider's failure.
        status = exc.status_code if exc.status_code and exc.status_code >= 400 else 502
        kind = "upstream" if status >= 500 else _KIND_OF_STATUS.get(status, "invalid_request")
        return ErrorInfo(502 if status >= 500 else status, kind,
                         _named(exc, "the provider failed"), provider=provider)  # fmt: skip
    if isinstance(exc, e.RateLimitExceeded):
        return ErrorInfo(429, "rate_limit", str(exc), code="rate_limit_exceeded",
                         retry_after=retry_after)  # fmt: skip
    if isinstance(exc, e.QuotaExceeded):
        return ErrorInfo(429, "rate_limit", str(exc), code="quota_exceeded",
                         retry_after=getattr(exc, "retry_after", None))  # fmt: skip
    if isinstance(exc, e.BudgetExceededError):
        return ErrorInfo(429, "budget", str(exc), code="budget_exceeded")
    if isinstance(exc, e.CircuitOpenError):
        return ErrorInfo(503, "overloaded", str(exc), code="circuit_open",
                         retry_after=retry_after, provider=provider)  # fmt: skip
    if isinstance(exc, e.LLMTimeoutError):
        return ErrorInfo(504, "timeout", _named(exc, "the provider timed out"),
                         code="timeout", provider=provider)  # fmt: skip
    if isinstance(exc, e.TransportError):
        return ErrorInfo(502, "upstream", _named(exc, "could not reach the provider"),
                         code="upstream_unreachable", provider=provider)  # fmt: skip
    if isinstance(exc, e.ConfigurationError):
        # The caller named a model or option this gateway does not have configured.
        param = getattr(exc, "field", None)
        return ErrorInfo(400, "invalid_request", str(exc), code="invalid_request",
                         param=param if isinstance(param, str) else None)  # fmt: skip
    if isinstance(exc, e.StateStoreError | e.StorageError | e.KeyVaultError):
        log.error("gateway: %s: %s", type(exc).__name__, exc)
        return ErrorInfo(503, "server", "the gateway's storage is unavailable", code="unavailable")
    return ErrorInfo(500, "server", str(exc) or type(exc).__name__)


def retry_headers(info: ErrorInfo) -> list[tuple[str, str]]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``, when known; the
    official SDKs read both."""
    after = info.retry_after
    if after is None or after < 0 or math.isnan(after):
        return []
    return [("retry-after", str(max(0, math.ceil(after)))),
            ("retry-after-ms", str(max(0, math.ceil(after * 1000))))]  # fmt: skip


class _Plain:
    """``{"error": {"message", "code", "type"}}``: the admin API and operations routes."""

    def render(self, info: ErrorInfo) -> Response:
        from ._response import Response

        body = {"error": {"message": info.message, "type": info.kind, "code": info.code}}
        if info.param is not None:
            body["error"]["param"] = info.param
        return Response(dumps(body), info.status, headers=[*info.headers, *retry_headers(info)])

    def event(self, info: ErrorInfo) -> bytes:
        body = {"error": {"message": info.message, "type": info.kind, "code": info.code}}
        return b"event: error\ndata: " + dumps(body) + b"\n\n"


PLAIN: ErrorFormat = _Plain()
