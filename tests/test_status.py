"""Live status: ``Client.status()``, ``collect_status`` and ``llmswitch status``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.cli import main
from llmswitch.errors import ProviderUnavailableError, RateLimitError
from llmswitch.keys import KeyPool, KeyRotation
from llmswitch.middleware import CircuitBreaker, Middleware
from llmswitch.observability import collect_status
from llmswitch.providers.runtime import Provider
from llmswitch.storage import MemoryStore, open_store
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret
from tests.support.state import REDIS_URL, FakeClock, drop_prefix, redis_or_skip

HI = [{"role": "user", "content": "hi"}]
KEY_A, KEY_B = "sk-KEYA-QWERTYUIOPASDF", "sk-KEYB-ZXCVBNMLKJHGFD"


def _setup(clock: FakeClock) -> tuple[FakeProvider, list[Any]]:
    fake = FakeProvider("fake").default_reply("hi")
    fake.reply(error=ProviderUnavailableError("down", status_code=503))
    fake.reply(error=ProviderUnavailableError("down", status_code=503))
    keyed = {KEY_A: FakeProvider("fake"), KEY_B: fake}
    keyed[KEY_A].reply(error=RateLimitError("slow", retry_after=30))

    def bind(provider: Provider, secret: Secret) -> Provider:
        return keyed[secret.get()]

    store = MemoryStore(clock)
    breaker = CircuitBreaker(store, min_calls=2, cooldown=10, clock=clock)
    pool = KeyPool("fake", [KEY_A, KEY_B], store=store, clock=clock)
    return fake, [KeyRotation(pool, bind=bind), breaker]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Reporting(Middleware):
    def status(self) -> dict[str, int]:
        return {"in_flight": 3}


def test_client_status_reports_breakers_and_keys(clock: FakeClock) -> None:
    _, layers = _setup(clock)
    client = Client(
        max_retries=0, providers=[FakeProvider("fake")], middleware=[*layers, Reporting()]
    )
    assert client.status() == {
        "breakers": {},
        "key_pools": {
            "fake": [
                {"key": layers[0].pools["fake"].status()[0].key, "state": "ok",
                 "cooldown_remaining": 0.0, "uses": 0},
                {"key": layers[0].pools["fake"].status()[1].key, "state": "ok",
                 "cooldown_remaining": 0.0, "uses": 0},
            ]
        },
        "other": {"Reporting": {"in_flight": 3}},
    }  # fmt: skip
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            client.chat("fake/m", HI)
    status = client.status()
    assert status["breakers"]["fake/m"]["state"] == "open"
    assert status["breakers"]["fake/m"]["failures"] == 2
    a, b = status["key_pools"]["fake"]
    assert (a["state"], a["cooldown_remaining"]) == ("cooling", 30.0)
    assert b["state"] == "ok" and b["uses"] == 2
    json.dumps(status)  # JSON-ready
    assert KEY_A not in repr(status) and KEY_B not in repr(status)


def test_client_without_middleware_reports_nothing() -> None:
    assert Client(providers=[FakeProvider("fake")]).status() == {
        "breakers": {},
        "key_pools": {},
        "other": {},
    }
    assert collect_status([]) == {"breakers": {}, "key_pools": {}, "other": {}}


async def test_async_client_status(clock: FakeClock) -> None:
    _, layers = _setup(clock)
    async with AsyncClient(
        max_retries=0, providers=[FakeProvider("fake")], middleware=layers
    ) as client:
        for _ in range(2):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("fake/m", HI)
        status = await client.status()
    assert status["breakers"]["fake/m"]["state"] == "open"
    assert [k["state"] for k in status["key_pools"]["fake"]] == ["cooling", "ok"]


# --------------------------------------------------------------------------- CLI


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f"""
[providers.openai]
api_key = "{KEY_A}"

[[models.chat.deployments]]
model = "openai/gpt-4o-mini"
"""
    )
    return path


def test_cli_status_without_a_shared_store_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--config", str(_config(tmp_path))]) == 0
    err = capsys.readouterr().err
    assert "memory://" in err and "--state-url redis://" in err


def test_cli_status_with_nothing_declared(capsys: pytest.CaptureFixture[str]) -> None:
    redis_or_skip()
    assert main(["status", "--state-url", REDIS_URL]) == 0
    assert "nothing to report" in capsys.readouterr().err


def test_cli_status_reads_redis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    redis_or_skip()
    # The CLI reads the default prefixes; use names no one else uses and clean up.
    deployment = f"openai/gpt-test-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "llmswitch.toml"
    key = f"sk-KEY-{uuid.uuid4().hex.upper()}"
    path.write_text(
        f'[providers.openai]\napi_key = "{key}"\n\n'
        f'[[models.chat.deployments]]\nmodel = "{deployment}"\n'
    )
    store = open_store(REDIS_URL)
    try:
        breaker = CircuitBreaker(store, min_calls=1, cooldown=60)
        fake = FakeProvider("openai")
        fake.reply(error=ProviderUnavailableError("down", status_code=503))
        client = Client(max_retries=0, providers=[fake], middleware=[breaker])
        with pytest.raises(ProviderUnavailableError):
            client.chat(deployment, HI)
        pool = KeyPool("openai", [key], store=store)
        pool.report(pool.pick(), RateLimitError("slow", retry_after=45))

        assert main(["status", "--config", str(path), "--state-url", REDIS_URL, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["breakers"][deployment]["state"] == "open"
        assert 55 < report["breakers"][deployment]["open_for"] <= 60
        [k] = report["keys"]["openai"]
        assert k["state"] == "cooling" and 40 < k["cooldown"] <= 45
        assert k["key"] == pool.status()[0].key

        assert main(["status", "--config", str(path), "--state-url", REDIS_URL]) == 0
        out = capsys.readouterr().out
        assert deployment in out and "open" in out and "cooling" in out
        assert key not in out
    finally:
        pool.reset()
        store.delete(
            f"llmswitch:breaker:{deployment}:state", f"llmswitch:breaker:{deployment}:window"
        )
        store.close()
        drop_prefix(f"llmswitch:breaker:{deployment}")
