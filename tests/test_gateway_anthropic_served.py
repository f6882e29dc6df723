"""``/v1/messages`` streams on a real socket (uvicorn): the SDK over TCP, ``event: ping``
heartbeats while the upstream is silent, and a client that leaves closes the upstream
call."""

from __future__ import annotations

import time

import anthropic
import httpx
import pytest

from llmswitch.gateway import GatewaySettings, create_app
from llmswitch.gateway.anthropic import ROUTES
from tests.support.fixtures import fixture
from tests.support.gateway import served
from tests.support.loopback import Loopback, Reply
from tests.support.upstreams import ANTHROPIC

_BODY = {
    "model": "anthropic/claude-sonnet-4-5",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


def _halves() -> list[bytes]:
    data = fixture("anthropic", "text_pings.sse").replace(b"\r\n", b"\n")
    events = data.split(b"\n\n")
    cut = len(events) // 2
    return [b"\n\n".join(events[:cut]) + b"\n\n", b"\n\n".join(events[cut:])]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, loopback: Loopback) -> None:
    for name, value in ANTHROPIC.env(loopback).items():
        monkeypatch.setenv(name, value)  # the gateway makes (and closes) its own client


def test_sdk_stream_over_tcp_with_heartbeats(env: None, loopback: Loopback) -> None:
    slow = Reply(content_type="text/event-stream", chunks=_halves(), chunk_delay=0.8)
    loopback.route("POST", "/v1/messages", slow)
    app = create_app(routes=ROUTES, settings=GatewaySettings(heartbeat_seconds=0.2))
    with served(app) as url:
        raw = httpx.post(url + "/v1/messages?beta=true", json=_BODY, timeout=30).text
        client = anthropic.Anthropic(api_key="unused", base_url=url, max_retries=0)
        with client.messages.stream(
            model="anthropic/claude-sonnet-4-5", max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream:  # fmt: skip
            text = stream.get_final_text()
        client.close()
    assert raw.startswith("event: message_start\n")
    assert 'event: ping\ndata: {"type": "ping"}\n\n' in raw
    assert raw.endswith('event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert text


def test_a_client_that_leaves_closes_the_upstream_call(env: None, loopback: Loopback) -> None:
    hanging = Reply(content_type="text/event-stream", chunks=_halves()[:1], hang_after=1)
    loopback.route("POST", "/v1/messages", hanging)
    app = create_app(routes=ROUTES)
    with served(app) as url:
        with httpx.stream("POST", url + "/v1/messages", json=_BODY, timeout=30) as r:
            assert r.status_code == 200
            lines = r.iter_lines()  # held: a dropped iterator would close the response
            assert next(lines) == "event: message_start"
            assert loopback.open_connections == 1  # the upstream call is still open
        deadline = time.monotonic() + 10  # the promise is 250 ms; a busy machine gets room
        while loopback.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert loopback.open_connections == 0
