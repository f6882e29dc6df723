"""Every applied configuration change is an ``audit_log`` row (action ``config.apply``,
the file as subject, who applied it, a masked diff), written off the call path, on
SQLite and PostgreSQL; the initial load is not a change; a database outage costs a
WARNING, never the reload."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from llmswitch import Client
from llmswitch._reload import audit_writer
from llmswitch.storage.sql import open_database
from llmswitch.storage.sql.audit import AuditEntry, read_audit
from tests.support.loopback import Loopback, closed_port
from tests.test_reload import CHAT, KEY_A, KEY_B, _wait_for, _write

HEADER_TOKEN = "tok-HEADER-0123456789abcdef"
STATE_SECRET = "state-SECRET-0123456789abcdef"


@pytest.fixture
def upstream() -> Loopback:
    server = Loopback()
    server.route("POST", "/v1/chat/completions", CHAT)
    yield server  # type: ignore[misc]
    server.close()


def _storage(url: str) -> str:
    return f'\n[storage]\ndatabase_url = "{url}"\n'


def _history(url: str) -> list[AuditEntry]:
    assert audit_writer().flush(30)
    db = open_database(url)
    try:
        return db.read(lambda conn: read_audit(conn, limit=100, action_prefix="config."))
    finally:
        db.close()


def test_an_applied_change_is_audited_with_a_masked_diff(
    tmp_path: Path, upstream: Loopback, database_url: str
) -> None:
    path = tmp_path / "llmswitch.toml"
    extra = _storage(database_url) + '\n[providers.up.headers]\nauthorization = "${TOKEN}"\n'
    _write(path, upstream, "model-a", extra)
    env = {"UP_KEY": KEY_A, "TOKEN": HEADER_TOKEN, "STATE": STATE_SECRET}
    with Client(config=path, env=env) as client:
        assert _history(database_url) == []  # building the client is not a change
        _write(path, upstream, "model-b", extra + '\n[state]\nsecret = "${STATE}"\n')
        env["UP_KEY"] = KEY_B
        env["TOKEN"] = HEADER_TOKEN + "-new"
        diff = client.reload()
        assert not client.reload().changed  # nothing new: no second row
    [entry] = _history(database_url)
    assert entry.action == "config.apply"
    assert entry.subject == str(path.resolve())
    assert entry.actor.startswith(f"client:pid {os.getpid()}@")
    assert entry.detail == {"overlay": None, "changes": [c.as_dict() for c in diff.changes]}
    changes = {c["key"]: c for c in entry.detail["changes"]}
    assert changes["aliases.fast"] == {
        "key": "aliases.fast", "kind": "changed", "old": "up/model-a", "new": "up/model-b",
    }  # fmt: skip
    assert changes["providers.up.api_key"]["old"] == changes["providers.up.api_key"]["new"] == "***"
    assert changes["providers.up.headers.authorization"]["new"] == "***"
    assert changes["state.secret"] == {"key": "state.secret", "kind": "added", "new": "***"}
    text = json.dumps(entry.detail)
    for secret in (KEY_A, KEY_B, HEADER_TOKEN, STATE_SECRET):
        assert secret not in text


def test_a_change_the_watcher_applies_names_the_watcher(
    tmp_path: Path, upstream: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmswitch._reload.WATCH_INTERVAL", 0.02)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    path = _write(tmp_path / "llmswitch.toml", upstream, "model-a", _storage(url))
    with Client(config=path, env={"UP_KEY": KEY_A}, watch_config=True) as client:
        _write(path, upstream, "model-watched", _storage(url))
        _wait_for(lambda: client._core.config.aliases.get("fast") == "up/model-watched")
    [entry] = _history(url)
    assert entry.actor.startswith(f"watcher:pid {os.getpid()}@")


def test_the_database_from_the_environment_or_the_default_file(
    tmp_path: Path, upstream: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "llmswitch.toml", upstream, "model-a")
    home = Path(os.environ["LLMSWITCH_HOME"])  # a temp dir (tests/conftest.py)
    # No database configured and no default file: nothing is written, nothing created.
    with Client(config=path, env={"UP_KEY": KEY_A}) as client:
        _write(path, upstream, "model-b")
        assert client.reload().changed
        assert audit_writer().flush(30)
    assert not (home / "llmswitch.db").exists()
    # $LLMSWITCH_DATABASE_URL, read from the client's environment like ${VAR}
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    with Client(config=path, env={"UP_KEY": KEY_A, "LLMSWITCH_DATABASE_URL": url}) as client:
        _write(path, upstream, "model-c")
        client.reload()
    assert [e.detail["changes"][0]["new"] for e in _history(url)] == ["up/model-c"]
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", url)  # os.environ, for a client without env=
    monkeypatch.setenv("UP_KEY", KEY_A)
    with Client(config=path) as client:
        _write(path, upstream, "model-e")
        client.reload()
    assert len(_history(url)) == 2
    monkeypatch.delenv("LLMSWITCH_DATABASE_URL")
    # the default file under $LLMSWITCH_HOME, once it exists (llmswitch db upgrade, a key)
    default = f"sqlite:///{home / 'llmswitch.db'}"
    open_database().upgrade()
    with Client(config=path, env={"UP_KEY": KEY_A, "LLMSWITCH_HOME": str(home)}) as client:
        _write(path, upstream, "model-d")
        client.reload()
    assert [e.detail["changes"][0]["new"] for e in _history(default)] == ["up/model-d"]


def test_a_database_outage_never_fails_the_reload(
    tmp_path: Path, upstream: Loopback, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql://llm:pg-PASSWORD-123456@127.0.0.1:{closed_port()}/db"
    path = _write(tmp_path / "llmswitch.toml", upstream, "model-a", _storage(url))
    caplog.set_level(logging.WARNING, logger="llmswitch.config")
    with Client(config=path, env={"UP_KEY": KEY_A}) as client:
        _write(path, upstream, "model-b", _storage(url))
        assert client.reload().changed
        assert client._core.config.aliases["fast"] == "up/model-b"
        assert audit_writer().flush(60)
    [record] = [r for r in caplog.records if "audit log" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert f"configuration change to {path.resolve()} not recorded" in record.getMessage()
    assert "pg-PASSWORD" not in caplog.text
