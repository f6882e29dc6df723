"""Which database open_database picks, the URL forms it accepts and refuses, the
default under LLMSWITCH_HOME, passwords masked everywhere, and failures before and at
the first connection."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from llmswitch.errors import ConfigurationError, StorageError
from llmswitch.storage.sql import default_database_url, open_database


def _one(conn: Connection) -> int:
    return int(conn.execute(text("SELECT 1")).scalar_one())


def test_default_is_sqlite_under_llmswitch_home(tmp_path: Path) -> None:
    home = tmp_path / "deep" / "home"
    env = {"LLMSWITCH_HOME": str(home)}
    assert default_database_url(env) == f"sqlite:///{home}/llmswitch.db"
    db = open_database(None, env)
    assert db.url == f"sqlite:///{home}/llmswitch.db" and db.dialect == "sqlite"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert db.run(_one) == 1
    assert stat.S_IMODE((home / "llmswitch.db").stat().st_mode) == 0o600
    db.close()


def test_home_defaults_to_local_share_and_expands_tilde(tmp_path: Path) -> None:
    fake_home = str(tmp_path)
    assert default_database_url({"HOME": fake_home}).startswith("sqlite:///")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", fake_home)
        mp.delenv("LLMSWITCH_HOME", raising=False)
        expected = f"sqlite:///{fake_home}/.local/share/llmswitch/llmswitch.db"
        assert default_database_url(os.environ) == expected
        assert (
            default_database_url({"LLMSWITCH_HOME": "~/x"})
            == f"sqlite:///{fake_home}/x/llmswitch.db"
        )


def test_environment_variable_then_explicit_url(tmp_path: Path) -> None:
    env = {
        "LLMSWITCH_DATABASE_URL": f"sqlite:///{tmp_path}/env.db",
        "LLMSWITCH_HOME": str(tmp_path / "h"),
    }
    assert open_database(None, env).url == f"sqlite:///{tmp_path}/env.db"
    assert (
        open_database(f"sqlite:///{tmp_path}/mine.db", env).url == f"sqlite:///{tmp_path}/mine.db"
    )
    assert not (tmp_path / "h").exists()  # the default's directory only when it is used


def test_relative_sqlite_path_is_taken_from_the_working_directory(tmp_path: Path) -> None:
    os.chdir(tmp_path)  # the autouse fixture restores the directory
    assert open_database("sqlite:///rel/x.db").url == f"sqlite:///{tmp_path}/rel/x.db"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mysql://root@db/x", "unsupported scheme 'mysql'"),
        ("llmswitch.db", "is not a URL"),
        ("sqlite://host/x.db", "has a host part"),
        ("sqlite:///", "names no file"),
        ("sqlite://", "names no file"),
        ("sqlite:////tmp/x.db?mode=ro", "query parameters"),
        ("postgresql://db.internal:5432", "names no database"),
        ("postgresql://db.internal:port/x", "invalid port"),
        ("postgresql://u:pw123456@h:99999/db", "invalid port"),
        ("postgresql://u@[::1/db", "is not a valid URL"),
        ("postgresql+asyncpg://db/x", "unsupported scheme"),
    ],
)
def test_bad_urls_are_configuration_errors_naming_the_source(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why) as info:
        open_database(url, field="[storage] database_url")
    assert info.value.field == "[storage] database_url"
    assert str(info.value).startswith("[storage] database_url: ")
    with pytest.raises(ConfigurationError) as info:
        open_database(None, {"LLMSWITCH_DATABASE_URL": url})
    assert info.value.field == "LLMSWITCH_DATABASE_URL"


def test_malformed_urls_keep_their_password_masked_in_the_error() -> None:
    for url in ("postgresql://u:pw123456@h:99999/db", "postgresql://u:pw123456@[::1/db"):
        with pytest.raises(ConfigurationError) as info:
            open_database(url, field="--database-url")
        assert "pw123456" not in str(info.value) and "u:****@" in str(info.value)


def test_display_url_never_raises_and_always_masks() -> None:
    from llmswitch.storage.base import display_url

    cases = {
        "postgresql://u:pw@h:99999/db": "postgresql://u:****@h:99999/db",
        "postgresql://u:pw@[::1/db": "postgresql://u:****@[::1/db",
        "redis://:pw@localhost:6379/0": "redis://:****@localhost:6379/0",
        "postgresql://u@h/db?password=pw&sslmode=require#x":
            "postgresql://u@h/db?password=%2A%2A%2A%2A&sslmode=require#x",
        "postgresql:///db?host=/run/pg": "postgresql:///db?host=/run/pg",
        "not a url": "not a url",
    }  # fmt: skip
    for url, shown in cases.items():
        assert display_url(url) == shown


def test_the_libpq_form_without_a_host_is_accepted() -> None:
    # postgresql:///dbname?host=...: the host comes from the query (or a socket).
    from sqlalchemy.engine import make_url

    from llmswitch.storage.sql._url import resolve_database_url

    resolved = resolve_database_url("postgresql:///test?host=localhost&user=postgres", {})
    parsed = make_url(resolved.sync_url)
    assert (parsed.drivername, parsed.host, parsed.database) == ("postgresql+psycopg", None, "test")
    assert dict(parsed.query) == {"host": "localhost", "user": "postgres"}
    assert resolved.display == "postgresql:///test?host=localhost&user=postgres"


def test_postgres_url_forms() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        db = open_database(url)
        assert (db.dialect, db.url) == ("postgresql", "postgresql://u@h/db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:s3cr3t-pass@127.0.0.1:1/llmswitch",
        "postgresql://alice@127.0.0.1:1/llmswitch?password=s3cr3t-pass",
    ],
)
def test_password_is_masked_in_url_repr_and_errors(url: str) -> None:
    db = open_database(url, connect_timeout=2)
    # masked as the state store's URLs are: "****", percent-encoded in a query
    assert "s3cr3t-pass" not in db.url and (
        "alice:****@" in db.url or "password=%2A%2A%2A%2A" in db.url
    )
    assert "s3cr3t-pass" not in repr(db)
    with pytest.raises(StorageError) as info:
        db.run(_one)
    assert info.value.retryable and info.value.url == db.url
    for text_ in (str(info.value), repr(info.value), info.value.url):
        assert "s3cr3t-pass" not in text_
    with pytest.raises(StorageError) as info:
        asyncio.run(db.arun(_one))
    assert "s3cr3t-pass" not in str(info.value) and db.url in str(info.value)
    db.close()


def test_missing_directory_and_garbage_file_are_storage_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        open_database(f"sqlite:///{tmp_path}/nope/x.db").run(_one)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database file, not at all" * 100)
    db = open_database(f"sqlite:///{garbage}")
    with pytest.raises(StorageError, match="not a database"):
        db.run(_one)
    db.close()


def test_missing_postgres_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match=r"pip install 'llmswitch\[postgres\]'"):
        open_database("postgresql://u@127.0.0.1:1/db", field="LLMSWITCH_DATABASE_URL").run(_one)


async def test_memory_database_is_shared_by_both_engines() -> None:
    db = open_database("sqlite:///:memory:")
    db.run(lambda c: c.execute(text("CREATE TABLE t (v INTEGER)")))
    await db.arun(lambda c: c.execute(text("INSERT INTO t VALUES (41)")))
    db.run(lambda c: c.execute(text("UPDATE t SET v = v + 1")))
    assert await db.aread(lambda c: c.execute(text("SELECT v FROM t")).scalar_one()) == 42
    other = open_database("sqlite:///:memory:")  # another Database: another database
    assert other.status().current == 0
    await db.aclose()
    other.close()


def test_import_llmswitch_loads_no_sql_library() -> None:
    code = (
        "import sys, llmswitch, llmswitch.storage.sql; "
        "from llmswitch.storage.sql import open_database; open_database('sqlite:///:memory:'); "
        "bad = [m for m in ('sqlalchemy', 'aiosqlite', 'psycopg', 'sqlite3') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
