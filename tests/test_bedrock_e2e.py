"""End to end: Client/AsyncClient -> Bedrock adapter -> real HTTP to a loopback server that
checks every SigV4 signature the way AWS does and replays exact Bedrock bytes (event
streams cut into awkward chunks). Also embeddings, model listing, health, token counting,
and sync/async parity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    ConfigurationError,
    ContextLengthExceededError,
    ModelNotFoundError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.events import Event, ToolCallEnd
from tests.support.bedrock import (
    MODEL,
    MODEL_PATH,
    SECRET_KEY,
    fixture,
    verifying,
)
from tests.support.loopback import Loopback, Recorded, Reply, eventstream_reply
from tests.support.upstreams import BEDROCK, adrain, drain

pytestmark = pytest.mark.usefixtures("aws_env")

CHAT, STREAM = BEDROCK.chat_path, BEDROCK.stream_path
NAME = f"bedrock/{MODEL}"
HI = [{"role": "user", "content": "Weather in Zürich?"}]
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-multilingual-v3"


env = BEDROCK.env


def signed_route(loopback: Loopback, path: str, reply: Reply, method: str = "POST") -> None:
    loopback.route(method, path, handler=verifying(reply))


# --------------------------------------------------------------------------- chat / stream


def test_chat_is_signed_and_parsed(loopback: Loopback) -> None:
    signed_route(loopback, CHAT, Reply(body=fixture("tool_use.json")))
    with Client(env=env(loopback)) as client:
        resp = client.chat(NAME, HI, tools=[WEATHER, {"name": "get_time"}], reasoning=2048)
    sent = loopback.requests[0]
    assert sent.path == CHAT  # the model id percent-encoded on the wire
    body = sent.json()
    assert isinstance(body, dict)
    assert body["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 2048
    assert body["messages"] == [{"role": "user", "content": [{"text": "Weather in Zürich?"}]}]
    assert resp.provider == "bedrock" and resp.finish_reason == "tool_calls"
    assert [c.name for c in resp.tool_calls] == ["get_weather", "get_time"]
    assert resp.reasoning_blocks[0].signature == "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w=="
    assert resp.cost is not None


def test_stream_over_awkward_chunks(loopback: Loopback) -> None:
    signed_route(loopback, STREAM, eventstream_reply(fixture("tool_use.bin")))
    with Client(env=env(loopback)) as client:
        events, final = drain(client, NAME, HI, tools=[WEATHER])
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert ends[0].tool_call.arguments == {"city": "Zürich", "units": ["célsius", "°C"], "days": 3}
    assert final.text == "Let me check the weather." and final.finish_reason == "tool_calls"
    assert final.usage.total_tokens == 508


async def test_async_chat_and_stream_are_signed_over_the_encoded_path(loopback: Loopback) -> None:
    # aiohttp would re-quote %3A to ':' and break the signature if the transport let it.
    signed_route(loopback, CHAT, Reply(body=fixture("text.json")))
    signed_route(loopback, STREAM, eventstream_reply(fixture("reasoning.bin")))
    async with AsyncClient(env=env(loopback)) as client:
        resp = await client.chat(NAME, HI)
        final = await adrain(client, NAME, HI)
    assert [r.path for r in loopback.requests] == [CHAT, STREAM]
    assert resp.text == "Grüße aus Zürich 👋 — naïve café 日本語."
    assert final.text == "2 + 2 = 4." and final.reasoning_blocks[0].signature
    assert final.usage.cached_input_tokens == 1800


def test_tool_loop_sends_signed_reasoning_back(loopback: Loopback) -> None:
    signed_route(loopback, CHAT, Reply(body=fixture("tool_use.json")))
    tools = [WEATHER, {"name": "get_time"}]
    with Client(env=env(loopback)) as client:
        first = client.chat(NAME, HI, tools=tools, reasoning=2048)
        history = [
            *HI,
            first.message.to_dict(),
            *({"role": "tool", "tool_call_id": c.id, "content": '{"ok": true}'}
              for c in first.tool_calls),
        ]  # fmt: skip
        client.chat(NAME, history, tools=tools, reasoning=2048)
    second = loopback.requests[1].json()
    assert isinstance(second, dict)
    original = json.loads(fixture("tool_use.json"))["output"]["message"]["content"]
    assert second["messages"][1]["content"] == original
    assert [b["toolResult"]["content"] for b in second["messages"][2]["content"]] == [
        [{"json": {"ok": True}}]
    ] * 2


async def test_async_mid_stream_throttling_keeps_the_partial_answer(loopback: Loopback) -> None:
    signed_route(loopback, STREAM, eventstream_reply(fixture("throttled.bin")))
    seen: list[str] = []
    async with AsyncClient(env=env(loopback)) as client:
        with pytest.raises(RateLimitError) as info:
            await adrain(client, NAME, HI, seen=seen)
    assert "".join(seen) == "Partial ans"
    assert info.value.partial is not None and info.value.partial.text == "Partial ans"
    assert SECRET_KEY not in str(info.value)


def test_truncated_stream_finishes_with_error(loopback: Loopback) -> None:
    signed_route(loopback, STREAM, eventstream_reply(fixture("truncated.bin")))
    with Client(env=env(loopback)) as client, client.stream(NAME, HI) as stream:
        for _ in stream:
            pass
        final = stream.response
    assert final.finish_reason == "error" and final.text == "Once upon a time"


def test_bearer_api_key_end_to_end(loopback: Loopback) -> None:
    loopback.route("POST", CHAT, fixture("text.json"))
    bearer = {
        "AWS_REGION": "us-east-1",
        "AWS_BEARER_TOKEN_BEDROCK": "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": loopback.url,
    }
    with Client(env=bearer) as client:
        assert client.chat(NAME, HI).text.startswith("Grüße")
    headers = loopback.requests[0].headers
    assert headers["authorization"] == "Bearer ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl"
    assert "x-amz-date" not in headers


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        (Reply(status=400, headers={"x-amzn-ErrorType": "ValidationException:http://internal"},
               body=b'{"message":"Input is too long for requested model."}'),
         ContextLengthExceededError),
        (Reply(status=429, headers={"x-amzn-ErrorType": "ThrottlingException:http://internal"},
               body=b'{"message":"Too many requests, please wait before trying again."}'),
         RateLimitError),
        (Reply(status=404, headers={"x-amzn-ErrorType": "ResourceNotFoundException"},
               body=b'{"message":"Model not found."}'),
         ModelNotFoundError),
        (Reply(status=503, body=b'{"message":"Bedrock is unable to process your request."}'),
         ProviderUnavailableError),
    ],
)  # fmt: skip
def test_http_errors_map_to_typed_errors(loopback: Loopback, reply: Reply, cls: type) -> None:
    loopback.route("POST", CHAT, reply)
    with Client(max_retries=0, env=env(loopback)) as client, pytest.raises(cls) as info:
        client.chat(NAME, HI)
    assert NAME in str(info.value)
    assert SECRET_KEY not in repr(info.value)


def test_stream_http_error_before_the_first_frame(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        STREAM,
        Reply(status=429, headers={"x-amzn-ErrorType": "ThrottlingException"},
              body=b'{"message":"slow down"}'),
    )  # fmt: skip
    with Client(max_retries=0, env=env(loopback)) as client, pytest.raises(RateLimitError):
        with client.stream(NAME, HI) as stream:
            list(stream)


# --------------------------------------------------------------------------- parity


def test_sync_and_async_agree(loopback: Loopback) -> None:
    import asyncio

    signed_route(loopback, CHAT, Reply(body=fixture("tool_use.json")))
    signed_route(loopback, STREAM, eventstream_reply(fixture("tool_use.bin")))
    with Client(env=env(loopback)) as client:
        sync_chat = client.chat(NAME, HI, tools=[WEATHER])
        with client.stream(NAME, HI, tools=[WEATHER]) as stream:
            sync_events = list(stream)
            sync_stream = stream.response

    async def run() -> tuple[Any, list[Event], Any]:
        async with AsyncClient(env=env(loopback)) as aclient:
            chat = await aclient.chat(NAME, HI, tools=[WEATHER])
            async with aclient.stream(NAME, HI, tools=[WEATHER]) as s:
                events = [e async for e in s]
                return chat, events, s.response

    async_chat, async_events, async_stream = asyncio.run(run())
    assert sync_chat == async_chat
    assert sync_events == async_events and sync_stream == async_stream


# --------------------------------------------------------------------------- embeddings


def _titan_handler(request: Recorded) -> Reply:
    text = json.loads(request.body)["inputText"]
    vector = [float(len(text)), float(ord(text[0]))]
    return Reply(body=json.dumps({"embedding": vector, "inputTextTokenCount": len(text)}).encode())


def test_titan_embeds_one_text_per_call_in_order(loopback: Loopback) -> None:
    loopback.route(
        "POST", "/model/amazon.titan-embed-text-v2%3A0/invoke", handler=verifying(_titan_handler)
    )
    texts = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"]
    with Client(env=env(loopback)) as client:
        resp = client.embed(f"bedrock/{TITAN}", input=texts, dimensions=256)
    assert resp.vectors == [[float(len(t)), float(ord(t[0]))] for t in texts]
    assert resp.usage.input_tokens == sum(len(t) for t in texts)
    bodies = [r.json() for r in loopback.requests]
    assert bodies[0] == {"inputText": "a", "dimensions": 256}
    assert len(bodies) == len(texts)


async def test_titan_async_keeps_order_with_concurrent_calls(loopback: Loopback) -> None:
    loopback.route(
        "POST", "/model/amazon.titan-embed-text-v2%3A0/invoke", handler=verifying(_titan_handler)
    )
    texts = [chr(ord("a") + i) * (i + 1) for i in range(10)]
    async with AsyncClient(env=env(loopback)) as client:
        resp = await client.embed(f"bedrock/{TITAN}", input=texts)
    assert resp.vectors == [[float(len(t)), float(ord(t[0]))] for t in texts]


def test_cohere_batches_96_texts_and_maps_input_type(loopback: Loopback) -> None:
    def cohere(request: Recorded) -> Reply:
        body = json.loads(request.body)
        vectors = [[float(int(t))] for t in body["texts"]]
        return Reply(
            body=json.dumps({"embeddings": vectors, "response_type": "embeddings_floats"}).encode(),
            headers={"x-amzn-bedrock-input-token-count": str(len(body["texts"]))},
        )

    loopback.route("POST", f"/model/{COHERE}/invoke", handler=verifying(cohere))
    texts = [str(i) for i in range(200)]
    with Client(env=env(loopback)) as client:
        resp = client.embed(f"bedrock/{COHERE}", input=texts, input_type="query")
    assert resp.vectors == [[float(i)] for i in range(200)]
    sizes = [len(r.json()["texts"]) for r in loopback.requests]  # type: ignore[index]
    assert sizes == [96, 96, 8]
    assert {r.json()["input_type"] for r in loopback.requests} == {"search_query"}  # type: ignore[index]
    assert resp.usage.input_tokens == 200


def test_cohere_fixture_and_default_input_type(loopback: Loopback) -> None:
    loopback.route("POST", f"/model/{COHERE}/invoke", fixture("embed_cohere.json"))
    with Client(env=env(loopback)) as client:
        resp = client.embed(f"bedrock/{COHERE}", input=["a", "b"])
    assert resp.vectors == [[0.5, -0.25, 0.125], [0.0625, 0.03125, -1.0]]
    assert loopback.requests[0].json() == {"texts": ["a", "b"], "input_type": "search_document"}
    assert resp.usage.input_tokens is None  # no count in the body or headers: unknown


def test_titan_fixture(loopback: Loopback) -> None:
    loopback.route("POST", "/model/amazon.titan-embed-text-v2%3A0/invoke",
                   fixture("embed_titan_v2.json"))  # fmt: skip
    with Client(env=env(loopback)) as client:
        resp = client.embed(f"bedrock/{TITAN}", input="hello world")
    assert resp.vectors == [[0.0123, -0.0456, 0.0789, 0.1011]] and resp.usage.input_tokens == 5


@pytest.mark.parametrize(
    ("model", "options", "field"),
    [
        (TITAN, {"dimensions": 300}, "dimensions"),
        ("amazon.titan-embed-text-v1", {"dimensions": 256}, "dimensions"),
        (COHERE, {"input_type": "nonsense"}, "input_type"),
        ("meta.llama3-3-70b-instruct-v1:0", {}, "model"),
    ],
)
def test_embedding_options_are_checked_before_sending(
    loopback: Loopback, model: str, options: dict[str, Any], field: str
) -> None:
    with Client(env=env(loopback)) as client, pytest.raises(ConfigurationError) as info:
        client.embed(f"bedrock/{model}", input=["x"], **options)
    assert info.value.field == field and loopback.requests == []


# --------------------------------------------------------------------------- discovery


def test_list_models_from_the_control_plane(loopback: Loopback) -> None:
    signed_route(loopback, "/foundation-models", Reply(body=fixture("models.json")), "GET")
    with Client(env=env(loopback)) as client:
        models = {m.id: m for m in client.list_models("bedrock")}
    claude = models["anthropic.claude-sonnet-4-5-20250929-v1:0"]
    assert claude.display_name == "Claude Sonnet 4.5" and claude.provider == "bedrock"
    assert claude.supports_vision is True and claude.supports_embeddings is False
    assert claude.context_window == 200000  # not in the listing: from the catalog
    titan = models["amazon.titan-embed-text-v2:0"]
    assert titan.supports_embeddings is True and titan.supports_vision is False
    assert models["amazon.nova-micro-v1:0"].context_window == 128000
    assert len(models) == 4


async def test_health_probes_the_control_plane(loopback: Loopback) -> None:
    signed_route(loopback, "/foundation-models", Reply(body=fixture("models.json")), "GET")
    async with AsyncClient(env=env(loopback)) as client:
        status = await client.health("bedrock")
    assert status.ok and status.provider == "bedrock" and status.error is None
    assert loopback.requests[0].query == {"byOutputModality": ["EMBEDDING"]}


def test_health_reports_denied_credentials(loopback: Loopback) -> None:
    loopback.route(
        "GET",
        "/foundation-models",
        Reply(status=403, headers={"x-amzn-ErrorType": "AccessDeniedException"},
              body=b'{"message":"not authorized to perform: bedrock:ListFoundationModels"}'),
    )  # fmt: skip
    with Client(env=env(loopback)) as client:
        status = client.health("bedrock")
    assert not status.ok and status.error is not None
    assert "ListFoundationModels" in status.error


def test_count_tokens(loopback: Loopback) -> None:
    signed_route(loopback, f"/model/{MODEL_PATH}/count-tokens", Reply(body=b'{"inputTokens":42}'))
    with Client(env=env(loopback)) as client:
        n = client.count_tokens(NAME, HI, system="Be brief.", tools=[WEATHER])
    assert n == 42
    body = loopback.requests[0].json()
    assert isinstance(body, dict)
    converse = body["input"]["converse"]
    assert converse["system"] == [{"text": "Be brief."}]
    assert converse["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert set(converse) == {"messages", "system", "toolConfig"}
