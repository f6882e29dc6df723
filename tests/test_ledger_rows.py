"""The ledger's row building and SQLite binding, which the writer thread runs for every
row: the generated record-to-row function equals reading each column and clipping its
strings, and sqlite3 binds NULLs, flags and bytes as it always did."""

from __future__ import annotations

import itertools
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from llmswitch.storage.sql import open_database
from llmswitch.usage import UsageRecord
from llmswitch.usage import ledger as ledger_mod


def _reference_row(record: UsageRecord) -> tuple[Any, ...]:
    """One getattr per column, strings clipped to the column's length, the cost priced."""
    out: list[Any] = []
    for name, length in ledger_mod._columns().items():
        value = ledger_mod.price(record) if name == "cost_nano" else getattr(record, name)
        if length is not None and isinstance(value, str) and len(value) > length:
            value = value[:length]
        out.append(value)
    return tuple(out)


_text = st.one_of(st.none(), st.text(max_size=300))
_count = st.one_of(st.none(), st.integers(min_value=0, max_value=10**12))


@given(
    user=_text, team=_text, model=st.text(min_size=1, max_size=260),
    request_id=st.text(min_size=1, max_size=90), error=_text,
    input_tokens=_count, output_tokens=_count, cost=_count, stream=st.booleans(),
)  # fmt: skip
def test_row_equals_reading_and_clipping_each_column(
    user: str | None, team: str | None, model: str, request_id: str, error: str | None,
    input_tokens: int | None, output_tokens: int | None, cost: int | None, stream: bool,
) -> None:  # fmt: skip
    record = UsageRecord(
        request_id=request_id, at=1_790_000_000_000, user=user, team=team,
        provider="openai", model=model, error=error, input_tokens=input_tokens,
        output_tokens=output_tokens, cost_nano=cost, stream=stream,
    )  # fmt: skip
    row = ledger_mod._row(record)
    assert row == _reference_row(record)
    assert [type(v) for v in row] == [type(v) for v in _reference_row(record)]


def test_a_long_value_is_clipped_to_exactly_its_column() -> None:
    record = UsageRecord(request_id="r" * 100, at=1, provider="p" * 70, model="m", user="u" * 201)
    row = dict(zip(ledger_mod._shape().names, ledger_mod._row(record), strict=True))
    assert (len(row["request_id"]), len(row["provider"]), len(row["user"])) == (64, 64, 200)
    assert row["team"] is None and row["model"] == "m"


def test_sqlite_binds_null_flags_and_bytes_as_before(tmp_path: Path) -> None:
    open_database(f"sqlite:///{tmp_path}/a.db").close()  # registers the direct binds
    conn = sqlite3.connect(":memory:")
    got = conn.execute("SELECT typeof(?), ?, typeof(?), ?, typeof(?), ?, typeof(?), ?",
                       (None, None, True, True, False, False, b"\x00k", b"\x00k")).fetchone()  # fmt: skip
    assert got == ("null", None, "integer", 1, "integer", 0, "blob", b"\x00k")


def test_an_adapter_the_application_registered_is_kept(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sqlite3
        sqlite3.register_adapter(bool, lambda b: "yes" if b else "no")
        from llmswitch.storage.sql import open_database
        db = open_database("sqlite:///{tmp_path}/b.db")
        db.run(lambda conn: None)
        print(sqlite3.connect(":memory:").execute("SELECT ?", (True,)).fetchone()[0])
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "yes"


def _mixed_records(n: int) -> list[UsageRecord]:
    """Records whose optional columns are None in changing patterns (runs of one
    pattern, single rows of another), as a gateway's mix of users and features gives."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        pick = rng.random
        out.append(UsageRecord(
            request_id=f"req-{i}", attempt=1 + (i % 3 == 0), at=1_790_000_000_000 + i,
            user=None if pick() < 0.3 else f"u{i % 5}", team=None if pick() < 0.5 else "t",
            access_key=None if i % 7 else "key_1", provider="openai", model="gpt-4o-mini",
            deployment=None if pick() < 0.8 else "fast", prompt_name=None if i % 4 else "p",
            prompt_version=None if i % 4 else 3, input_tokens=None if pick() < 0.1 else i,
            output_tokens=None if pick() < 0.1 else 2 * i, cached_input_tokens=i % 2 or None,
            latency_ms=i, ttft_ms=None if i % 2 else 5, status="ok" if i % 5 else "error",
            error=None if i % 5 else "RateLimitError", cost_nano=None if i % 6 == 0 else i * 17,
            stream=bool(i % 2),
        ))  # fmt: skip
    return out


def test_rows_with_changing_nulls_are_written_exactly_and_in_order(database_url: str) -> None:
    from sqlalchemy import select

    from llmswitch.storage.sql.schema import usage_ledger

    records = _mixed_records(300)
    db = open_database(database_url)
    try:
        ledger_mod.write_rows(db, records)
        got = db.read(
            lambda conn: [
                dict(r._mapping)
                for r in conn.execute(select(usage_ledger).order_by(usage_ledger.c.id))
            ]
        )
    finally:
        db.close()
    names = list(ledger_mod._columns())
    want = [dict(zip(names, _reference_row(r), strict=True)) for r in records]
    assert [{k: row[k] for k in names} for row in got] == want


def test_runs_group_consecutive_rows_by_their_nulls_only() -> None:
    rows = [ledger_mod._row(r) for r in _mixed_records(60)]
    runs = ledger_mod._runs(rows)
    assert sum(len(run) for _, run in runs) == len(rows)
    flat = [dict(zip(names, values, strict=True)) for names, run in runs for values in run]
    names = ledger_mod._shape().names
    full = [dict(zip(names, row, strict=True)) for row in rows]
    # what a run leaves out is None in the row; the rest is the row, in order
    assert [{k: f.get(k) for k in names} for f in flat] == full
    assert all(a[0] != b[0] for a, b in itertools.pairwise(runs))
