"""Usage, budgets and live status: ``/admin/usage``, ``/admin/budgets``,
``/admin/status``."""

from __future__ import annotations

from typing import Any

import orjson

from ._api import Operation
from ._call import AdminCall, invalid
from ._models import Budget, UsageQuery, UsageRow

__all__ = ["OPERATIONS"]

_FILTERS = ("provider", "model", "user", "team", "key", "prompt")


async def usage_report(call: AdminCall) -> list[UsageRow]:
    """The rows of ``llmswitch usage --format json`` for the same options."""
    from ...errors import ConfigurationError
    from ...usage.report import ReportQuery, areport

    q: UsageQuery = call.query
    filters = {name: getattr(q, name) for name in _FILTERS if getattr(q, name) is not None}
    try:  # checked first: a bad range or group is the caller's 400, before any query
        query = ReportQuery.make(q.by, q.since, q.until, filters)
    except ConfigurationError as exc:
        raise invalid(exc.message, exc.field) from None
    except (OverflowError, ValueError):  # an age or date past what datetime holds
        raise invalid("since/until: out of range", "since") from None
    rows = await areport(call.services.database, query.by, q.since, q.until, **filters)
    return [UsageRow.model_validate(row) for row in rows]


async def list_budgets(call: AdminCall) -> list[Budget]:
    """Each budget of the client's budget layer (``[[budgets]]`` of llmswitch.toml and
    the tenants' budgets), its current period read live."""
    statuses = await call.services.client.budgets()
    return [
        Budget.model_validate({**s.as_dict(), "remaining_usd": s.remaining_nano / 1e9})
        for s in statuses
    ]


async def client_status(call: AdminCall) -> dict[str, Any]:
    """Breakers, key pools, limiter and cache state, as ``client.status()`` reports."""
    status = await call.services.client.status()
    # Through JSON once: whatever a layer reports must be what the answer holds.
    raw = orjson.dumps(status, default=str, option=orjson.OPT_NON_STR_KEYS)
    return orjson.loads(raw)  # type: ignore[no-any-return]


_T = "usage"
OPERATIONS = [
    Operation(method="GET", path="/admin/usage",
              summary="Usage and spend summed by day, provider, model, user, team, key or "
              "prompt (the rows of `llmswitch usage --format json`)", tag=_T,
              handler=usage_report, query=UsageQuery, response=list[UsageRow]),
    Operation(method="GET", path="/admin/budgets",
              summary="Budgets and their current period, read live", tag=_T,
              handler=list_budgets, response=list[Budget]),
    Operation(method="GET", path="/admin/status",
              summary="Live state: circuit breakers, key pools, limiter, cache", tag=_T,
              handler=client_status, response=dict[str, Any]),
]  # fmt: skip
