"""End to end: Client/AsyncClient -> Anthropic adapter -> real HTTP to a loopback server
replaying exact Anthropic bytes (cut into awkward chunks)."""

from __future__ import annotations

import json
from functools import partial

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    ContextLengthExceededError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.events import ToolCallEnd
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, Reply, sse_reply
from tests.support.upstreams import ANTHROPIC, adrain, drain

fixture = Fixtures("anthropic")
KEY = "sk-ant-api03-e2e-key-0123456789abcdef"
MODEL = "anthropic/claude-sonnet-4-5"
HI = [{"role": "user", "content": "Weather in Zürich?"}]
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


env = partial(ANTHROPIC.env, key=KEY)


def test_chat_sends_anthropic_headers_and_parses_the_answer(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/messages", fixture("thinking_tool.json"))
    with Client(env=env(loopback)) as client:
        resp = client.chat(MODEL, HI, tools=[WEATHER, {"name": "get_time"}], reasoning=2048)
    sent = loopback.requests[0]
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    body = sent.json()
    assert isinstance(body, dict)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["messages"] == [{"role": "user", "content": "Weather in Zürich?"}]
    assert resp.provider == "anthropic" and resp.finish_reason == "tool_calls"
    assert [c.name for c in resp.tool_calls] == ["get_weather", "get_time"]
    assert resp.reasoning_blocks[0].signature == "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w=="
    assert resp.cost is not None


def test_stream_over_awkward_chunks_matches_the_fixture(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/messages", sse_reply(fixture("thinking_tool.sse")))
    with Client(env=env(loopback)) as client:
        events, final = drain(client, MODEL, HI, tools=[WEATHER])
    assert loopback.requests[0].json()["stream"] is True  # type: ignore[index]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert ends[0].tool_call.arguments == {"city": "Zürich", "units": ["célsius", "°C"], "days": 3}
    assert final.text == "Let me check the weather."
    assert final.reasoning_blocks[0].signature == "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w=="
    assert final.usage.total_tokens == 472 + 189


def test_tool_loop_sends_the_signed_thinking_back(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/messages", fixture("thinking_tool.json"), fixture("text.json"))
    with Client(env=env(loopback)) as client:
        first = client.chat(MODEL, HI, tools=[WEATHER, {"name": "get_time"}], reasoning=2048)
        history = [
            *HI,
            first.message.to_dict(),
            *({"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in first.tool_calls),
        ]
        client.chat(MODEL, history, tools=[WEATHER, {"name": "get_time"}], reasoning=2048)
    second = loopback.requests[1].json()
    assert isinstance(second, dict)
    original = json.loads(fixture("thinking_tool.json"))["content"][0]
    assert second["messages"][1]["content"][0] == original
    assert [b["type"] for b in second["messages"][2]["content"]] == ["tool_result", "tool_result"]


async def test_async_stream_mid_stream_overload_keeps_the_partial_answer(
    loopback: Loopback,
) -> None:
    loopback.route("POST", "/v1/messages", sse_reply(fixture("error_overloaded.sse")))
    seen: list[str] = []
    async with AsyncClient(env=env(loopback)) as client:
        with pytest.raises(ProviderUnavailableError) as info:
            await adrain(client, MODEL, HI, seen=seen)
    assert "".join(seen) == "Partial ans"
    assert info.value.partial is not None and info.value.partial.text == "Partial ans"
    assert KEY not in str(info.value)


async def test_async_truncated_stream_finishes_with_error(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/messages", sse_reply(fixture("truncated.sse")))
    async with AsyncClient(env=env(loopback)) as client:
        final = await adrain(client, MODEL, HI)
    assert final.finish_reason == "error" and final.text == "Once upon a time"


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        (
            Reply(status=400, body=b'{"type":"error","error":{"type":"invalid_request_error",'
                  b'"message":"prompt is too long: 208656 tokens > 200000 maximum"}}'),
            ContextLengthExceededError,
        ),
        (
            Reply(status=529, body=b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
            ProviderUnavailableError,
        ),
        (
            Reply(status=429, headers={"retry-after": "0.01"},
                  body=b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'),
            RateLimitError,
        ),
    ],
)  # fmt: skip
def test_http_errors_map_to_typed_errors(
    loopback: Loopback, reply: Reply, cls: type[Exception]
) -> None:
    loopback.route("POST", "/v1/messages", reply)
    with Client(max_retries=0, env=env(loopback)) as client, pytest.raises(cls) as info:
        client.chat(MODEL, HI)
    assert "anthropic/claude-sonnet-4-5" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_list_models_follows_the_cursor(loopback: Loopback) -> None:
    loopback.route("GET", "/v1/models", fixture("models_page1.json"), fixture("models_page2.json"))
    with Client(env=env(loopback)) as client:
        models = client.list_models("anthropic")
    assert [m.id for m in models] == [
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-3-5-haiku-20241022",
        "claude-experimental-x",
    ]
    first, second = loopback.requests
    assert first.query == {"limit": ["1000"]}
    assert second.query == {"limit": ["1000"], "after_id": ["claude-haiku-4-5-20251001"]}
