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
from typing import TYPE_CHECKING, Any

from .._json import dumps_str

if TYPE_CHECKING:
    from .app import ASGIApp, Gateway

__all__ = ["ACCESS_LOGGER", "access_log"]

ACCESS_LOGGER = "llmswitch.gateway.access"
_log = logging.getLogger(ACCESS_LOGGER)

Scope = MutableMapping[str, Any]


def access_log(app: ASGIApp, gateway: Gateway) -> ASGIApp:
    """Wrap ``app`` (the onion's ``(app, gateway) -> app``) to log each HTTP request."""
    if not gateway.settings.access_log:
        return app
    from .app import PRINCIPAL, REQUEST_ID, STATE

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
            _log.info(
                _line(scope, seen, wall, time.perf_counter() - started, REQUEST_ID, PRINCIPAL, STATE)
            )

    return logged


def _line(
    scope: Scope,
    seen: list[int],
    wall: float,
    took: float,
    request_id: str,
    principal_key: str,
    state_key: str,
) -> str:
    client = scope.get("client")
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds"),
        "request_id": scope.get(request_id),
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": seen[0] or None,  # None: the connection ended before a response
        "duration_ms": round(took * 1000, 3),
        "bytes_in": seen[1],
        "bytes_out": seen[2],
        "client": client[0] if client else None,
    }
    principal = scope.get(principal_key)
    if principal is not None:
        if principal.admin:
            entry["admin"] = True
        entry["key_id"] = principal.key_id
        entry["user"] = principal.user
        entry["team"] = principal.team
    state = scope.get(state_key)
    if state:
        model = state.get("model")
        if isinstance(model, str):
            entry["model"] = model
    return dumps_str(entry)
