"""``llmswitch db upgrade`` and ``llmswitch db status`` on SQLite and PostgreSQL: output,
exit codes, which database they pick, and failures as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from llmswitch.storage.sql import open_database
from llmswitch.storage.sql.migrations import MIGRATIONS
from llmswitch.storage.sql.schema import MIGRATIONS_TABLE
from tests.support.cli import run

ALL = [m.VERSION for m in MIGRATIONS]  # every version this llmswitch ships
LATEST = ALL[-1]


def test_upgrade_then_up_to_date(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, err = run(capsys, "db", "upgrade", "--database-url", database_url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "applied 1: provider_keys and audit_log"
    assert lines[1] == "applied 2: usage_ledger"
    assert lines[len(ALL)].endswith(f": schema version {LATEST}, up to date")
    code, out, err = run(capsys, "db", "upgrade", "--database-url", database_url)
    assert (code, err) == (0, "")
    assert out.strip().endswith(f": up to date (schema version {LATEST})")


def test_status_text_and_json(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, _ = run(capsys, "db", "status", "--database-url", database_url)
    assert code == 0
    assert f"schema    version 0 (latest {LATEST})" in out
    assert "pending   1 (provider_keys and audit_log), 2 (usage_ledger)" in out
    run(capsys, "db", "upgrade", "--database-url", database_url)
    code, out, _ = run(capsys, "db", "status", "--json", "--database-url", database_url)
    assert code == 0
    report = json.loads(out)
    assert report == {
        "url": report["url"], "current": LATEST, "latest": LATEST, "applied": ALL, "pending": [],
        "up_to_date": True, "exists": True,
    }  # fmt: skip
    assert report["url"] == open_database(database_url).url


def _newer(conn: Connection) -> None:
    conn.execute(
        text(
            f"INSERT INTO {MIGRATIONS_TABLE} (version, description, applied_at) VALUES (700, 'x', 0)"
        )
    )


def test_a_newer_database_exits_1(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    db = open_database(database_url)
    db.run(_newer)
    db.close()
    code, out, err = run(capsys, "db", "status", "--json", "--database-url", database_url)
    assert code == 1
    assert json.loads(out)["current"] == 700
    assert err.count("\n") == 1 and "newer than this llmswitch" in err
    code, out, err = run(capsys, "db", "upgrade", "--database-url", database_url)
    assert (code, out) == (1, "")
    assert err.startswith("llmswitch: error: ") and "schema version 700" in err


def test_the_environment_variable_and_the_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("LLMSWITCH_HOME", str(home))
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert f"sqlite:///{home}/llmswitch.db: schema version {LATEST}" in out
    assert (home / "llmswitch.db").exists()
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    code, out, _ = run(capsys, "db", "status")
    assert code == 0 and f"database  sqlite:///{tmp_path}/env.db (not created yet)" in out
    assert not (tmp_path / "env.db").exists()  # status creates nothing
    code, out, _ = run(capsys, "db", "status", "--json")
    assert json.loads(out)["exists"] is False


def test_the_config_file_names_the_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    config = tmp_path / "llmswitch.toml"
    # a provider whose key is not in this environment: db commands do not need it
    config.write_text(
        f'[storage]\ndatabase_url = "sqlite:///{tmp_path}/file.db"\n\n'
        '[providers.vllm]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key = "${VLLM_KEY_NOT_SET}"\n'
    )
    code, out, _ = run(capsys, "db", "upgrade", "--config", str(config))
    assert code == 0 and f"sqlite:///{tmp_path}/file.db" in out
    # --database-url wins over both
    code, out, _ = run(
        capsys,
        "db",
        "status",
        "--config",
        str(config),
        "--database-url",
        f"sqlite:///{tmp_path}/flag.db",
    )
    assert code == 0 and f"sqlite:///{tmp_path}/flag.db" in out


def test_a_relative_sqlite_path_in_the_config_is_next_to_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "llmswitch.toml"
    config.write_text('[storage]\ndatabase_url = "sqlite:///keys.db"\n')
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    code, out, _ = run(capsys, "db", "upgrade", "--config", "../conf/llmswitch.toml")
    assert code == 0 and f"sqlite:///{tmp_path}/conf/keys.db" in out
    assert (tmp_path / "conf" / "keys.db").exists()
    assert not (tmp_path / "run" / "keys.db").exists()


def test_unreachable_database_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://alice:hunter2secret@127.0.0.1:1/llmswitch"
    for action in ("status", "upgrade"):
        code, out, err = run(capsys, "db", action, "--database-url", url)
        assert (code, out) == (1, "")
        assert err.count("\n") == 1
        assert err.startswith(
            "llmswitch: error: database postgresql://alice:****@127.0.0.1:1/llmswitch"
        )
        assert "hunter2secret" not in err


def test_bad_url_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "db", "status", "--database-url", "mysql://root:pw123456@db/x")
    assert code == 1
    assert "--database-url" in err and "unsupported scheme 'mysql'" in err
    assert "pw123456" not in err


def test_malformed_urls_are_one_line_errors_not_crashes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", "postgresql://u:pw123456@[::1/db")
    code, out, err = run(capsys, "db", "status")
    assert (code, out) == (1, "")
    assert err.startswith("llmswitch: error: LLMSWITCH_DATABASE_URL: database URL ")
    assert "is not a valid URL" in err and "pw123456" not in err and "unexpected" not in err


def test_the_libpq_form_reaches_the_database(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the libpq host-in-query form is PostgreSQL's")
    from urllib.parse import urlencode

    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    # the fixture's own schema selection (options=...) kept
    query = {"host": url.host, "user": url.username, **url.query}
    libpq = f"postgresql:///{url.database}?{urlencode(query)}"
    code, out, err = run(capsys, "db", "status", "--database-url", libpq)
    assert (code, err) == (0, ""), err
    assert "schema    version" in out


def test_db_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "db")
    assert code == 2 and "ACTION" in err
