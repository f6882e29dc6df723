"""Whatever a client posts to ``/v1/messages`` or ``/v1/messages/count_tokens``, the
gateway answers it without a 5xx: bad input is a 4xx in Anthropic's error shape, good
input an answer. Behind it: the Anthropic and OpenAI adapters (on loopback fakes) and a
fake provider of unknown format."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch import AsyncClient
from llmswitch.gateway import create_app
from llmswitch.gateway.anthropic import ROUTES
from llmswitch.testing import FakeProvider
from tests.support.fixtures import fixture
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.upstreams import ANTHROPIC, OPENAI

_scalars = (
    st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(-2, 3) | st.text(max_size=12)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _mostly(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = _json
) -> st.SearchStrategy[Any]:
    """``good`` nine times in ten, else ``bad``: deep enough to reach the provider."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 0 else good)


_cache = st.sampled_from(
    [{"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}, {"type": "x"}, 3]
)
_text = st.fixed_dictionaries(
    {"type": st.just("text"), "text": _mostly(st.text(min_size=1, max_size=10))},
    optional={"cache_control": _cache},
)
_image = st.fixed_dictionaries(
    {
        "type": st.just("image"),
        "source": st.sampled_from(
            [
                {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                {"type": "base64", "media_type": "image/bmp", "data": "AAAA"},
                {"type": "base64", "media_type": "image/png", "data": "%%%"},
                {"type": "url", "url": "https://example.com/a.png"},
                {"type": "url", "url": "ftp://x"},
                {"type": "file", "file_id": "file_1"},
            ]
        ),
    }
)
_document = st.fixed_dictionaries(
    {
        "type": st.just("document"),
        "source": st.sampled_from(
            [
                {"type": "text", "media_type": "text/plain", "data": "notes"},
                {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            ]
        ),
    },
    optional={"title": _mostly(st.text(max_size=5))},
)
_tool_use = st.fixed_dictionaries(
    {
        "type": st.just("tool_use"),
        "id": _mostly(st.sampled_from(["toolu_1", "toolu_2"])),
        "name": _mostly(st.just("f")),
        "input": _mostly(st.dictionaries(st.text(max_size=3), _scalars, max_size=2)),
    },
    optional={"cache_control": _cache},
)
_tool_result = st.fixed_dictionaries(
    {
        "type": st.just("tool_result"),
        "tool_use_id": _mostly(st.sampled_from(["toolu_1", "toolu_2"])),
    },
    optional={
        "content": _mostly(st.text(max_size=5) | st.lists(_text | _image, max_size=2)),
        "is_error": _mostly(st.booleans()),
        "cache_control": _cache,
    },
)
_thinking = st.fixed_dictionaries(
    {
        "type": st.just("thinking"),
        "thinking": _mostly(st.text(max_size=5)),
    },
    optional={"signature": _mostly(st.sampled_from(["sig", ""]))},
)
_redacted = st.fixed_dictionaries(
    {"type": st.just("redacted_thinking"), "data": _mostly(st.just("zz"))}
)
_other = st.fixed_dictionaries({"type": st.sampled_from(["server_tool_use", "search_result", 7])})
_block = st.one_of(
    _text, _text, _image, _document, _tool_use, _tool_result, _thinking, _redacted, _other
)
_content = _mostly(st.text(min_size=1, max_size=8) | st.lists(_block, min_size=1, max_size=3))
_message = st.fixed_dictionaries(
    {
        "role": _mostly(
            st.sampled_from(["user", "user", "assistant", "system"]),
            st.sampled_from(["tool", "bot", None]),
        ),
        "content": _content,
    }
)
_tool = st.fixed_dictionaries(
    {
        "name": _mostly(st.sampled_from(["f", "g"])),
        "input_schema": _mostly(st.just({"type": "object", "properties": {}})),
    },
    optional={
        "type": st.sampled_from(["custom", "web_search_20250305", "bash_20250124"]),
        "description": _mostly(st.text(max_size=5)),
        "cache_control": _cache,
        "strict": _mostly(st.booleans()),
    },
)
_body = st.fixed_dictionaries(
    {
        "model": _mostly(
            st.sampled_from(["anthropic/claude-sonnet-4-5", "openai/gpt-4o-mini", "fake/m"]),
            st.sampled_from(["nope/x", "", 3, None]),
        ),
        "messages": _mostly(st.lists(_message, min_size=1, max_size=4)),
        "max_tokens": _mostly(
            st.sampled_from([1, 100, 4096, 32000, 200000]),
            st.sampled_from([0, -1, "10", None, 10**9]),
        ),
    },
    optional={
        "system": _mostly(st.text(max_size=5) | st.lists(_text, max_size=2)),
        "tools": _mostly(st.lists(_tool, max_size=2)),
        "tool_choice": _mostly(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["auto", "any", "tool", "none", "x"])},
                optional={
                    "name": st.sampled_from(["f", "zz"]),
                    "disable_parallel_tool_use": _mostly(st.booleans()),
                },
            )
        ),
        "thinking": _mostly(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["enabled", "adaptive", "disabled", "odd"])},
                optional={
                    "budget_tokens": st.sampled_from([1024, 2048, 100, 10**6, "x"]),
                    "display": st.sampled_from(["omitted", "loud"]),
                },
            )
        ),
        "output_config": _mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "effort": st.sampled_from(["low", "high", "max", "huge", None]),
                    "format": _mostly(
                        st.just({"type": "json_schema", "schema": {"type": "object"}})
                    ),
                },
            )
        ),
        "temperature": _mostly(st.floats(0, 1)),
        "top_p": _mostly(st.floats(0, 1)),
        "top_k": _mostly(st.integers(0, 50)),
        "stop_sequences": _mostly(st.lists(st.text(min_size=1, max_size=3), max_size=2)),
        "metadata": _mostly(
            st.fixed_dictionaries({}, optional={"user_id": _mostly(st.text(max_size=9))})
        ),
        "stream": _mostly(st.booleans()),
        "context_management": _json,
    },
)


def test_no_body_makes_the_gateway_fail(loopback: Loopback) -> None:
    def anthropic_reply(rec: Recorded) -> Reply:  # a stream for a stream, as the API does
        body = rec.json()
        if isinstance(body, dict) and body.get("stream"):
            return ANTHROPIC.stream_reply(fixture("anthropic", "text_pings.sse"), split=False)
        return Reply(body=fixture("anthropic", "text.json"))

    loopback.route("POST", "/v1/messages", handler=anthropic_reply)

    def openai_reply(rec: Recorded) -> Reply:
        body = rec.json()
        if isinstance(body, dict) and body.get("stream"):
            return OPENAI.stream_reply(fixture("openai", "stream_text.sse"), split=False)
        return Reply(body=fixture("openai", "chat_text.json"))

    loopback.route("POST", "/v1/chat/completions", handler=openai_reply)
    loopback.route("POST", "/v1/messages/count_tokens", Reply(body=b'{"input_tokens": 3}'))
    loop = asyncio.new_event_loop()
    fake = FakeProvider("fake").default_reply("ok", tool_calls=[{"name": "f", "arguments": {}}])
    env = {**ANTHROPIC.env(loopback), **OPENAI.env(loopback)}
    client = AsyncClient(env=env, providers=[fake], max_retries=0)
    app = create_app(client, routes=ROUTES)

    async def post(path: str, body: bytes) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as http:
            return await http.post(path, content=body, headers={"content-type": "application/json"})

    # Built inside the test, so one gateway (and one event loop) serves every example.
    @settings(max_examples=300, deadline=None)
    @given(body=_mostly(_body), path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens"]))
    def examples(body: Any, path: str) -> None:
        got = loop.run_until_complete(post(path, orjson.dumps(body)))
        assert got.status_code < 500, (got.status_code, got.text)
        if got.status_code >= 400:
            error = got.json()
            assert error["type"] == "error" and isinstance(error["error"]["message"], str)

    try:
        examples()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
