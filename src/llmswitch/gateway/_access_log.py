"""The access log: one JSON line per request on the ``llmswitch.gateway.access`` logger.

Fields: ``time`` (UTC, ISO 8601, ms), ``request_id``, ``method``, ``path`` (never the
query string: it may carry anything), ``status``, ``duration_ms`` (to the last byte),
``bytes_in``/``bytes_out`` (bodies), ``client`` (the peer address), ``key_id``, ``user``
and ``team`` of the caller (``admin: true`` for the admin key), and ``model`` when the
route named one (``request.state["model"]``). Never a key, a header, a prompt or an
answer. ``[gateway] access_log = false`` leaves the layer out entirely.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from .._json import dumps_str
from ._http import PRINCIPAL, REQUEST_ID, STATE

if TYPE_CHECKING:
    from ._settings import GatewaySettings

__all__ = ["ACCESS_LOGGER", "access_log"]

ACCESS_LOGGER = "llmswitch.gateway.access"
_log = logging.getLogger(ACCESS_LOGGER)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]  # fmt: skip


class _HasSettings(Protocol):
    settings: GatewaySettings


def access_log(app: ASGIApp, gateway: _HasSettings) -> ASGIApp:
    """Wrap ``app`` (the onion's ``(app, gateway) -> app``) to log each HTTP request."""
    if not gateway.settings.access_log:
        return app

    async def logged(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope.get("type") != "http" or not _log.isEnabledFor(logging.INFO):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        wall = time.time()
        seen = [0, 0, 0]  # status, bytes in, bytes out

        async def counting_receive() -> Any:
            message = await receive()
            body = message.get("body")
            if body:
                seen[1] += len(body)
            return message

        async def counting_send(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body")
                if body:
                    seen[2] += len(body)
            elif kind == "http.response.start":
                seen[0] = message["status"]
            await send(message)

        try:
            await app(scope, counting_receive, counting_send)
        finally:
            _log.info(_line(scope, seen, wall, time.perf_counter() - started))

    return logged


def _line(scope: Scope, seen: list[int], wall: float, took: float) -> str:
    client = scope.get("client")
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds"),
        "request_id": scope.get(REQUEST_ID),
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": seen[0] or None,  # None: the connection ended before a response
        "duration_ms": round(took * 1000, 3),
        "bytes_in": seen[1],
        "bytes_out": seen[2],
        "client": client[0] if client else None,
    }
    principal = scope.get(PRINCIPAL)
    if principal is not None:
        if principal.admin:
            entry["admin"] = True
        entry["key_id"] = principal.key_id
        entry["user"] = principal.user
        entry["team"] = principal.team
    state = scope.get(STATE)
    if state:
        model = state.get("model")
        if isinstance(model, str):
            entry["model"] = model
    return dumps_str(entry)
