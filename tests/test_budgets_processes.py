"""Budgets across OS processes on one Redis and one PostgreSQL, configured from
``llmswitch.toml`` as a deployment would be: 50 concurrent calls from two processes
against a nearly spent budget overshoot by no more than the stated bound, and the
reservation of a process killed mid-call expires."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmswitch.storage.sql import open_database
from llmswitch.usage.budgets import Budget
from llmswitch.usage.budgets_layer import BudgetLayer
from tests.support.budgets import MAX_TOKENS, call_cost, ledger_rows, reservation
from tests.support.state import REDIS_URL, drop_prefix, redis_or_skip, run_together

# Each call really uses more input than the estimate counts: an estimation error per call.
BIG_USAGE = {"input_tokens": 40, "output_tokens": 100}

WORKER = """
import json, sys, threading, time
from llmswitch import Client
from llmswitch.errors import BudgetExceededError
from llmswitch.testing import FakeProvider
from llmswitch.usage import tags

config, team, mode, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
usage = {"input_tokens": 40, "output_tokens": 100}
if mode == "hold":  # take a reservation, say so, then hang until killed
    def hang(request):
        print("held", flush=True)
        time.sleep(120)
        return {"text": "never", "usage": usage}
    fake = FakeProvider("openai", default=hang)
else:
    fake = FakeProvider("openai", default={"text": "hi", "usage": usage, "latency": 0.01})
client = Client(config=config, providers=[fake], max_retries=0)
messages = [{"role": "user", "content": "hello"}]
if mode == "hold":
    with tags(team=team):
        client.chat("openai/gpt-4o-mini", messages, max_tokens=MAX_TOKENS)
    sys.exit(0)
print("ready", flush=True)
sys.stdin.readline()  # both processes start together
results = []
lock = threading.Lock()
def one():
    with tags(team=team):
        try:
            client.chat("openai/gpt-4o-mini", messages, max_tokens=MAX_TOKENS)
            ok = True
        except BudgetExceededError:
            ok = False
    with lock:
        results.append(ok)
threads = [threading.Thread(target=one) for _ in range(calls)]
for t in threads: t.start()
for t in threads: t.join(60)
print(json.dumps({"admitted": results.count(True), "refused": results.count(False)}), flush=True)
""".replace("MAX_TOKENS", str(MAX_TOKENS))


@pytest.fixture
def team() -> Iterator[str]:
    """A team of this test's own: the budget's Redis keys are unique to it."""
    redis_or_skip()
    name = f"t{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        drop_prefix(f"llmswitch:budget:team:{name}:")


def _config(tmp_path: Path, database_url: str, team: str, limit_nano: int, **extra: str) -> Path:
    lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f'[state]\nurl = "{REDIS_URL}"\n\n[storage]\ndatabase_url = "{database_url}"\n\n'
        f'[[budgets]]\nscope = "team:{team}"\nlimit_usd = {limit_nano / 1e9!r}\n{lines}'
    )
    return path


def _layer(database_url: str, team: str, limit_nano: int) -> BudgetLayer:
    """A reader of the same counters (status only)."""
    budget = Budget(scope=f"team:{team}", limit_usd=limit_nano / 1e9)
    return BudgetLayer([budget], state=REDIS_URL, database=database_url)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_fifty_concurrent_calls_from_two_processes_overshoot_within_the_bound(
    tmp_path: Path, database_url: str, team: str
) -> None:
    real, held = call_cost(BIG_USAGE), reservation()
    error = max(0, real - held)  # each call's estimation error
    assert error > 0
    limit = 10**7  # $0.01
    nearly = limit - 12 * held - held // 2  # room for the reservations of about 12 calls
    with open_database(database_url) as db:
        ledger_rows(
            db, [{"team": team, "cost_nano": nearly - 1000}, {"team": team, "cost_nano": 1000}]
        )
    config = _config(tmp_path, database_url, team, limit)
    outs = run_together([str(_script(tmp_path)), str(config), team, "spend", "25"], timeout=120)
    admitted = sum(o["admitted"] for o in outs)
    assert admitted + sum(o["refused"] for o in outs) == 50
    (status,) = _layer(database_url, team, limit).budget_status()
    assert status.reserved_nano == 0
    assert status.spent_nano == nearly + admitted * real  # seeded from PostgreSQL, then counted
    # The stated bound: spend <= limit + sum of the admitted calls' estimation errors.
    assert status.spent_nano <= limit + admitted * error
    # Reservations left room for 12; calls that settled early took their real (larger)
    # cost out of that room, leaving room for 11.
    assert 11 <= admitted <= 12


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "budget_worker.py"
    script.write_text(WORKER)
    return script


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_reservation_of_a_killed_process_expires_after_its_ttl(
    tmp_path: Path, database_url: str, team: str
) -> None:
    held = reservation()
    limit = held + held // 2  # one reservation fits, two do not
    config = _config(tmp_path, database_url, team, limit, reservation_ttl="2")
    child = subprocess.Popen(
        [sys.executable, str(_script(tmp_path)), str(config), team, "hold", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        reader = _layer(database_url, team, limit)
        assert reader.budget_status()[0].reserved_nano == held
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 20
        while reader.budget_status()[0].reserved_nano and time.monotonic() < deadline:
            time.sleep(0.2)
        (status,) = reader.budget_status()
        assert (status.spent_nano, status.reserved_nano) == (0, 0)
    finally:
        if child.poll() is None:
            child.kill()
