"""Usage reports: the ledger's rows summed by day, provider, model, user, team, key or
prompt, aggregated in SQL (one ``GROUP BY``) on SQLite and PostgreSQL alike::

    rows = usage.report(db, by=("day", "model"), since="2026-11-01", team="ml")
    # [{"day": "2026-11-01", "model": "gpt-4o", "calls": 12, "input_tokens": ...,
    #   "cost_usd": 0.0421}, ...]

Each row holds exactly its grouping field(s) and ``calls``, ``input_tokens``,
``output_tokens``, ``cached_input_tokens``, ``cache_write_tokens``, ``reasoning_tokens``
and ``cost_usd`` (the ``llmswitch usage --format json`` contract; a row where every call
is unpriced has ``cost_usd = None``, never 0). Grouping by ``prompt`` gives one field,
``prompt``: ``"NAME@VERSION"``, or ``None`` for calls made without a stored prompt.

``detail=True`` adds two fields: ``cost_nano`` (the exact integer sum the float comes
from) and ``unpriced_calls`` (calls whose price was unknown: they add nothing to the
cost, so a row with ``unpriced_calls > 0`` is a lower bound).

Days are UTC. ``since``/``until`` take a date (``2026-11-01``), an ISO datetime
(``2026-11-01T12:00``, UTC unless it names its offset), a relative age (``7d``,
``12h``, ``30m``: that long before now), a ``date``/``datetime``, or epoch
milliseconds; both ends are inclusive, and an ``until`` date includes that whole day.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection, Select

    from ..storage.sql import Database

__all__ = [
    "COUNT_FIELDS",
    "DETAIL_FIELDS",
    "FILTERS",
    "GROUPS",
    "ReportQuery",
    "adatabase_exists",
    "areport",
    "database_exists",
    "group_fields",
    "parse_time",
    "prompt_label",
    "report",
]

GROUPS = ("day", "provider", "model", "user", "team", "key", "prompt")
FILTERS = ("provider", "model", "user", "team", "key", "prompt")
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
# The summed fields of every row (the contract's), in the order the CLI prints them.
COUNT_FIELDS = ("calls", *TOKEN_FIELDS, "cost_usd")
# What ``detail=True`` adds to each row.
DETAIL_FIELDS = ("cost_nano", "unpriced_calls")

_DAY_MS = 86_400_000
_AGE = re.compile(r"(\d+)\s*([dhm])")
_MISSING_DATABASE = re.compile(r'FATAL:\s+database ".*" does not exist')
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
# Ledger column behind each plain group/filter name (day and prompt are special).
_COLUMNS = {"provider": "provider", "model": "model", "user": "user", "team": "team"}
_COLUMNS["key"] = "access_key"


def group_fields(by: Sequence[str]) -> tuple[str, ...]:
    """The grouping fields a row of ``by`` carries: one per name (``prompt`` is one
    ``"NAME@VERSION"`` field)."""
    return tuple(by)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A checked report request: groups, the inclusive epoch-ms range, the filters."""

    by: tuple[str, ...]
    since_ms: int | None
    until_ms: int | None
    filters: Mapping[str, tuple[str, ...]]

    @classmethod
    def make(
        cls,
        by: str | Iterable[str] = ("day",),
        since: Any = None,
        until: Any = None,
        filters: Mapping[str, Any] | None = None,
        *,
        now: datetime | None = None,
    ) -> ReportQuery:
        groups = _groups(by)
        since_ms = parse_time(since, field="since", now=now)
        until_ms = parse_time(until, field="until", end=True, now=now)
        if since_ms is not None and until_ms is not None and since_ms > until_ms:
            raise ConfigurationError(
                f"since ({since}) is after until ({until}): the range is empty", field="since"
            )
        chosen: dict[str, tuple[str, ...]] = {}
        for name, value in (filters or {}).items():
            if name not in FILTERS:
                raise ConfigurationError(
                    f"unknown filter {name!r}; expected one of {', '.join(FILTERS)}", field=name
                )
            values = _values(value, name)
            if values:
                chosen[name] = values
        return cls(groups, since_ms, until_ms, chosen)

    def select(self) -> Select[Any]:
        """The one aggregate SELECT of this report (sans-I/O: nothing runs here)."""
        from sqlalchemy import BigInteger, func, literal_column, select

        from ..storage.sql.schema import usage_ledger as t

        keys: list[ColumnElement[Any]] = []
        day_key: ColumnElement[Any] | None = None
        for name in self.by:
            if name == "day":
                # Integer days since the epoch: the same arithmetic on both dialects (a
                # literal, not a bound parameter, so PostgreSQL sees the SELECT and the
                # GROUP BY expression as one).
                days = t.c.at.op("/")(literal_column(str(_DAY_MS), BigInteger))
                day_key = days.label("day")
                keys.append(day_key)
            elif name == "prompt":
                keys += [t.c.prompt_name, t.c.prompt_version]
            else:
                keys.append(t.c[_COLUMNS[name]])
        cost = func.sum(t.c.cost_nano)
        sums = [func.coalesce(func.sum(t.c[name]), 0).label(name) for name in TOKEN_FIELDS]
        query = select(
            *keys,
            func.count().label("calls"),
            *sums,
            cost.label("cost_nano"),
            (func.count() - func.count(t.c.cost_nano)).label("unpriced_calls"),
        )
        query = query.where(*self.conditions())
        if keys:
            query = query.group_by(*keys)
        # Oldest day first; within it (or without days) the biggest spend first, then
        # the group values, so the order is the same on both dialects.
        order: list[Any] = [] if day_key is None else [day_key.asc()]
        order.append(func.coalesce(cost, -1).desc())
        order += [key.asc().nulls_last() for key in keys if key is not day_key]
        return query.order_by(*order)

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses of the range and the filters."""
        from sqlalchemy import and_, or_

        from ..storage.sql.schema import usage_ledger as t

        conditions: list[ColumnElement[bool]] = []
        if self.since_ms is not None:
            conditions.append(t.c.at >= self.since_ms)
        if self.until_ms is not None:
            conditions.append(t.c.at <= self.until_ms)
        for name, values in self.filters.items():
            if name != "prompt":
                conditions.append(t.c[_COLUMNS[name]].in_(values))
                continue
            either = []
            for value in values:
                prompt, _, version = value.rpartition("@")
                if prompt and version.isdigit():
                    same = (t.c.prompt_name == prompt, t.c.prompt_version == int(version))
                    either.append(and_(*same))
                else:
                    either.append(t.c.prompt_name == value)
            conditions.append(or_(*either))
        return conditions

    def rows(self, conn: Connection, *, detail: bool = False) -> list[dict[str, Any]]:
        """Run the query on ``conn``; one dict per group (module docs)."""
        out: list[dict[str, Any]] = []
        for raw in conn.execute(self.select()).mappings():
            if not raw["calls"]:
                continue  # no groups and no rows: SQL's one all-zero row, here none
            row: dict[str, Any] = {}
            for name in self.by:
                if name == "day":
                    row[name] = _day(raw["day"])
                elif name == "prompt":
                    row[name] = _prompt(raw["prompt_name"], raw["prompt_version"])
                else:
                    row[name] = raw[_column(name)]
            row["calls"] = int(raw["calls"])
            for name in TOKEN_FIELDS:
                row[name] = int(raw[name])
            nano = None if raw["cost_nano"] is None else int(raw["cost_nano"])
            row["cost_usd"] = None if nano is None else nano / 1e9
            if detail:
                row["cost_nano"] = nano
                row["unpriced_calls"] = int(raw["unpriced_calls"])
            out.append(row)
        return out


def report(
    database: Database | str | None = None,
    by: str | Iterable[str] = ("day",),
    since: Any = None,
    until: Any = None,
    *,
    recover: bool = True,
    journal: str | None = None,
    detail: bool = False,
    **filters: Any,
) -> list[dict[str, Any]]:
    """The ledger summed by ``by`` (one or more of :data:`GROUPS`; a string may list
    several, ``"provider,model"``) over ``since``..``until`` (module docs), keeping rows
    that match every filter (``provider``, ``model``, ``user``, ``team``, ``key``,
    ``prompt`` as ``NAME`` or ``NAME@VERSION``; each a value or a list of values).

    ``database``: a :class:`~llmswitch.storage.sql.Database`, a URL, or ``None`` for
    ``$LLMSWITCH_DATABASE_URL`` / the default SQLite file. Rows a killed process left in
    the ledger's local journal are written to the database first (``recover=False``
    skips that; ``journal``: the journal's root directory when ``[usage] journal`` sets
    one); a database that does not exist yet is not created: the report is ``[]``.
    ``detail=True`` adds ``cost_nano`` and ``unpriced_calls`` to each row."""
    query = ReportQuery.make(by, since, until, filters)
    db, owned = _database(database)
    try:
        if db.dialect == "postgresql" and not database_exists(db):
            return []  # nothing to recover into: the journal waits for the database
        if recover:
            _recover(db, journal)
        if not db.status().exists:
            return []
        return db.read(functools.partial(query.rows, detail=detail))
    finally:
        if owned:
            db.close()


async def areport(
    database: Database | str | None = None,
    by: str | Iterable[str] = ("day",),
    since: Any = None,
    until: Any = None,
    *,
    recover: bool = True,
    journal: str | None = None,
    detail: bool = False,
    **filters: Any,
) -> list[dict[str, Any]]:
    """:func:`report` on the database's async engine (the journal recovery, which
    reads local files, runs in a thread)."""
    query = ReportQuery.make(by, since, until, filters)
    db, owned = _database(database)
    try:
        if db.dialect == "postgresql" and not await adatabase_exists(db):
            return []
        if recover:
            import asyncio  # here: `import llmswitch` skips asyncio's ~18 ms for sync users

            await asyncio.to_thread(_recover, db, journal)
        if not (await db.astatus()).exists:
            return []
        return await db.aread(functools.partial(query.rows, detail=detail))
    finally:
        if owned:
            await db.aclose()


def database_exists(db: Database) -> bool:
    """Whether ``db`` exists, without creating it: a SQLite file not made yet or a
    PostgreSQL database the server does not have is ``False``; a server that cannot be
    reached is a :class:`~llmswitch.errors.StorageError` (naming the masked URL)."""
    from ..errors import StorageError

    try:
        return db.status().exists
    except StorageError as exc:
        if _no_such_database(exc):
            return False
        raise


async def adatabase_exists(db: Database) -> bool:
    """:func:`database_exists` on the async engine."""
    from ..errors import StorageError

    try:
        return (await db.astatus()).exists
    except StorageError as exc:
        if _no_such_database(exc):
            return False
        raise


def _no_such_database(exc: BaseException) -> bool:
    """PostgreSQL's ``3D000 invalid_catalog_name``: the server is up, the database is
    not there. asyncpg carries the SQLSTATE; psycopg fails in libpq's connect, before
    any SQLSTATE, so there the server's message is what tells."""
    orig = getattr(exc.__cause__, "orig", None)
    if getattr(orig, "sqlstate", None) == "3D000":
        return True
    return _MISSING_DATABASE.search(str(orig)) is not None


def parse_time(
    value: Any, *, field: str, end: bool = False, now: datetime | None = None
) -> int | None:
    """``value`` (module docs) as epoch milliseconds, UTC. ``end``: a date means the
    last millisecond of that day (an inclusive ``until``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{field}: expected a date or time, got {value!r}", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = _parse_text(value.strip(), field, now)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        start = datetime(value.year, value.month, value.day, tzinfo=UTC)
        ms = int(start.timestamp() * 1000)
        return ms + _DAY_MS - 1 if end else ms
    raise ConfigurationError(
        f"{field}: expected a date, datetime or epoch milliseconds, got {type(value).__name__}",
        field=field,
    )


def _parse_text(text: str, field: str, now: datetime | None) -> date | datetime:
    age = _AGE.fullmatch(text.lower())
    if age is not None:
        moment = now if now is not None else datetime.now(UTC)
        return moment - timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"{field}: expected YYYY-MM-DD, an ISO datetime (YYYY-MM-DDTHH:MM[:SS][+HH:MM]) "
            f"or an age like 7d, 12h, 30m; got {text!r}",
            field=field,
        ) from None


def _groups(by: str | Iterable[str]) -> tuple[str, ...]:
    names: list[str] = []
    for item in [by] if isinstance(by, str) else by:
        for name in str(item).split(","):
            name = name.strip()
            if name not in GROUPS:
                raise ConfigurationError(
                    f"cannot group by {name!r}; expected one of {', '.join(GROUPS)}", field="by"
                )
            if name not in names:
                names.append(name)
    return tuple(names)


def _values(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{name}: expected a name or a list of names", field=name)
    return tuple(items)


def prompt_label(row: Mapping[str, Any]) -> str:
    """A row's prompt for a table or a chart: ``NAME@VERSION``; ``-`` for calls without one."""
    return "-" if row["prompt"] is None else str(row["prompt"])


def _prompt(name: str | None, version: int | None) -> str | None:
    if name is None:
        return None
    return name if version is None else f"{name}@{version}"


def _column(name: str) -> str:
    return _COLUMNS.get(name, name)


def _day(value: Any) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(value))).isoformat()


def _database(database: Database | str | None) -> tuple[Database, bool]:
    from ..storage.sql import Database, open_database

    if isinstance(database, Database):
        return database, False
    return open_database(database), True


def _recover(db: Database, journal: str | None = None) -> None:
    from .ledger import recover_journal

    recover_journal(db, journal)
