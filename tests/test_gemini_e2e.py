"""End to end: Client/AsyncClient -> Gemini adapter -> real HTTP to a loopback server
replaying exact Gemini bytes (cut into awkward chunks)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentFilterError,
    ContextLengthExceededError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.events import ToolCallEnd
from llmswitch.providers.gemini import SYNTHETIC_ID_PREFIX
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, Recorded, Reply, sse_reply
from tests.support.upstreams import GEMINI, adrain, drain

fixture = Fixtures("gemini")
KEY = "AIzaSyE2E-gemini-key-0123456789abcdefgh"
MODEL = "gemini/gemini-2.5-flash"
GENERATE, STREAM = GEMINI.chat_path, GEMINI.stream_path
HI = [{"role": "user", "content": "Weather in Zürich?"}]
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


env = partial(GEMINI.env, key=KEY)


def sent(loopback: Loopback, i: int = 0) -> dict[str, Any]:
    body = loopback.requests[i].json()
    assert isinstance(body, dict)
    return body


def assert_key_only_in_header(request: Recorded) -> None:
    assert request.headers["x-goog-api-key"] == KEY
    assert "key" not in request.query and KEY not in request.path
    assert "authorization" not in request.headers


# --------------------------------------------------------------------------- chat / stream


def test_chat_sends_key_header_and_parses_the_answer(loopback: Loopback) -> None:
    loopback.route("POST", GENERATE, fixture("thinking_tool.json"))
    with Client(env=env(loopback)) as client:
        resp = client.chat(MODEL, HI, tools=[WEATHER], reasoning=2048, system="Be brief.")
    assert_key_only_in_header(loopback.requests[0])
    body = sent(loopback)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 2048,
        "includeThoughts": True,
    }
    assert resp.provider == "gemini" and resp.finish_reason == "tool_calls"
    assert resp.tool_calls[0].name == "get_weather"
    assert resp.tool_calls[0].signature == "+vv8/f7/CiQBdGhvdWdodC1zaWduYXR1cmX7//4="
    assert resp.cost is not None and resp.cost > 0


def test_stream_over_awkward_chunks_matches_the_fixture(loopback: Loopback) -> None:
    loopback.route("POST", STREAM, sse_reply(fixture("thinking_tool.sse")))
    with Client(env=env(loopback)) as client:
        events, final = drain(client, MODEL, HI, tools=[WEATHER])
    assert loopback.requests[0].query == {"alt": ["sse"]}
    assert_key_only_in_header(loopback.requests[0])
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert ends[0].tool_call.arguments == {"city": "Zürich", "units": ["célsius", "°C"], "days": 3}
    assert final.text == "Let me check the weather."
    assert final.reasoning and "°C" in final.reasoning
    assert final.finish_reason == "tool_calls" and final.usage.total_tokens == 158


def test_tool_loop_sends_signature_back_and_omits_synthesized_ids(loopback: Loopback) -> None:
    loopback.route("POST", GENERATE, fixture("thinking_tool.json"), fixture("text.json"))
    with Client(env=env(loopback)) as client:
        first = client.chat(MODEL, HI, tools=[WEATHER])
        (call,) = first.tool_calls
        assert call.id.startswith(SYNTHETIC_ID_PREFIX)
        history = [
            *HI,
            first.message.to_dict(),  # through plain dicts, as an app would store it
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
        ]
        second = client.chat(MODEL, history, tools=[WEATHER])
    body = sent(loopback, 1)
    original = json.loads(fixture("thinking_tool.json"))["candidates"][0]["content"]["parts"]
    model_turn, result_turn = body["contents"][1], body["contents"][2]
    assert model_turn == {"role": "model", "parts": [original[1], original[2]]}  # exact, no id
    assert result_turn == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}],
    }
    assert second.text.startswith("Grüße")


def test_blocked_prompt_raises_when_the_stream_opens(loopback: Loopback) -> None:
    loopback.route("POST", STREAM, sse_reply(fixture("blocked_prompt.sse")))
    with Client(env=env(loopback)) as client:
        stream = client.stream(MODEL, HI)
        with pytest.raises(ContentFilterError) as info:
            stream.__enter__()  # nothing was answered: it fails like an HTTP error would
    assert info.value.code == "PROHIBITED_CONTENT"
    assert "gemini/gemini-2.5-flash" in str(info.value)


async def test_async_stream_mid_stream_error_keeps_the_partial_answer(
    loopback: Loopback,
) -> None:
    loopback.route("POST", STREAM, sse_reply(fixture("error_midstream.sse")))
    seen: list[str] = []
    async with AsyncClient(env=env(loopback)) as client:
        with pytest.raises(ProviderUnavailableError) as info:
            await adrain(client, MODEL, HI, seen=seen)
    assert "".join(seen) == "Partial ans"
    assert info.value.partial is not None and info.value.partial.text == "Partial ans"
    assert KEY not in str(info.value) and KEY not in repr(info.value)


async def test_async_truncated_stream_finishes_with_error(loopback: Loopback) -> None:
    loopback.route("POST", STREAM, sse_reply(fixture("truncated.sse")))
    async with AsyncClient(env=env(loopback)) as client:
        final = await adrain(client, MODEL, HI)
    assert final.finish_reason == "error" and final.text == "Once upon a time"


@pytest.mark.parametrize(
    "name", ["text", "thinking_tool", "parallel_tools", "max_tokens", "safety"]
)
async def test_sync_and_async_chat_and_stream_agree(loopback: Loopback, name: str) -> None:
    loopback.route("POST", GENERATE, fixture(f"{name}.json"))
    loopback.route("POST", STREAM, sse_reply(fixture(f"{name}.sse")))
    with Client(env=env(loopback)) as client:
        sync_chat = client.chat(MODEL, HI)
        with client.stream(MODEL, HI) as stream:
            sync_stream = stream.response
    async with AsyncClient(env=env(loopback)) as aclient:
        async_chat = await aclient.chat(MODEL, HI)
        async with aclient.stream(MODEL, HI) as astream:
            async_stream = await astream.get_response()
    assert sync_chat == async_chat == sync_stream == async_stream
    assert len({r.body for r in loopback.requests}) == 1  # all four sent the same body


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "name", "cls"),
    [
        (400, "error_api_key_invalid.json", AuthenticationError),
        (400, "error_context.json", ContextLengthExceededError),
        (429, "error_quota.json", RateLimitError),
        (503, "error_overloaded.json", ProviderUnavailableError),
    ],
)
def test_http_errors_map_to_typed_errors(
    loopback: Loopback, status: int, name: str, cls: type[Exception]
) -> None:
    loopback.route("POST", GENERATE, Reply(status=status, body=fixture(name)))
    with Client(max_retries=0, env=env(loopback)) as client, pytest.raises(cls) as info:
        client.chat(MODEL, HI)
    assert "gemini/gemini-2.5-flash" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    if cls is RateLimitError:
        assert info.value.retry_after == 30.0  # type: ignore[attr-defined]


async def test_async_stream_http_error_before_the_first_event(loopback: Loopback) -> None:
    loopback.route("POST", STREAM, Reply(status=429, body=fixture("error_quota.json")))
    async with AsyncClient(max_retries=0, env=env(loopback)) as client:
        with pytest.raises(RateLimitError) as info:
            async with client.stream(MODEL, HI):
                pass
    assert info.value.retry_after == 30.0


def test_missing_key_names_the_variables() -> None:
    with Client(env={}) as client, pytest.raises(ConfigurationError) as info:
        client.chat(MODEL, HI)
    assert "GEMINI_API_KEY" in str(info.value)


def test_google_api_key_is_the_fallback(loopback: Loopback) -> None:
    loopback.route("POST", GENERATE, fixture("text.json"))
    with Client(env={"GOOGLE_API_KEY": KEY, "GEMINI_BASE_URL": loopback.url}) as client:
        client.chat(MODEL, HI)
    assert_key_only_in_header(loopback.requests[0])


# --------------------------------------------------------------------------- models / health


def test_list_models_follows_page_tokens(loopback: Loopback) -> None:
    loopback.route(
        "GET", "/v1beta/models", fixture("models_page1.json"), fixture("models_page2.json")
    )
    with Client(env=env(loopback)) as client:
        models = client.list_models("gemini")
    assert [m.id for m in models] == [
        "gemini-2.5-flash",
        "gemini-2.0-flash",
        "gemini-embedding-001",
        "text-embedding-004",
        "gemini-3-pro-preview",
    ]
    first, second = loopback.requests
    assert first.query == {"pageSize": ["1000"]}
    assert second.query == {
        "pageSize": ["1000"],
        "pageToken": ["Chxtb2RlbHMvZ2VtaW5pLTIuMC1mbGFzaA=="],
    }
    assert_key_only_in_header(second)


async def test_async_list_models_and_health(loopback: Loopback) -> None:
    loopback.route(
        "GET", "/v1beta/models", fixture("models_page1.json"), fixture("models_page2.json")
    )
    async with AsyncClient(env=env(loopback)) as client:
        models = await client.list_models("gemini")
        status = await client.health("gemini")
    assert len(models) == 5 and models[2].supports_embeddings is True
    assert status.ok and status.provider == "gemini" and status.error is None
    assert status.latency_ms is not None and status.version is None
    assert loopback.requests[-1].query == {"pageSize": ["1"]}  # a cheap probe


def test_health_reports_a_rejected_key(loopback: Loopback) -> None:
    loopback.route(
        "GET", "/v1beta/models", Reply(status=400, body=fixture("error_api_key_invalid.json"))
    )
    with Client(env=env(loopback)) as client:
        status = client.health("gemini")
    assert not status.ok and status.error is not None
    assert "API key not valid" in status.error and KEY not in status.error


# --------------------------------------------------------------------------- embeddings


def _embed_handler(request: Recorded) -> Reply:
    """Each vector encodes its input's number, so order is checkable across batches."""
    body = request.json()
    assert isinstance(body, dict)
    vectors = [
        {"values": [float(item["content"]["parts"][0]["text"][1:]), float(len(body["requests"]))]}
        for item in body["requests"]
    ]
    return Reply(body=json.dumps({"embeddings": vectors}).encode())


EMBED = "/v1beta/models/gemini-embedding-001:batchEmbedContents"
INPUTS = [f"t{i}" for i in range(250)]


def test_embed_splits_into_batches_of_100_and_keeps_order(loopback: Loopback) -> None:
    loopback.route("POST", EMBED, handler=_embed_handler)
    with Client(env=env(loopback)) as client:
        resp = client.embed(
            "gemini/gemini-embedding-001", INPUTS, dimensions=3, input_type="document"
        )
    assert [v[0] for v in resp.vectors] == [float(i) for i in range(250)]
    assert sorted(int(v[1]) for v in resp.vectors[::50]) == [50, 100, 100, 100, 100]
    assert len(loopback.requests) == 3
    item = sent(loopback)["requests"][0]
    assert item["taskType"] == "RETRIEVAL_DOCUMENT" and item["outputDimensionality"] == 3
    assert item["model"] == "models/gemini-embedding-001"
    assert resp.usage.input_tokens is None  # Gemini reports no embedding usage
    for request in loopback.requests:
        assert_key_only_in_header(request)


async def test_async_embed_batches_concurrently_and_keeps_order(loopback: Loopback) -> None:
    loopback.route("POST", EMBED, handler=_embed_handler)
    async with AsyncClient(env=env(loopback)) as client:
        resp = await client.embed("gemini/gemini-embedding-001", INPUTS)
    assert [v[0] for v in resp.vectors] == [float(i) for i in range(250)]
    assert len(loopback.requests) == 3
    assert "taskType" not in sent(loopback)["requests"][0]


def test_embed_error_is_typed(loopback: Loopback) -> None:
    loopback.route("POST", EMBED, Reply(status=429, body=fixture("error_quota.json")))
    with Client(env=env(loopback)) as client, pytest.raises(RateLimitError) as info:
        client.embed("gemini/gemini-embedding-001", ["a"])
    assert info.value.model == "gemini-embedding-001" and KEY not in str(info.value)


# --------------------------------------------------------------------------- countTokens


COUNT = "/v1beta/models/gemini-2.5-flash:countTokens"


def test_count_tokens_sync_and_async_agree(loopback: Loopback) -> None:
    loopback.route("POST", COUNT, fixture("count_tokens.json"))
    with Client(env=env(loopback)) as client:
        n = client.count_tokens(MODEL, HI, system="Be brief.", tools=[WEATHER])
    assert n == 31
    body = sent(loopback)["generateContentRequest"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert_key_only_in_header(loopback.requests[0])

    import asyncio

    async def count() -> int:
        async with AsyncClient(env=env(loopback)) as aclient:
            return await aclient.count_tokens(MODEL, HI, system="Be brief.", tools=[WEATHER])

    assert asyncio.run(count()) == 31
    assert loopback.requests[1].body == loopback.requests[0].body


def test_count_tokens_error_is_typed(loopback: Loopback) -> None:
    loopback.route("POST", COUNT, Reply(status=404, body=fixture("error_not_found.json")))
    with Client(env=env(loopback)) as client, pytest.raises(Exception) as info:
        client.count_tokens(MODEL, HI)
    assert type(info.value).__name__ == "ModelNotFoundError"
    assert "gemini/gemini-2.5-flash" in str(info.value)


def test_count_tokens_without_an_endpoint_is_a_labelled_estimate() -> None:
    with Client(env={"GEMINI_API_KEY": "k"}) as client:
        count = client.count_tokens("fake/echo", HI)  # no counter: estimated, nothing sent
        assert count > 0 and (count.method, count.exact) == ("estimate", False)
        with pytest.raises(TypeError, match="'temprature'"):
            client.count_tokens(MODEL, HI, temprature=1)  # type: ignore[call-arg]
