"""``llmswitch config check|schema|history``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmswitch import Client
from llmswitch._reload import audit_writer
from llmswitch.config import json_schema
from tests.support.cli import run
from tests.support.config import write
from tests.support.loopback import Loopback
from tests.test_config_platform import MANY_PROBLEMS, OVERLAID
from tests.test_reload import CHAT, KEY_A, _write


def test_check_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, OVERLAID)
    assert run(capsys, "config", "check", str(path)) == (0, f"ok: {path}\n", "")
    assert run(capsys, "config", "check", str(path), "--env", "prod") == (
        0, f"ok: {path} (env prod)\n", "",
    )  # fmt: skip


def test_check_finds_the_file_as_clients_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "config", "check")
    assert code == 1 and out == ""
    assert err == (
        "llmswitch: error: no config file to check: pass FILE, set $LLMSWITCH_CONFIG or "
        "create ./llmswitch.toml\n"
    )
    write(tmp_path, OVERLAID)
    assert run(capsys, "config", "check") == (0, "ok: llmswitch.toml\n", "")
    other = write(tmp_path, "[aliases]\nx = 'openai/gpt-4o'\n", "other.toml")
    monkeypatch.setenv("LLMSWITCH_CONFIG", str(other))
    assert run(capsys, "config", "check")[1] == f"ok: {other}\n"


def test_check_prints_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MANY_PROBLEMS)
    code, out, err = run(capsys, "config", "check", str(path))
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"{path}:{n}" for n in (1, 3, 7, 10, 13, 15, 19)
    ]
    assert lines[4] == f"{path}:13: retry.attempts: RetryPolicy.attempts must be an integer >= 1"


def test_check_the_overlay_the_environment_selects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, OVERLAID + '\n[env.bad.providers.vllm]\nbase_url = "${BAD_URL}"\n')
    assert run(capsys, "config", "check", str(path))[0] == 0  # the base file alone is fine
    monkeypatch.setenv("LLMSWITCH_ENV", "bad")
    monkeypatch.setenv("BAD_URL", "ftp://user:pw-SECRET-1234@host/v1")
    code, out, _ = run(capsys, "config", "check", str(path))
    assert (code, out) == (
        1,
        f"{path}:36: providers.vllm.base_url: must be an http:// or https:// URL\n",
    )
    monkeypatch.setenv("LLMSWITCH_ENV", "qa")
    code, out, _ = run(capsys, "config", "check", str(path))
    assert code == 1
    assert (
        "overlay 'qa' (from $LLMSWITCH_ENV) is not defined in this file (defined: prod, staging, bad)"
        in out
    )
    # --env wins over the environment
    assert run(capsys, "config", "check", str(path), "--env", "prod")[0] == 0


def test_check_never_prints_a_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-proj-NEVERSHOWN0123456789abcdef"
    monkeypatch.setenv("MISPLACED", secret)
    path = write(tmp_path, '[providers.vllm]\nkind = "${MISPLACED}"\nbase_url = "http://x/v1"\n')
    code, out, err = run(capsys, "config", "check", str(path))
    assert code == 1 and "kind" in out
    assert secret not in out + err


def test_schema_prints_the_generated_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "schema")
    assert (code, err) == (0, "")
    assert json.loads(out) == json_schema()


def test_history_without_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "config", "history") == (
        0, "no configuration changes recorded (no database yet)\n", "",
    )  # fmt: skip
    assert not (Path(os.environ["LLMSWITCH_HOME"]) / "llmswitch.db").exists()


def test_history_lists_applied_changes_newest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], loopback: Loopback
) -> None:
    loopback.route("POST", "/v1/chat/completions", CHAT)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    storage = f'\n[storage]\ndatabase_url = "{url}"\n'
    path = _write(tmp_path / "llmswitch.toml", loopback, "model-a", storage)
    with Client(config=path, env={"UP_KEY": KEY_A}) as client:
        for model in ("model-b", "model-c"):
            _write(path, loopback, model, storage)
            client.reload()
    assert audit_writer().flush(30)
    # [storage] is all it reads: ${UP_KEY} need not be set where the history is read
    code, out, err = run(capsys, "config", "history", "--config", str(path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith(f"  client:pid {os.getpid()}@{os.uname().nodename}  {path.resolve()}")
    assert lines[1] == "    1 change(s): aliases.fast"
    code, out, _ = run(capsys, "config", "history", "--database-url", url, "--json", "--limit", "1")
    [row] = json.loads(out)
    assert row["action"] == "config.apply" and row["file"] == str(path.resolve())
    assert row["changes"] == [
        {"key": "aliases.fast", "kind": "changed", "old": "up/model-b", "new": "up/model-c"}
    ]
    assert row["at"].endswith("Z") and row["overlay"] is None
    assert KEY_A not in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--limit", "0"), "must be 1..10000"),
        (("--database-url", "mysql://u:pw-SECRET@h/db"), "unsupported scheme 'mysql'"),
    ],
)
def test_history_errors(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], says: str
) -> None:
    code, out, err = run(capsys, "config", "history", *argv)
    assert code in (1, 2) and out == ""
    assert says in err and "pw-SECRET" not in err
    assert len(err.splitlines()) == 1


def test_history_reports_a_broken_storage_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[storage]\ndatabase_url = "mysql://x/y"\n[retry]\nattempts = 0\n')
    code, out, err = run(capsys, "config", "history", "--config", str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"llmswitch: error: {path}:2: storage.database_url: database URL")
