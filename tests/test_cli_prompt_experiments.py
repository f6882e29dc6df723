"""``llmswitch prompts experiment ...`` and ``llmswitch prompts report`` (SQLite and
PostgreSQL): the whole lifecycle from the command line, the report table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmswitch.prompts import PromptStore
from llmswitch.prompts.feedback import feedback
from llmswitch.storage.sql import open_database
from tests.support.cli import run
from tests.support.ledger_rows import insert_rows, row


@pytest.fixture
def url(database_url: str, tmp_path: Path) -> str:
    db = open_database(database_url)
    try:
        store = PromptStore(db)
        store.add("greet", {"system": "Be formal.", "messages": [
            {"role": "user", "content": "Greet {{ name }}."}]})  # fmt: skip
        store.add("greet", "Hi {{ name }}!")
    finally:
        db.close()
    return database_url


def test_lifecycle(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", url]
    code, out, err = run(capsys, "prompts", "experiment", "start", "greet", "--variant",
                         "formal=1", "--variant", "brief=2,weight=3", "--id", "tone",
                         "--author", "ana", "--json", *db)  # fmt: skip
    assert code == 0, err
    started = json.loads(out)
    assert (started["id"], started["status"], started["created_by"]) == ("tone", "running", "ana")
    assert [v["weight"] for v in started["variants"]] == [1.0, 3.0]

    code, out, err = run(capsys, "prompts", "experiment", "start", "greet", "--variant",
                         "a=1", "--variant", "b=9", *db)  # fmt: skip
    assert code == 1 and "has no version 9" in err

    code, out, _ = run(capsys, "prompts", "experiment", "pause", "tone", *db)
    assert (code, out.splitlines()[0]) == (0, "experiment tone on greet: paused")
    code, out, _ = run(capsys, "prompts", "experiment", "resume", "tone", *db)
    assert "running" in out
    code, out, _ = run(capsys, "prompts", "experiment", "list", *db)
    assert code == 0 and "tone" in out and "brief=v2 (3)" in out

    code, out, err = run(capsys, "prompts", "experiment", "promote", "tone", "brief", *db)
    assert code == 0, err
    assert "winner: brief -> label production" in out
    code, out, _ = run(capsys, "prompts", "show", "greet:production", *db)
    assert code == 0 and "Hi {{ name }}!" in out
    code, out, err = run(capsys, "prompts", "experiment", "stop", "tone", *db)
    assert code == 1 and "stopped already" in err
    code, out, err = run(capsys, "prompts", "experiment", "start", "greet", "--variant",
                         "a=1,colour=red", "--variant", "b=2", *db)  # fmt: skip
    assert code == 1 and "unknown option" in err


def test_report_table_and_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", url]
    code, _, err = run(capsys, "prompts", "experiment", "start", "greet", "--variant", "a=1",
                       "--variant", "b=2", "--id", "e1", *db)  # fmt: skip
    assert code == 0, err
    rows = []
    for i in range(40):
        arm, version = ("a", 1) if i % 2 else ("b", 2)
        rows.append(row(request_id=f"r{i}", prompt_name="greet", prompt_version=version,
                        prompt_variant=f"e1:{arm}", latency_ms=100 + i,
                        status="error" if arm == "a" and i % 4 == 1 else "ok"))  # fmt: skip
    database = open_database(url)
    try:
        insert_rows(database, *rows)
        feedback(database, "r0", 5)
    finally:
        database.close()

    code, out, err = run(capsys, "prompts", "report", "greet", *db)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "prompt greet, experiment e1 (running)"
    assert lines[1].split()[:4] == ["arm", "version", "calls", "errors"]
    assert lines[2].split()[:5] == ["a", "1", "20", "10", "(50.0%)"]
    assert lines[3].split()[:4] == ["b", "2", "20", "0"]
    assert "recommendations:" in out and "promote: b beats a on success rate" in out

    code, out, err = run(capsys, "prompts", "report", "greet", "--format", "json", *db)
    assert code == 0, err
    data = json.loads(out)
    assert [a["calls"] for a in data["arms"]] == [20, 20]
    assert data["arms"][1]["feedback"] == 1 and data["arms"][1]["score_mean"] == 5.0
    assert data["srm_warning"] is None
    assert data["recommendations"]["variant"]["action"] == "promote"
    assert {c["metric"] for c in data["comparisons"]} == {
        "success_rate", "latency_ms", "cost_usd", "score"
    }  # fmt: skip
    code, _, err = run(capsys, "prompts", "report", "greet", "--experiment", "nope", *db)
    assert code == 1 and "no experiment 'nope'" in err
