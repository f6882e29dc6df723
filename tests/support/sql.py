"""SQL storage scaffolding: the ``database`` fixture runs a test once on SQLite (a temp
file) and once on the PostgreSQL at localhost:5432 (database ``test``), each run in a
fresh schema of its own that is dropped afterwards; the PostgreSQL run skips, saying
how to start it, only when that server is not reachable.

``database_url`` is the same parametrized URL without a :class:`Database` opened on
it, for tests that open their own (CLI, subprocesses, several processes at once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmswitch.storage.sql import Database, open_database

PG_USERS = ("postgres", "root")
PG_HOSTPORT = "localhost:5432"
PG_DB = "test"
START_POSTGRES = "service postgresql start (trust auth for local connections, database 'test')"

_reachable: dict[str, str | None] = {}


def postgres_base_url() -> str | None:
    """``postgresql://USER@localhost:5432/test`` for the first user that can connect,
    or ``None`` when the server is not reachable (checked once per run)."""
    if "url" not in _reachable:
        import psycopg

        _reachable["url"] = None
        for user in PG_USERS:
            url = f"postgresql://{user}@{PG_HOSTPORT}/{PG_DB}"
            try:
                psycopg.connect(url, connect_timeout=3).close()
            except psycopg.Error:
                continue
            _reachable["url"] = url
            break
    return _reachable["url"]


def postgres_or_skip() -> str:
    url = postgres_base_url()
    if url is None:
        pytest.skip(
            f"PostgreSQL is not reachable on {PG_HOSTPORT} (database {PG_DB!r}); {START_POSTGRES}"
        )
    return url


def _admin(base: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(base, connect_timeout=5, autocommit=True) as conn:
        conn.execute(statement)


def postgres_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    return f"{base}?options=-csearch_path%3D{schema}"


def sqlite_url(folder: Path, name: str = "llmswitch.db") -> str:
    return f"sqlite:///{folder / name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    base = postgres_or_skip()
    schema = f"test_{uuid.uuid4().hex[:20]}"
    _admin(base, f"CREATE SCHEMA {schema}")
    try:
        yield postgres_schema_url(base, schema)
    finally:
        _admin(base, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A fresh, not yet migrated :class:`Database` (migrations run on first use)."""
    db = open_database(database_url)
    try:
        yield db
    finally:
        db.close()
