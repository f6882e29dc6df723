"""The dashboard's handlers: the page, its static files, login and logout, and the JSON
data endpoints, each checking the session itself (the core's admin auth reads a header;
a browser page carries a cookie).

Without ``LLMSWITCH_ADMIN_KEY`` the dashboard is off: every page says how to turn it on,
and no data leaves.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ...errors import ConfigurationError
from .._errors import HttpError
from .._http import credential, same_secret
from .._response import Response, json_response
from .._routes import Route
from . import _data
from ._live import AlertLog, LiveHistory
from ._pages import ASSETS, PAGE_HEADERS, dashboard_page, login_page
from ._session import (
    SESSION_SECONDS,
    LoginLimiter,
    Sessions,
    cookie_header,
    expired_cookie_header,
    read_cookie,
)

if TYPE_CHECKING:
    from .._http import Request
    from .._metrics import GatewayMetrics

__all__ = ["Dashboard"]

_HTML = "text/html; charset=utf-8"
_NO_ADMIN_KEY = "The dashboard needs an admin key: start the gateway with LLMSWITCH_ADMIN_KEY set."
_API = "/dashboard/api/"
_MAX_FORM = 8192  # the login form holds one key
_STATIC = "/dashboard/static/"


def _https(request: Request) -> bool:
    # Behind a TLS-terminating proxy the scheme arrives in x-forwarded-proto; trusting
    # it can only add the Secure flag, never remove it.
    scheme = str(request.scope.get("scheme", "http"))
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return scheme == "https" or forwarded == "https"


def _client_address(request: Request) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "-"


def _same_origin(request: Request) -> bool:
    """A POST from this page: no ``Origin`` (old browsers, curl) or one naming this
    host. SameSite=Strict already keeps the cookie off cross-site posts; this refuses
    them outright."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin != "null" and urlsplit(origin).netloc == host


def _redirect(location: str, *headers: tuple[str, str]) -> Response:
    return Response(
        b"",
        303,
        content_type="text/plain",
        headers=(*PAGE_HEADERS, ("location", location), *headers),
    )


def _html(body: bytes, status: int = 200, *headers: tuple[str, str]) -> Response:
    return Response(body, status, content_type=_HTML, headers=(*PAGE_HEADERS, *headers))


class Dashboard:
    """One dashboard's state: its sessions (per admin key), the failed-login limiter, the
    live history and the alert log. ``clock``: epoch seconds for sessions; ``limiter``:
    a :class:`LoginLimiter` (a fake clock in tests)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        limiter: LoginLimiter | None = None,
        session_seconds: float = SESSION_SECONDS,
    ) -> None:
        self._clock = clock
        self.limiter = limiter if limiter is not None else LoginLimiter()
        self.session_seconds = session_seconds
        self._sessions: tuple[bytes, Sessions] | None = None
        self._history: tuple[GatewayMetrics, LiveHistory] | None = None
        self.alerts = AlertLog()
        self._api: dict[str, Callable[[Request], Awaitable[Any]]] = {
            "overview": self._overview,
            "spend": self._spend,
            "budgets": self._budgets,
            "live": self._live,
            "status": self._status,
            "experiments": self._experiments,
        }

    def routes(self) -> list[Route]:
        """The dashboard's routes (``auth="none"``: the session is checked here)."""
        return [
            Route("GET", "/dashboard", self.page, auth="none"),
            Route("GET", _STATIC + "*", self.static, auth="none"),
            Route("POST", "/dashboard/login", self.login, auth="none"),
            Route("POST", "/dashboard/logout", self.logout, auth="none"),
            Route("GET", _API + "*", self.api, auth="none"),
        ]

    # ---- sessions

    def _admin_key(self, request: Request) -> str | None:
        secret = request.gateway.settings.admin_key
        value = secret.get() if secret is not None else ""
        return value or None

    def sessions(self, request: Request) -> Sessions | None:
        """The sessions of the gateway's admin key (``None``: no admin key)."""
        key = self._admin_key(request)
        if key is None:
            return None
        digest = hashlib.sha256(key.encode()).digest()
        current = self._sessions
        if current is None or not hmac.compare_digest(current[0], digest):
            current = self._sessions = (
                digest, Sessions(key, ttl=self.session_seconds, clock=self._clock)
            )  # fmt: skip
        return current[1]

    def authorized(self, request: Request) -> bool:
        """A valid session cookie, or the admin key in the request's headers."""
        sessions = self.sessions(request)
        if sessions is None:
            return False
        if sessions.valid(read_cookie(request.headers.get("cookie"))):
            return True
        token = credential(request.headers)
        key = self._admin_key(request)
        return token is not None and key is not None and same_secret(token, key)

    # ---- pages

    async def page(self, request: Request) -> Response:
        """``GET /dashboard``: the dashboard when logged in, else the login form."""
        if self.sessions(request) is None:
            return _html(login_page(_NO_ADMIN_KEY), 503)
        if self.authorized(request):
            return _html(dashboard_page())
        return _html(login_page())

    async def static(self, request: Request) -> Response:
        """``GET /dashboard/static/NAME``: the shipped files, revalidated by ETag."""
        asset = ASSETS.get(request.path[len(_STATIC) :])
        if asset is None:
            raise HttpError(404, f"no such file {request.path}", code="not_found")
        if request.headers.get("if-none-match") == asset.etag:
            return Response(b"", 304, content_type=asset.content_type, headers=asset.headers)
        return Response(asset.body, content_type=asset.content_type, headers=asset.headers)

    async def login(self, request: Request) -> Response:
        """``POST /dashboard/login`` (form field ``key``): a session cookie and back to the
        dashboard, or the form again with the error (401; 429 after too many)."""
        sessions = self.sessions(request)
        if sessions is None:
            return _html(login_page(_NO_ADMIN_KEY), 503)
        if not _same_origin(request):
            return _html(login_page("Log in from the dashboard's own page."), 403)
        client = _client_address(request)
        refused = self.limiter.check(client)
        if refused is not None:
            wait = math.ceil(refused.retry_after)
            return _html(
                login_page(f"Too many wrong keys: try again in {wait} s."), 429,
                ("retry-after", str(wait)),
            )  # fmt: skip
        body = await request.body()
        if len(body) > _MAX_FORM:
            return _html(login_page("That form is too large."), 413)
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        given = (form.get("key") or [""])[0].strip()
        key = self._admin_key(request)
        if not given or key is None or not same_secret(given, key):
            self.limiter.failed(client)
            return _html(login_page("That is not the admin key."), 401)
        cookie = cookie_header(
            sessions.issue(), secure=_https(request), max_age=self.session_seconds
        )
        return _redirect("/dashboard", ("set-cookie", cookie))

    async def logout(self, request: Request) -> Response:
        """``POST /dashboard/logout``: the session ends and its cookie is deleted."""
        if not _same_origin(request):
            raise HttpError(403, "log out from the dashboard's own page", code="cross_origin")
        sessions = self.sessions(request)
        if sessions is not None:
            sessions.revoke(read_cookie(request.headers.get("cookie")))
        return _redirect(
            "/dashboard", ("set-cookie", expired_cookie_header(secure=_https(request)))
        )

    # ---- data

    async def api(self, request: Request) -> Response:
        """``GET /dashboard/api/NAME``: one data endpoint's JSON (session or admin key)."""
        handler = self._api.get(request.path[len(_API) :])
        if handler is None:
            raise HttpError(404, f"no dashboard endpoint {request.path}", code="not_found")
        if self.sessions(request) is None:
            raise HttpError(503, _NO_ADMIN_KEY, code="dashboard_disabled")
        if not self.authorized(request):
            raise HttpError(401, "log in to the dashboard first", code="dashboard_login_required")
        try:
            data = await handler(request)
        except ConfigurationError as exc:  # a bad query parameter
            raise HttpError(400, exc.message, code="invalid_parameter", param=exc.field) from exc
        return json_response(data, headers=PAGE_HEADERS)

    def _live_history(self, metrics: GatewayMetrics) -> LiveHistory:
        current = self._history
        if current is None or current[0] is not metrics:
            current = self._history = (metrics, LiveHistory())
        return current[1]

    def live_data(self, request: Request) -> dict[str, Any]:
        """The last minute's figures (the core's metrics) and five minutes of series."""
        metrics = request.gateway.metrics
        series = self._live_history(metrics).series(metrics)
        figures = metrics.live()
        requests = int(figures.get("requests", 0))
        errors = int(figures.get("errors", 0))
        return {
            **figures,
            "error_rate": errors / requests if requests else None,
            "requests_total": sum(metrics.requests.values()),
            "bucket_seconds": 5.0,
            "series": series,
        }

    async def _overview(self, request: Request) -> Any:
        live = self.live_data(request)
        return await _data.overview_data(request.gateway.client, live, now=_data.utc_now())

    async def _spend(self, request: Request) -> Any:
        q = request.query()
        return await _data.spend_data(
            request.gateway.client, q.get("by") or "provider", q.get("since") or "30d",
            q.get("until") or None, now=_data.utc_now(),
        )  # fmt: skip

    async def _budgets(self, request: Request) -> Any:
        self.alerts.attach()
        return await _data.budgets_data(request.gateway.client, self.alerts.recent())

    async def _live(self, request: Request) -> Any:
        return self.live_data(request)

    async def _status(self, request: Request) -> Any:
        return await _data.status_data(request.gateway.client)

    async def _experiments(self, request: Request) -> Any:
        return await _data.experiments_data(request.gateway.client)
