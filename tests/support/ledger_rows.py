"""Rows for the usage ledger, written straight into ``usage_ledger`` (after the
migrations), for tests of what reads it: reports, hints, charts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from llmswitch.storage.sql import Database
from llmswitch.storage.sql.schema import usage_ledger

_ids = itertools.count(1)


def ms(text: str) -> int:
    """``2026-11-01T10:00`` (UTC) as epoch milliseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def row(
    at: str | int = "2026-11-01T10:00",
    *,
    provider: str = "openai",
    model: str = "gpt-4o-mini",
    cost_nano: int | None = 1_000,
    **fields: Any,
) -> dict[str, Any]:
    """One ledger row: defaults for what a test does not care about."""
    values: dict[str, Any] = {
        "request_id": f"req_{next(_ids)}",
        "attempt": 1,
        "at": ms(at) if isinstance(at, str) else at,
        "provider": provider,
        "model": model,
        "input_tokens": 100,
        "output_tokens": 10,
        "total_tokens": 110,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "status": "ok",
        "stream": False,
        "cost_nano": cost_nano,
    }
    # Every column present in every row: one executemany needs the same keys throughout.
    for column in usage_ledger.c:
        if column.name != "id":
            values.setdefault(column.name, None)
    values.update(fields)
    return values


def insert_rows(db: Database, *rows: dict[str, Any]) -> None:
    """Insert ``rows`` (from :func:`row`) in one transaction, migrating first."""

    def write(conn: Connection) -> None:
        conn.execute(insert(usage_ledger), list(rows))

    db.run(write)
