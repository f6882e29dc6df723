"""The access log: one JSON line per request on the ``llmswitch.gateway.access`` logger.

Fields: ``time`` (UTC, ISO 8601, ms), ``request_id``, ``method``, ``path`` (never the
query string: it may carry anything), ``status``, ``duration_ms`` (to the last byte),
``bytes_in``/``bytes_out`` (bodies), ``client`` (the peer address), ``key_id``, ``user``
and ``team`` of the caller (``admin: true`` for the admin key), and ``model`` when the
route named one (``request.state["model"]``). Never a key, a header, a prompt or an
answer. ``[gateway] access_log = false`` leaves the layer out entirely.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

from .._json import dumps_str
from .._log import get_logger
from ._http import PRINCIPAL, REQUEST_ID, STATE

if TYPE_CHECKING:
    from ._settings import GatewaySettings

__all__ = ["ACCESS_LOGGER", "BatchWriter", "access_log", "set_sink"]

ACCESS_LOGGER = "llmswitch.gateway.access"
_log = get_logger(ACCESS_LOGGER)

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
        if scope.get("type") != "http" or (_sink is None and not _log.isEnabledFor(logging.INFO)):
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
            _emit(_line(scope, seen, wall, time.perf_counter() - started))

    return logged


def _line(scope: Scope, seen: list[int], wall: float, took: float) -> str:
    client = scope.get("client")
    entry: dict[str, Any] = {
        "time": _iso(wall),
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


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def _iso(wall: float) -> str:
    """``2026-12-01T21:10:25.385+00:00``; the date part is formatted once a second."""
    whole = int(wall)
    if _second[0] != whole:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int((wall - whole) * 1000):03d}+00:00"


# --------------------------------------------------------------------------- sinks

_sink: Callable[[str], None] | None = None  # None: the logger


def set_sink(sink: Callable[[str], None] | None) -> None:
    """Where lines go: ``None`` (default) the ``llmswitch.gateway.access`` logger;
    ``serve`` sets a :class:`BatchWriter` on stdout (the logging module costs about
    10 µs per line on the event loop; the writer, a deque append)."""
    global _sink
    _sink = sink


def _emit(line: str) -> None:
    if _sink is not None:
        _sink(line)
    else:
        _log.info(line)


class BatchWriter:
    """Lines written to ``stream`` by a daemon thread, in batches every ``interval``
    seconds, so the event loop only appends to a deque. At most ``cap`` lines wait
    (past that the oldest are dropped and counted in ``dropped``); :meth:`flush`
    writes what waits (shutdown, exit)."""

    def __init__(self, stream: Any, *, interval: float = 0.1, cap: int = 100_000) -> None:
        self._stream = stream
        self._interval = interval
        self._cap = cap
        self._lines: deque[str] = deque()
        self._lock = threading.Lock()  # one writer at a time (the thread, flush)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="llmswitch-access-log", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def __call__(self, line: str) -> None:
        lines = self._lines
        if len(lines) >= self._cap:
            lines.popleft()
            self.dropped += 1
        lines.append(line)

    def flush(self) -> None:
        with self._lock:
            lines = self._lines
            out = []
            while lines:
                out.append(lines.popleft())
            if out:
                try:
                    self._stream.write("\n".join(out) + "\n")
                    self._stream.flush()
                except (OSError, ValueError):  # stdout closed or gone: nothing to tell
                    pass

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            if self._lines:
                self.flush()
