"""What the ledger promises when things go wrong, on SQLite and PostgreSQL: a SIGKILLed
process loses no row of a call that returned; a database that is down neither blocks
calls nor grows memory, and gets every row once it is back; journal replay is
idempotent and never takes a live process's journal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from llmswitch.storage.sql import open_database
from llmswitch.storage.sql.schema import usage_ledger
from llmswitch.usage import UsageRecord
from llmswitch.usage import _journal as journal
from llmswitch.usage.ledger import Ledger, recover_journal


def _all(conn: Connection) -> list[dict[str, Any]]:
    return [
        dict(r._mapping) for r in conn.execute(select(usage_ledger).order_by(usage_ledger.c.id))
    ]


def record(i: int, **fields: Any) -> UsageRecord:
    return UsageRecord(
        request_id=f"req-{i}", at=1_790_000_000_000 + i, provider="openai",
        model="gpt-4o-mini", input_tokens=10, output_tokens=2, status="ok",
        cost_nano=17, **fields,
    )  # fmt: skip


def segments(directory: str) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(journal.SUFFIX))


# ---------------------------------------------------------------------- SIGKILL

_CHILD = r"""
import sys
from llmswitch import Client
from llmswitch.testing import FakeProvider

fake = FakeProvider("openai").default_reply("hi", usage={"input_tokens": 7, "output_tokens": 3})
client = Client(providers=[fake])  # the database and home come from the environment
ledger = client.usage_ledger
assert ledger is not None
for i in range(100000):
    client.chat("openai/gpt-4o-mini", [{"role": "user", "content": "Hi"}], user=f"u{i}")
    print(f"u{i}", flush=True)  # only after the call returned
"""


def test_sigkill_mid_run_loses_no_returned_call(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "LLMSWITCH_DATABASE_URL": database_url, "LLMSWITCH_HOME": str(home)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    returned: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while len(returned) < 300:  # well past the first commits, mid-batch
            line = child.stdout.readline()
            assert line, f"child ended early (exit {child.poll()})"
            returned.append(line.strip())
            assert time.monotonic() < deadline
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        returned += [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    db = open_database(database_url)
    try:
        recovered = recover_journal(db, str(home / "usage-journal"))
        rows = db.read(_all)
        again = recover_journal(db, str(home / "usage-journal"))  # nothing left, nothing doubled
        assert db.read(_all) == rows and again == 0
    finally:
        db.close()
    users = [r["user"] for r in rows]
    missing = set(returned) - set(users)
    assert not missing, f"{len(missing)} returned calls have no row (recovered {recovered})"
    # The kill came between commits: some rows existed only in the journal.
    assert recovered > 0
    assert len(users) == len(set(users))  # one row per call, none twice
    assert {(r["request_id"], r["attempt"]) for r in rows}.__len__() == len(rows)


# ---------------------------------------------------------------------- database down


def _pg_missing_schema(url: str) -> tuple[str, str]:
    """``url`` with its search_path pointing at a schema that does not exist yet."""
    base, _, options = url.partition("?options=-csearch_path%3D")
    missing = options + "_later"
    return f"{base}?options=-csearch_path%3D{missing}", missing


def test_database_down_never_blocks_or_grows_memory_and_catches_up(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        folder = tmp_path / "not-yet"  # SQLite cannot open a file in a missing folder
        url = f"sqlite:///{folder}/usage.db"

        def bring_back() -> None:
            folder.mkdir()
    else:
        url, schema = _pg_missing_schema(database_url)

        def bring_back() -> None:
            admin = open_database(database_url)
            admin.run(lambda conn: conn.execute(text(f"CREATE SCHEMA {schema}")))
            admin.close()

    db = open_database(url, connect_timeout=2)
    ledger = Ledger(db, journal=str(tmp_path / "j"), flush_interval=0.05, queue_cap=50)
    try:
        slowest = 0.0
        for i in range(2000):
            start = time.perf_counter()
            ledger.append(record(i))
            slowest = max(slowest, time.perf_counter() - start)
            assert ledger.queued <= 50  # bounded: the rest is only in the journal
        assert not ledger.flush(0.5)  # the database is down: nothing committed
        # Generous bound for a busy machine; waiting on the database would take its
        # connect timeout (2 s) or more, per call.
        assert slowest < 0.5, slowest
        lines = sum(
            len(Path(ledger.journal_dir, n).read_bytes().splitlines())
            for n in segments(ledger.journal_dir)
        )
        assert lines == 2000  # every record is on disk while the database is away
        bring_back()
        assert ledger.flush(60)
        rows = db.read(_all)
        assert sorted(r["request_id"] for r in rows) == sorted(f"req-{i}" for i in range(2000))
    finally:
        ledger.close()
        db.close()


def test_closing_while_down_leaves_the_journal_for_the_next_process(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "later"
    url = f"sqlite:///{folder}/usage.db" if database_url.startswith("sqlite") else None
    if url is None:
        url, schema = _pg_missing_schema(database_url)
    db = open_database(url, connect_timeout=2)
    ledger = Ledger(db, journal=str(tmp_path / "j"), flush_interval=0.05)
    for i in range(20):
        ledger.append(record(i))
    ledger.close(timeout=2)
    assert ledger.closed
    # The writer may still be inside a connect attempt when close() returns (a busy
    # machine): wait for it to give up its segments, or recovery would skip them as
    # a live process's (the flaky "1 instead of 21").
    assert ledger.wait_closed(60)
    ledger.append(record(99))  # after close: into a segment of its own, not lost
    if database_url.startswith("sqlite"):
        folder.mkdir()
    else:
        admin = open_database(database_url)
        admin.run(lambda conn: conn.execute(text(f"CREATE SCHEMA {schema}")))
        admin.close()
    assert recover_journal(db, str(tmp_path / "j")) == 21
    assert len(db.read(_all)) == 21
    assert segments(ledger.journal_dir) == []
    db.close()


# ---------------------------------------------------------------------- replay


def test_replay_is_idempotent_and_skips_torn_lines(database_url: str, tmp_path: Path) -> None:
    db = open_database(database_url)
    root = str(tmp_path / "j")
    directory = journal.database_dir(root, db.url)
    ledger = Ledger(db, journal=root)
    for i in range(3):
        ledger.append(record(i))
    assert ledger.flush(10)
    ledger.close()
    # A dead process's segment: two rows already committed, one new, one torn line.
    orphan = journal.Segment(directory)
    for i in (1, 2, 3):
        orphan.write(journal.encode(record(i)))
    orphan.write(b'{"request_id": "req-4", "at": 1')  # SIGKILL mid-line
    orphan.release(delete=False)
    assert recover_journal(db, root) == 3
    assert recover_journal(db, root) == 0
    assert [r["request_id"] for r in db.read(_all)] == ["req-0", "req-1", "req-2", "req-3"]
    db.close()


def test_a_live_ledgers_journal_is_not_taken(database_url: str, tmp_path: Path) -> None:
    db = open_database(database_url)
    root = str(tmp_path / "j")
    ledger = Ledger(db, journal=root, flush_interval=1.0)
    try:
        ledger.append(record(1))
        mine = segments(ledger.journal_dir)
        assert len(mine) == 1
        # Another opener of the same database (here: the same process, another file
        # handle, as a second process would) must leave it to its owner.
        assert recover_journal(db, root) == 0
        assert segments(ledger.journal_dir) == mine
        assert ledger.flush(10)
        assert [r["request_id"] for r in db.read(_all)] == ["req-1"]
        assert segments(ledger.journal_dir) == []  # committed: the segment is gone
    finally:
        ledger.close()
        db.close()


def test_long_strings_are_clipped_not_fatal(database_url: str, tmp_path: Path) -> None:
    db = open_database(database_url)
    ledger = Ledger(db, journal=str(tmp_path / "j"))
    try:
        ledger.append(record(1, user="x" * 500))
        ledger.append(record(2))
        assert ledger.flush(10)
        rows = db.read(_all)
        assert [len(r["user"] or "") for r in rows] == [200, 0]
    finally:
        ledger.close()
        db.close()


def test_journal_files_are_private(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/u.db")
    ledger = Ledger(db, journal=str(tmp_path / "j"), flush_interval=1.0)
    try:
        ledger.append(record(1))
        (name,) = segments(ledger.journal_dir)
        assert os.stat(Path(ledger.journal_dir, name)).st_mode & 0o777 == 0o600
        assert os.stat(ledger.journal_dir).st_mode & 0o777 == 0o700
        assert os.stat(tmp_path / "j").st_mode & 0o777 == 0o700
    finally:
        ledger.close()
        db.close()


@pytest.mark.parametrize("kind", ["close", "gc"])
def test_a_dropped_or_closed_ledger_commits_what_it_had(tmp_path: Path, kind: str) -> None:
    import gc

    url = f"sqlite:///{tmp_path}/u.db"
    db = open_database(url)
    # Wide timeouts: a busy 2-CPU machine may take seconds for SQLite's first use.
    ledger: Ledger | None = Ledger(
        db, journal=str(tmp_path / "j"), flush_interval=1.0, close_timeout=60
    )
    assert ledger is not None
    ledger.append(record(1))
    thread = ledger._thread
    if kind == "close":
        ledger.close()
    else:
        ledger = None
        gc.collect()  # the finalizer stops the writer, after its last commit
        thread.join(60)
    assert not thread.is_alive()
    assert [r["request_id"] for r in db.read(_all)] == ["req-1"]
    db.close()
