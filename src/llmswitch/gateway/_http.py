"""The gateway's HTTP primitives over raw ASGI: :class:`Request`, :class:`Response`,
:class:`StreamResponse`.

Hand-written rather than Starlette's: the gateway's per-request budget is a few tens of
microseconds, and a request here is one object with slots and a dict of headers, a
response one ``http.response.start`` and one body message.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from .._json import loads
from ._errors import ErrorFormat, HttpError, classify
from ._metrics import GatewayMetrics
from ._principal import Principal
from ._response import Response, json_response
from ._settings import GatewaySettings
from ._stream import StreamResponse, first_then

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ..config import Config

__all__ = [
    "PRINCIPAL",
    "REQUEST_ID",
    "STATE",
    "STATUS",
    "GatewayView",
    "HttpError",
    "Request",
    "Response",
    "StreamResponse",
    "first_then",
    "json_response",
]

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

# Scope keys the dispatcher fills for the layers outside it (the access log).
REQUEST_ID = "llmswitch.request_id"
PRINCIPAL = "llmswitch.principal"
STATE = "llmswitch.state"
STATUS = "llmswitch.status"


class GatewayView(Protocol):
    """What a handler sees of the app (:class:`~llmswitch.gateway.app.Gateway`)."""

    settings: GatewaySettings
    metrics: GatewayMetrics
    config: Config | None
    tenants: Any

    @property
    def client(self) -> AsyncClient: ...


class Request:
    """One HTTP request. ``headers``: lower-case names, the last value of a repeated one."""

    __slots__ = (
        "_body",
        "gateway",
        "headers",
        "method",
        "path",
        "principal",
        "query_string",
        "receive",
        "request_id",
        "scope",
        "state",
    )

    def __init__(self, scope: dict[str, Any], receive: Receive, gateway: GatewayView) -> None:
        self.scope = scope
        self.receive = receive
        self.gateway = gateway
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: str = scope.get("query_string", b"").decode("latin-1")
        self.headers: dict[str, str] = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
        }
        self.request_id = ""
        self.principal: Principal | None = None
        self.state: dict[str, Any] = {}
        self._body: bytes | None = None

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    async def body(self) -> bytes:
        """The whole body; :class:`HttpError` 413 past ``[gateway] max_body_bytes``."""
        if self._body is not None:
            return self._body
        limit = self.gateway.settings.max_body_bytes
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "http.disconnect":
                raise HttpError(400, "the client closed the connection before the body ended")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        body = await self.body()
        try:
            return loads(body)
        except ValueError:
            raise HttpError(400, "request body is not valid JSON", code="invalid_json") from None

    def bind_user(self, options: dict[str, Any]) -> None:
        """Make a call's ``user=`` the access key's user. ``user`` picks the stored
        provider key (BYOK), the quotas and the per-user limits, so a tenant must not
        choose it: a user named in the request body counts only for the admin key and
        an open gateway."""
        principal = self.principal
        if principal is None or principal.admin or principal.key_id is None:
            return
        if principal.user is not None:
            options["user"] = principal.user
        else:
            options.pop("user", None)

    def require_model(self, model: str) -> None:
        """:class:`HttpError` 403 when this caller's key may not use ``model``. Every
        route that calls a model asks this, so it is also where the access log learns
        the model (``state["model"]``)."""
        self.state["model"] = model
        principal = self.principal
        if principal is not None and not principal.allows(model):
            raise HttpError(
                403,
                f"this access key may not use the model {model!r}",
                code="model_not_allowed",
                type="permission",
                param="model",
            )


def credential(headers: dict[str, str]) -> str | None:
    """The key a caller sent: ``Authorization: Bearer KEY`` or ``x-api-key: KEY``."""
    found = headers.get("authorization")
    if found is not None:
        scheme, _, value = found.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    found = headers.get("x-api-key")
    return found.strip() or None if found is not None else None


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison (over bytes: ``compare_digest`` refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _too_large(limit: int) -> HttpError:
    return HttpError(413, f"request body is larger than {limit} bytes", code="request_too_large")


def error_response(exc: BaseException, errors: ErrorFormat) -> Response:
    """``exc`` rendered as an HTTP response in a route's error format."""
    return errors.render(classify(exc))
