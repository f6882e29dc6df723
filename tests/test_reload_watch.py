"""Opt-in watching of ``llmswitch.toml`` (``watch_config=True`` or ``[config] watch``):
a changed file is applied through the same reload, a broken one is logged and the old
configuration keeps serving, and closing the client stops the watcher."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from tests.support.config import write
from tests.support.loopback import Loopback
from tests.test_reload import CHAT, HI, KEY_A, _models, _wait_for, _write


@pytest.fixture(autouse=True)
def _fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmswitch._reload.WATCH_INTERVAL", 0.02)


@pytest.fixture
def servers() -> tuple[Loopback, Loopback]:
    a, b = Loopback(), Loopback()
    for server in (a, b):
        server.route("POST", "/v1/chat/completions", CHAT)
    yield a, b  # type: ignore[misc]
    a.close()
    b.close()


def _watchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("llmswitch-watch:")]


def _touch(path: Path) -> None:
    # Coarse file-system clocks: make sure the change is visible to a stat.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_a_watched_file_is_applied_when_it_changes(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    with Client(config=path, env={"UP_KEY": KEY_A}, max_retries=0, watch_config=True) as client:
        assert client._reloader.watching == path.resolve()
        client.chat("fast", HI)
        _write(path, b, "model-b")
        _touch(path)
        _wait_for(lambda: client._core.config.aliases.get("fast") == "up/model-b")
        client.chat("fast", HI)
    assert _models(a) == ["model-a"] and _models(b) == ["model-b"]


def test_a_broken_change_is_logged_and_the_old_configuration_keeps_serving(
    tmp_path: Path, servers: tuple[Loopback, Loopback], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    caplog.set_level(logging.WARNING, logger="llmswitch.config")
    with Client(config=path, env={"UP_KEY": KEY_A}, max_retries=0, watch_config=True) as client:
        before = client._core
        path.write_text(path.read_text().replace('api_key = "${UP_KEY}"', 'api_key = "${NOPE}"'))
        _touch(path)
        _wait_for(lambda: any("rejected" in r.getMessage() for r in caplog.records))
        record = next(r for r in caplog.records if "rejected" in r.getMessage())
        assert record.levelno == logging.WARNING
        assert (
            f"{path.resolve()}:4: providers.up.api_key: environment variable NOPE is not set"
            in (record.getMessage())
        )
        assert client._core is before
        client.chat("fast", HI)  # still the old configuration
        # a fixed file is picked up again afterwards
        _write(path, b, "model-b")
        _touch(path)
        _wait_for(lambda: client._core is not before)
        client.chat("fast", HI)
    assert _models(a) == ["model-a"] and _models(b) == ["model-b"]
    assert KEY_A not in caplog.text


def test_the_config_file_can_turn_watching_on_and_the_argument_wins(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a", "\n[config]\nwatch = true\n")
    with Client(config=path, env={"UP_KEY": KEY_A}) as client:
        assert client._reloader.watching == path.resolve()
        # a reload that turns it off stops the watcher
        _write(path, a, "model-a", "\n[config]\nwatch = false\n")
        _touch(path)
        _wait_for(lambda: client._reloader.watching is None)
    with Client(config=path, env={"UP_KEY": KEY_A}, watch_config=False) as client:
        _write(path, b, "model-b", "\n[config]\nwatch = true\n")
        assert client.reload().changed
        assert client._reloader.watching is None  # watch_config=False holds
    with Client(config=path, env={"UP_KEY": KEY_A}) as client:
        assert client._reloader.watching is not None


async def test_closing_a_client_stops_its_watcher(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, _ = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    before = len(_watchers())
    client = AsyncClient(config=path, env={"UP_KEY": KEY_A}, watch_config=True)
    assert len(_watchers()) == before + 1
    await client.aclose()
    assert len(_watchers()) == before
    sync = Client(config=path, env={"UP_KEY": KEY_A}, watch_config=True)
    assert len(_watchers()) == before + 1
    sync.close()
    assert len(_watchers()) == before


def test_watch_config_must_be_a_boolean_and_have_a_file(tmp_path: Path) -> None:
    from llmswitch.config import Config
    from llmswitch.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="watch_config must be True, False or None"):
        Client(env={}, watch_config="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="watch_config=True needs a file to watch"):
        Client(config=Config(), env={}, watch_config=True)
    # no file yet: the one the client would find is watched, and picked up when it appears
    with Client(env={}, watch_config=True) as client:
        assert client._reloader.watching == (Path.cwd() / "llmswitch.toml").resolve()
        write(Path.cwd(), "[aliases]\nfast = 'openai/gpt-4o-mini'\n")
        _wait_for(lambda: client._core.config.aliases.get("fast") == "openai/gpt-4o-mini")
