"""Operations routes (/healthz, /readyz, /metrics) and the access log, in process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from llmswitch import AsyncClient
from llmswitch import errors as e
from llmswitch.config import Config
from llmswitch.gateway import GatewaySettings, Principal, Request, Route, create_app, json_response
from llmswitch.gateway._access_log import ACCESS_LOGGER
from llmswitch.gateway.ops import ROUTES
from llmswitch.middleware.breaker import BreakerPolicy
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret
from tests.support.gateway import gateway_client
from tests.support.sql import sqlite_url
from tests.support.state import REDIS_URL, redis_or_skip

ADMIN_KEY = "admin-" + "b" * 40
ALICE_KEY = "lsk-" + "C" * 40
HELLO = [{"role": "user", "content": "hello"}]


class Keys:
    async def authenticate(self, token: str) -> Principal | None:
        if token == ALICE_KEY:
            return Principal(key_id="key_00aa11bb22cc", user="alice", team="ml")
        return None

    async def aclose(self) -> None:
        return None


async def echo_model(request: Request) -> object:
    data = await request.json()
    request.require_model(data["model"])  # what the model routes do: the log learns it
    return json_response({"ok": True})


ECHO = Route("POST", "/v1/echo", echo_model)


def app(
    tmp_path: Path,
    *,
    state: str | None = None,
    database_url: str | None = None,
    client: AsyncClient | None = None,
    **settings: object,
) -> object:
    config = Config(database_url=database_url or sqlite_url(tmp_path), state=state)
    return create_app(
        client if client is not None else AsyncClient(providers=[FakeProvider("openai")]),
        config=config,
        settings=GatewaySettings(admin_key=Secret(ADMIN_KEY), **settings),  # type: ignore[arg-type]
        tenants=Keys(),
        routes=[*ROUTES, ECHO],
    )


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access() -> Iterator[Lines]:
    logger = logging.getLogger(ACCESS_LOGGER)
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --------------------------------------------------------------------------- health


async def test_healthz_needs_no_key(tmp_path: Path) -> None:
    async with gateway_client(app(tmp_path)) as http:  # type: ignore[arg-type]
        r = await http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


async def test_readyz_with_sqlite_and_memory_state(tmp_path: Path) -> None:
    async with gateway_client(app(tmp_path)) as http:  # type: ignore[arg-type]
        r = await http.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "state": "not configured"}}


async def test_readyz_with_redis(tmp_path: Path) -> None:
    redis_or_skip()
    async with gateway_client(app(tmp_path, state=REDIS_URL)) as http:  # type: ignore[arg-type]
        r = await http.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "state": "ok"}


async def test_readyz_names_an_unreachable_state_store(tmp_path: Path) -> None:
    gw = app(tmp_path, state="redis://127.0.0.1:1/0")
    async with gateway_client(gw) as http:  # type: ignore[arg-type]
        r = await http.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready" and body["checks"]["database"] == "ok"
    assert body["checks"]["state"].startswith("failed: ")


async def test_readyz_names_an_unreachable_database(tmp_path: Path) -> None:
    secret_url = "postgresql://ops:hunter2-password@127.0.0.1:1/nothing"
    async with gateway_client(app(tmp_path, database_url=secret_url)) as http:  # type: ignore[arg-type]
        r = await http.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"].startswith("failed: ") and checks["state"] == "not configured"
    assert "hunter2" not in r.text


# --------------------------------------------------------------------------- metrics


async def test_metrics_need_the_admin_key(tmp_path: Path) -> None:
    async with gateway_client(app(tmp_path)) as http:  # type: ignore[arg-type]
        await http.get("/healthz")
        assert (await http.get("/metrics")).status_code == 401
        r = await http.get("/metrics", headers={"authorization": f"Bearer {ALICE_KEY}"})
        assert r.status_code == 403
        r = await http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert 'llmswitch_gateway_requests_total{route="/healthz",status="200"} 1' in r.text
    assert 'llmswitch_gateway_requests_total{route="/metrics",status="401"} 1' in r.text
    assert 'llmswitch_gateway_errors_total{class="authentication",route="/metrics"} 1' in r.text


async def test_public_metrics(tmp_path: Path) -> None:
    async with gateway_client(app(tmp_path, public_metrics=True)) as http:  # type: ignore[arg-type]
        r = await http.get("/metrics")
    assert r.status_code == 200 and "llmswitch_gateway_uptime_seconds" in r.text


async def test_metrics_show_calls_and_breaker_state(tmp_path: Path) -> None:
    fake = FakeProvider("openai", default="hi")
    config = Config(breaker=BreakerPolicy(min_calls=2, failure_rate=0.5, cooldown=600))
    client = AsyncClient(config=config, providers=[fake], max_retries=0)
    gw = app(tmp_path, client=client, public_metrics=True)
    async with gateway_client(gw) as http:  # type: ignore[arg-type]
        await http.get("/healthz")  # starts the app
        for _ in range(3):
            fake.reply(error=e.ProviderUnavailableError("down", provider="openai"))
            with pytest.raises(e.LLMError):
                await client.chat("openai/gpt-4o-mini", HELLO)
        r = await http.get("/metrics")
    assert 'llmswitch_breaker_state{deployment="openai/gpt-4o-mini",state="open"} 1' in r.text
    assert 'llmswitch_breaker_state{deployment="openai/gpt-4o-mini",state="closed"} 0' in r.text
    await client.aclose()


# --------------------------------------------------------------------------- access log


async def test_access_log_line_fields_without_secrets(tmp_path: Path, access: Lines) -> None:
    async with gateway_client(app(tmp_path)) as http:  # type: ignore[arg-type]
        await http.get("/healthz?token=do-not-log-me", headers={"x-request-id": "req-1"})
        await http.post(
            "/v1/echo",
            json={"model": "openai/gpt-4o-mini", "messages": "a secret prompt"},
            headers={"authorization": f"Bearer {ALICE_KEY}"},
        )
        await http.get("/metrics", headers={"x-api-key": ADMIN_KEY})
        await http.get("/nowhere")
    assert len(access.lines) == 4
    for line in access.lines:
        assert "do-not-log-me" not in line and "secret prompt" not in line
        assert ALICE_KEY not in line and ADMIN_KEY not in line
    health, echo, metrics, missing = (orjson.loads(x) for x in access.lines)
    assert health["path"] == "/healthz" and health["request_id"] == "req-1"
    assert health["method"] == "GET" and health["status"] == 200 and health["bytes_out"] == 15
    assert health["time"].endswith("+00:00") and health["duration_ms"] >= 0
    assert "key_id" not in health  # auth "none": no caller
    assert echo["key_id"] == "key_00aa11bb22cc" and echo["user"] == "alice"
    assert echo["team"] == "ml" and echo["model"] == "openai/gpt-4o-mini"
    assert echo["bytes_in"] > 40 and echo["status"] == 200
    assert metrics["admin"] is True and metrics["key_id"] is None
    assert missing["status"] == 404 and missing["path"] == "/nowhere"


async def test_access_log_off(tmp_path: Path, access: Lines) -> None:
    async with gateway_client(app(tmp_path, access_log=False)) as http:  # type: ignore[arg-type]
        assert (await http.get("/healthz")).status_code == 200
    assert access.lines == []
