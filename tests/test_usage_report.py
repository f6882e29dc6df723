"""``usage.report()``: the ledger summed in SQL by day/provider/model/user/team/key/
prompt, with filters and inclusive time ranges, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from llmswitch.errors import ConfigurationError
from llmswitch.storage.sql import Database, open_database
from llmswitch.usage.report import ReportQuery, areport, parse_time, report
from tests.support.ledger_rows import insert_rows, ms, row

CONTRACT = (
    "calls", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_usd",
)  # fmt: skip


def _report(db: Database, **kw: Any) -> list[dict[str, Any]]:
    return report(db, recover=False, **kw)


@pytest.fixture
def ledger(database: Database) -> Database:
    insert_rows(
        database,
        row("2026-11-01T00:00", user="alice", team="ml", cost_nano=1_500_000_000,
            input_tokens=1000, output_tokens=200, cached_input_tokens=400, reasoning_tokens=50),
        row("2026-11-01T23:59:59.999", user="bob", team="ml", cost_nano=250_000_000,
            model="gpt-4o", access_key="key_a"),
        row("2026-11-02T08:00", provider="anthropic", model="claude-sonnet-4-5", user="alice",
            team="web", cost_nano=3_000_000_000, cache_write_tokens=300, prompt_name="greet",
            prompt_version=2, prompt_variant="b"),
        row("2026-11-02T09:00", provider="anthropic", model="claude-sonnet-4-5", user=None,
            cost_nano=None, access_key="key_a", prompt_name="greet", prompt_version=1),
        row("2026-11-03T00:00", user="carol", team="ml", cost_nano=7, stream=True),
    )  # fmt: skip
    return database


def test_by_day_sums_every_contract_field(ledger: Database) -> None:
    rows = _report(ledger)
    assert [r["day"] for r in rows] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    first = rows[0]
    assert all(list(r) == ["day", *CONTRACT] for r in rows)  # the contract, nothing more
    assert first == {
        "day": "2026-11-01", "calls": 2, "input_tokens": 1100, "output_tokens": 210,
        "cached_input_tokens": 400, "cache_write_tokens": 0, "reasoning_tokens": 50,
        "cost_usd": 1.75,
    }  # fmt: skip
    assert rows[2]["cost_usd"] == 7e-9


def test_detail_adds_the_exact_cost_and_the_unpriced_count(ledger: Database) -> None:
    rows = _report(ledger, detail=True)
    assert all(list(r) == ["day", *CONTRACT, "cost_nano", "unpriced_calls"] for r in rows)
    assert (rows[0]["cost_nano"], rows[0]["unpriced_calls"]) == (1_750_000_000, 0)
    # One call with an unknown price: the known cost, and the count that says it is a
    # lower bound.
    assert rows[1]["cost_nano"] == 3_000_000_000 and rows[1]["unpriced_calls"] == 1


def test_group_by_several_fields_biggest_spend_first(ledger: Database) -> None:
    rows = _report(ledger, by=("provider", "model"), detail=True)
    assert [(r["provider"], r["model"], r["calls"], r["cost_nano"]) for r in rows] == [
        ("anthropic", "claude-sonnet-4-5", 2, 3_000_000_000),
        ("openai", "gpt-4o-mini", 2, 1_500_000_007),
        ("openai", "gpt-4o", 1, 250_000_000),
    ]
    assert _report(ledger, by="provider,model", detail=True) == rows  # one string listing several


def test_group_by_user_team_key(ledger: Database) -> None:
    users = {r["user"]: r["calls"] for r in _report(ledger, by="user")}
    assert users == {"alice": 2, "bob": 1, "carol": 1, None: 1}
    teams = [(r["team"], r["cost_nano"]) for r in _report(ledger, by=["team"], detail=True)]
    assert teams == [("web", 3_000_000_000), ("ml", 1_750_000_007), (None, None)]
    keys = {r["key"]: r["calls"] for r in _report(ledger, by="key")}
    assert keys == {"key_a": 2, None: 3}


def test_group_by_day_and_user(ledger: Database) -> None:
    rows = _report(ledger, by=("day", "user"))
    assert [(r["day"], r["user"]) for r in rows] == [
        ("2026-11-01", "alice"), ("2026-11-01", "bob"),
        ("2026-11-02", "alice"), ("2026-11-02", None), ("2026-11-03", "carol"),
    ]  # fmt: skip


def test_group_by_prompt_is_one_name_at_version_field(ledger: Database) -> None:
    rows = _report(ledger, by="prompt", prompt="greet")
    assert all(list(r) == ["prompt", *CONTRACT] for r in rows)
    assert [(r["prompt"], r["calls"], r["cost_usd"]) for r in rows] == [
        ("greet@2", 1, 3.0), ("greet@1", 1, None),
    ]  # fmt: skip
    only_v1 = _report(ledger, by="prompt", prompt="greet@1")
    assert [(r["prompt"], r["cost_usd"]) for r in only_v1] == [("greet@1", None)]
    # Calls made without a stored prompt: one row, prompt None.
    everything = _report(ledger, by="prompt")
    assert [r["prompt"] for r in everything] == ["greet@2", None, "greet@1"]
    assert sum(r["calls"] for r in everything) == 5


def test_a_missing_postgresql_database_is_an_empty_report(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    missing = make_url(database_url).set(database="llmswitch_no_such_db", password="s3cret")
    url = missing.render_as_string(hide_password=False)
    assert report(url) == []
    assert asyncio.run(areport(url)) == []


def test_a_postgresql_server_that_is_down_is_an_error_without_the_password() -> None:
    from llmswitch.errors import StorageError

    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    with pytest.raises(StorageError) as info:
        report("postgresql://alice:s3cret@127.0.0.1:9/test")
    assert "127.0.0.1:9" in str(info.value) and "s3cret" not in str(info.value)


def test_filters_combine_and_take_lists(ledger: Database) -> None:
    rows = _report(ledger, by="user", team="ml", provider="openai")
    assert {r["user"] for r in rows} == {"alice", "bob", "carol"}
    rows = _report(ledger, by="model", user=["alice", "carol"])
    assert {r["model"]: r["calls"] for r in rows} == {"claude-sonnet-4-5": 1, "gpt-4o-mini": 2}
    assert _report(ledger, by="model", key="key_a", model="gpt-4o")[0]["calls"] == 1
    assert _report(ledger, user="nobody") == []


def test_until_date_includes_its_whole_day_since_is_inclusive(ledger: Database) -> None:
    rows = _report(ledger, since="2026-11-01", until="2026-11-01")
    assert [(r["day"], r["calls"]) for r in rows] == [("2026-11-01", 2)]  # 23:59:59.999 in
    rows = _report(ledger, since=date(2026, 11, 2), until=date(2026, 11, 3))
    assert [(r["day"], r["calls"]) for r in rows] == [("2026-11-02", 2), ("2026-11-03", 1)]
    # A datetime bound is that instant, inclusive at both ends.
    rows = _report(ledger, by=(), since="2026-11-02T08:00", until="2026-11-02T09:00:00")
    assert rows[0]["calls"] == 2
    rows = _report(ledger, by=(), since="2026-11-02T08:00:00.001", until="2026-11-02T09:00")
    assert rows[0]["calls"] == 1
    # An offset is honoured: 09:00+01:00 is 08:00 UTC.
    rows = _report(ledger, by=(), since="2026-11-02T09:00+01:00", until="2026-11-02T08:00Z")
    assert rows[0]["calls"] == 1
    assert _report(ledger, since=ms("2026-11-03T00:00"))[0]["day"] == "2026-11-03"


def test_no_groups_is_one_total_row(ledger: Database) -> None:
    (total,) = _report(ledger, by=())
    assert total["calls"] == 5 and total["cost_usd"] == 4.750000007
    (total,) = _report(ledger, by=(), detail=True)
    assert total["cost_nano"] == 4_750_000_007 and total["unpriced_calls"] == 1


def test_async_report_is_the_same(ledger: Database) -> None:
    async def main() -> list[dict[str, Any]]:
        rows = await areport(ledger, by=("day", "model"), recover=False, team="ml")
        await ledger.aclose()
        return rows

    assert asyncio.run(main()) == _report(ledger, by=("day", "model"), team="ml")


def test_a_missing_sqlite_database_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/none.db"
    assert report(url, recover=False) == []
    assert not (tmp_path / "none.db").exists()
    with open_database(url) as db:
        assert db.status().exists is False


def test_bad_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="cannot group by 'week'") as info:
        ReportQuery.make(by="day,week")
    assert info.value.field == "by"
    with pytest.raises(ConfigurationError, match="unknown filter 'colour'"):
        ReportQuery.make(filters={"colour": "red"})
    with pytest.raises(ConfigurationError, match="expected YYYY-MM-DD") as info:
        ReportQuery.make(since="yesterday")
    assert info.value.field == "since"
    with pytest.raises(ConfigurationError, match="is after until"):
        ReportQuery.make(since="2026-11-02", until="2026-11-01")


def test_parse_time_forms() -> None:
    now = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    assert parse_time("7d", field="since", now=now) == ms("2026-11-03T12:00")
    assert parse_time("90m", field="since", now=now) == ms("2026-11-10T10:30")
    assert parse_time("2026-11-01", field="until", end=True) == ms("2026-11-02T00:00") - 1
    assert parse_time(datetime(2026, 11, 1, 1), field="since") == ms("2026-11-01T01:00")
    assert parse_time(None, field="since") is None
