"""``llmswitch usage``: table, CSV, JSON (the contract's fields exactly), chart, the
database chain, an empty or missing ledger, and usage errors."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from llmswitch.storage.sql import open_database
from tests.support.cli import run
from tests.support.ledger_rows import insert_rows, row

CONTRACT = [
    "calls", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_usd",
]  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def url(database_url: str) -> str:
    with open_database(database_url) as db:
        insert_rows(
            db,
            row("2026-11-01T10:00", user="alice", cost_nano=1_250_000_000, input_tokens=1200),
            row("2026-11-01T11:00", user="bob", model="gpt-4o", cost_nano=2_000_000_000),
            row("2026-11-02T10:00", provider="anthropic", model="claude-sonnet-4-5",
                user="alice", cost_nano=None, prompt_name="greet", prompt_version=3),
            row("2026-11-03T10:00", user="alice", cost_nano=7),
        )  # fmt: skip
    return database_url


def _usage(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    return run(capsys, "usage", "--database-url", url, *args)


def test_json_is_one_array_with_the_contract_fields(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, err = _usage(capsys, url, "--format", "json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == 3
    assert all(list(r) == ["day", *CONTRACT] for r in rows)  # exactly, no extras
    assert rows[0] == {
        "day": "2026-11-01", "calls": 2, "input_tokens": 1300, "output_tokens": 20,
        "cached_input_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
        "cost_usd": 3.25,
    }  # fmt: skip
    assert rows[1]["cost_usd"] is None  # unknown, not 0


def test_by_several_groups_and_filters(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = _usage(
        capsys, url, "--by", "provider", "--by", "model", "--user", "alice", "--format", "json"
    )
    assert code == 0
    rows = json.loads(out)
    assert [(r["provider"], r["model"], r["calls"]) for r in rows] == [
        ("openai", "gpt-4o-mini", 2), ("anthropic", "claude-sonnet-4-5", 1),
    ]  # fmt: skip
    code, out, _ = _usage(capsys, url, "--by", "user,day", "--since", "2026-11-02",
                          "--until", "2026-11-03", "--format", "json")  # fmt: skip
    assert [(r["user"], r["day"]) for r in json.loads(out)] == [
        ("alice", "2026-11-02"), ("alice", "2026-11-03"),
    ]  # fmt: skip
    code, out, _ = _usage(capsys, url, "--by", "prompt", "--prompt", "greet@3", "--format", "json")
    (only,) = json.loads(out)
    assert list(only) == ["prompt", *CONTRACT] and only["prompt"] == "greet@3"
    code, out, _ = _usage(capsys, url, "--by", "prompt", "--format", "json")
    assert [r["prompt"] for r in json.loads(out)] == [None, "greet@3"]  # None: no prompt


def test_csv_has_a_header_and_exact_costs(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = _usage(capsys, url, "--by", "model", "--format", "csv")
    assert code == 0
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["model", *CONTRACT]
    by_model = {r[0]: dict(zip(table[0], r, strict=True)) for r in table[1:]}
    assert by_model["gpt-4o-mini"]["cost_usd"] == "1.250000007"  # from the integer sum
    assert by_model["gpt-4o-mini"]["calls"] == "2"
    assert by_model["claude-sonnet-4-5"]["cost_usd"] == ""  # unknown
    code, out, _ = _usage(capsys, url, "--by", "prompt", "--format", "csv")
    assert next(csv.reader(io.StringIO(out))) == ["prompt", *CONTRACT]


def test_table_has_a_totals_row_and_marks_unpriced(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, err = _usage(capsys, url, "--by", "day")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "day", "calls", "input", "output", "cached", "in", "cache", "write", "reasoning",
        "cost", "(USD)",
    ]  # fmt: skip
    body = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
    assert body["2026-11-01"][1:3] == ["2", "1,300"] and body["2026-11-01"][-1] == "$3.250000"
    assert body["2026-11-02"][-1] == "unknown*"
    assert body["2026-11-03"][-1] == "<$0.000001"
    assert body["total"][1] == "4" and body["total"][-1] == "$3.250000*"
    assert "1 call(s) had no known price" in out


def test_table_prompt_column_names_the_version(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, _ = _usage(capsys, url, "--by", "prompt")
    assert code == 0
    assert "greet@3" in out and "\n-" in out  # calls without a stored prompt


def test_chart_writes_a_png(capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path) -> None:
    chart = tmp_path / "spend.png"
    code, out, err = _usage(capsys, url, "--by", "model", "--chart", str(chart), "--format", "json")
    assert code == 0
    assert len(json.loads(out)) == 3  # the report by model still goes to stdout
    assert err == f"chart written to {chart}\n"
    data = chart.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000


def test_chart_without_matplotlib_names_the_extra(
    capsys: pytest.CaptureFixture[str],
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    code, _, err = _usage(capsys, url, "--chart", str(tmp_path / "x.png"))
    assert code == 1
    assert "llmswitch[charts]" in err and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_empty_ledger(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    with open_database(database_url) as db:
        db.upgrade()
    code, out, _ = _usage(capsys, database_url)
    assert code == 0 and out.startswith("No usage recorded in ")
    code, out, _ = _usage(capsys, database_url, "--format", "json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = _usage(capsys, database_url, "--format", "csv", "--by", "user")
    assert (code, out) == (0, ",".join(["user", *CONTRACT]) + "\n")


def test_a_missing_database_is_not_created(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", f"sqlite:///{tmp_path}/nothing.db")
    code, out, err = run(capsys, "usage")
    assert (code, out) == (0, "")
    assert "does not exist yet" in err
    code, out, err = run(capsys, "usage", "--format", "json")
    assert (code, out) == (0, "[]\n") and "does not exist yet" in err
    assert not (tmp_path / "nothing.db").exists()


def test_a_missing_postgresql_database_is_reported_empty(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    from sqlalchemy.engine import make_url

    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    missing = make_url(database_url).set(database="llmswitch_no_such_db", password="s3cret")
    url = missing.render_as_string(hide_password=False)
    code, out, err = run(capsys, "usage", "--database-url", url, "--format", "json")
    assert (code, out) == (0, "[]\n")
    assert "does not exist yet" in err and "llmswitch_no_such_db" in err
    assert "s3cret" not in err and err.count("\n") == 1


def test_a_postgresql_server_that_is_down_fails_naming_the_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://alice:s3cret@127.0.0.1:9/test"  # nothing listens on port 9
    code, out, err = run(capsys, "usage", "--database-url", url)
    assert (code, out) == (1, "")
    assert "postgresql://alice:****@127.0.0.1:9/test" in err and "s3cret" not in err
    assert err.count("\n") == 1


def test_a_chart_path_in_a_missing_directory_fails_before_querying(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = tmp_path / "nonexistent" / "dir" / "c.png"
    db = tmp_path / "never.db"
    code, out, err = run(
        capsys, "usage", "--database-url", f"sqlite:///{db}", "--chart", str(chart)
    )
    assert (code, out) == (1, "")
    assert "does not exist" in err and str(chart.parent) in err and err.count("\n") == 1
    assert not db.exists()  # failed before the database was touched


def test_chart_bars_sit_inside_their_day() -> None:
    from matplotlib import dates
    from matplotlib.patches import Rectangle

    from llmswitch.usage._chart import figure

    rows = [
        {"day": "2026-11-01", "model": "a", "cost_nano": 2_000_000_000},
        {"day": "2026-11-03", "model": "a", "cost_nano": 1_000_000_000},
        {"day": "2026-11-03", "model": "b", "cost_nano": 500_000_000},
    ]
    axes = figure(rows, ("model",)).axes[0]
    bars = [p for p in axes.patches if isinstance(p, Rectangle) and p.get_height() > 0]
    assert len(bars) == 3
    for bar in bars:
        day = dates.num2date(bar.get_x() + bar.get_width() / 2).date()
        start = dates.date2num(day)
        assert start <= bar.get_x() and bar.get_x() + bar.get_width() <= start + 1
    assert {dates.num2date(b.get_x()).date().isoformat() for b in bars} == {
        "2026-11-01", "2026-11-03",
    }  # fmt: skip
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert labels == ["2026-11-01", "2026-11-02", "2026-11-03"]  # one per day, gaps too


def test_models_help_shows_details_and_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--help")
    assert code == 0
    usage = out.split("\n\n")[0]
    assert "--details" in usage and "--catalog" in usage


def test_database_from_llmswitch_toml(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path}/from-toml.db"
    with open_database(db_url) as db:
        insert_rows(db, row(user="dora"))
    (tmp_path / "llmswitch.toml").write_text(f'[storage]\ndatabase_url = "{db_url}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    code, out, _ = run(capsys, "usage", "--by", "user", "--format", "json")
    assert code == 0 and [r["user"] for r in json.loads(out)] == ["dora"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--by", "week"), "cannot group by 'week'"),
        (("--since", "last tuesday"), "since: expected YYYY-MM-DD"),
        (("--since", "2026-11-05", "--until", "2026-11-01"), "is after until"),
    ],
)
def test_bad_arguments_fail_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, "usage", "--database-url", f"sqlite:///{tmp_path}/x.db", *args)
    assert (code, out) == (1, "")
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.db").exists()
