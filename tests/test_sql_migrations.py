"""Schema migrations on SQLite and PostgreSQL: fresh, idempotent, concurrent (threads
and processes), a database newer than the code, and a failing migration."""

from __future__ import annotations

import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, text

from llmswitch.errors import StorageError
from llmswitch.storage.sql import Database, _migrate, open_database
from llmswitch.storage.sql.migrations import MIGRATIONS
from llmswitch.storage.sql.schema import MIGRATIONS_TABLE, metadata
from tests.support.state import run_together

# Every version this llmswitch ships, oldest first (the tests hold for any number).
ALL = tuple(m.VERSION for m in MIGRATIONS)
LATEST = ALL[-1]


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def test_fresh_database_upgrades_once(database: Database) -> None:
    before = database.status()
    assert (before.current, before.latest, before.pending) == (0, LATEST, ALL)
    assert database.upgrade() == list(ALL)
    assert database.upgrade() == []
    after = database.status()
    assert (after.current, after.applied, after.pending, after.up_to_date) == (
        LATEST,
        ALL,
        (),
        True,
    )
    assert {"provider_keys", "audit_log", MIGRATIONS_TABLE} <= database.read(_tables)


async def test_async_upgrade_and_status(database: Database) -> None:
    assert (await database.astatus()).pending == ALL
    assert await database.aupgrade() == list(ALL)
    assert await database.aupgrade() == []
    assert (await database.astatus()).current == LATEST
    await database.aclose()


def _describe(conn: Connection) -> dict[str, Any]:
    """Each table's columns (name, nullable, string length), key and indexes."""
    found = inspect(conn)
    out: dict[str, Any] = {}
    for table in metadata.sorted_tables:
        columns = {
            c["name"]: (c["nullable"], getattr(c["type"], "length", None))
            for c in found.get_columns(table.name)
        }
        indexes = {  # PostgreSQL also lists the index behind a UNIQUE constraint: not ours
            i["name"]: tuple(i["column_names"])
            for i in found.get_indexes(table.name)
            if not i.get("duplicates_constraint")
        }
        key = tuple(found.get_pk_constraint(table.name)["constrained_columns"])
        out[table.name] = (columns, key, indexes)
    return out


def test_migrated_schema_is_what_schema_py_describes(database: Database) -> None:
    database.upgrade()
    expected = {
        table.name: (
            {c.name: (c.nullable, getattr(c.type, "length", None)) for c in table.columns},
            tuple(c.name for c in table.primary_key.columns),
            {i.name: tuple(c.name for c in i.columns) for i in table.indexes},
        )
        for table in metadata.sorted_tables
    }
    assert database.read(_describe) == expected


def _record_version(conn: Connection, version: int) -> None:
    conn.execute(
        text(
            f"INSERT INTO {MIGRATIONS_TABLE} (version, description, applied_at) VALUES (:v, 'x', 0)"
        ),
        {"v": version},
    )


def test_a_newer_database_is_refused_never_downgraded(
    database: Database, database_url: str
) -> None:
    database.upgrade()
    database.run(_record_version, 99)
    status = database.status()  # reading is fine, and says so
    assert (status.current, status.latest) == (99, LATEST)
    fresh = open_database(database_url)
    try:
        with pytest.raises(
            StorageError, match=r"schema version 99, newer than this llmswitch"
        ) as info:
            fresh.run(_tables)
        assert info.value.version == 99
        with pytest.raises(StorageError, match="newer"):
            fresh.upgrade()
    finally:
        fresh.close()


def _module(version: int, upgrade: Any, description: str = "test") -> types.ModuleType:
    module = types.ModuleType(f"v{version:04d}_test")
    module.VERSION = version  # type: ignore[attr-defined]
    module.DESCRIPTION = description  # type: ignore[attr-defined]
    module.upgrade = upgrade  # type: ignore[attr-defined]
    return module


def _with_migrations(monkeypatch: pytest.MonkeyPatch, *extra: types.ModuleType) -> None:
    versions = dict(_migrate._BY_VERSION)
    versions.update({m.VERSION: m for m in extra})  # type: ignore[attr-defined]
    monkeypatch.setattr(_migrate, "_BY_VERSION", versions)


@pytest.mark.parametrize("failure", ["python", "sql"])
def test_a_failing_migration_rolls_back_and_names_its_version(
    database: Database, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    def upgrade(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO half_done (id) VALUES (1)"))
        if failure == "python":
            raise RuntimeError("the data did not fit")
        conn.execute(text("INSERT INTO no_such_table (id) VALUES (1)"))

    after = LATEST + 1  # a migration after every shipped one
    _with_migrations(monkeypatch, _module(after, upgrade, "add half_done"))
    with pytest.raises(StorageError) as info:
        database.upgrade()
    message = str(info.value)
    assert info.value.version == after
    assert f"schema migration {after} (add half_done) failed and was rolled back" in message
    assert f"applied before it: {', '.join(map(str, ALL))}" in message
    assert (
        ("the data did not fit" in message) if failure == "python" else ("no_such_table" in message)
    )
    status = database.status()
    assert (status.current, status.pending) == (LATEST, (after,))
    with pytest.raises(StorageError, match=f"migration {after}"):  # first use tries again
        database.read(_tables)
    monkeypatch.setattr(_migrate, "_BY_VERSION", dict(_migrate._BY_VERSION))
    del _migrate._BY_VERSION[after]
    assert "half_done" not in database.read(_tables)  # nothing of it was left behind


def test_threads_upgrading_together_apply_each_version_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def creating(name: str) -> Any:
        def upgrade(conn: Connection) -> None:
            # No IF NOT EXISTS: a second application would fail loudly.
            conn.execute(text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY)"))
            time.sleep(0.05)  # hold the lock a while, so the others really wait on it

        return upgrade

    _with_migrations(
        monkeypatch,
        _module(LATEST + 1, creating("extra_two")),
        _module(LATEST + 2, creating("extra_three")),
    )
    barrier = threading.Barrier(4)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        db = open_database(database_url)
        try:
            barrier.wait(timeout=30)
            results.append(db.upgrade())
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    assert sorted(v for applied in results for v in applied) == [*ALL, LATEST + 1, LATEST + 2]


_UPGRADER = """
import json, sys
from llmswitch.storage.sql import open_database
db = open_database(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
applied = db.upgrade()
status = db.status()
db.close()
print(json.dumps({"applied": applied, "current": status.current}))
"""


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    outs = run_together(["-c", _UPGRADER, database_url], n=3, timeout=120)
    assert sorted(v for out in outs for v in out["applied"]) == list(ALL)
    assert [out["current"] for out in outs] == [LATEST] * 3


def test_status_does_not_create_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    db = open_database(f"sqlite:///{path}")
    assert db.status().pending == ALL
    assert not path.exists()
    db.run(_tables)
    assert path.exists()
    db.close()
