"""End to end: Client/AsyncClient -> OpenAI adapter -> real HTTP to a loopback server
replaying exact OpenAI / Azure / compatible-server bytes (cut into awkward chunks)."""

from __future__ import annotations

from functools import partial

import pytest

from llmswitch import AsyncClient, Client, ProviderConfig
from llmswitch.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthExceededError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.events import Event, StreamEnd, ToolCallEnd
from llmswitch.wire import Secret
from tests.support.loopback import Loopback, Reply, sse_reply
from tests.support.openai import fixture
from tests.support.upstreams import OPENAI, adrain

KEY = "sk-proj-e2eKey0123456789abcdefABCDEF"
AZURE_KEY = "0123456789abcdef0123456789abcdef"
MODEL = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


env = partial(OPENAI.env, key=KEY)


def test_chat_sends_the_request_and_parses_the_answer(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", fixture("chat_tools.json"))
    with Client(env=env(loopback)) as client:
        resp = client.chat(MODEL, HI, tools=[WEATHER, {"name": "get_time"}], max_tokens=100)
    sent = loopback.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.json()
    assert isinstance(body, dict)
    assert body["model"] == "gpt-4o-mini" and body["max_completion_tokens"] == 100
    assert body["messages"] == HI and "stream" not in body
    assert resp.provider == "openai" and resp.finish_reason == "tool_calls"
    assert [c.arguments for c in resp.tool_calls] == [
        {"city": "Paris", "unit": "celsius"},
        {"city": "東京"},
        {},
    ]


def test_stream_over_awkward_chunks_equals_chat(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/v1/chat/completions",
        sse_reply(fixture("stream_tools.sse")),
        fixture("chat_tools.json"),
    )
    with Client(env=env(loopback)) as client:
        with client.stream(MODEL, HI, tools=[WEATHER]) as stream:
            events: list[Event] = list(stream)
            streamed = stream.response
        chatted = client.chat(MODEL, HI, tools=[WEATHER])
    body = loopback.requests[0].json()
    assert isinstance(body, dict)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [e.index for e in events if isinstance(e, ToolCallEnd)] == [0, 1, 2]
    assert isinstance(events[-1], StreamEnd)
    assert streamed == chatted


def test_stream_text_pieces(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_text.sse")))
    with Client(env=env(loopback)) as client, client.stream(MODEL, HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.response
    assert text == final.text == 'Hello! 👋 你好，世界. Café "quoted"\nnext line'  # noqa: RUF001 (CJK text on purpose)
    assert final.usage.cached_input_tokens == 1024 and final.usage.reasoning_tokens == 64


async def test_async_mid_stream_error_keeps_the_partial_answer(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_error.sse")))
    seen: list[str] = []
    async with AsyncClient(env=env(loopback)) as client:
        with pytest.raises(ProviderUnavailableError) as info:
            await adrain(client, MODEL, HI, seen=seen)
    assert "".join(seen) == "The answer is"
    assert info.value.partial is not None and info.value.partial.text == "The answer is"
    assert KEY not in str(info.value)


async def test_async_truncated_stream_finishes_with_error(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_truncated.sse")))
    async with AsyncClient(env=env(loopback)) as client:
        final = await adrain(client, MODEL, HI)
    assert final.finish_reason == "error" and final.tool_calls[0].name == "search"


def test_azure_deployment_url_api_key_and_filtered_stream(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/openai/deployments/my-gpt4o/chat/completions",
        sse_reply(fixture("stream_azure.sse")),
    )
    azure_env = {
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
        "AZURE_OPENAI_ENDPOINT": loopback.url,
        "OPENAI_API_VERSION": "2024-10-21",
    }
    with Client(env=azure_env) as client, client.stream("azure/my-gpt4o", HI) as stream:
        final = stream.response
    sent = loopback.requests[0]
    assert sent.query == {"api-version": ["2024-10-21"]}
    assert sent.headers["api-key"] == AZURE_KEY and "authorization" not in sent.headers
    assert final.finish_reason == "content_filter"
    assert final.text == "Once upon a time — ünïcödé"


def test_azure_prompt_filter_error(loopback: Loopback) -> None:
    body = (
        b'{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI\'s content '
        b'management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":'
        b'{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"jailbreak":{"filtered":true,"detected":true}}}}}'
    )
    loopback.route(
        "POST",
        "/openai/deployments/d1/chat/completions",
        Reply(status=400, body=body, headers={"apim-request-id": "a1b2"}),
    )
    azure_env = {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": loopback.url}
    with Client(env=azure_env) as client, pytest.raises(ContentFilterError) as info:
        client.chat("azure/d1", HI)
    assert info.value.request_id == "a1b2"
    assert "azure/d1" in str(info.value) and AZURE_KEY not in repr(info.value)


def test_compatible_server_gets_max_tokens_and_reports_reasoning(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_vllm_reasoning.sse")))
    vllm = ProviderConfig(id="vllm", kind="openai-compatible", base_url=loopback.url + "/v1")
    with (
        Client(env={}, providers=[vllm]) as client,
        client.stream("vllm/Qwen/Qwen3-8B", HI, max_tokens=64) as stream,
    ):
        final = stream.response
    body = loopback.requests[0].json()
    assert isinstance(body, dict)
    assert body["model"] == "Qwen/Qwen3-8B" and body["max_tokens"] == 64
    assert "max_completion_tokens" not in body
    assert "authorization" not in loopback.requests[0].headers
    assert final.reasoning == "Okay, the user greets me in French."
    assert final.provider == "vllm"


@pytest.mark.parametrize(
    ("reply", "cls", "retry_after"),
    [
        (
            Reply(status=400, body=b'{"error":{"message":"This model\'s maximum context length is 128000 tokens.",'
                  b'"type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}'),
            ContextLengthExceededError, None,
        ),
        (
            Reply(status=401, body=b'{"error":{"message":"Incorrect API key provided: sk-proj-e2eKey0123456789abcdefABCDEF.",'
                  b'"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}'),
            AuthenticationError, None,
        ),
        (
            Reply(status=429, headers={"x-ratelimit-reset-tokens": "12ms", "x-ratelimit-remaining-tokens": "0",
                                       "x-ratelimit-remaining-requests": "99", "x-request-id": "req_1"},
                  body=b'{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}'),
            RateLimitError, 0.012,
        ),
        (Reply(status=502, body=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"), ProviderUnavailableError, None),
    ],
)  # fmt: skip
def test_http_errors_map_to_typed_errors(
    loopback: Loopback, reply: Reply, cls: type[Exception], retry_after: float | None
) -> None:
    loopback.route("POST", "/v1/chat/completions", reply)
    with Client(max_retries=0, env=env(loopback)) as client, pytest.raises(cls) as info:
        client.chat(MODEL, HI)
    err = info.value
    assert "openai/gpt-4o-mini" in str(err)
    assert (
        KEY not in str(err)
        and KEY not in repr(err)
        and KEY not in (getattr(err, "body", None) or "")
    )
    assert getattr(err, "retry_after", None) == retry_after


def test_list_models(loopback: Loopback) -> None:
    loopback.route("GET", "/v1/models", fixture("models_llamacpp.json"))
    llama = ProviderConfig(
        id="llama",
        kind="openai-compatible",
        base_url=loopback.url + "/v1",
        api_key=Secret("local-key"),
    )
    with Client(env={}, providers=[llama]) as client:
        models = client.list_models("llama")
    assert [(m.id, m.context_window, m.provider) for m in models] == [
        ("gpt-oss-20b", 131072, "llama")
    ]
    assert loopback.requests[0].headers["authorization"] == "Bearer local-key"
