"""``llmswitch keys ...``: add (stdin or hidden prompt, validated against a loopback
provider), list, remove, validate, rotate, replace with a window."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llmswitch.keys.vault import KeyVault
from llmswitch.storage.sql import open_database
from tests.support.cli import run
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.openai import fixture

GOOD = "sk-proj-cli-good-key-0123456789abcdef"
BAD = "sk-proj-cli-bad-key-00000000000000000"
OLD_MASTER = base64.b64encode(bytes([1]) * 32).decode()
NEW_MASTER = base64.b64encode(bytes([2]) * 32).decode()
UNAUTHORIZED = b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}'


@pytest.fixture
def upstream(loopback: Loopback, monkeypatch: pytest.MonkeyPatch) -> Loopback:
    def models(request: Recorded) -> Reply:
        auth = {k.lower(): v for k, v in request.headers.items()}.get("authorization")
        if auth == f"Bearer {GOOD}":
            return Reply(body=fixture("models_openai.json"))
        # Like some providers, echo the rejected key back in the error message.
        sent = (auth or "").removeprefix("Bearer ")
        return Reply(
            status=401, body=UNAUTHORIZED.replace(b"provided", f"provided: {sent}".encode())
        )

    loopback.route("GET", "/v1/models", handler=models)
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.url + "/v1")
    return loopback


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", database_url)
    monkeypatch.setenv("LLMSWITCH_MASTER_KEY", OLD_MASTER)
    monkeypatch.delenv("LLMSWITCH_KEK", raising=False)
    monkeypatch.delenv("LLMSWITCH_MASTER_KEY_PREVIOUS", raising=False)
    db = open_database(database_url)  # created, as `llmswitch db upgrade` would
    db.upgrade()
    db.close()
    return database_url


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def add(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, secret: str,
        *argv: str) -> tuple[int, str, str]:  # fmt: skip
    stdin(monkeypatch, secret + "\n")
    return run(capsys, "keys", "add", *argv)


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:  # type: ignore[type-arg]
    code, out, _ = run(capsys, "keys", "list", "--format", "json", *argv)
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


def secret_of(database_url: str, key_id: str, master: str = OLD_MASTER) -> str:
    with KeyVault(
        open_database(database_url), env={"LLMSWITCH_MASTER_KEY": master}, refresh=0
    ) as v:
        secret = v.get(key_id).get()
        v.db.close()
        return secret


def test_add_validates_then_stores(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    upstream: Loopback,
) -> None:  # fmt: skip
    code, out, err = add(capsys, monkeypatch, GOOD, "openai", "--user", "alice", "--label", "mine")
    assert code == 0, err
    assert out.startswith("added key_") and "user alice" in out and "label 'mine'" in out
    assert GOOD not in out + err
    assert len(upstream.requests) == 1 and upstream.requests[0].path == "/v1/models"
    [entry] = listed(capsys)
    assert set(entry) == {"id", "provider", "user", "label", "fingerprint", "created_at"}
    assert (entry["provider"], entry["user"], entry["label"]) == ("openai", "alice", "mine")
    assert len(entry["fingerprint"]) == 64
    created = datetime.fromisoformat(entry["created_at"])  # RFC 3339, UTC, milliseconds
    assert entry["created_at"].endswith("Z") and created.utcoffset() == timedelta(0)
    assert abs(created - datetime.now(UTC)) < timedelta(hours=1)
    assert secret_of(env, entry["id"]) == GOOD  # the trailing newline was stripped


@pytest.mark.parametrize("debug", ["0", "1"])
def test_a_rejected_key_is_not_stored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    upstream: Loopback, debug: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("LLMSWITCH_DEBUG", debug)  # debug logs and tracebacks too
    code, out, err = add(capsys, monkeypatch, BAD, "openai")
    assert code == 1
    assert "the new openai key" in err and "failed validation" in err
    assert "AuthenticationError" in err and "Incorrect API key" in err
    assert BAD not in out + err and BAD[8:] not in out + err
    if debug == "0":
        assert len(err.strip().splitlines()) == 1
    assert listed(capsys) == []


def test_no_validate_stores_without_a_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    upstream: Loopback,
) -> None:  # fmt: skip
    code, _, err = add(capsys, monkeypatch, BAD, "openai", "--no-validate")
    assert code == 0, err
    assert upstream.requests == []
    assert len(listed(capsys)) == 1


def test_the_hidden_prompt(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    upstream: Loopback,
) -> None:  # fmt: skip
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin", Tty(""))
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or GOOD)
    code, _, err = run(capsys, "keys", "add", "openai")
    assert code == 0, err
    assert prompts == ["API key for openai (input hidden): "]
    assert secret_of(env, listed(capsys)[0]["id"]) == GOOD


def test_without_a_kek_nothing_is_asked_or_stored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
) -> None:  # fmt: skip
    monkeypatch.delenv("LLMSWITCH_MASTER_KEY")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, "keys", "add", "openai", "--no-validate")
    assert code == 1 and "no key-encryption key" in err
    assert listed(capsys) == []


def test_bad_master_key_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("LLMSWITCH_MASTER_KEY", "c2hvcnQ=")
    code, _, err = run(capsys, "keys", "list")
    assert code == 1 and "LLMSWITCH_MASTER_KEY" in err and "c2hvcnQ=" not in err


def test_list_table_filters_and_remove(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
) -> None:  # fmt: skip
    for secret, argv in ((GOOD, ("openai", "--user", "alice")), (BAD, ("anthropic",))):
        assert add(capsys, monkeypatch, secret, *argv, "--no-validate")[0] == 0
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "PROVIDER", "USER", "LABEL", "FINGERPRINT", "STATUS",
                                "CREATED"]  # fmt: skip
    assert "alice" in out and "(shared)" in out and GOOD not in out and BAD not in out
    assert [e["provider"] for e in listed(capsys, "--provider", "anthropic")] == ["anthropic"]
    [alice] = listed(capsys, "--user", "alice")
    code, out, _ = run(capsys, "keys", "remove", alice["id"])
    assert code == 0 and out.startswith(f"removed {alice['id']}")
    assert [e["provider"] for e in listed(capsys)] == ["anthropic"]
    code, _, err = run(capsys, "keys", "remove", alice["id"])
    assert code == 1 and "no stored key" in err
    code, _, err = run(capsys, "keys", "remove", "not-an-id")
    assert code == 1 and "not a key id" in err


def test_validate_says_which_key_failed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    upstream: Loopback,
) -> None:  # fmt: skip
    add(capsys, monkeypatch, GOOD, "openai", "--no-validate")
    add(capsys, monkeypatch, BAD, "openai", "--user", "bob", "--no-validate")
    ids = {e["user"]: e["id"] for e in listed(capsys)}
    code, out, _ = run(capsys, "keys", "validate")
    assert code == 1
    assert f"ok      {ids[None]}" in out
    assert f"failed  {ids['bob']}" in out and "AuthenticationError" in out
    assert GOOD not in out and BAD not in out
    assert run(capsys, "keys", "validate", ids[None])[0] == 0


def test_replace_with_a_window(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
) -> None:  # fmt: skip
    add(capsys, monkeypatch, BAD, "openai", "--no-validate")
    [old] = listed(capsys)
    code, out, err = add(capsys, monkeypatch, GOOD, "openai", "--no-validate", "--replace",
                         old["id"], "--window", "24h")  # fmt: skip
    assert code == 0, err
    assert f"{old['id']} is retiring: usable until" in out
    code, out, _ = run(capsys, "keys", "list")
    assert "retiring until" in out and "active" in out
    code, _, err = run(capsys, "keys", "add", "openai", "--window", "1h")
    assert code == 1 and "--replace" in err
    code, _, err = run(capsys, "keys", "add", "openai", "--replace", old["id"], "--window", "x")
    assert code == 2 and "duration" in err
    code, _, err = run(capsys, "keys", "add", "openai", "--replace", old["id"], "--window",
                       "99999999999999d")  # fmt: skip
    assert code == 2 and "at most 366d" in err and "Traceback" not in err


@pytest.mark.parametrize("flags", [("--no-validate",), ()])
def test_an_unknown_provider_is_refused_before_the_key_is_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    upstream: Loopback, flags: tuple[str, ...],
) -> None:  # fmt: skip
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or GOOD)
    # A key typed where the provider goes must not be repeated either.
    for provider in ("no-such-provider", "sk-proj-TYPEDASPROVIDER"):
        stdin(monkeypatch, GOOD + "\n")
        code, out, err = run(capsys, "keys", "add", provider, *flags)
        assert code == 1 and "not a known provider" in err and "openai" in err
        assert "fake" not in err.split("expected one of")[1]
        assert provider not in out + err
    assert listed(capsys) == [] and upstream.requests == [] and prompts == []


def test_a_provider_declared_in_the_config_file_is_known(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    config = tmp_path / "llmswitch.toml"
    config.write_text('[providers.vllm]\nkind = "openai-compatible"\nbase_url = "http://x/v1"\n')
    stdin(monkeypatch, GOOD + "\n")
    code, _, err = run(capsys, "keys", "add", "vllm", "--no-validate", "--config", str(config))
    assert code == 0, err
    assert [e["provider"] for e in listed(capsys)] == ["vllm"]


@pytest.mark.parametrize(
    "argv", [("list",), ("list", "--format", "json"), ("validate",), ("rotate",),
             ("remove", "key_00000000000000000000")],
)  # fmt: skip
def test_commands_that_read_do_not_create_the_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    tmp_path: Path, argv: tuple[str, ...],
) -> None:  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    typo = elsewhere / "tpyo.db"
    code, out, err = run(capsys, "keys", *argv, "--database-url", f"sqlite:///{typo}")
    if argv[0] == "list":  # an empty list (exit 0) that names the missing database
        assert code == 0 and out == ("[]\n" if "json" in argv else "")
    else:
        assert code == 1 and out == ""
    assert "does not exist (not created yet)" in err and str(typo) in err
    assert list(elsewhere.iterdir()) == []  # no database, no -wal or -journal either


def test_a_replaced_key_cannot_be_replaced_again(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
) -> None:  # fmt: skip
    add(capsys, monkeypatch, BAD, "openai", "--no-validate")
    [old] = listed(capsys)
    assert add(capsys, monkeypatch, GOOD, "openai", "--no-validate", "--replace", old["id"])[0] == 0
    stdin(monkeypatch, "")  # refused before any key is read
    code, _, err = run(capsys, "keys", "add", "openai", "--no-validate", "--replace", old["id"],
                       "--window", "24h")  # fmt: skip
    assert code == 1 and f"key {old['id']} is retired" in err and "only an active key" in err
    code, out, _ = run(capsys, "keys", "list")
    assert "retiring until" not in out and len(listed(capsys)) == 2


def test_rotate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
) -> None:  # fmt: skip
    for i in range(3):
        add(capsys, monkeypatch, f"{GOOD}{i}", "openai", "--user", f"u{i}", "--no-validate")
    monkeypatch.setenv("LLMSWITCH_MASTER_KEY", NEW_MASTER)
    code, out, _ = run(capsys, "keys", "validate")  # the old records no longer open
    assert code == 1 and out.count("cannot decrypt") == 3 and "PREVIOUS" in out
    monkeypatch.setenv("LLMSWITCH_MASTER_KEY_PREVIOUS", OLD_MASTER)
    code, out, err = run(capsys, "keys", "rotate")
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(": ")[1] for line in lines[:3]] == ["rewrapped"] * 3
    assert lines[0].startswith("[1/3] key_")
    assert "3 re-wrapped" in lines[-1] and "0 not yet under" in lines[-1]
    code, out, _ = run(capsys, "keys", "rotate")
    assert code == 0 and "0 re-wrapped" in out
    for entry in listed(capsys):
        assert secret_of(env, entry["id"], master=NEW_MASTER).startswith(GOOD)


def test_config_file_names_database_and_kek(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    keyfile = tmp_path / "master.key"
    keyfile.write_text(NEW_MASTER + "\n")
    keyfile.chmod(0o600)
    db = tmp_path / "keys.db"
    config = tmp_path / "llmswitch.toml"
    config.write_text(
        f'[storage]\ndatabase_url = "sqlite:///{db}"\n\n[keys]\nkek = "local:{keyfile}"\n'
    )
    for name in ("LLMSWITCH_DATABASE_URL", "LLMSWITCH_MASTER_KEY", "LLMSWITCH_KEK"):
        monkeypatch.delenv(name, raising=False)
    stdin(monkeypatch, GOOD + "\n")
    code, _, err = run(capsys, "keys", "add", "openai", "--no-validate", "--config", str(config))
    assert code == 0, err
    assert db.exists()
    code, out, _ = run(capsys, "keys", "list", "--format", "json", "--config", str(config))
    [entry] = json.loads(out)
    assert secret_of(f"sqlite:///{db}", entry["id"], master=NEW_MASTER) == GOOD


def test_only_storage_and_keys_must_validate_to_manage_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    upstream: Loopback, tmp_path: Path,
) -> None:  # fmt: skip
    # A provider key that only production has must not block keys list/remove/rotate/
    # validate on another machine (as it does not block db status or config history).
    assert add(capsys, monkeypatch, GOOD, "openai", "--no-validate")[0] == 0
    assert add(capsys, monkeypatch, BAD, "openai", "--user", "bob", "--no-validate")[0] == 0
    monkeypatch.delenv("PROD_ONLY_KEY", raising=False)
    config = tmp_path / "llmswitch.toml"
    config.write_text(
        f'[storage]\ndatabase_url = "{env}"\n\n'
        '[providers.vllm]\nkind = "openai-compatible"\nbase_url = "http://x/v1"\n'
        'api_key = "${PROD_ONLY_KEY}"\n'
    )
    monkeypatch.setenv("LLMSWITCH_DATABASE_URL", "sqlite:///nowhere/else.db")  # the file wins
    ids = {e["user"]: e["id"] for e in listed(capsys, "--config", str(config))}
    code, out, err = run(capsys, "keys", "validate", "--config", str(config))
    assert code == 1, err
    assert f"ok      {ids[None]}" in out and f"failed  {ids['bob']}" in out
    code, out, err = run(capsys, "keys", "rotate", "--config", str(config))
    assert code == 0 and "0 re-wrapped" in out, err
    code, out, err = run(capsys, "keys", "remove", ids["bob"], "--config", str(config))
    assert code == 0 and out.startswith(f"removed {ids['bob']}"), err
    # A stored key of the provider whose section does not load: that key cannot be probed.
    config.write_text(config.read_text().replace("vllm", "openai"))
    code, out, err = run(capsys, "keys", "validate", "--config", str(config))
    assert code == 1 and f"failed  {ids[None]}" in out and "PROD_ONLY_KEY" in out, err
    # A broken [keys] section is still an error.
    config.write_text(config.read_text() + '\n[keys]\nkek = "nope:"\n')
    code, _, err = run(capsys, "keys", "list", "--config", str(config))
    assert code == 1 and "keys.kek" in err


def test_relative_paths_in_the_file_are_the_file_directory_s(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    # add loads the whole file, list/remove/rotate only [storage]/[keys]: both must find
    # the same database and key file next to the config, from any working directory.
    setup = tmp_path / "setup"
    setup.mkdir()
    (setup / "master.key").write_text(NEW_MASTER + "\n")
    (setup / "master.key").chmod(0o600)
    config = setup / "llmswitch.toml"
    config.write_text(
        '[storage]\ndatabase_url = "sqlite:///keys.db"\n\n[keys]\nkek = "local:master.key"\n'
    )
    for name in ("LLMSWITCH_DATABASE_URL", "LLMSWITCH_MASTER_KEY", "LLMSWITCH_KEK"):
        monkeypatch.delenv(name, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert (
        add(capsys, monkeypatch, GOOD, "openai", "--no-validate", "--config", str(config))[0] == 0
    )
    [entry] = listed(capsys, "--config", str(config))
    assert run(capsys, "keys", "rotate", "--config", str(config))[0] == 0
    assert (setup / "keys.db").exists() and list(elsewhere.iterdir()) == []
    assert secret_of(f"sqlite:///{setup / 'keys.db'}", entry["id"], master=NEW_MASTER) == GOOD


def test_with_gcp_kms(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
) -> None:  # fmt: skip
    from tests.support.kms import fake_gcp_kms

    with fake_gcp_kms() as kms:
        monkeypatch.delenv("LLMSWITCH_MASTER_KEY")
        monkeypatch.setenv("LLMSWITCH_KEK", kms.uri())
        monkeypatch.setenv("LLMSWITCH_GCP_KMS_ENDPOINT", kms.endpoint)
        assert add(capsys, monkeypatch, GOOD, "openai", "--no-validate")[0] == 0
        kms.rotate()
        code, out, err = run(capsys, "keys", "rotate")
        assert code == 0, err
        assert "/cryptoKeyVersions/2: 1 re-wrapped" in out
        kms.status = 503
        code, _, err = run(capsys, "keys", "rotate")
        assert code == 1 and "KMS" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [("openai", "sk-proj-PASTEDSECRET"), ("openai", "--no-validate", "sk-proj-PASTEDSECRET"),
     ("openai", "sk-proj-PASTEDSECRET", "--user", "alice"), ("openai", "a", "sk-proj-PASTEDSECRET")],
)  # fmt: skip
def test_a_key_on_the_command_line_is_refused_not_echoed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str,
    argv: tuple[str, ...],
) -> None:  # fmt: skip
    stdin(monkeypatch, GOOD + "\n")
    code, out, err = run(capsys, "keys", "add", *argv)
    assert code == 2 and "never from the command line" in err and "stdin" in err
    assert "PASTEDSECRET" not in out + err
    assert listed(capsys) == []


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "no key given"), ("\n", "no key given"), ("two\nlines\n", "control characters"),
     (" padded-key-0123456789\n", "whitespace"),
     # bytes that are not UTF-8 arrive as lone surrogates (surrogateescape)
     ("sk-\udcff\udcfelines\n", "not valid UTF-8")],
)  # fmt: skip
@pytest.mark.parametrize("flags", [("--no-validate",), ()])
def test_bad_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str, text: str,
    why: str, flags: tuple[str, ...], upstream: Loopback,
) -> None:  # fmt: skip
    stdin(monkeypatch, text)
    code, out, err = run(capsys, "keys", "add", "openai", *flags)
    assert code == 1 and why in err and out == ""
    assert "lines" not in err and "padded" not in err
    assert listed(capsys) == [] and upstream.requests == []  # refused before any probe
