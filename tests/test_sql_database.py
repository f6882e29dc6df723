"""Database.run/arun/read/aread round trips on SQLite and PostgreSQL, first-use
migration, transactions, and failures as StorageError."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from llmswitch.errors import StorageError
from llmswitch.storage.sql import Database, now_ms, open_database
from llmswitch.storage.sql.migrations import MIGRATIONS
from llmswitch.storage.sql.schema import provider_keys


def _key_row(key_id: str, provider: str = "openai", owner: str | None = None) -> dict[str, object]:
    now = now_ms()
    return {
        "id": key_id, "provider": provider, "owner": owner, "label": None,
        "fingerprint": "ab" * 32, "kek_id": "local:v1", "wrapped_key": b"\x00w",
        "nonce": b"\x01" * 12, "ciphertext": b"\x02c", "created_at": now, "updated_at": now,
    }  # fmt: skip


def _insert(conn: Connection, row: dict[str, object]) -> None:
    conn.execute(provider_keys.insert().values(**row))


def _count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(provider_keys)).scalar_one())


def _get(conn: Connection, key_id: str) -> dict[str, object] | None:
    row = conn.execute(select(provider_keys).where(provider_keys.c.id == key_id)).first()
    return dict(row._mapping) if row is not None else None


def test_first_run_migrates_and_round_trips(database: Database) -> None:
    latest = MIGRATIONS[-1].VERSION
    assert database.status().pending == tuple(m.VERSION for m in MIGRATIONS)
    database.run(_insert, _key_row("key_a"))
    assert database.status().current == latest
    row = database.read(_get, "key_a")
    assert row is not None
    assert row["status"] == "active"  # the server default
    assert row["wrapped_key"] == b"\x00w" and row["nonce"] == b"\x01" * 12


async def test_async_round_trip_sees_sync_writes(database: Database) -> None:
    await database.arun(_insert, _key_row("key_async"))
    database.run(_insert, _key_row("key_sync"))
    assert await database.aread(_count) == 2
    assert (await database.arun(_get, "key_sync") or {})["provider"] == "openai"
    await database.aclose()


def test_a_raising_fn_rolls_back(database: Database) -> None:
    def insert_then_fail(conn: Connection) -> None:
        _insert(conn, _key_row("key_x"))
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        database.run(insert_then_fail)
    assert database.read(_count) == 0


def test_a_database_error_is_a_storage_error_naming_the_url(database: Database) -> None:
    database.run(_insert, _key_row("key_dup"))
    with pytest.raises(StorageError) as info:
        database.run(_insert, _key_row("key_dup"))
    assert info.value.url == database.url
    assert database.url in str(info.value)
    assert not info.value.retryable  # the same insert will never succeed
    assert database.read(_count) == 1


def test_a_bad_statement_is_not_retryable(database: Database) -> None:
    with pytest.raises(StorageError, match="no_such_table") as info:
        database.run(lambda conn: conn.exec_driver_sql("SELECT * FROM no_such_table"))
    assert not info.value.retryable


def _pragmas(conn: Connection) -> tuple[str, int, int]:
    def one(name: str) -> Any:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()

    return str(one("journal_mode")).lower(), int(one("foreign_keys")), int(one("busy_timeout"))


async def test_sqlite_connections_are_wal_with_foreign_keys_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    db = open_database(f"sqlite:///{tmp_path}/p.db", busy_timeout=12.5)
    assert db.run(_pragmas) == ("wal", 1, 12500)
    assert await db.arun(_pragmas) == ("wal", 1, 12500)
    await db.aclose()


def _hold_write_lock(url: str, held: threading.Event, release: threading.Event) -> None:
    """Another process's writer: keeps a write transaction open until ``release``."""
    other = open_database(url)

    def write_and_wait(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE provider_keys IN EXCLUSIVE MODE")
        else:
            _insert(conn, _key_row("key_holder"))
        held.set()
        release.wait(30)

    try:
        other.run(write_and_wait)
    finally:
        other.close()


def _start_holder(url: str) -> tuple[threading.Thread, threading.Event]:
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(url, held, release))
    holder.start()
    assert held.wait(30)
    return holder, release


def test_a_writer_waits_for_another_writer_instead_of_failing(
    database: Database, database_url: str
) -> None:
    database.upgrade()
    holder, release = _start_holder(database_url)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            database.run(_insert, _key_row("key_waiting"))
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(0.3)
    assert writer.is_alive()  # queued behind the holder, neither done nor failed
    release.set()
    writer.join(30)
    holder.join(30)
    assert errors == []
    assert database.read(_count) == (2 if database.dialect == "sqlite" else 1)


async def test_waiting_for_a_lock_does_not_block_the_event_loop(
    database: Database, database_url: str
) -> None:
    await database.aupgrade()
    holder, release = await asyncio.to_thread(_start_holder, database_url)
    insert = asyncio.create_task(database.arun(_insert, _key_row("key_async_waiting")))
    # This sleep can only end while the insert is still waiting for the lock if the
    # loop runs meanwhile: a blocking wait would hold the loop until the busy timeout.
    await asyncio.sleep(0.3)
    assert not insert.done()
    release.set()
    await insert
    await asyncio.to_thread(holder.join, 30)
    assert await database.aread(_get, "key_async_waiting") is not None
    await database.aclose()


async def test_memory_database_takes_concurrent_async_calls_one_at_a_time() -> None:
    def insert_two(conn: Connection, n: int) -> None:
        # several statements: each awaits the driver, where other tasks get to run
        _insert(conn, _key_row(f"key_{n}_a"))
        _count(conn)
        _insert(conn, _key_row(f"key_{n}_b"))

    db = open_database("sqlite:///:memory:")
    await asyncio.gather(*(db.arun(insert_two, i) for i in range(10)))
    assert await db.aread(_count) == 20
    assert db.read(_count) == 20  # and the sync engine sees the same database
    await db.aclose()


_TWO_LOOPS = """
import asyncio, sys, warnings
warnings.simplefilter("error")
from sqlalchemy import text
from llmswitch.storage.sql import open_database
db = open_database(sys.argv[1])

async def one():
    return await db.arun(lambda c: c.execute(text("SELECT 1")).scalar())

# two event loops one after the other, and no aclose(): the connections of each loop
# are closed when it shuts down, with no warning about unclosed connections
print(asyncio.run(one()), asyncio.run(one()), db.run(lambda c: c.execute(text("SELECT 2")).scalar()))
db.close()
"""


def test_async_use_across_loops_without_aclose_leaves_nothing_open(database_url: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _TWO_LOOPS, database_url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "2"]
    assert done.stderr == ""


_LAST_CLOSE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
conn.close()  # the last connection to the file, as far as this process can tell?
"""


def test_a_second_database_on_a_file_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    # POSIX locks belong to the process: closing any descriptor of the file drops them
    # all. A second Database on the same file (the gateway has several) must not open
    # and close it outside SQLite, or another process's SQLite, closing what it takes
    # for the file's last connection, checkpoints and deletes the WAL under the first
    # Database's live connection (and two processes may write at once): corruption.
    import sqlite3
    import subprocess
    import sys

    path = tmp_path / "shared.db"
    url = f"sqlite:///{path}"
    first = open_database(url)
    second = None
    live = None
    try:
        first.upgrade()
        live = sqlite3.connect(path)  # a connection that stays open, as a pool's does
        live.execute("SELECT count(*) FROM provider_keys").fetchone()
        wal = Path(f"{path}-wal")
        assert wal.exists()
        second = open_database(url)
        second.read(lambda conn: conn.execute(select(func.count()).select_from(provider_keys)))
        subprocess.run([sys.executable, "-c", _LAST_CLOSE, str(path)], check=True, timeout=60)
        assert wal.exists(), "another process took this one's connections for gone"
        assert live.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        if live is not None:
            live.close()
        if second is not None:
            second.close()
        first.close()


def test_a_database_path_that_is_a_directory_is_named_at_open(tmp_path: Path) -> None:
    folder = tmp_path / "llmswitch.db"
    folder.mkdir()
    database = open_database(f"sqlite:///{folder}")
    try:
        with pytest.raises(StorageError, match=r"cannot open .*llmswitch\.db'?: is a directory"):
            database.upgrade()
    finally:
        database.close()
