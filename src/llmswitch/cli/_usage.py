"""``llmswitch usage``: what was spent, from the usage ledger.

Which database: ``--database-url``, else ``[storage] database_url`` of llmswitch.toml,
else ``$LLMSWITCH_DATABASE_URL``, else ``sqlite:///$LLMSWITCH_HOME/llmswitch.db`` (the
library's chain). Rows a killed process left in the ledger's journal are written to
the database first; a database that does not exist is reported empty, not created.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

_FILTERS = (
    ("provider", "P", "only calls to provider P"),
    ("model", "M", "only calls to model M"),
    ("user", "U", "only calls by user U"),
    ("team", "T", "only calls by team T"),
    ("key", "K", "only calls made with access key K"),
    ("prompt", "NAME[@V]", "only calls made with stored prompt NAME (version V)"),
)
# Table headings of the summed fields (the JSON/CSV names are the contract's).
_HEADINGS = {
    "calls": "calls", "input_tokens": "input", "output_tokens": "output",
    "cached_input_tokens": "cached in", "cache_write_tokens": "cache write",
    "reasoning_tokens": "reasoning", "cost_usd": "cost (USD)",
}  # fmt: skip


def add_usage_parser(commands: Any, config_option: Any) -> None:
    """The ``usage`` subcommand (called by ``cli.build_parser``)."""
    usage = commands.add_parser(
        "usage",
        help="report usage and spend from the ledger (table, CSV, JSON, chart, hints)",
        description="Sum the usage ledger by day, provider, model, user, team, key or "
        "prompt. Days are UTC; --since and --until take YYYY-MM-DD (an --until date "
        "includes that whole day), an ISO datetime (UTC unless it has an offset) or an "
        "age such as 7d, 12h, 30m; both ends are inclusive.",
    )
    usage.add_argument(
        "--by", metavar="GROUP", action="append",
        help="day, provider, model, user, team, key or prompt; several as "
        "--by provider,model or repeated --by (default: day)",
    )  # fmt: skip
    usage.add_argument("--since", metavar="WHEN", help="from this date or time")
    usage.add_argument("--until", metavar="WHEN", help="up to this date or time")
    usage.add_argument("--format", choices=("table", "csv", "json"), default="table")
    for name, metavar, text in _FILTERS:
        usage.add_argument(f"--{name}", metavar=metavar, action="append", help=text)
    usage.add_argument(
        "--chart", metavar="FILE.png",
        help="also write a PNG of spend per day by the --by groups (needs the charts extra)",
    )  # fmt: skip
    usage.add_argument(
        "--hints", action="store_true",
        help="instead of the report: cheaper models with the same capabilities, and "
        "prompt-cache use, per model used",
    )  # fmt: skip
    usage.add_argument(
        "--database-url", metavar="URL", help="sqlite:///path or postgresql://user@host:5432/db"
    )
    config_option(usage)


def run_usage(args: argparse.Namespace) -> int:
    from ..usage.report import ReportQuery

    filters = {name: getattr(args, name) for name, _, _ in _FILTERS}
    # Checked before the database is opened: a typo is a usage error, not a query.
    query = ReportQuery.make(args.by or ("day",), args.since, args.until, filters)
    if args.chart and not args.hints:
        from ..usage._chart import check_chart_path

        check_chart_path(args.chart)  # a bad path fails now, not after the query
    db = _open(args)
    try:
        if args.hints:
            return _hints(db, args, filters)
        return _report(db, args, query, filters)
    finally:
        db.close()


def _open(args: argparse.Namespace) -> Any:
    from ..storage.sql import open_database

    if args.database_url:
        return open_database(args.database_url, field="--database-url")
    from ..config import storage_url

    url = storage_url(args.config)
    if url:
        return open_database(url, field="[storage] database_url")
    return open_database(None)


def _journal(args: argparse.Namespace) -> str | None:
    """``[usage] journal`` of the configuration, where this machine's clients journal.
    A file that does not validate in other sections (a provider's missing key...) must
    not stop a report: then the default journal, which every client replays too."""
    from ..config import load_config
    from ..errors import LLMError

    try:
        settings = load_config(args.config).usage
    except LLMError:
        return None
    return settings.journal if settings is not None else None


def _report(db: Any, args: argparse.Namespace, query: Any, filters: dict[str, Any]) -> int:
    from ..usage.report import database_exists, report

    journal = _journal(args)
    rows = report(db, query.by, args.since, args.until, journal=journal, detail=True, **filters)
    missing = not rows and not database_exists(db)
    if missing:  # a note, not data: JSON and CSV stay parseable
        print(f"No usage recorded: the database {db.url} does not exist yet.", file=sys.stderr)
    if args.format == "json":
        fields = _fields(query.by)
        contract = [{name: row[name] for name in fields} for row in rows]
        sys.stdout.write(json.dumps(contract, indent=2) + "\n")
    elif args.format == "csv":
        _csv(rows, query.by)
    elif rows:
        _table(rows, query.by)
    elif not missing:
        print(_empty(db, query))
    if args.chart:
        from ..usage._chart import write_chart

        group = tuple(name for name in query.by if name != "day")
        # The chart's x axis is the day, whatever the table is grouped by.
        days = rows if query.by[:1] == ("day",) and len(query.by) == len(group) + 1 else None
        if days is None:
            days = report(
                db, ("day", *group), args.since, args.until, recover=False, detail=True, **filters
            )
        write_chart(days, args.chart, group)
        print(f"chart written to {args.chart}", file=sys.stderr)
    return 0


def _fields(by: tuple[str, ...]) -> tuple[str, ...]:
    """The contract's fields of a JSON object or CSV row: the groups, then the sums."""
    from ..usage.report import COUNT_FIELDS

    return (*by, *COUNT_FIELDS)


def _empty(db: Any, query: Any) -> str:
    narrowed = query.since_ms is not None or query.until_ms is not None or query.filters
    where = " for this range and these filters" if narrowed else ""
    return f"No usage recorded in {db.url}{where}."


def _csv(rows: list[dict[str, Any]], by: tuple[str, ...]) -> None:
    fields = _fields(by)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        # cost_usd exact from the integer sum: a float's digits would be noise.
        writer.writerow(
            [usd_text(row["cost_nano"]) if f == "cost_usd" else _cell(row[f]) for f in fields]
        )


def _table(rows: list[dict[str, Any]], by: tuple[str, ...]) -> None:
    from rich import box
    from rich.table import Table

    from ..usage.report import TOKEN_FIELDS, prompt_label

    table = Table(
        show_footer=True, box=box.SIMPLE, show_edge=False, pad_edge=False, header_style="bold"
    )
    totals = {name: sum(r[name] for r in rows) for name in ("calls", *TOKEN_FIELDS)}
    known = [r["cost_nano"] for r in rows if r["cost_nano"] is not None]
    unpriced = sum(r["unpriced_calls"] for r in rows)
    for i, name in enumerate(by):
        table.add_column(name, footer="total" if i == 0 else "")
    for name, heading in _HEADINGS.items():
        if name == "cost_usd":
            footer = _money(sum(known) if known else None, unpriced)
        else:
            footer = f"{totals[name]:,}"
        table.add_column(heading, justify="right", footer=footer)
    for row in rows:
        cells = [prompt_label(row) if n == "prompt" else _cell(row[n], "-") for n in by]
        cells += [f"{row[name]:,}" for name in ("calls", *TOKEN_FIELDS)]
        cells.append(_money(row["cost_nano"], row["unpriced_calls"]))
        table.add_row(*cells)
    console = _console()
    console.print(table)
    if unpriced:
        console.print(
            f"* {unpriced:,} call(s) had no known price: their cost is not included "
            "(a custom price in llmswitch.toml prices such models from then on)."
        )


def _hints(db: Any, args: argparse.Namespace, filters: dict[str, Any]) -> int:
    from ..usage.hints import hints

    found = hints(db, args.since, args.until, journal=_journal(args), **filters)
    if args.format == "json":
        sys.stdout.write(json.dumps([h.as_dict() for h in found], indent=2) + "\n")
        return 0
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["provider", "model", "cost_usd", "alternative", "alternative_cost_usd",
                         "saving_usd", "cached_share", "caching_saving_usd"])  # fmt: skip
        for h in found:
            for alt in h.alternatives or (None,):
                writer.writerow([
                    h.provider, h.model, usd_text(h.priced_nano),
                    f"{alt.provider}/{alt.model}" if alt else "",
                    usd_text(alt.cost_nano) if alt else "",
                    usd_text(alt.saving_nano) if alt else "",
                    _cell(h.cached_share), usd_text(h.caching_saving_nano),
                ])  # fmt: skip
        return 0
    console = _console()
    if not found:
        console.print("No usage recorded: no hints.")
        return 0
    for h in found:
        console.print(
            f"[bold]{h.provider}/{h.model}[/bold]: {h.calls:,} call{'' if h.calls == 1 else 's'}, "
            f"{_money(h.priced_nano, 0)} at current prices"
        )
        for alt in h.alternatives:
            share = alt.saving_nano / h.priced_nano if h.priced_nano else 0.0
            console.print(
                f"  {alt.provider}/{alt.model} would have cost {_money(alt.cost_nano, 0)} "
                f"(saves {_money(alt.saving_nano, 0)}, {share:.0%})"
            )
        if not h.alternatives:
            console.print("  no cheaper model with the same capabilities in the catalog")
        console.print("  " + _cache_line(h))
    console.print(
        "Same capabilities is not same quality: evaluate an alternative before switching. "
        "The caching figure is an upper bound (the ledger does not store prompts)."
    )
    return 0


def _cache_line(h: Any) -> str:
    if h.caching_supported is None:
        return "prompt caching: unknown (model not in the catalog)"
    if not h.caching_supported:
        return "prompt caching: this model has no cache-read price"
    share = "-" if h.cached_share is None else f"{h.cached_share:.0%}"
    line = f"prompt caching: {share} of input read from cache"
    if h.caching_saving_nano:
        line += f"; at most {_money(h.caching_saving_nano, 0)} more with full caching"
    return line


def _console() -> Any:
    from rich.console import Console

    # Piped output keeps whole rows: rich would otherwise wrap them at 80 columns.
    wide = None if sys.stdout.isatty() else 200
    return Console(file=sys.stdout, width=wide, highlight=False, soft_wrap=False)


def _money(nano: int | None, unpriced: int) -> str:
    mark = "*" if unpriced else ""
    if nano is None:
        return "unknown" + mark
    if 0 < nano < 500:
        return f"<$0.000001{mark}"
    return f"${nano / 1e9:,.6f}{mark}"


def usd_text(nano: int | None) -> str:
    """Exact USD from nano-USD, as a decimal string (CSV: no float rounding)."""
    if nano is None:
        return ""
    return f"{nano // 1_000_000_000}.{nano % 1_000_000_000:09d}"


def _cell(value: Any, none: str = "") -> str:
    return none if value is None else str(value)
