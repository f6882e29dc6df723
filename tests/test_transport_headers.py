"""The exact request headers a provider sees from the async transport: besides the
adapter's own, only Host, Content-Length and aiohttp's Accept defaults, and no
User-Agent (neither aiohttp's nor any other), whatever way the transport builds a
request."""

from __future__ import annotations

from functools import partial

from llmswitch import AsyncClient
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
}


async def test_async_chat_and_stream_send_no_user_agent(loopback: Loopback) -> None:
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
