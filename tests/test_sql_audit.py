"""write_audit/read_audit on SQLite and PostgreSQL: ordering, limits, prefixes, JSON
detail, bad input, and the record sharing its change's transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, update

from llmswitch.errors import ConfigurationError, StorageError
from llmswitch.storage.sql import Database, audit, now_ms
from llmswitch.storage.sql.audit import MAX_DETAIL_BYTES, AuditEntry, read_audit, write_audit
from llmswitch.storage.sql.schema import audit_log


def _write(conn: Connection, records: list[dict[str, Any]]) -> list[int]:
    return [write_audit(conn, **r) for r in records]


def _read(conn: Connection, limit: int, prefix: str | None = None) -> list[AuditEntry]:
    return read_audit(conn, limit=limit, action_prefix=prefix)


def _rec(action: str, at: int | None = None, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "actor": "cli:root@host",
        "action": action,
        "subject": None,
        "detail": {},
    }
    if at is not None:
        base["at"] = at
    return base | kw


def test_newest_first_with_limit(database: Database) -> None:
    ids = database.run(_write, [_rec("key.add", at=1000 + i, subject=f"key_{i}") for i in range(5)])
    assert ids == sorted(ids) and len(set(ids)) == 5
    got = database.read(_read, 3)
    assert [e.subject for e in got] == ["key_4", "key_3", "key_2"]
    assert [e.at for e in got] == [1004, 1003, 1002]
    assert len(database.read(_read, 100)) == 5


def test_same_millisecond_keeps_insertion_order(database: Database) -> None:
    database.run(_write, [_rec("config.apply", at=5, subject=s) for s in ("a", "b", "c")])
    assert [e.subject for e in database.read(_read, 10)] == ["c", "b", "a"]


def test_default_time_is_now_in_milliseconds(database: Database) -> None:
    before = now_ms()
    database.run(_write, [_rec("key.remove")])
    (entry,) = database.read(_read, 1)
    assert before <= entry.at <= now_ms()


def test_action_prefix_is_literal(database: Database) -> None:
    database.run(
        _write,
        [
            _rec("key.add"),
            _rec("key.rotate"),
            _rec("keyXadd"),
            _rec("config.apply"),
            _rec("key_add"),
        ],
    )
    assert sorted(e.action for e in database.read(_read, 10, "key.")) == ["key.add", "key.rotate"]
    # "_" and "%" are not wildcards here
    assert [e.action for e in database.read(_read, 10, "key_")] == ["key_add"]
    assert database.read(_read, 10, "%") == []


def test_detail_round_trips_as_json(database: Database) -> None:
    detail = {
        "diff": [{"key": "providers.openai.api_key", "old": "***", "new": "***"}],
        "n": 3,
        "ü": "✓",
    }
    (record_id,) = database.run(
        _write, [_rec("config.apply", subject="/etc/llmswitch.toml", detail=detail)]
    )
    (entry,) = database.read(_read, 1)
    assert entry == AuditEntry(
        id=record_id, at=entry.at, actor="cli:root@host", action="config.apply",
        subject="/etc/llmswitch.toml", detail=detail,
    )  # fmt: skip


async def test_async_write_and_read(database: Database) -> None:
    await database.arun(_write, [_rec("key.add", at=1), _rec("key.remove", at=2)])
    assert [e.action for e in await database.aread(_read, 10)] == ["key.remove", "key.add"]
    await database.aclose()


def test_the_record_rolls_back_with_its_change(database: Database) -> None:
    def change_then_fail(conn: Connection) -> None:
        write_audit(conn, actor="watcher", action="config.apply", subject=None, detail={})
        raise RuntimeError("the change itself failed")

    with pytest.raises(RuntimeError):
        database.run(change_then_fail)
    assert database.read(_read, 10) == []


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (_rec("key.add", actor=""), "actor"),
        (_rec("key.add", actor="x" * 201), "actor"),
        (_rec("a" * 65), "action"),
        (_rec("key.add", subject="s" * 501), "subject"),
        (_rec("key.add", detail={"when": object()}), "detail"),
        (_rec("key.add", detail=["not", "a", "dict"]), "detail"),
        (_rec("key.add", detail={"blob": "x" * MAX_DETAIL_BYTES}), "detail"),
    ],
)
def test_bad_records_are_refused_before_writing(
    database: Database, record: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        database.run(_write, [record])
    assert info.value.field == field
    assert database.read(_read, 10) == []


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, 2.5])
def test_bad_limits(database: Database, limit: Any) -> None:
    with pytest.raises(ConfigurationError, match="limit"):
        database.read(_read, limit)


def test_a_corrupt_detail_names_the_record(database: Database) -> None:
    (record_id,) = database.run(_write, [_rec("key.add")])
    database.run(lambda c: c.execute(update(audit_log).values(detail="{not json")))
    with pytest.raises(
        StorageError, match=f"audit record {record_id}: detail is not a JSON object"
    ):
        database.read(_read, 10)


def test_reading_a_hostile_table_is_bounded(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = database.run(_write, [_rec("key.add", at=i, detail={"n": "x" * 1000}) for i in range(5)])
    # a row written behind llmswitch's back, over the per-record cap
    database.run(
        lambda c: c.execute(
            update(audit_log)
            .where(audit_log.c.id == ids[0])
            .values(detail="[" * (MAX_DETAIL_BYTES + 1))
        )
    )
    with pytest.raises(StorageError, match=f"audit record {ids[0]}: detail is over"):
        database.read(_read, 10)
    # and a cap on the whole read
    monkeypatch.setattr(audit, "MAX_READ_BYTES", 2500)
    with pytest.raises(StorageError, match="read fewer at a time"):
        database.read(_read, 4)
    assert len(database.read(_read, 2)) == 2
