"""Operations routes: ``GET /healthz``, ``GET /readyz`` and ``GET /metrics``.

- ``/healthz`` (no key): the process is alive and its event loop answers; no I/O, so
  an outage elsewhere never gets a healthy gateway restarted.
- ``/readyz`` (no key): the SQL database (the usage ledger's) and the shared state
  store (``[state] url``, when it is Redis) answer within :data:`PROBE_TIMEOUT`
  seconds; 503 naming the one that failed otherwise. A ``memory://`` store has
  nothing to reach and is reported as ``"not configured"``.
- ``/metrics``: the Prometheus text format (see :mod:`llmswitch.gateway._metrics`), with
  the breakers' current states read from the shared store; the admin key unless
  ``[gateway] public_metrics = true``.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..errors import redact
from ..observability.metrics import PrometheusMetrics
from ._http import Request
from ._response import Response, json_response
from ._routes import Route

if TYPE_CHECKING:
    from ..storage import StateStore
    from ..storage.sql import Database
    from ._http import GatewayView

__all__ = ["PROBE_TIMEOUT", "ROUTES", "healthz", "metrics", "readyz"]

log = get_logger("llmswitch.gateway")

PROBE_TIMEOUT = 3.0  # seconds each dependency gets to answer /readyz
_OK = "ok"
_NOT_CONFIGURED = "not configured"


async def healthz(request: Request) -> Response:
    """Alive: answered by the event loop, without touching anything else."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: the database and the state store answer (503 naming the one that did not)."""
    probes = _probes(request.gateway)
    database, state = await asyncio.gather(probes.database(), probes.state())
    checks = {"database": database, "state": state}
    ready = all(v in (_OK, _NOT_CONFIGURED) for v in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return json_response(body, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Everything in the Prometheus text format, breaker states included."""
    gateway = request.gateway
    breakers: dict[str, Any] | None = None
    try:
        breakers = (await gateway.client.status()).get("breakers") or None
    except Exception as exc:  # the state store is down: the rest is still worth scraping
        log.warning("/metrics: breaker states unavailable: %s", redact(str(exc)))
    body = gateway.metrics.render(breakers).encode()
    return Response(body, content_type=PrometheusMetrics.CONTENT_TYPE)


ROUTES: list[Route] = [
    Route("GET", "/healthz", healthz, auth="none"),
    Route("GET", "/readyz", readyz, auth="none"),
    Route("GET", "/metrics", metrics, auth="metrics"),
]


# --------------------------------------------------------------------------- probes


class _Probes:
    """One gateway's dependency checks. One probe of each runs at a time: a burst of
    /readyz calls against a hung database shares the one in flight instead of piling
    up threads and connections."""

    def __init__(self, gateway: GatewayView) -> None:
        self._gateway = weakref.ref(gateway)
        self._database: Database | None = None
        self._owns_database = False
        self._store: StateStore | None = None
        self._store_url: str | None = None
        self._running: dict[str, asyncio.Future[str]] = {}

    async def database(self) -> str:
        return await self._shared("database", self._check_database)

    async def state(self) -> str:
        return await self._shared("state", self._check_state)

    async def _shared(self, name: str, check: Any) -> str:
        running = self._running.get(name)
        if running is None or running.done():
            running = self._running[name] = asyncio.ensure_future(self._timed(check))
        return await asyncio.shield(running)

    async def _timed(self, check: Any) -> str:
        try:
            await asyncio.wait_for(check(), PROBE_TIMEOUT)
        except _NotConfigured:
            return _NOT_CONFIGURED
        except TimeoutError:
            return f"failed: no answer within {PROBE_TIMEOUT:g} s"
        except Exception as exc:
            return f"failed: {type(exc).__name__}: {redact(str(exc))}"
        return _OK

    def _config(self) -> Any:
        gateway = self._gateway()
        return getattr(gateway, "config", None) if gateway is not None else None

    def _ledger_database(self) -> Database | None:
        gateway = self._gateway()
        if gateway is None:
            return None
        try:
            ledger = gateway.client.usage_ledger
        except RuntimeError:  # not started yet
            return None
        return ledger.database if ledger is not None else None

    async def _check_database(self) -> None:
        from sqlalchemy import text

        database = self._ledger_database() or self._own_database()
        # The sync engine in a thread: the ledger's own pool, no second engine per loop.
        await asyncio.to_thread(database.read, lambda conn: conn.execute(text("SELECT 1")))

    def _own_database(self) -> Database:
        if self._database is None:
            from ..storage.sql import open_database

            config = self._config()
            url = getattr(config, "database_url", None)
            self._database = open_database(url, field="[storage] database_url")
            self._owns_database = True
        return self._database

    async def _check_state(self) -> None:
        config = self._config()
        url = getattr(config, "state", None)
        if not url or url.startswith("memory:"):
            raise _NotConfigured
        if self._store is None or self._store_url != url:
            from ..storage import open_store

            secret = getattr(config, "state_secret", None)
            self._store = open_store(url, secret=secret.get() if secret is not None else None)
            self._store_url = url
        await self._store.aget("llmswitch:readyz")


class _NotConfigured(Exception):
    pass


_by_gateway: weakref.WeakKeyDictionary[Any, _Probes] = weakref.WeakKeyDictionary()


def _probes(gateway: GatewayView) -> _Probes:
    found = _by_gateway.get(gateway)
    if found is None:
        found = _by_gateway[gateway] = _Probes(gateway)
    return found
