"""The official ``anthropic`` SDK pointed at the gateway, with Anthropic, OpenAI and
Gemini behind it as loopback fakes that refuse what the real APIs refuse (fields they
do not know, headers from another format)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import httpx2
import pytest

from llmswitch import AsyncClient
from llmswitch.gateway import Gateway, GatewaySettings, Principal, create_app
from llmswitch.gateway.anthropic import ROUTES
from tests.support.claude_code import CLAUDE_CODE_HEADERS, claude_code_body
from tests.support.fixtures import fixture
from tests.support.gateway import gateway_client
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.upstreams import ANTHROPIC, GEMINI, OPENAI

ACCESS_KEY = "lsk-" + "k" * 40
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

# What each real API takes at the top level of its body: anything else is a 400 there.
_ACCEPTS = {
    "anthropic": {
        "model", "messages", "max_tokens", "system", "tools", "tool_choice", "thinking",
        "output_config", "metadata", "stream", "stop_sequences", "temperature", "top_p",
        "top_k", "context_management", "cache_control", "service_tier",
    },
    "openai": {
        "model", "messages", "max_tokens", "max_completion_tokens", "tools", "tool_choice",
        "parallel_tool_calls", "temperature", "top_p", "stop", "stream", "stream_options",
        "response_format", "reasoning_effort", "user", "safety_identifier", "metadata", "store",
    },
    "gemini": {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"},
}  # fmt: skip
_FOREIGN_HEADERS = ("x-stainless", "x-app", "x-claude-code", "anthropic-dangerous")


def _refusals(provider: str, rec: Recorded) -> str | None:
    """Why the real API would refuse ``rec`` (None: it would take it)."""
    for name in rec.headers:
        if name.startswith(_FOREIGN_HEADERS):
            return f"client bookkeeping header {name} forwarded"
        if provider != "anthropic" and name.startswith("anthropic-"):
            return f"{name} sent to {provider}"
    if rec.path.endswith("count_tokens"):
        return None
    body = rec.json()
    assert isinstance(body, dict)
    unknown = set(body) - _ACCEPTS[provider]
    if unknown:
        return f"Extra inputs are not permitted: {sorted(unknown)}"
    return None


def _strict(provider: str, *replies: Reply) -> Callable[[Recorded], Reply]:
    """A handler answering ``replies`` in turn (the last repeats), but 400 for a request
    the real API would refuse."""
    queue = list(replies)

    def handle(rec: Recorded) -> Reply:
        problem = _refusals(provider, rec)
        if problem is not None:
            return Reply(status=400, body=json.dumps({"error": {"message": problem}}).encode())
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handle


def _route(lb: Loopback, provider: str, path: str, *replies: Reply) -> None:
    lb.route("POST", path, handler=_strict(provider, *replies))


def _json(provider: str, name: str, **kw: Any) -> Reply:
    return Reply(body=fixture(provider, name), **kw)


@pytest.fixture
async def app(loopback: Loopback) -> AsyncIterator[Gateway]:
    env = {**ANTHROPIC.env(loopback), **OPENAI.env(loopback), **GEMINI.env(loopback)}
    client = AsyncClient(env=env, max_retries=0)  # retries are the SDK's, here
    yield create_app(client, routes=ROUTES)
    await client.aclose()


def _sdk(app: Gateway, *, max_retries: int = 0, key: str = ACCESS_KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=key,
        base_url="http://gateway.test",
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)),  # type: ignore[arg-type]
        max_retries=max_retries,
    )


def _last(lb: Loopback, path_end: str) -> dict[str, Any]:
    rec = [r for r in lb.requests if r.path.endswith(path_end)][-1]
    body = rec.json()
    assert isinstance(body, dict)
    return body


TEXT_REPLIES = [
    ("anthropic/claude-sonnet-4-5", "anthropic", "/v1/messages", "text.json"),
    ("openai/gpt-4o-mini", "openai", "/v1/chat/completions", "chat_text.json"),
    ("gemini/gemini-2.5-flash", "gemini", GEMINI.chat_path, "text.json"),
]
STREAMS = [
    ("anthropic/claude-sonnet-4-5", "anthropic", "/v1/messages", "thinking_tool.sse"),
    ("openai/gpt-4o-mini", "openai", "/v1/chat/completions", "stream_tools.sse"),
    ("gemini/gemini-2.5-flash", "gemini", GEMINI.stream_path, "thinking_tool.sse"),
]


@pytest.mark.parametrize(("model", "provider", "path", "name"), TEXT_REPLIES)
async def test_messages_create_against_each_provider(
    app: Gateway, loopback: Loopback, model: str, provider: str, path: str, name: str
) -> None:
    _route(loopback, provider, path, _json(provider, name))
    async with _sdk(app) as sdk:
        msg = await sdk.messages.create(
            model=model, max_tokens=300, system="Be terse.",
            messages=[{"role": "user", "content": "Hi"}],
        )  # fmt: skip
    assert msg.type == "message" and msg.role == "assistant" and msg.model == model
    assert msg.id.startswith("msg_")
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


@pytest.mark.parametrize(("model", "provider", "path", "name"), STREAMS)
async def test_stream_with_tools_against_each_provider(
    app: Gateway, loopback: Loopback, model: str, provider: str, path: str, name: str
) -> None:
    upstream = {"anthropic": ANTHROPIC, "openai": OPENAI, "gemini": GEMINI}[provider]
    _route(loopback, provider, path, upstream.stream_reply(fixture(provider, name)))
    tools: Any = [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]  # fmt: skip
    async with _sdk(app) as sdk:
        async with sdk.messages.stream(
            model=model, max_tokens=4000, tools=tools,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        ) as stream:  # fmt: skip
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert kinds[0] == "message_start"
    assert "content_block_start" in kinds and kinds[-1] == "message_stop"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert uses and all(isinstance(b.input, dict) for b in uses)
    assert all(b.id for b in uses)
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens > 0
    if provider == "anthropic":  # the signature streamed as Anthropic sent it
        thinking = final.content[0]
        assert thinking.type == "thinking"
        assert thinking.signature == "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w=="


async def test_tool_round_trip_through_openai_keeps_the_call_ids(
    app: Gateway, loopback: Loopback
) -> None:
    _route(loopback, "openai", "/v1/chat/completions",
           _json("openai", "chat_tools.json"), _json("openai", "chat_text.json"))  # fmt: skip
    tools: Any = [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]  # fmt: skip
    history: list[Any] = [{"role": "user", "content": "Weather in Paris and Tokyo, and the time?"}]
    async with _sdk(app) as sdk:
        first = await sdk.messages.create(
            model="openai/gpt-4o-mini", max_tokens=500, tools=tools, messages=history,
            tool_choice={"type": "auto", "disable_parallel_tool_use": False},
        )  # fmt: skip
        assert first.stop_reason == "tool_use"
        uses = [b for b in first.content if b.type == "tool_use"]
        assert next(u.id for u in uses) == "call_Wq1bLk7YpE2nR5sT8uVx0zAc"
        history.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        history.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": u.id, "content": f"result {i}"}
            for i, u in enumerate(uses)
        ]})  # fmt: skip
        second = await sdk.messages.create(
            model="openai/gpt-4o-mini", max_tokens=500, tools=tools, messages=history
        )
    assert second.content[0].type == "text"
    sent = _last(loopback, "/chat/completions")["messages"]
    assert [m["tool_call_id"] for m in sent if m["role"] == "tool"] == [u.id for u in uses]
    assert json.loads(sent[1]["tool_calls"][1]["function"]["arguments"]) == {"city": "東京"}


async def test_thinking_signature_and_cache_control_round_trip_to_anthropic(
    app: Gateway, loopback: Loopback
) -> None:
    _route(loopback, "anthropic", "/v1/messages",
           _json("anthropic", "thinking_tool.json"), _json("anthropic", "cache_usage.json"))  # fmt: skip
    tools: Any = [
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {}},
         "cache_control": {"type": "ephemeral"}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]  # fmt: skip
    system: Any = [
        {
            "type": "text",
            "text": "Long instructions.",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    history: list[Any] = [{"role": "user", "content": "Weather?"}]
    async with _sdk(app) as sdk:
        first = await sdk.messages.create(
            model="anthropic/claude-sonnet-4-5", max_tokens=4000, system=system, tools=tools,
            thinking={"type": "enabled", "budget_tokens": 2048}, messages=history,
            extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
        )  # fmt: skip
        thinking = first.content[0]
        assert (
            thinking.type == "thinking" and thinking.signature == "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w=="
        )
        history.append(
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in first.content],
            }
        )
        uses = [b for b in first.content if b.type == "tool_use"]
        history.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": u.id, "content": "sunny",
             "cache_control": {"type": "ephemeral"}} for u in uses
        ]})  # fmt: skip
        second = await sdk.messages.create(
            model="anthropic/claude-sonnet-4-5", max_tokens=4000, system=system, tools=tools,
            thinking={"type": "enabled", "budget_tokens": 2048}, messages=history,
        )  # fmt: skip
    body = _last(loopback, "/v1/messages")
    assert body["system"] == [{"type": "text", "text": "Long instructions.",
                               "cache_control": {"type": "ephemeral", "ttl": "1h"}}]  # fmt: skip
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": thinking.thinking,
                            "signature": "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w=="}  # fmt: skip
    results = body["messages"][2]["content"]
    assert results[-1]["cache_control"] == {"type": "ephemeral"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    first_headers = next(r for r in loopback.requests if r.path == "/v1/messages").headers
    assert first_headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    # Anthropic's accounting: input without the cache, the cache counts apart.
    raw = json.loads(fixture("anthropic", "cache_usage.json"))["usage"]
    assert second.usage.input_tokens == raw["input_tokens"]
    assert second.usage.cache_read_input_tokens == raw["cache_read_input_tokens"]
    assert second.usage.cache_creation_input_tokens == raw["cache_creation_input_tokens"]


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
async def test_images_reach_the_provider(app: Gateway, loopback: Loopback, provider: str) -> None:
    model, _, path, name = next(t for t in TEXT_REPLIES if t[1] == provider)
    _route(loopback, provider, path, _json(provider, name))
    async with _sdk(app) as sdk:
        await sdk.messages.create(
            model=model, max_tokens=100,
            messages=[{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "text", "text": "What is this?"},
            ]}],
        )  # fmt: skip
    sent = json.dumps(_last(loopback, path.rsplit("/", 1)[-1]))
    assert PNG in sent and "image/png" in sent


async def test_claude_code_request_drives_an_openai_model(app: Gateway, loopback: Loopback) -> None:
    _route(loopback, "openai", "/v1/chat/completions",
           OPENAI.stream_reply(fixture("openai", "stream_tools.sse")))  # fmt: skip
    async with gateway_client(app, headers={"x-api-key": ACCESS_KEY}) as http:
        got = await http.post(
            "/v1/messages?beta=true", json=claude_code_body("openai/gpt-4o-mini"),
            headers=CLAUDE_CODE_HEADERS,
        )  # fmt: skip
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/event-stream")
    names = [line[7:] for line in got.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    body = _last(loopback, "/chat/completions")
    assert (
        body.get("max_completion_tokens", body.get("max_tokens")) == 16384
    )  # 32000 clamped to gpt-4o-mini's limit
    assert body["user"].startswith("user_3f1c")
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "system" and "tool" in roles


async def test_claude_code_request_to_anthropic_keeps_its_fields(
    app: Gateway, loopback: Loopback
) -> None:
    _route(loopback, "anthropic", "/v1/messages",
           ANTHROPIC.stream_reply(fixture("anthropic", "text_pings.sse")))  # fmt: skip
    async with gateway_client(app) as http:
        got = await http.post(
            "/v1/messages?beta=true", json=claude_code_body("anthropic/claude-sonnet-4-5"),
            headers=CLAUDE_CODE_HEADERS,
        )  # fmt: skip
    assert got.status_code == 200, got.text
    rec = [r for r in loopback.requests if r.path == "/v1/messages"][-1]
    assert rec.headers["anthropic-beta"] == CLAUDE_CODE_HEADERS["anthropic-beta"]
    body = rec.json()
    assert isinstance(body, dict)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "high"}
    assert body["context_management"]["edits"][0]["type"] == "clear_thinking_20251015"
    assert body["max_tokens"] == 32000
    assert body["system"][1]["cache_control"] == {"type": "ephemeral"}


# --------------------------------------------------------------------------- errors

_ERR_429 = b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}'
_ERR_529 = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
_ERR_LONG = b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208656 tokens > 200000 maximum"}}'


async def test_429_carries_retry_after_and_the_sdk_retries(
    app: Gateway, loopback: Loopback
) -> None:
    _route(loopback, "anthropic", "/v1/messages",
           Reply(status=429, body=_ERR_429, headers={"retry-after": "1"}),
           _json("anthropic", "text.json"))  # fmt: skip
    async with gateway_client(app) as http:
        got = await http.post("/v1/messages", json={
            "model": "anthropic/claude-sonnet-4-5", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
    assert got.status_code == 429
    assert got.headers["retry-after"] == "1" and got.headers["retry-after-ms"] == "1000"
    assert got.json()["type"] == "error"
    assert got.json()["error"]["type"] == "rate_limit_error"
    async with _sdk(app, max_retries=2) as sdk:  # the fake's queue is at its last reply now
        _route(loopback, "anthropic", "/v1/messages",
               Reply(status=429, body=_ERR_429, headers={"retry-after": "1"}),
               _json("anthropic", "text.json"))  # fmt: skip
        msg = await sdk.messages.create(
            model="anthropic/claude-sonnet-4-5", max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
        )  # fmt: skip
    assert msg.content[0].type == "text"
    assert len([r for r in loopback.requests if r.path == "/v1/messages"]) == 3


async def test_overload_is_529_before_and_an_error_event_after_the_stream_starts(
    app: Gateway, loopback: Loopback
) -> None:
    _route(loopback, "anthropic", "/v1/messages", Reply(status=529, body=_ERR_529))
    async with _sdk(app) as sdk:
        with pytest.raises(anthropic.OverloadedError) as over:
            await sdk.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=10,
                                      messages=[{"role": "user", "content": "hi"}])  # fmt: skip
        assert over.value.status_code == 529
        assert over.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        with pytest.raises(anthropic.OverloadedError):  # a stream failing before its start
            async with sdk.messages.stream(model="anthropic/claude-sonnet-4-5", max_tokens=10,
                                           messages=[{"role": "user", "content": "hi"}]) as s:  # fmt: skip
                await s.get_final_message()
        _route(loopback, "anthropic", "/v1/messages",
               ANTHROPIC.stream_reply(fixture("anthropic", "error_overloaded.sse")))  # fmt: skip
        with pytest.raises(anthropic.APIStatusError) as mid:
            async with sdk.messages.stream(model="anthropic/claude-sonnet-4-5", max_tokens=10,
                                           messages=[{"role": "user", "content": "hi"}]) as s:  # fmt: skip
                await s.get_final_message()
        assert "overloaded_error" in str(mid.value)


@pytest.mark.parametrize(
    ("provider", "path", "reply"),
    [
        ("anthropic", "/v1/messages", Reply(status=400, body=_ERR_LONG)),
        ("openai", "/v1/chat/completions", Reply(status=400, body=json.dumps({"error": {
            "message": "This model's maximum context length is 128000 tokens.",
            "type": "invalid_request_error", "param": "messages",
            "code": "context_length_exceeded"}}).encode())),
    ],
)  # fmt: skip
async def test_context_length_has_anthropics_wording(
    app: Gateway, loopback: Loopback, provider: str, path: str, reply: Reply
) -> None:
    model = next(t[0] for t in TEXT_REPLIES if t[1] == provider)
    _route(loopback, provider, path, reply)
    async with _sdk(app) as sdk:
        with pytest.raises(anthropic.BadRequestError) as bad:
            await sdk.messages.create(model=model, max_tokens=10,
                                      messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    assert bad.value.status_code == 400
    assert bad.value.body["error"]["message"].startswith("prompt is too long")  # type: ignore[index]


async def test_bad_access_key_and_upstream_401(loopback: Loopback) -> None:
    class Keys:
        async def authenticate(self, token: str) -> Principal | None:
            return Principal(key_id="key_1", user="u", team=None) if token == ACCESS_KEY else None

        async def aclose(self) -> None:
            pass

    client = AsyncClient(env=ANTHROPIC.env(loopback), max_retries=0)
    app = create_app(client, routes=ROUTES, tenants=Keys())
    _route(loopback, "anthropic", "/v1/messages", Reply(status=401, body=(
        b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}')))  # fmt: skip
    try:
        async with _sdk(app, key="lsk-" + "x" * 40) as sdk:
            with pytest.raises(anthropic.AuthenticationError) as bad:
                await sdk.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=10,
                                          messages=[{"role": "user", "content": "hi"}])  # fmt: skip
        assert bad.value.body["error"]["message"] == "invalid access key"  # type: ignore[index]
        assert bad.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        assert not loopback.requests  # the upstream never saw the call
        async with _sdk(app) as sdk:
            with pytest.raises(anthropic.AuthenticationError) as upstream:
                await sdk.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=10,
                                          messages=[{"role": "user", "content": "hi"}])  # fmt: skip
        assert "anthropic" in upstream.value.body["error"]["message"]  # type: ignore[index]
        assert ANTHROPIC.key not in str(upstream.value.body)
    finally:
        await client.aclose()


async def test_bad_request_names_the_field(app: Gateway) -> None:
    async with _sdk(app) as sdk:
        with pytest.raises(anthropic.BadRequestError) as bad:
            await sdk.messages.create(
                model="openai/gpt-4o-mini", max_tokens=10,
                messages=[{"role": "user", "content": [{"type": "video", "url": "x"}]}],  # type: ignore[list-item]
            )  # fmt: skip
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert bad.value.body["error"]["message"].startswith("messages.0.content.0.type")  # type: ignore[index]


# --------------------------------------------------------------------------- count_tokens


async def test_count_tokens_uses_the_provider_endpoint_or_the_tokenizer(
    app: Gateway, loopback: Loopback
) -> None:
    _route(loopback, "anthropic", "/v1/messages/count_tokens", Reply(body=b'{"input_tokens": 42}'))
    async with _sdk(app) as sdk:
        counted = await sdk.messages.count_tokens(
            model="anthropic/claude-sonnet-4-5", system="Be terse.",
            messages=[{"role": "user", "content": "Hello there"}],
        )  # fmt: skip
        assert counted.input_tokens == 42
        sent = _last(loopback, "/count_tokens")
        assert sent["system"] == "Be terse." and "max_tokens" not in sent
        local = await sdk.messages.count_tokens(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hello there"}]
        )
    assert 0 < local.input_tokens < 30


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_signed_tool_calls_round_trip(
    app: Gateway, loopback: Loopback, stream: bool
) -> None:
    if stream:
        _route(loopback, "gemini", GEMINI.stream_path,
               GEMINI.stream_reply(fixture("gemini", "thinking_tool.sse")))  # fmt: skip
        _route(loopback, "gemini", GEMINI.chat_path, _json("gemini", "text.json"))
    else:
        _route(loopback, "gemini", GEMINI.chat_path,
               _json("gemini", "thinking_tool.json"), _json("gemini", "text.json"))  # fmt: skip
    tools: Any = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]
    history: list[Any] = [{"role": "user", "content": "Weather?"}]
    async with _sdk(app) as sdk:
        if stream:
            async with sdk.messages.stream(
                model="gemini/gemini-2.5-flash", max_tokens=500, tools=tools, messages=history
            ) as s:
                first = await s.get_final_message()
        else:
            first = await sdk.messages.create(
                model="gemini/gemini-2.5-flash", max_tokens=500, tools=tools, messages=history
            )
        uses = [b for b in first.content if b.type == "tool_use"]
        assert uses
        history.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        history.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": u.id, "content": "sunny"} for u in uses
        ]})  # fmt: skip
        await sdk.messages.create(
            model="gemini/gemini-2.5-flash", max_tokens=500, tools=tools, messages=history
        )
    sent = _last(loopback, ":generateContent")["contents"]
    calls = [p for c in sent for p in c["parts"] if "functionCall" in p]
    assert calls[0]["thoughtSignature"] == "+vv8/f7/CiQBdGhvdWdodC1zaWduYXR1cmX7//4="
    responses = [p["functionResponse"] for c in sent for p in c["parts"] if "functionResponse" in p]
    assert responses and responses[0]["name"] == calls[0]["functionCall"]["name"]


async def test_model_not_allowed_and_body_too_large(loopback: Loopback) -> None:
    class Keys:
        async def authenticate(self, token: str) -> Principal | None:
            allowed = frozenset({"openai/gpt-4o-mini"})
            return Principal(key_id="key_1", user="u", team=None, allowed_models=allowed)

        async def aclose(self) -> None:
            pass

    client = AsyncClient(env=ANTHROPIC.env(loopback), max_retries=0)
    settings = GatewaySettings(max_body_bytes=2000)
    app = create_app(client, routes=ROUTES, tenants=Keys(), settings=settings)
    try:
        async with _sdk(app) as sdk:
            with pytest.raises(anthropic.PermissionDeniedError) as denied:
                await sdk.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=10,
                                          messages=[{"role": "user", "content": "hi"}])  # fmt: skip
            assert denied.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
            with pytest.raises(anthropic.APIStatusError) as big:
                await sdk.messages.create(model="openai/gpt-4o-mini", max_tokens=10,
                                          messages=[{"role": "user", "content": "x" * 5000}])  # fmt: skip
            assert big.value.status_code == 413
            assert big.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]
        assert not loopback.requests
    finally:
        await client.aclose()


async def test_a_tenant_runs_as_its_keys_user_whatever_metadata_says(loopback: Loopback) -> None:
    class Keys:
        async def authenticate(self, token: str) -> Principal | None:
            return Principal(key_id="key_1", user="bob", team="ml")

        async def aclose(self) -> None:
            pass

    client = AsyncClient(env=ANTHROPIC.env(loopback), max_retries=0)
    app = create_app(client, routes=ROUTES, tenants=Keys())
    _route(loopback, "anthropic", "/v1/messages", _json("anthropic", "text.json"))
    try:
        async with _sdk(app) as sdk:
            await sdk.messages.create(
                model="anthropic/claude-sonnet-4-5", max_tokens=10,
                messages=[{"role": "user", "content": "hi"}], metadata={"user_id": "alice"},
            )  # fmt: skip
        assert _last(loopback, "/v1/messages")["metadata"] == {"user_id": "bob"}
    finally:
        await client.aclose()
