"""Spend budgets: their settings, their periods and their live status.

A budget caps what the calls of one *scope* may spend per UTC calendar *period*::

    [[budgets]]
    scope = "team:ml"        # user:NAME | team:NAME | key:ID | provider:ID | model:NAME | global
    period = "month"         # day | month (UTC calendar periods; default month)
    limit_usd = 250
    alert_at = [0.5, 0.8, 1.0]
    action = "block"         # block (raise BudgetExceededError before sending) | alert

The layer that enforces them is :class:`~llmswitch.usage.budget_layer.BudgetLayer`; the
alerts go out through :mod:`llmswitch.usage.alerts`. Money is integer nano-USD
(1e-9 USD) inside: ``limit_usd`` is converted exactly (``0.1`` is 100,000,000 nano).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_ALERT_AT",
    "DEFAULT_RESERVATION_TTL",
    "SCOPE_KINDS",
    "AlertSettings",
    "Budget",
    "BudgetStatus",
    "period_bounds",
    "to_nano",
]

SCOPE_KINDS = ("user", "team", "key", "provider", "model")
DEFAULT_ALERT_AT = (0.5, 0.8, 1.0)
# How long a call's reservation holds when its process dies before settling it.
DEFAULT_RESERVATION_TTL = 600.0
Period = Literal["day", "month"]
Action = Literal["block", "alert"]
NANO = 10**9


def to_nano(usd: float | int | str, field_name: str = "limit_usd") -> int:
    """``usd`` as integer nano-USD, exactly (the decimal the number is written as, not
    its binary float: ``0.1`` -> 100_000_000); more than 9 decimals is an error."""
    if isinstance(usd, bool):
        raise ConfigurationError(f"{field_name} must be a number of USD", field=field_name)
    try:
        exact = Decimal(repr(usd) if isinstance(usd, float) else str(usd)) * NANO
    except InvalidOperation:
        problem = f"{field_name} must be a number of USD"
        raise ConfigurationError(problem, field=field_name) from None
    if not exact.is_finite() or exact < 0:
        raise ConfigurationError(f"{field_name} must be a finite amount >= 0", field=field_name)
    if exact != exact.to_integral_value():
        raise ConfigurationError(
            f"{field_name} has more than 9 decimals (budgets count nano-USD)", field=field_name
        )
    return int(exact)


def _scope(scope: object) -> tuple[str, str]:
    if not isinstance(scope, str):
        raise ConfigurationError("scope must be a string", field="scope")
    if scope == "global":
        return "global", ""
    kind, sep, value = scope.partition(":")
    if not sep or kind not in SCOPE_KINDS or not value:
        raise ConfigurationError(
            "scope must be global or user:NAME, team:NAME, key:ID, provider:ID, model:NAME",
            field="scope",
        )
    return kind, value


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """One ``[[budgets]]`` entry. ``limit_usd`` is kept as given; ``limit_nano`` is its
    exact nano-USD. ``alert_at``: fractions of the limit (each > 0, at most 10) whose
    crossing is announced once per period. ``action = "alert"`` never blocks.
    ``webhook``: where this budget's alerts go instead of ``[alerts] webhook``.
    ``reservation_ttl``: seconds a call's reservation holds if its process dies before
    settling it (it then stops counting)."""

    scope: str
    limit_usd: float
    period: Period = "month"
    alert_at: tuple[float, ...] = DEFAULT_ALERT_AT
    action: Action = "block"
    webhook: str | None = None
    reservation_ttl: float = DEFAULT_RESERVATION_TTL
    kind: str = field(init=False, repr=False, compare=False)
    value: str = field(init=False, repr=False, compare=False)
    limit_nano: int = field(init=False, repr=False, compare=False)
    thresholds_nano: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind, value = _scope(self.scope)
        if self.period not in ("day", "month"):
            raise ConfigurationError("period must be day or month", field="period")
        if self.action not in ("block", "alert"):
            raise ConfigurationError("action must be block or alert", field="action")
        limit = to_nano(self.limit_usd)
        if limit == 0 and self.action == "alert":
            raise ConfigurationError("an alert budget needs limit_usd > 0", field="limit_usd")
        alert_at = tuple(self.alert_at)
        for t in alert_at:
            if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 10:
                raise ConfigurationError(
                    "alert_at must be fractions of the limit, each > 0 and <= 10", field="alert_at"
                )
        ttl = self.reservation_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= 86400:
            raise ConfigurationError(
                "reservation_ttl must be seconds > 0 and <= 86400", field="reservation_ttl"
            )
        alert_at = tuple(sorted({float(t) for t in alert_at}))
        # A threshold is reached when spend >= it: rounded up so 0.5 of 1 nano is 1 nano.
        thresholds = tuple(
            math.ceil(Decimal(repr(t)) * limit) for t in alert_at
        )  # exact decimal fraction of the exact limit
        for name, v in (
            ("kind", kind), ("value", value), ("limit_nano", limit), ("alert_at", alert_at),
            ("thresholds_nano", thresholds), ("reservation_ttl", float(ttl)),
        ):  # fmt: skip
            object.__setattr__(self, name, v)

    @property
    def blocks(self) -> bool:
        return self.action == "block"

    def describe(self) -> dict[str, object]:
        """This budget as its ``[[budgets]]`` table (the webhook URL left out: it may
        carry a token)."""
        return {
            "scope": self.scope, "period": self.period, "limit_usd": self.limit_usd,
            "alert_at": list(self.alert_at), "action": self.action,
        }  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSettings:
    """``[alerts]``: the default webhook of every budget's alerts and the secret that
    signs them (``X-LLMSwitch-Signature: sha256=<hex HMAC-SHA256 of the body>``)."""

    webhook: str | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetStatus:
    """One budget as seen now: ``spent`` is what settled calls of the current period
    cost, ``reserved`` what calls in flight hold (their estimates), both nano-USD."""

    scope: str
    period: Period
    period_start: str  # "2026-12-01T00:00:00Z"
    action: Action
    limit_nano: int
    spent_nano: int
    reserved_nano: int

    @property
    def limit_usd(self) -> float:
        return self.limit_nano / NANO

    @property
    def spent_usd(self) -> float:
        return self.spent_nano / NANO

    @property
    def reserved_usd(self) -> float:
        return self.reserved_nano / NANO

    @property
    def remaining_nano(self) -> int:
        return max(0, self.limit_nano - self.spent_nano - self.reserved_nano)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, as ``client.status()["budgets"]`` shows it."""
        return {
            "scope": self.scope, "period": self.period, "period_start": self.period_start,
            "action": self.action, "limit_usd": self.limit_usd, "spent_usd": self.spent_usd,
            "reserved_usd": self.reserved_usd,
        }  # fmt: skip


_BOUNDS: dict[str, tuple[float, float, str]] = {}  # period -> (start, end, stamp)


def period_bounds(period: str, now: float) -> tuple[str, float, float]:
    """(stamp, start, end) of the UTC calendar ``period`` holding ``now`` (epoch
    seconds): ``("2026-12-01", ...)`` for a day, ``("2026-12", ...)`` for a month.
    Cached while ``now`` stays inside the last one computed (datetime is slow)."""
    hit = _BOUNDS.get(period)
    if hit is not None and hit[0] <= now < hit[1]:
        return hit[2], hit[0], hit[1]
    t = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start_dt = t.replace(hour=0, minute=0, second=0, microsecond=0)
        start = start_dt.timestamp()
        end, stamp = start + 86400, start_dt.strftime("%Y-%m-%d")
    else:
        start_dt = datetime(t.year, t.month, 1, tzinfo=UTC)
        nxt = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)
        start, end, stamp = start_dt.timestamp(), nxt.timestamp(), t.strftime("%Y-%m")
    _BOUNDS[period] = (start, end, stamp)
    return stamp, start, end


def iso(epoch: float) -> str:
    """``epoch`` seconds as an RFC 3339 UTC timestamp."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
