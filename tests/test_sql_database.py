"""Database.run/arun/read/aread round trips on SQLite and PostgreSQL, first-use
migration, transactions, and failures as StorageError."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, func, select

from llmswitch.errors import StorageError
from llmswitch.storage.sql import Database, now_ms
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
    assert database.status().pending == (1,)
    database.run(_insert, _key_row("key_a"))
    assert database.status().current == 1
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
    assert database.read(_count) == 1
