"""The schema migration runner.

Hand-written rather than Alembic on purpose: the migrations run on first use *inside
the library* (any process that opens the database, with either driver), not from a
deploy step with an ``env.py`` and an ``alembic.ini``; there are a handful of them; and
what they need is small — a version table, a cross-process lock and one transaction
per version — which is shorter to write and read here than to drive Alembic's
programmatic API through both the sync and the async engine.

Each pending version is applied in its own transaction that first takes the
migration lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: the transaction is
``BEGIN IMMEDIATE``, the database's write lock), then re-reads what is applied, so
processes that start together apply each version exactly once and the losers find
nothing left to do. PostgreSQL and SQLite both run DDL transactionally, so a failing
migration leaves nothing of itself behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlalchemy import Connection, inspect, select, text

from ...errors import StorageError
from ._clock import now_ms
from .migrations import MIGRATIONS
from .schema import MIGRATIONS_TABLE, schema_migrations

__all__ = [
    "MigrationFailed",
    "MigrationStatus",
    "apply_next",
    "description",
    "empty_status",
    "latest_version",
    "read_status",
    "refuse_newer",
]

# pg_advisory_xact_lock key: any fixed 64-bit number; this one is b"llmswitc" as an int.
_PG_LOCK_KEY = 0x6C6C6D7377697463


class MigrationFailed(Exception):
    """A migration's ``upgrade`` raised; the Database turns this into a StorageError
    naming the version (its transaction is rolled back by then)."""

    def __init__(self, version: int, cause: Exception) -> None:
        self.version = version
        self.cause = cause
        super().__init__(f"migration {version} failed")


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationStatus:
    """Where a database's schema stands. ``current`` is the highest applied version (0
    for an empty database); ``pending`` the versions this llmswitch would apply."""

    url: str
    current: int
    latest: int
    applied: tuple[int, ...]
    pending: tuple[int, ...]
    exists: bool = True  # False: a SQLite file not created yet

    @property
    def up_to_date(self) -> bool:
        return not self.pending

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "current": self.current,
            "latest": self.latest,
            "applied": list(self.applied),
            "pending": list(self.pending),
            "up_to_date": self.up_to_date,
            "exists": self.exists,
        }


def _checked(migrations: Sequence[ModuleType]) -> dict[int, ModuleType]:
    by_version: dict[int, ModuleType] = {}
    for number, module in enumerate(migrations, start=1):
        version = getattr(module, "VERSION", None)
        if version != number:
            # A packaging mistake, not a user's: caught by the test suite, never shipped.
            raise RuntimeError(f"{module.__name__}: VERSION {version!r}, expected {number}")
        by_version[number] = module
    return by_version


_BY_VERSION = _checked(MIGRATIONS)


def latest_version() -> int:
    return len(_BY_VERSION)


def _applied(conn: Connection) -> tuple[int, ...]:
    if not inspect(conn).has_table(MIGRATIONS_TABLE):
        return ()
    rows = conn.execute(select(schema_migrations.c.version).order_by(schema_migrations.c.version))
    return tuple(int(v) for v in rows.scalars())


def _status(conn: Connection, url: str) -> MigrationStatus:
    applied = _applied(conn)
    return MigrationStatus(
        url=url,
        current=max(applied, default=0),
        latest=latest_version(),
        applied=applied,
        pending=tuple(v for v in _BY_VERSION if v not in applied),
    )


def empty_status(url: str) -> MigrationStatus:
    """The status of a database that does not exist yet."""
    return MigrationStatus(
        url=url,
        current=0,
        latest=latest_version(),
        applied=(),
        pending=tuple(_BY_VERSION),
        exists=False,
    )


def refuse_newer(status: MigrationStatus) -> None:
    """:class:`StorageError` when the database is newer than this code."""
    if status.current > status.latest:
        raise StorageError(
            f"database {status.url} has schema version {status.current}, newer than this "
            f"llmswitch knows (latest {status.latest}); upgrade llmswitch rather than use "
            "it with an older version (llmswitch never downgrades a schema)",
            url=status.url,
            version=status.current,
        )


def read_status(conn: Connection, url: str) -> MigrationStatus:
    """The schema's state, read without changing anything."""
    return _status(conn, url)


def apply_next(conn: Connection, url: str) -> int | None:
    """In the caller's (fresh) transaction: take the migration lock, then apply the
    lowest pending version and record it. Returns that version, or ``None`` when
    nothing is pending. Raises :class:`StorageError` for a database newer than this
    code and :class:`MigrationFailed` when the migration raises (the caller's
    transaction then rolls back)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    # SQLite: this transaction began with BEGIN IMMEDIATE, which is the lock.
    schema_migrations.create(conn, checkfirst=True)
    status = _status(conn, url)
    refuse_newer(status)
    if not status.pending:
        return None
    version = status.pending[0]
    module = _BY_VERSION[version]
    try:
        module.upgrade(conn)
    except Exception as exc:
        raise MigrationFailed(version, exc) from exc
    conn.execute(
        schema_migrations.insert().values(
            version=version,
            description=str(module.DESCRIPTION)[:200],
            applied_at=now_ms(),
        )
    )
    return version


def description(version: int) -> str:
    return str(_BY_VERSION[version].DESCRIPTION)
