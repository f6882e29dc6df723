"""The ledger's row building and SQLite binding, which the writer thread runs for every
row: the generated record-to-row function equals reading each column and clipping its
strings, and sqlite3 binds NULLs, flags and bytes as it always did."""

from __future__ import annotations

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
