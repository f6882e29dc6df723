"""``[[budgets]]`` and ``[alerts]`` of ``llmswitch.toml``, read into
:class:`~llmswitch.usage.budgets.Budget` / :class:`~llmswitch.usage.budgets.AlertSettings`
with ``file:line: key: message`` errors (kept out of ``_validate``, which is near its
size cap). The keys come from ``_spec.BUDGET`` / ``_spec.ALERTS``, the schema's too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ..providers.settings import is_http_url
from . import _spec

# The validator (``_validate.Validator``) comes in as ``v``: typed Any, since naming it
# here would be an import cycle with the module that calls this one.
Validator = Any

__all__ = ["read_budgets"]

_BUDGET_KEYS = tuple(_spec.BUDGET.keys)
_ALERT_KEYS = tuple(_spec.ALERTS.keys)


def read_budgets(v: Validator, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``budgets`` and ``alerts`` values of a :class:`~llmswitch.config.Config`."""
    out: dict[str, Any] = {}
    if "alerts" in doc:
        alerts = v.unit(_alerts, v, doc, default=None)
        if alerts is not None:
            out["alerts"] = alerts
    items = doc.get("budgets")
    if items is None:
        return out
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        v.report(v.error(("budgets",), "expected an array of tables [[budgets]]"))
        return out
    built = [v.unit(_budget, v, item, i, default=None) for i, item in enumerate(items)]
    budgets = tuple(b for b in built if b is not None)
    seen: dict[tuple[str, str], int] = {}
    for i, b in enumerate(built):
        if b is None:
            continue
        twin = seen.setdefault((b.scope, b.period), i)
        if twin != i:
            v.report(
                v.error(
                    ("budgets", f"[{i}]", "scope"),
                    f"{b.scope} per {b.period} is already budgeted by budgets[{twin}]",
                )
            )
    out["budgets"] = budgets
    return out


def _alerts(v: Validator, doc: Mapping[str, Any]) -> Any:
    from ..usage.budgets import AlertSettings

    raw = v.table(doc, ("alerts",))
    v.known(raw, ("alerts",), _ALERT_KEYS)
    webhook = _webhook(v, raw, ("alerts", "webhook"))
    secret = v.string(raw["secret"], ("alerts", "secret")) if "secret" in raw else None
    return AlertSettings(webhook=webhook, secret=secret or None)


def _webhook(v: Validator, raw: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    if path[-1] not in raw:
        return None
    url: str = v.string(raw[path[-1]], path)
    if not url:  # "${ALERT_WEBHOOK:-}": none
        return None
    if not is_http_url(url):  # not echoed: a webhook URL often carries a token
        raise v.error(path, "must be an http:// or https:// URL")
    return url


def _budget(v: Validator, raw: Mapping[str, Any], i: int) -> Any:
    from ..usage.budgets import Budget

    where = ("budgets", f"[{i}]")
    v.known(raw, where, _BUDGET_KEYS)
    for key in ("scope", "limit_usd"):
        if key not in raw:
            raise v.error(where, f"a budget needs {key}")
    values: dict[str, Any] = {}
    for key in ("scope", "period", "action"):
        if key in raw:
            node = _spec.BUDGET.keys[key]
            assert isinstance(node, _spec.Value)
            values[key] = v.scalar(node, raw[key], (*where, key))
    for key in ("limit_usd", "reservation_ttl"):
        if key in raw:
            node = _spec.BUDGET.keys[key]
            assert isinstance(node, _spec.Value)
            values[key] = v.scalar(node, raw[key], (*where, key))
            if key == "limit_usd" and isinstance(raw[key], int):
                values[key] = raw[key]  # an integer stays exact
    if "alert_at" in raw:
        alert_at = raw["alert_at"]
        if not isinstance(alert_at, list) or not all(
            isinstance(t, int | float) and not isinstance(t, bool) for t in alert_at
        ):
            raise v.error((*where, "alert_at"), "expected an array of numbers")
        values["alert_at"] = tuple(alert_at)
    values["webhook"] = _webhook(v, raw, (*where, "webhook"))
    try:
        return Budget(**values)
    except ConfigurationError as exc:
        field = exc.field if exc.field in raw else None
        raise v.error((*where, field) if field else where, exc.message) from None
