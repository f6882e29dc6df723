"""The exact request headers a provider sees from both transports: besides the
adapter's own, only Host, Content-Length, the HTTP library's Accept defaults and
``User-Agent: llmswitch/<version>`` (never aiohttp's or urllib3's), which a caller's
own User-Agent replaces, whatever case it is written in."""

from __future__ import annotations

import tomllib
from functools import partial
from pathlib import Path

from llmswitch import AsyncClient, Client, __version__
from llmswitch.providers.base import USER_AGENT, Endpoint
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, sse_reply
from tests.support.upstreams import OPENAI

fixture = Fixtures("openai")
CHAT = fixture("chat_text.json")
STREAM = fixture("stream_text.sse")
HI = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"
_env = partial(OPENAI.env, key="sk-headers-test-key-000")


def _seen(loopback: Loopback) -> list[dict[str, str]]:
    out = []
    for req in loopback.requests:
        headers = {k.lower(): v for k, v in req.headers.items()}
        assert headers.pop("host").startswith("127.0.0.1:")
        assert int(headers.pop("content-length")) == len(req.body)
        out.append(headers)
    return out


EXPECTED = {
    "content-type": "application/json",
    "authorization": "Bearer sk-headers-test-key-000",
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "user-agent": f"llmswitch/{__version__}",
}


async def test_async_chat_and_stream_send_llmswitch_user_agent(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", CHAT)
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM))
    async with AsyncClient(env=_env(loopback)) as client:
        await client.chat(MODEL, messages=HI)
        async with client.stream(MODEL, messages=HI) as stream:
            async for _ in stream:
                pass
    assert _seen(loopback) == [EXPECTED, {**EXPECTED, "accept": "text/event-stream"}]


async def test_async_caller_headers_go_as_given(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", CHAT)
    extra = {"User-Agent": "my-app/1.0", "Accept": "application/json"}
    async with AsyncClient(env=_env(loopback)) as client:
        await client.chat(MODEL, messages=HI, extra_headers=extra)
    (seen,) = _seen(loopback)
    assert seen == {**EXPECTED, "user-agent": "my-app/1.0", "accept": "application/json"}


def test_sync_sends_the_same_user_agent_and_caller_headers(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", CHAT)
    loopback.route("POST", "/v1/chat/completions", CHAT)
    with Client(env=_env(loopback)) as client:
        client.chat(MODEL, messages=HI)
        client.chat(MODEL, messages=HI, extra_headers={"user-AGENT": "my-app/2.0"})
    plain, own = _seen(loopback)
    assert plain["user-agent"] == USER_AGENT  # not python-urllib3/...
    assert own["user-agent"] == "my-app/2.0"
    assert {k: v for k, v in plain.items() if k != "user-agent"} == {
        k: v for k, v in own.items() if k != "user-agent"
    }


def test_configured_headers_replace_ours_case_insensitively() -> None:
    configured = {"User-Agent": "gateway/1", "Content-Type": "application/json; charset=utf-8"}
    endpoint = Endpoint(provider="openai", base_url="http://h/v1", headers=configured)
    headers = endpoint.request_headers()
    assert [k.lower() for k in headers].count("user-agent") == 1
    assert [k.lower() for k in headers].count("content-type") == 1
    assert headers["User-Agent"] == "gateway/1"
    assert "gateway/1" not in repr(endpoint)  # configured values stay out of the repr
    plain = Endpoint(provider="openai", base_url="http://h/v1").request_headers()
    assert plain == {"content-type": "application/json", "user-agent": USER_AGENT}


def test_user_agent_names_the_installed_version() -> None:
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert __version__ == project["project"]["version"]
    assert f"llmswitch/{project['project']['version']}" == USER_AGENT
