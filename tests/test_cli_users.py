"""``llmswitch users add|key|list|revoke`` end to end on a temp database (SQLite and
PostgreSQL): the key alone on the last line, never in ``users list``, seen by a
gateway-side store; one-line errors with exit 1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmswitch.gateway.tenancy import TenantStore
from llmswitch.storage.sql import open_database
from tests.support.cli import run
from tests.support.sql import database_url  # noqa: F401

KEY_RE = re.compile(r"lsk-[A-Za-z0-9_-]{32,}")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> str:  # noqa: F811
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no llmswitch.toml around
    monkeypatch.delenv("LLMSWITCH_CONFIG", raising=False)
    return database_url


def _resolve(url: str, key: str) -> object:
    async def go() -> object:
        db = open_database(url)
        try:
            return await TenantStore(db).resolve(key)
        finally:
            await db.aclose()

    return asyncio.run(go())


def test_users_add_key_list_revoke(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "users", "add", "ana", "--team", "ml")
    assert (code, err) == (0, "") and "ana" in out and "ml" in out
    code, out, err = run(capsys, "users", "key", "ana", "--name", "laptop", "--expires", "30")
    assert code == 0, err
    lines = out.splitlines()
    key = lines[-1]
    assert KEY_RE.fullmatch(key), "the key alone on the last line"
    assert all(key not in line for line in lines[:-1]) and key not in err
    key_id = re.search(r"key_[0-9a-f]{12}", out)
    assert key_id is not None
    principal = _resolve(env, key)  # what a gateway on the same database sees
    assert principal is not None and principal.user == "ana"  # type: ignore[attr-defined]

    code, out, _ = run(capsys, "users", "list", "--format", "json")
    assert code == 0 and key not in out and key[4:] not in out
    (user,) = json.loads(out)
    assert (user["name"], user["team"], user["disabled"]) == ("ana", "ml", False)
    (listed,) = user["keys"]
    assert listed["id"] == key_id.group(0) and listed["prefix"] == key[4:12]
    assert listed["status"] == "active" and listed["name"] == "laptop"
    assert listed["expires_at"] is not None
    code, out, _ = run(capsys, "users", "list")
    assert code == 0 and key_id.group(0) in out and "active" in out and key not in out

    code, out, _ = run(capsys, "users", "revoke", key_id.group(0))
    assert code == 0 and "revoked" in out
    assert _resolve(env, key) is None
    code, _, err = run(capsys, "users", "revoke", key_id.group(0))
    assert code == 1 and "revoked already" in err
    code, out, _ = run(capsys, "users", "list", "--format", "json")
    assert json.loads(out)[0]["keys"][0]["status"] == "revoked"


def test_users_errors_are_one_line(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, expected in (
        (("users", "key", "nobody"), "no user 'nobody'"),
        (("users", "add", "has space"), "name must be 1-64 characters"),
        (("users", "revoke", "key_000000000000"), "no access key"),
    ):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == "", argv
        assert err.count("\n") == 1 and expected in err and err.startswith("llmswitch: error:")
    run(capsys, "users", "add", "ana")
    code, _, err = run(capsys, "users", "add", "ana")
    assert code == 1 and "exists already" in err
    code, _, err = run(capsys, "users", "key", "ana", "--expires", "-1")
    assert code == 2 and "DAYS" in err


def test_users_key_in_a_subprocess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", url)
    monkeypatch.delenv("LLMSWITCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "users", "add", "bob")[0] == 0
    done = subprocess.run(
        [sys.executable, "-m", "llmswitch.cli", "users", "key", "bob"],
        env=dict(os.environ), cwd=tmp_path, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    key = done.stdout.rstrip("\n").splitlines()[-1]
    assert KEY_RE.fullmatch(key) and done.stdout.endswith(key + "\n") and key not in done.stderr
    code, listed, _ = run(capsys, "users", "list", "--format", "json")
    assert code == 0 and key not in listed and json.loads(listed)[0]["name"] == "bob"
    assert _resolve(url, key) is not None
