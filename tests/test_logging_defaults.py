"""Logging defaults (issue 7, item 18): the library prints nothing on its own, the CLI
prints only its one-line error unless ``LLMSWITCH_DEBUG`` asks for more, ``llmswitch
status`` reads ``[state].url``, and listing every provider names the unconfigured ones
on one line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from llmswitch import Client
from llmswitch.cli import main
from llmswitch.errors import ProviderUnavailableError
from llmswitch.middleware import CircuitBreaker, Retry, RetryPolicy
from llmswitch.storage import open_store
from llmswitch.testing import FakeProvider
from tests.support.loopback import Loopback, Reply
from tests.support.state import REDIS_URL, drop_prefix, redis_or_skip

KEY = "hunter2-correct-horse-battery"
HI = [{"role": "user", "content": "hi"}]
UNAVAILABLE = Reply(
    status=503, body=b'{"error":{"message":"The server is overloaded","type":"server_error"}}'
)
# Two quick attempts: the retry layer logs retry.scheduled (INFO) and retry.gave_up
# (WARNING) before the CLI reports the error.
RETRY_CONFIG = "[retry]\nattempts = 2\ninitial = 0.01\nmax_delay = 0.01\n"


def _env(loopback: Loopback, **extra: str) -> dict[str, str]:
    drop = ("OPENAI_", "ANTHROPIC_", "AZURE_", "GEMINI_", "GOOGLE_", "LLMSWITCH_", "OLLAMA_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(OPENAI_BASE_URL=loopback.url + "/v1", OPENAI_API_KEY=KEY, **extra)
    return env


def _cli(loopback: Loopback, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmswitch.cli", *args],
        env=_env(loopback, **env), cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


# --------------------------------------------------------------------------- library


def test_library_warnings_do_not_print_in_an_app_without_logging_setup() -> None:
    code = (
        "from llmswitch import Client\n"
        "from llmswitch.errors import ProviderUnavailableError\n"
        "from llmswitch.middleware import Retry, RetryPolicy\n"
        "from llmswitch.testing import FakeProvider\n"
        "fake = FakeProvider()\n"
        "for _ in range(2):\n"
        "    fake.reply(error=ProviderUnavailableError('down', status_code=503))\n"
        "client = Client(providers=[fake],\n"
        "                middleware=[Retry(RetryPolicy(attempts=2), sleep=False)])\n"
        "try:\n"
        "    client.chat('fake/m', [{'role': 'user', 'content': 'hi'}])\n"
        "except ProviderUnavailableError:\n"
        "    print('raised')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # Before the NullHandler, Python's last-resort handler printed "retry.gave_up ...".
    assert (done.returncode, done.stdout, done.stderr) == (0, "raised\n", "")


def test_an_app_that_configures_logging_still_gets_the_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeProvider()
    for _ in range(2):
        fake.reply(error=ProviderUnavailableError("down", status_code=503))
    client = Client(providers=[fake], middleware=[Retry(RetryPolicy(attempts=2), sleep=False)])
    with caplog.at_level(logging.INFO, logger="llmswitch"):
        with pytest.raises(ProviderUnavailableError):
            client.chat("fake/m", HI)
    events = [r.getMessage().split()[0] for r in caplog.records]
    assert events == ["retry.scheduled", "retry.gave_up"]
    assert isinstance(logging.getLogger("llmswitch").handlers[0], logging.NullHandler)


# --------------------------------------------------------------------------- CLI


def test_cli_failure_is_one_line_and_nothing_before_it(loopback: Loopback, tmp_path: Path) -> None:
    loopback.route("POST", "/v1/chat/completions", UNAVAILABLE)
    (tmp_path / "llmswitch.toml").write_text(RETRY_CONFIG)
    for debug in (None, "0", "false"):
        extra = {} if debug is None else {"LLMSWITCH_DEBUG": debug}
        done = _cli(loopback, tmp_path, "chat", "openai/gpt-4o-mini", "hi", **extra)
        assert done.returncode == 1 and done.stdout == ""
        [line] = done.stderr.splitlines()
        assert line.startswith("llmswitch: error: ") and "overloaded" in line
    assert len(loopback.requests) == 6  # the retry really ran (and logged) each time


def test_cli_debug_shows_the_logs_with_fields_and_the_traceback(
    loopback: Loopback, tmp_path: Path
) -> None:
    loopback.route("POST", "/v1/chat/completions", UNAVAILABLE)
    (tmp_path / "llmswitch.toml").write_text(RETRY_CONFIG)
    done = _cli(loopback, tmp_path, "chat", "openai/gpt-4o-mini", "hi", LLMSWITCH_DEBUG="1")
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    scheduled = [x for x in lines if " INFO llmswitch.retry: retry.scheduled " in x]
    assert len(scheduled) == 1 and "attempt=1" in scheduled[0] and "status=503" in scheduled[0]
    assert any(" WARNING llmswitch.retry: retry.gave_up " in x for x in lines)
    assert any(" DEBUG urllib3." in x for x in lines)  # connection logs too
    assert "Traceback (most recent call last):" in lines
    assert lines[-1].startswith("llmswitch: error: ") and "overloaded" in lines[-1]
    assert KEY not in done.stderr


def test_cli_leaves_logging_as_it_found_it(
    loopback: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # main() can run in-process (scripts, tests): its handlers and levels go away after.
    loopback.route("POST", "/v1/chat/completions", UNAVAILABLE)
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("LLMSWITCH_DEBUG", "1")
    names = ("", "llmswitch", "urllib3", "aiohttp")
    before = [(logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names]
    from llmswitch.middleware.retry import no_sleep

    with no_sleep():  # the CLI's client retries the 503 by default: no real backoff here
        assert main(["chat", "openai/gpt-4o-mini", "hi", "--no-stream"]) == 1
    after = [(logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names]
    assert after == before


def test_models_names_unconfigured_providers_on_one_line(
    loopback: Loopback, tmp_path: Path
) -> None:
    loopback.route(
        "GET", "/v1/models", b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}'
    )
    aws = {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "llmswitch.cli", "models"],
        env={**{k: v for k, v in _env(loopback).items() if k not in env}, **aws,
             "AWS_EC2_METADATA_DISABLED": "true", "OLLAMA_HOST": "127.0.0.1:9"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1  # OLLAMA_HOST set but nothing answers: a real failure
    assert done.stdout.splitlines()[1].startswith("openai/gpt-4o-mini")
    notes = [x for x in done.stderr.splitlines() if not x.startswith("llmswitch: error: [ollama")]
    assert len(notes) == 1, done.stderr
    assert notes[0].startswith("llmswitch: not configured: azure (AZURE_OPENAI_")
    assert "anthropic (ANTHROPIC_API_KEY), gemini (GEMINI_API_KEY), bedrock" in notes[0]
    assert "skipping" not in done.stderr


# --------------------------------------------------------------------------- status


def test_status_reads_the_state_url_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_or_skip()
    deployment = f"openai/gpt-state-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f'[state]\nurl = "{REDIS_URL}"\n\n[[models.chat.deployments]]\nmodel = "{deployment}"\n'
    )
    store = open_store(REDIS_URL)
    try:
        fake = FakeProvider("openai")
        fake.default_reply(error=ProviderUnavailableError("down", status_code=503))
        once = Retry(RetryPolicy(attempts=1))
        client = Client(providers=[fake], middleware=[CircuitBreaker(store, min_calls=1), once])
        with pytest.raises(ProviderUnavailableError):
            client.chat(deployment, HI)
        # No --state-url: before, this printed the memory:// note and showed nothing.
        assert main(["status", "--config", str(path), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["state_url"].startswith("redis://localhost:6379/15")
        assert report["breakers"][deployment]["state"] == "open"
    finally:
        store.close()
        drop_prefix(f"llmswitch:breaker:{deployment}")
