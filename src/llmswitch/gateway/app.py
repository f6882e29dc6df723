"""The gateway's ASGI app: :class:`Gateway` and :func:`create_app`.

A request goes through a plain onion (Starlette-style: each layer an ASGI app wrapping
the next, one small module each, listed in :data:`MIDDLEWARE`) into the dispatcher:

1. the route, by method and exact path (a dict lookup) or by prefix (``/admin/*``);
   an unknown path is a 404, a known path with another method a 405;
2. the caller, by the route's ``auth``: an access key through ``tenants`` (an
   in-process cache in front of the database), or the admin key, compared in constant
   time; ``x-api-key`` and ``Authorization: Bearer`` both carry it;
3. the handler, inside ``usage.tags(user, team, access_key)`` and with the request id
   given to the library, so the ledger row, budgets and cache scope follow the caller
   and the row carries the same id as the ``x-request-id`` response header;
4. the response: a failure anywhere above is rendered by the route's error format.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .._log import get_logger
from ..usage._tags import enter_tags, leave_tags
from ..usage.middleware import given_request_id, new_request_id, restore_request_id
from ._access_log import access_log
from ._errors import PLAIN, HttpError, classify
from ._http import PRINCIPAL, REQUEST_ID, STATE, STATUS, Request, credential, same_secret
from ._metrics import CallMetrics, GatewayMetrics
from ._principal import ADMIN, ANONYMOUS, Principal
from ._response import Response
from ._routes import Route, RouteTable
from ._settings import GatewaySettings
from ._stream import StreamResponse

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ..config import Config
    from ..middleware.base import Middleware

__all__ = ["MIDDLEWARE", "ASGIApp", "Authenticator", "Gateway", "create_app", "default_routes"]

log = get_logger("llmswitch.gateway")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]  # fmt: skip

# The onion, outermost first: each ``(app, gateway) -> app``. The access log is the
# only one today; the dispatcher below does routing, auth and errors itself because
# every request needs them and a layer per concern would cost a call each.
MIDDLEWARE: list[Callable[[ASGIApp, Gateway], ASGIApp]] = [access_log]


_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class Authenticator(Protocol):
    """What resolves an access key to its :class:`Principal` (``None``: unknown,
    revoked or expired). ``gateway/tenancy`` has the database-backed one."""

    async def authenticate(self, token: str) -> Principal | None: ...

    async def aclose(self) -> None: ...


def default_routes() -> list[Route]:
    """Every route the gateway serves (each feature package's ``ROUTES``)."""
    routes: list[Route] = []
    for name in _FEATURES:
        module = __import__(f"llmswitch.gateway.{name}", fromlist=["ROUTES"])
        routes.extend(module.ROUTES)
    return routes


# The feature packages whose routes make up the gateway (their ``ROUTES`` lists).
_FEATURES: tuple[str, ...] = (
    "ops",
    "usage_api",
    "dashboard",
    "openai.routes",
    "anthropic.routes",
    "admin",
)


class Gateway:
    """The ASGI app. ``client``: the :class:`~llmswitch.AsyncClient` every call goes
    through (made from the environment and ``llmswitch.toml`` at startup when not given;
    closed at shutdown either way, which flushes its usage ledger);
    ``tenants``: the access keys (``None``: none configured); ``settings``:
    ``[gateway]``."""

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        settings: GatewaySettings | None = None,
        tenants: Authenticator | None = None,
        routes: Iterable[Route] | None = None,
        config: Config | None = None,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.config = config
        self.settings = settings if settings is not None else _settings_of(config)
        self._client = client
        self._middleware = tuple(middleware)  # for the client made at startup
        # Awaited with the gateway after the client is open / before it is closed
        # (serve's tenancy: the tenants' budgets are read and kept fresh).
        self.on_startup: list[Callable[[Gateway], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[Gateway], Awaitable[None]]] = []
        self.tenants = tenants
        self.routes = RouteTable(default_routes() if routes is None else routes)
        self.metrics = GatewayMetrics()
        self.started_at = time.time()
        self._started = False
        self._start_lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        app: ASGIApp = self._dispatch
        for layer in reversed(MIDDLEWARE):
            app = layer(app, self)
        self._app = app

    def __repr__(self) -> str:
        routes = len(list(self.routes))
        return f"Gateway({routes} routes, tenants={self.tenants is not None})"

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("the gateway has not started (no client yet)")
        return self._client

    # ------------------------------------------------------------------ lifecycle

    async def startup(self) -> None:
        """Open the client (idempotent; also done on the first request, for servers and
        test transports that send no lifespan events)."""
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            if self._client is None:
                from ..client import AsyncClient

                # CallMetrics: the library's call metrics (tokens, cost, errors) for /metrics.
                layers = [CallMetrics(self.metrics), *self._middleware]
                self._client = (
                    AsyncClient(config=self.config, middleware=layers)
                    if self.config
                    else AsyncClient(middleware=layers)
                )
            for hook in self.on_startup:
                await hook(self)
            self._started = True

    async def shutdown(self, grace: float | None = None) -> None:
        """Let in-flight requests finish (up to ``grace`` seconds, default
        ``shutdown_grace_seconds``), then close the client (flushing the usage ledger)
        and the access keys' store."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        if self.metrics.in_flight:
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning("gateway: %d requests still running at shutdown",
                            self.metrics.in_flight)  # fmt: skip
        for hook in self.on_shutdown:
            try:
                await hook(self)
            except Exception as exc:  # the client still closes (its ledger is flushed)
                log.warning("gateway: a shutdown step failed: %s: %s", type(exc).__name__, exc)
        if self._client is not None:  # given or made here: the gateway runs it to the end
            await self._client.aclose()
            self._client = None
        if self.tenants is not None:
            await self.tenants.aclose()
        self._started = False

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._app(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websockets: not served
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _dispatch(self, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        if not self._started:
            await self.startup()
        request = Request(scope, receive, self)  # type: ignore[arg-type]
        given = request.headers.get("x-request-id")
        rid = given if given is not None and _SANE_ID.fullmatch(given) else new_request_id()
        request.request_id = scope[REQUEST_ID] = rid
        scope[STATE] = request.state
        metrics = self.metrics
        metrics.in_flight += 1
        self._idle.clear()
        route = self.routes.find(request.method, request.path)
        name = route.path if route is not None else "unmatched"
        status = 500
        try:
            response = await self._respond(route, request)
            scope[PRINCIPAL] = request.principal
            status = scope[STATUS] = response.status
            if type(response) is StreamResponse:
                # The handler awaited the first event before answering (first_then), so
                # this is the time to the first token; the whole stream is observed below.
                metrics.first_token(name, time.perf_counter() - start)
                await response.send(send, rid, receive, self.settings.heartbeat_seconds)
            else:
                await response.send(send, rid)  # type: ignore[call-arg]
        finally:
            metrics.in_flight -= 1
            if not metrics.in_flight:
                self._idle.set()
            metrics.observe(name, status, time.perf_counter() - start)

    async def _respond(self, route: Route | None, request: Request) -> Response | StreamResponse:
        if route is None:
            methods = self.routes.methods(request.path)
            if methods:
                allow = ", ".join(sorted(methods))
                error = HttpError(
                    405, f"{request.method} is not allowed here (allowed: {allow})",
                    code="method_not_allowed", headers=[("allow", allow)],
                )  # fmt: skip
            else:
                error = HttpError(404, f"no route {request.path}", code="not_found")
            return PLAIN.render(classify(error))
        try:
            request.principal = await self._authenticate(route, request)
            return await self._call(route, request)
        except Exception as exc:
            info = classify(exc)
            self.metrics.error(route.path, info.kind)
            return route.errors.render(info)

    async def _call(self, route: Route, request: Request) -> Response | StreamResponse:
        principal = request.principal
        token = given_request_id(request.request_id)
        try:
            tags = principal.tags if principal is not None else None
            if tags is None:
                return await route.handler(request)
            tagged = enter_tags(tags)
            try:
                return await route.handler(request)
            finally:
                leave_tags(tagged)
        finally:
            restore_request_id(token)

    async def _authenticate(self, route: Route, request: Request) -> Principal | None:
        auth = route.auth
        if auth == "none" or (auth == "metrics" and self.settings.public_metrics):
            return None
        token = credential(request.headers)
        admin = self.settings.admin_key
        if token is not None and admin is not None and same_secret(token, admin.get()):
            return ADMIN
        tenants = self.tenants
        if auth != "key":  # "admin" / "metrics": the admin key only
            if token is not None and tenants is not None and await tenants.authenticate(token):
                raise HttpError(403, "this needs the admin key", code="admin_required")
            raise HttpError(401, "invalid or missing admin key", code="invalid_admin_key")
        if tenants is None and admin is None:
            return ANONYMOUS  # an open gateway (serve binds it to loopback only)
        if token is not None and tenants is not None:
            principal = await tenants.authenticate(token)
            if principal is not None:
                return principal
        if admin is None and tenants is not None and self.settings.open_until_keys:
            keys_exist = getattr(tenants, "keys_exist", None)
            if keys_exist is not None and not await keys_exist():
                return ANONYMOUS  # loopback, and no access key issued yet
        if token is None:
            raise HttpError(401, "missing access key (send Authorization: Bearer lsk-...)",
                            code="invalid_access_key")  # fmt: skip
        raise HttpError(401, "invalid access key", code="invalid_access_key")


def _settings_of(config: Config | None) -> GatewaySettings:
    section = getattr(config, "gateway", None) if config is not None else None
    return GatewaySettings.from_config(section)


def create_app(
    client: AsyncClient | None = None,
    *,
    settings: GatewaySettings | None = None,
    tenants: Authenticator | None = None,
    routes: Sequence[Route] | None = None,
    config: Config | None = None,
    middleware: Sequence[Middleware] = (),
) -> Gateway:
    """The gateway as an ASGI app (``uvicorn llmswitch.gateway:app`` style servers can
    take it directly; ``llmswitch serve`` runs it)."""
    return Gateway(
        client, settings=settings, tenants=tenants, routes=routes, config=config,
        middleware=middleware,
    )  # fmt: skip
