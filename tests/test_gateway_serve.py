"""``llmswitch serve``: the bind check, the CLI's errors, and the real server process
(one and two workers): SIGHUP reloads the configuration in every worker, SIGTERM stops
with exit 0."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import httpx
import pytest

from llmswitch.config import Config
from llmswitch.errors import ConfigurationError
from llmswitch.gateway.serve import INSTALL_HINT, check_bind, count_access_keys, is_loopback
from tests.support.cli import run
from tests.support.loopback import Loopback, Reply
from tests.support.serve import serving, wait_for
from tests.support.sql import sqlite_url

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CHAT = (Path(__file__).parent / "fixtures" / "openai" / "chat_text.json").read_bytes()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.168.0.1"])
def test_other_addresses(host: str) -> None:
    assert not is_loopback(host)


def test_check_bind() -> None:
    check_bind("127.0.0.1", access_keys=0, admin_key=False)
    check_bind("0.0.0.0", access_keys=1, admin_key=False)
    check_bind("0.0.0.0", access_keys=0, admin_key=True)
    with pytest.raises(
        ConfigurationError, match=r"refusing to bind 0\.0\.0\.0: no access keys"
    ) as err:
        check_bind("0.0.0.0", access_keys=0, admin_key=False)
    assert getattr(err.value, "field", None) == "--host"


async def test_count_access_keys(tmp_path: Path) -> None:
    from llmswitch.gateway.tenancy import TenantStore
    from llmswitch.storage.sql import open_database

    url = sqlite_url(tmp_path)
    config = Config(database_url=url)
    assert count_access_keys(config) == 0
    database = open_database(url)
    store = TenantStore(database)
    await store.add_user("ana")
    first, _ = await store.issue_key("ana")
    await store.issue_key("ana")
    await store.revoke_key(first.id)
    await database.aclose()
    assert count_access_keys(config) == 1  # the revoked one does not count


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("LLMSWITCH_ADMIN_KEY", "LLMSWITCH_CONFIG", "LLMSWITCH_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMSWITCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_refuses_an_open_network_bind(
    quiet_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "serve", "--host", "0.0.0.0", "--port", "4999")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("llmswitch: error: ")
    assert "refusing to bind 0.0.0.0" in err and "LLMSWITCH_ADMIN_KEY" in err


def test_cli_without_uvicorn_names_the_extra(
    quiet_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    code, _, err = run(capsys, "serve")
    assert code == 1 and INSTALL_HINT in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["--port", "0"], "must be 1-65535"), (["--workers", "0"], "must be 1-512")],
)
def test_cli_usage_errors(
    quiet_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, out, err = run(capsys, "serve", *argv)
    assert code == 2 and out == "" and fragment in err


def test_cli_bad_config_is_one_line(quiet_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = quiet_env / "bad.toml"
    bad.write_text("[gateway]\nport = 'four'\n")
    code, _, err = run(capsys, "serve", "--config", str(bad))
    assert code == 1 and err.count("\n") == 1 and "bad.toml:2" in err


# --------------------------------------------------------------------------- processes


def _config(folder: Path, aliases: dict[str, str]) -> Path:
    path = folder / "llmswitch.toml"
    lines = ["[aliases]", *(f'{k} = "{v}"' for k, v in aliases.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sighup_reloads_every_worker_and_sigterm_exits_0(
    tmp_path: Path, loopback: Loopback
) -> None:
    loopback.route("POST", "/v1/chat/completions", Reply(body=CHAT))
    config = _config(tmp_path, {"fast": "openai/gpt-4o-mini"})
    env = {
        "LLMSWITCH_DATABASE_URL": sqlite_url(tmp_path),
        "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "OPENAI_BASE_URL": loopback.url + "/v1",
    }
    smart = {"model": "smart", "messages": [{"role": "user", "content": "hi"}]}
    with serving(tmp_path, config=config, env=env, workers=2) as proc:
        assert "(2 workers," in proc.stderr and f":{proc.port} " in proc.stderr
        assert "2 workers on memory:// state" in proc.stderr  # said once, at start
        assert httpx.post(proc.url + "/v1/chat/completions", json=smart).status_code in (400, 404)
        _config(tmp_path, {"fast": "openai/gpt-4o-mini", "smart": "openai/gpt-4o"})
        proc.signal(signal.SIGHUP)
        reloaded = lambda: proc.stderr.count("configuration reloaded (1 change(s))") == 2  # noqa: E731
        assert wait_for(reloaded), proc.stderr
        # The new alias works (each call a new connection: either worker answers).
        for _ in range(6):
            r = httpx.post(proc.url + "/v1/chat/completions", json=smart, timeout=30)
            assert r.status_code == 200, r.text
        assert json.loads(loopback.requests[-1].body)["model"] == "gpt-4o"
        # A file that does not validate is refused; the workers keep serving.
        config.write_text("[aliases]\nbroken = \n")
        proc.signal(signal.SIGHUP)
        assert wait_for(lambda: proc.stderr.count("configuration rejected") == 2), proc.stderr
        assert httpx.get(proc.url + "/healthz", timeout=10).status_code == 200
        assert proc.stop() == 0
    assert '"path":"/healthz"' in proc.stdout  # the access log, one JSON line each


def test_one_worker_stops_with_exit_0(tmp_path: Path) -> None:
    config = _config(tmp_path, {})
    env = {"LLMSWITCH_DATABASE_URL": sqlite_url(tmp_path)}
    with serving(tmp_path, config=config, env=env, workers=1) as proc:
        r = httpx.get(proc.url + "/readyz", timeout=10)
        assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
        _config(tmp_path, {"fast": "openai/gpt-4o-mini"})
        proc.signal(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded (1 change(s))" in proc.stderr)
        proc.signal(signal.SIGINT)
        assert proc.wait() == 0
    assert "(1 worker," in proc.stderr and "Traceback" not in proc.stderr


def test_sighup_takes_gateway_settings_a_worker_can_take_and_names_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMSWITCH_ADMIN_KEY", "adm-0123456789abcdef")
    config = tmp_path / "llmswitch.toml"
    config.write_text("[gateway]\npublic_metrics = false\n")
    env = {"LLMSWITCH_DATABASE_URL": sqlite_url(tmp_path),
           "LLMSWITCH_ADMIN_KEY": "adm-0123456789abcdef"}  # fmt: skip
    with serving(tmp_path, config=config, env=env, workers=1) as proc:
        assert httpx.get(proc.url + "/metrics", timeout=10).status_code == 401
        config.write_text("[gateway]\npublic_metrics = true\nworkers = 3\n")
        proc.signal(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded (2 change(s))" in proc.stderr)
        assert wait_for(lambda: "gateway.workers changed: taken at the next start" in proc.stderr)
        r = httpx.get(proc.url + "/metrics", timeout=10)
        assert r.status_code == 200 and "llmswitch" in r.text
        assert proc.stop() == 0
    assert "gateway.public_metrics changed" not in proc.stderr


def test_with_access_keys_it_binds_any_address_and_wants_a_key(
    tmp_path: Path, quiet_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path)
    assert run(capsys, "users", "add", "ana")[0] == 0
    code, out, _ = run(capsys, "users", "key", "ana")
    assert code == 0
    key = out.strip().splitlines()[-1]
    config = _config(tmp_path, {"fast": "openai/gpt-4o-mini"})
    env = {"LLMSWITCH_DATABASE_URL": url, "OPENAI_API_KEY": "sk-test-x"}
    with serving(tmp_path, config=config, env=env, host="0.0.0.0") as proc:
        assert httpx.get(proc.url + "/v1/models", timeout=10).status_code == 401
        r = httpx.get(proc.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200 and "fast" in r.text
        assert proc.stop() == 0
    assert key not in proc.stdout + proc.stderr  # never logged
    assert '"user":"ana"' in proc.stdout  # the access log names the caller
