"""Spend over time as a PNG: one stacked bar per UTC day, one colour per group.

matplotlib comes from the ``charts`` extra and is imported only when a chart is drawn.
Only its object API is used (``Figure`` + the Agg canvas), never ``pyplot``: no
global backend switch, no window, nothing left open in the process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from ..errors import ConfigurationError
from .report import prompt_label

__all__ = ["MAX_SERIES", "chart", "series", "write_chart"]

MAX_SERIES = 8  # more colours than this are unreadable: the rest are summed as "other"
_MISSING = (
    "--chart needs matplotlib, which comes with the 'charts' extra: "
    "pip install 'llmswitch[charts]' (or uv add 'llmswitch[charts]')"
)


def series(
    rows: Iterable[dict[str, Any]], group: Sequence[str]
) -> tuple[list[date], dict[str, list[float]]]:
    """Rows of ``report(by=("day", *group))`` as every day from the first to the last
    (days without calls are 0) and, per series label, the USD spent each day; the
    :data:`MAX_SERIES` - 1 biggest series by total keep their own label, the rest are
    ``"other"``. Unpriced calls add nothing (their cost is unknown)."""
    spend: dict[str, dict[date, int]] = {}
    for row in rows:
        label = _label(row, group)
        day = date.fromisoformat(row["day"])
        per_day = spend.setdefault(label, {})
        per_day[day] = per_day.get(day, 0) + (row["cost_nano"] or 0)
    if not spend:
        return [], {}
    first = min(min(d) for d in spend.values())
    last = max(max(d) for d in spend.values())
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    ranked = sorted(spend, key=lambda label: (-sum(spend[label].values()), label))
    keep = ranked if len(ranked) <= MAX_SERIES else ranked[: MAX_SERIES - 1]
    out: dict[str, list[float]] = {}
    for label in ranked:
        name = label if label in keep else "other"
        values = out.setdefault(name, [0.0] * len(days))
        for i, day in enumerate(days):
            values[i] += spend[label].get(day, 0) / 1e9
    return days, out


def write_chart(
    rows: Iterable[dict[str, Any]], path: str | os.PathLike[str], group: Sequence[str] = ()
) -> None:
    """Draw ``rows`` (of ``report(by=("day", *group))``) to the PNG at ``path``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigurationError(_MISSING, field="chart") from None
    days, spent = series(rows, group)
    figure = Figure(figsize=(10, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bottom = [0.0] * len(days)
    x: Any = days  # matplotlib plots dates; its stubs only name numbers
    for label, values in spent.items():
        axes.bar(x, values, bottom=bottom, label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    by = ", ".join(group) if group else "total"
    axes.set_title(f"Spend per day (UTC) by {by}" if group else "Spend per day (UTC)")
    axes.set_ylabel("USD")
    if not days:
        axes.text(0.5, 0.5, "no usage recorded", ha="center", va="center", transform=axes.transAxes)
    elif group:
        axes.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    figure.savefig(os.fspath(path), format="png")


def chart(
    path: str | os.PathLike[str],
    database: Any = None,
    by: str | Iterable[str] = (),
    since: Any = None,
    until: Any = None,
    **filters: Any,
) -> None:
    """Report (as :func:`~llmswitch.usage.report.report`) and draw spend over time by
    ``by`` (``day`` is always the x axis) to the PNG at ``path``::

        usage.chart("spend.png", by="model", since="30d")
    """
    from .report import ReportQuery, report

    group = tuple(name for name in ReportQuery.make(by).by if name != "day")
    write_chart(report(database, ("day", *group), since, until, **filters), path, group)


def _label(row: dict[str, Any], group: Sequence[str]) -> str:
    if not group:
        return "total"
    parts = []
    for name in group:
        if name == "prompt":
            parts.append(prompt_label(row))
        else:
            parts.append("-" if row[name] is None else str(row[name]))
    return " / ".join(parts)
