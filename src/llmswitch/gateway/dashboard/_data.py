"""What the dashboard's JSON endpoints answer, computed from the library: spend from the
usage report (``usage/report.py``, summed in SQL in nano-USD, so the page shows the
ledger's own totals), budgets from the budget layer, breaker, key-pool and cache state
from ``collect_status``, experiments from ``prompts/experiments.py`` and their analytics.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...errors import ConfigurationError
from ...usage.report import COUNT_FIELDS, parse_time

if TYPE_CHECKING:
    from ...client import AsyncClient

__all__ = [
    "SPEND_GROUPS",
    "budgets_data",
    "experiments_data",
    "overview_data",
    "spend_data",
    "status_data",
]

SPEND_GROUPS = ("provider", "model", "user", "team", "key")
MAX_DAYS = 400  # the longest range the chart draws day by day
MAX_EXPERIMENTS = 12
_NONE_LABEL = "(none)"


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _days(since_ms: int | None, until_ms: int | None, seen: list[str], today: date) -> list[str]:
    """Every day of the range, oldest first (days without spend included, so the bars
    line up with the calendar); an open end stops at the data or today."""
    known = sorted(date.fromisoformat(d) for d in seen)
    first = _day(since_ms) if since_ms is not None else (known[0] if known else today)
    last = _day(until_ms) if until_ms is not None else max([today, *known[-1:]])
    if known and since_ms is None:
        first = min(first, known[0])
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _label(value: Any) -> str:
    return _NONE_LABEL if value is None else str(value)


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if rows:
        return {name: rows[0][name] for name in COUNT_FIELDS}
    return {name: (None if name == "cost_usd" else 0) for name in COUNT_FIELDS}


async def spend_data(
    client: AsyncClient, by: str, since: str | None, until: str | None, *, now: datetime
) -> dict[str, Any]:
    """Spend per day and ``by`` group over ``since``..``until``, each group's totals
    and the overall total: three report queries, so every total is SQL's exact sum."""
    if by not in SPEND_GROUPS:
        raise ConfigurationError(
            f"cannot chart spend by {by!r}; expected one of {', '.join(SPEND_GROUPS)}", field="by"
        )
    since_ms = parse_time(since, field="since", now=now)
    until_ms = parse_time(until, field="until", end=True, now=now)
    daily, groups, total = await asyncio.gather(
        client.usage_report(by=("day", by), since=since_ms, until=until_ms),
        client.usage_report(by=(by,), since=since_ms, until=until_ms),
        client.usage_report(by=(), since=since_ms, until=until_ms),
    )
    days = _days(since_ms, until_ms, [r["day"] for r in daily], now.date())
    index = {d: i for i, d in enumerate(days)}
    series: dict[Any, list[float]] = {r[by]: [0.0] * len(days) for r in groups}
    for r in daily:
        i = index.get(r["day"])
        if i is not None and r["cost_usd"] is not None:
            series.setdefault(r[by], [0.0] * len(days))[i] = r["cost_usd"]
    rows = [
        {"name": r[by], "label": _label(r[by]), **{k: r[k] for k in COUNT_FIELDS}} for r in groups
    ]
    return {
        "by": by,
        "since": since_ms,
        "until": until_ms,
        "days": days,
        "series": [
            {"name": name, "label": _label(name), "values": values}
            for name, values in series.items()
        ],
        "rows": rows,
        "total": _total(total),
    }


async def _cost_since(client: AsyncClient, since: date) -> dict[str, Any]:
    rows = await client.usage_report(by=(), since=since.isoformat())
    if not rows:
        return {"calls": 0, "cost_usd": None}
    return {"calls": rows[0]["calls"], "cost_usd": rows[0]["cost_usd"]}


async def status_data(client: AsyncClient) -> dict[str, Any]:
    """Breakers, key pools and the response cache, as ``collect_status`` reports them
    (budgets have their own endpoint)."""
    status = await client.status()
    return {
        "breakers": status.get("breakers", {}),
        "key_pools": status.get("key_pools", {}),
        "cache": status.get("cache") or None,
        "other": status.get("other", {}),
    }


async def overview_data(
    client: AsyncClient, live: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    """The tiles: spend today and this month (UTC), the live figures, the cache hit
    ratio, open breakers and budgets past an alert threshold."""
    today = now.date()
    day, month, status, budgets = await asyncio.gather(
        _cost_since(client, today),
        _cost_since(client, today.replace(day=1)),
        status_data(client),
        budgets_data(client),
    )
    open_breakers = sum(1 for b in status["breakers"].values() if b.get("state") != "closed")
    cache = status["cache"]
    return {
        "today": day,
        "month": month,
        "live": {k: live[k] for k in ("rps", "requests", "p50_ms", "p95_ms", "error_rate")},
        "cache": None if cache is None else {"hit_ratio": cache.get("hit_ratio")},
        "breakers_open": open_breakers,
        "budgets_alerting": sum(1 for b in budgets["budgets"] if b["crossed"]),
    }


def _budget_settings(client: AsyncClient) -> tuple[Any, ...]:
    # The configured budgets (for their alert thresholds): the client keeps its
    # configuration on the core a reload swaps, and has no public accessor for it.
    core = getattr(client, "_core", None)
    return tuple(getattr(getattr(core, "config", None), "budgets", ()) or ())


async def budgets_data(
    client: AsyncClient, alerts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Each budget's current period (spent, reserved, limit, the share used and the
    alert thresholds it has crossed) and the newest alerts this process raised."""
    statuses = await client.budgets()
    settings = _budget_settings(client)
    out = []
    for i, s in enumerate(statuses):
        b = settings[i] if i < len(settings) else None
        same = b is not None and (b.scope, b.period) == (s.scope, s.period)
        alert_at = [float(a) for a in b.alert_at] if same and b is not None else []
        used = (s.spent_nano / s.limit_nano) if s.limit_nano else 0.0
        out.append({
            **s.as_dict(),
            "used": used,
            "alert_at": alert_at,
            "crossed": [a for a in alert_at if s.spent_nano >= a * s.limit_nano],
        })  # fmt: skip
    return {"budgets": out, "alerts": list(alerts or [])}


def _experiments_sync(client: AsyncClient) -> list[dict[str, Any]]:
    from ...prompts.analytics import analyze
    from ...usage.report import database_exists

    ledger = client.usage_ledger
    if ledger is not None:
        ledger.flush(5.0)  # this process's newest rows first
    store = client.prompts
    if not database_exists(store.database):
        return []  # nothing recorded yet: do not create a database to say so
    found = store.experiments.list()
    # Running and paused ones first, then the newest stopped ones.
    found.sort(key=lambda e: (e.status not in ("running", "paused"), -e.updated_at))
    out = []
    for experiment in found[:MAX_EXPERIMENTS]:
        stats = analyze(store.database, experiment.prompt, experiment=experiment, recover=False)
        out.append({
            **experiment.as_dict(),
            "arms": [a.as_dict() for a in stats.arms],
            "comparisons": [c.as_dict() for c in stats.comparisons],
            "srm_warning": stats.srm_warning,
        })  # fmt: skip
    return out


async def experiments_data(client: AsyncClient) -> dict[str, Any]:
    """The prompt experiments (running first) with each arm's analytics."""
    return {"experiments": await asyncio.to_thread(_experiments_sync, client)}


def utc_now() -> datetime:
    """Now, UTC (one place, so tests can pass their own)."""
    return datetime.now(UTC)
