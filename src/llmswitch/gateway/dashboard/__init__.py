"""The gateway's dashboard at ``/dashboard``: an admin logs in with the admin key and
sees spend over time (by provider, model, user, team), budgets and their alerts, live
request rate and latency, breaker and key-pool state, cache hit ratio and prompt
experiments.

A plain page (``static/``: HTML, CSS and two ES modules, no build step, no framework,
nothing from a CDN) polls JSON endpoints computed from the library:

- ``GET /dashboard``: the page, or the login form without a session;
- ``GET /dashboard/static/*``: its files (ETag revalidation, strict CSP);
- ``POST /dashboard/login`` / ``POST /dashboard/logout``: the session cookie (HttpOnly,
  SameSite=Strict, Secure over https) holding a signed, expiring token, never the key;
- ``GET /dashboard/api/{overview,spend,budgets,live,status,experiments}``: the data,
  for a session or a request carrying the admin key.
"""

from __future__ import annotations

from .._routes import Route
from ._handlers import Dashboard

__all__ = ["ROUTES", "Dashboard"]

# The process's dashboard (sessions, login limiter, live history live on it).
_DASHBOARD = Dashboard()
ROUTES: list[Route] = _DASHBOARD.routes()
