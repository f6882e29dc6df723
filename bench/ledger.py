"""The usage ledger: append cost on the call path (budget: < 10 µs) and the lag from a
call's return to its row being queryable (seed target: < 1 s).

    uv run python bench/ledger.py [--postgres postgresql://postgres@localhost:5432/test]

Figures, best of 5 runs unless said:

- ``append``: ``Ledger.append`` on the call path (encode the record, one ``os.write``
  to the journal, the in-memory queue), timed in bursts between the writer's commits.
- ``of which encode`` / ``os.write``: its two parts measured apart.
- ``commit per row``: the writer thread's batched INSERT, per row (off the call path,
  but CPU the process spends).
- ``recorder layer``: what the recording layer adds to a ``Client.chat`` through
  ``FakeProvider`` (the row built from the response), with a list as the sink.
- ``lag``: median and worst of 20 calls, each timed from ``chat`` returning to its
  row showing up in a separate connection's ``SELECT`` (polled every 5 ms), at the
  default 0.5 s flush interval.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from middleware_cost import per_call  # bench/ is on sys.path when run as a script
from sqlalchemy import Connection, func, select

from llmswitch import Client
from llmswitch.middleware import Middleware
from llmswitch.storage.sql import open_database
from llmswitch.storage.sql.schema import usage_ledger
from llmswitch.testing import FakeProvider
from llmswitch.usage import UsageRecord
from llmswitch.usage import _journal as journal
from llmswitch.usage.ledger import Ledger

BUDGET_US = 10.0
HI = [{"role": "user", "content": "Hi"}]
USAGE = {"input_tokens": 1200, "output_tokens": 300}


def _count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(usage_ledger)).scalar_one())


def append_cost(url: str, home: str, n: int) -> dict[str, float]:
    """µs per append on the call path, in bursts of 400 (under the 500-row batch that
    wakes the writer early) with a flush between bursts, so the writer's commit does
    not run during the timed part; and the commit's own cost per row (the flush time of
    a burst / 400), which the writer thread spends off the call path."""
    db = open_database(url)
    ledger = Ledger(db, journal=os.path.join(home, "j"))
    record = UsageRecord(
        request_id="r" * 20, at=1_790_000_000_000, user="alice", team="ml",
        provider="openai", model="gpt-4o-mini", input_tokens=1200, output_tokens=300,
        total_tokens=1500, latency_ms=420, ttft_ms=180, status="ok", cost_nano=360_000,
    )  # fmt: skip
    append = ledger.append
    burst = 400
    best = commit = float("inf")
    for _ in range(max(n // burst, 5)):
        ledger.flush(60)
        start = time.perf_counter()
        for _ in range(burst):
            append(record)
        best = min(best, (time.perf_counter() - start) / burst)
        start = time.perf_counter()
        ledger.flush(60)
        commit = min(commit, (time.perf_counter() - start) / burst)
    out = {"append": best * 1e6}
    out["of which encode"] = per_call(lambda: journal.encode(record), n) * 1e6
    fd = os.open(os.path.join(home, "scratch"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    line = journal.encode(record)
    out["of which os.write"] = per_call(lambda: os.write(fd, line), n) * 1e6
    os.close(fd)
    out["commit per row"] = commit * 1e6
    ledger.close()
    db.close()
    return out


class _Nothing(Middleware):
    """A pass-through layer, so both clients run the same pipeline but for the recorder."""


def recorder_cost(n: int) -> float:
    """µs the recording layer adds to a chat (building the row from the response and
    the append), with a list as its sink: the call-path part, without the commit."""
    from llmswitch.usage.middleware import UsageRecorder

    fake = FakeProvider("openai").default_reply("hi", usage=USAGE)
    sink: list[UsageRecord] = []
    plain = Client(providers=[fake], middleware=[_Nothing()], max_retries=0)
    recording = Client(
        providers=[fake], middleware=[_Nothing(), UsageRecorder(sink.append)], max_retries=0
    )
    for c in (plain, recording):
        c.chat("openai/gpt-4o-mini", HI)
    bare = per_call(lambda: plain.chat("openai/gpt-4o-mini", HI), n)
    wrapped = per_call(lambda: recording.chat("openai/gpt-4o-mini", HI), n)
    recording.close()
    plain.close()
    return (wrapped - bare) * 1e6


def lag(url: str, home: str, calls: int = 20) -> tuple[float, float]:
    fake = FakeProvider("openai").default_reply("hi", usage=USAGE)
    client = Client(providers=[fake], env={"LLMSWITCH_HOME": home, "LLMSWITCH_DATABASE_URL": url})
    reader = open_database(url)
    client.chat("openai/gpt-4o-mini", HI)  # migrate, warm
    assert client.usage_ledger is not None and client.usage_ledger.flush(30)
    lags = []
    for _ in range(calls):
        seen = reader.read(_count)
        client.chat("openai/gpt-4o-mini", HI)
        returned = time.perf_counter()
        while reader.read(_count) == seen:
            time.sleep(0.005)
        lags.append(time.perf_counter() - returned)
        time.sleep(0.137)  # land at different points of the flush interval
    client.close()
    reader.close()
    return statistics.median(lags), max(lags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL")
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory() as home:
        targets: list[tuple[str, str]] = [("sqlite", f"sqlite:///{home}/bench.db")]
        if args.postgres:
            targets.append(("postgresql", args.postgres))
        for name, url in targets:
            costs = append_cost(url, home, args.n)
            for what, us in costs.items():
                print(f"{name:10s} {what:18s} {us:6.2f} µs")
            failed |= costs["append"] >= BUDGET_US
            mid, worst = lag(url, home)
            print(f"{name:10s} {'lag':18s} median {mid * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
            failed |= worst >= 1.0
    print(f"{'any':10s} {'recorder layer':18s} {recorder_cost(args.n // 4):6.2f} µs")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"budget: append < {BUDGET_US:g} µs, lag < 1 s: {'FAIL' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
