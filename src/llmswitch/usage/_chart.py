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

__all__ = ["MAX_SERIES", "chart", "check_chart_path", "figure", "series", "write_chart"]

_MAX_LABELS = 31  # day labels on the x axis; longer ranges label every n-th day
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
        per_day[day] = per_day.get(day, 0) + _nano(row)
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


def check_chart_path(path: str | os.PathLike[str]) -> None:
    """Fail early (before any query) when a chart could not be written to ``path``: no
    matplotlib, a directory that does not exist or cannot be written, a directory given
    as the file."""
    _matplotlib()
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(target):
        raise ConfigurationError(f"--chart {target}: is a directory, not a file", field="chart")
    if not os.path.isdir(folder):
        raise ConfigurationError(
            f"--chart {target}: the directory {folder} does not exist", field="chart"
        )
    if not os.access(folder, os.W_OK):
        raise ConfigurationError(
            f"--chart {target}: the directory {folder} is not writable", field="chart"
        )


def figure(rows: Iterable[dict[str, Any]], group: Sequence[str] = ()) -> Any:
    """The chart of ``rows`` (of ``report(by=("day", *group))``) as a matplotlib
    ``Figure``: one bar per day drawn inside that day (midnight to midnight UTC,
    centred on noon), the x axis labelled by day."""
    figure_class, canvas_class, dates = _matplotlib()
    days, spent = series(rows, group)
    drawn = figure_class(figsize=(10, 5), dpi=100, layout="constrained")
    canvas_class(drawn)
    axes = drawn.add_subplot()
    # Matplotlib puts a date at its midnight, and a bar centred there would straddle two
    # days: each bar is centred half a day later, so it covers most of its own day.
    starts = [float(dates.date2num(day)) for day in days]
    centres = [start + 0.5 for start in starts]
    bottom = [0.0] * len(days)
    for label, values in spent.items():
        axes.bar(centres, values, bottom=bottom, label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    by = ", ".join(group) if group else "total"
    axes.set_title(f"Spend per day (UTC) by {by}" if group else "Spend per day (UTC)")
    axes.set_ylabel("USD")
    if not days:
        axes.text(0.5, 0.5, "no usage recorded", ha="center", va="center", transform=axes.transAxes)
        return drawn
    axes.set_xlim(starts[0], starts[-1] + 1)
    step = max(1, -(-len(days) // _MAX_LABELS))  # every day, or every n-th on long ranges
    axes.set_xticks(centres[::step], [day.isoformat() for day in days[::step]])
    if group:
        axes.legend(loc="upper left", fontsize="small")
    drawn.autofmt_xdate()
    return drawn


def write_chart(
    rows: Iterable[dict[str, Any]], path: str | os.PathLike[str], group: Sequence[str] = ()
) -> None:
    """Draw ``rows`` (of ``report(by=("day", *group))``) to the PNG at ``path``."""
    figure(rows, group).savefig(os.fspath(path), format="png")


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
    rows = report(database, ("day", *group), since, until, detail=True, **filters)
    write_chart(rows, path, group)


def _matplotlib() -> tuple[Any, Any, Any]:
    try:
        from matplotlib import dates
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigurationError(_MISSING, field="chart") from None
    return Figure, FigureCanvasAgg, dates


def _nano(row: dict[str, Any]) -> int:
    """A row's spend: ``cost_nano`` of a detailed row, else from ``cost_usd``."""
    if "cost_nano" in row:
        return int(row["cost_nano"] or 0)
    return round((row["cost_usd"] or 0) * 1e9)


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
