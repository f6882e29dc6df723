"""End to end: Client/AsyncClient -> Ollama adapter -> real HTTP to a loopback server
replaying exact Ollama bytes (NDJSON cut into awkward chunks)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    ConfigurationError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    TransportError,
)
from llmswitch.events import Event, ToolCallEnd
from llmswitch.messages import ChatResponse
from llmswitch.providers.ollama import OllamaAdapter, PullProgress
from llmswitch.testing import FakeProvider
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, Reply, closed_port, ndjson_reply
from tests.support.upstreams import adrain

fixture = Fixtures("ollama")
MODEL = "ollama/qwen3:8b"
HI = [{"role": "user", "content": "Weather in Zürich?"}]
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def env(loopback: Loopback) -> dict[str, str]:
    # host:port without a scheme, the way OLLAMA_HOST is often set
    return {"OLLAMA_HOST": f"127.0.0.1:{loopback.port}"}


def without_generated_ids(resp: ChatResponse) -> ChatResponse:
    calls = tuple(replace(c, id="<id>") if len(c.id) == 29 else c for c in resp.tool_calls)
    return replace(resp, tool_calls=calls)


# --------------------------------------------------------------------------- chat, stream


def test_chat_sends_the_native_body_and_parses_the_answer(loopback: Loopback) -> None:
    loopback.route("POST", "/api/chat", fixture("chat_tools.json"))
    with Client(env=env(loopback)) as client:
        resp = client.chat(
            MODEL, HI, tools=[WEATHER], reasoning=True, extra_body={"options": {"num_ctx": 8192}}
        )
    sent = loopback.requests[0]
    body = sent.json()
    assert isinstance(body, dict)
    assert body["model"] == "qwen3:8b" and body["stream"] is False and body["think"] is True
    assert body["options"] == {"num_ctx": 8192}
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert resp.provider == "ollama" and resp.model == "qwen3:8b"
    assert resp.finish_reason == "tool_calls" and resp.raw_finish_reason == "stop"
    assert [c.name for c in resp.tool_calls] == ["get_weather", "get_time"]
    assert resp.reasoning == "Need the weather in Zürich and the time."
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (212, 57)


def test_stream_over_awkward_chunks(loopback: Loopback) -> None:
    loopback.route("POST", "/api/chat", ndjson_reply(fixture("chat_text.ndjson")))
    with Client(env=env(loopback)) as client, client.stream(MODEL, HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.response
    assert loopback.requests[0].json()["stream"] is True  # type: ignore[index]
    assert "".join(pieces) == 'Grüße aus Zürich 👋 — naïve café 日本語.\n1 < 2 & "ok"'
    assert final.text == "".join(pieces) and final.usage.total_tokens == 32


def test_tool_loop_sends_results_with_tool_name(loopback: Loopback) -> None:
    loopback.route("POST", "/api/chat", fixture("chat_tools.json"), fixture("chat_text.json"))
    with Client(env=env(loopback)) as client:
        first = client.chat(MODEL, HI, tools=[WEATHER, {"name": "get_time"}])
        history = [
            *HI,
            first.message.to_dict(),
            *({"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in first.tool_calls),
        ]
        client.chat(MODEL, history, tools=[WEATHER, {"name": "get_time"}])
    second = loopback.requests[1].json()
    assert isinstance(second, dict)
    results = [m for m in second["messages"] if m["role"] == "tool"]
    assert [(r["tool_name"], r["tool_call_id"]) for r in results] == [
        ("get_weather", "call_k3p9x2ab"),
        ("get_time", first.tool_calls[1].id),
    ]
    assert second["messages"][1]["tool_calls"][0]["function"]["arguments"] == {
        "city": "Zürich",
        "days": 3,
        "units": ["célsius", "°C"],
    }


async def test_async_chat_and_stream_match_sync(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/api/chat",
        fixture("chat_tools.json"),
        ndjson_reply(fixture("chat_tools.ndjson")),
        fixture("chat_tools.json"),
        ndjson_reply(fixture("chat_tools.ndjson")),
    )
    async with AsyncClient(env=env(loopback)) as aclient:
        a_chat = await aclient.chat(MODEL, HI, tools=[WEATHER])
        async with aclient.stream(MODEL, HI, tools=[WEATHER]) as stream:
            events: list[Event] = [e async for e in stream]
            a_stream = stream.response
    with Client(env=env(loopback)) as client:
        s_chat = client.chat(MODEL, HI, tools=[WEATHER])
        with client.stream(MODEL, HI, tools=[WEATHER]) as sstream:
            s_stream = sstream.response
    assert sum(isinstance(e, ToolCallEnd) for e in events) == 2
    results = [without_generated_ids(r) for r in (a_chat, a_stream, s_chat, s_stream)]
    assert results[0] == results[1] == results[2] == results[3]
    bodies = [r.json() for r in loopback.requests]
    assert bodies[0] == bodies[2] and bodies[1] == bodies[3]  # the same bytes either way


async def test_async_mid_stream_error_keeps_the_partial_answer(loopback: Loopback) -> None:
    loopback.route("POST", "/api/chat", ndjson_reply(fixture("chat_error.ndjson")))
    seen: list[str] = []
    async with AsyncClient(env=env(loopback)) as client:
        with pytest.raises(ProviderUnavailableError) as info:
            await adrain(client, MODEL, HI, seen=seen)
    assert "".join(seen) == "Partial ans"
    assert info.value.partial is not None and info.value.partial.text == "Partial ans"
    assert "ollama/qwen3:8b" in str(info.value)


def test_sync_mid_stream_error_keeps_the_partial_answer(loopback: Loopback) -> None:
    loopback.route("POST", "/api/chat", ndjson_reply(fixture("chat_error.ndjson")))
    with Client(env=env(loopback)) as client, pytest.raises(ProviderUnavailableError) as info:
        with client.stream(MODEL, HI) as stream:
            for _ in stream:
                pass
    assert info.value.partial is not None and info.value.partial.text == "Partial ans"


async def test_async_truncated_stream_finishes_with_error(loopback: Loopback) -> None:
    loopback.route("POST", "/api/chat", ndjson_reply(fixture("chat_truncated.ndjson")))
    async with AsyncClient(env=env(loopback)) as client:
        async with client.stream(MODEL, HI) as stream:
            final = await stream.get_response()
    assert final.finish_reason == "error" and final.text == "Once upon a time"


def test_model_not_found_over_http(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/api/chat",
        Reply(status=404, body=b'{"error":"model \\"qwen3:8b\\" not found, try pulling it first"}'),
    )
    with Client(env=env(loopback)) as client, pytest.raises(ModelNotFoundError) as info:
        with client.stream(MODEL, HI):
            pass
    assert "llmswitch models pull ollama/qwen3:8b" in str(info.value)


def test_busy_server_is_retryable(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/api/chat",
        Reply(status=503, body=b'{"error":"server busy, please try again."}'),
    )
    with (
        Client(max_retries=0, env=env(loopback)) as client,
        pytest.raises(ProviderUnavailableError) as info,
    ):
        client.chat(MODEL, HI)
    assert info.value.retryable and info.value.status_code == 503


def test_nothing_listening_is_a_transport_error() -> None:
    port = closed_port()
    with Client(max_retries=0, env={"OLLAMA_HOST": f"127.0.0.1:{port}"}) as client:
        with pytest.raises(TransportError) as info:
            client.chat(MODEL, HI)
        assert info.value.provider == "ollama"
        health = client.health("ollama")
    assert health.ok is False and health.error


# --------------------------------------------------------------------------- embeddings


def test_embed(loopback: Loopback) -> None:
    loopback.route("POST", "/api/embed", fixture("embed.json"))
    with Client(env=env(loopback)) as client:
        resp = client.embed("ollama/nomic-embed-text", ["a", "b"], dimensions=4)
    assert loopback.requests[0].json() == {
        "model": "nomic-embed-text",
        "input": ["a", "b"],
        "dimensions": 4,
    }
    assert resp.vectors[1] == [-0.009802181, 0.03977727, -0.011301548, 0.0129471]
    assert resp.usage.input_tokens == 8 and resp.provider == "ollama"


def _embed_body(vectors: list[list[float]], tokens: int) -> bytes:
    return json.dumps(
        {"model": "nomic-embed-text", "embeddings": vectors, "prompt_eval_count": tokens}
    ).encode()


async def test_embed_in_batches_keeps_input_order(
    loopback: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OllamaAdapter, "embed_batch_size", 2)
    loopback.route(
        "POST",
        "/api/embed",
        _embed_body([[1.0], [2.0]], 5),
        _embed_body([[3.0]], 2),
        _embed_body([[1.0], [2.0]], 5),
        _embed_body([[3.0]], 2),
    )
    with Client(env=env(loopback)) as client:
        sync = client.embed("ollama/nomic-embed-text", ["one", "two", "three"])
    async with AsyncClient(env=env(loopback)) as aclient:
        asyn = await aclient.embed("ollama/nomic-embed-text", ["one", "two", "three"])
    for resp in (sync, asyn):
        assert resp.vectors == [[1.0], [2.0], [3.0]]
        assert resp.usage.input_tokens == 7
    inputs = sorted(r.json()["input"] for r in loopback.requests)  # type: ignore[index]
    assert inputs == [["one", "two"], ["one", "two"], ["three"], ["three"]]


def test_embed_model_not_pulled(loopback: Loopback) -> None:
    loopback.route(
        "POST", "/api/embed", Reply(status=404, body=b'{"error":"model \'bge-m3\' not found"}')
    )
    with Client(env=env(loopback)) as client, pytest.raises(ModelNotFoundError) as info:
        client.embed("ollama/bge-m3", ["a"])
    assert "llmswitch models pull ollama/bge-m3" in str(info.value)
    assert info.value.model == "bge-m3"


# --------------------------------------------------------------------------- discovery, health


def _route_listing(loopback: Loopback) -> None:
    loopback.route("GET", "/api/tags", fixture("tags.json"))
    loopback.route(
        "POST",
        "/api/show",
        fixture("show_qwen3.json"),
        fixture("show_llava.json"),
        fixture("show_nomic.json"),
    )


def _check_listing(models: list[Any], loopback: Loopback) -> None:
    assert [(m.id, m.context_window) for m in models] == [
        ("qwen3:8b", 40960),
        ("llava:7b", 32768),
        ("nomic-embed-text:latest", 2048),
    ]
    qwen, llava, nomic = models
    assert (qwen.supports_tools, qwen.supports_reasoning, qwen.supports_vision) == (
        True,
        True,
        False,
    )
    assert llava.supports_vision is True and llava.supports_tools is False
    assert nomic.supports_embeddings is True and qwen.supports_embeddings is False
    assert all(m.provider == "ollama" for m in models)
    sent = [(r.method, r.path, r.body) for r in loopback.requests]
    assert sent == [
        ("GET", "/api/tags", b""),
        ("POST", "/api/show", b'{"model":"qwen3:8b"}'),
        ("POST", "/api/show", b'{"model":"llava:7b"}'),
        ("POST", "/api/show", b'{"model":"nomic-embed-text:latest"}'),
    ]


def test_list_models_shows_each_model(loopback: Loopback) -> None:
    _route_listing(loopback)
    with Client(env=env(loopback)) as client:
        models = client.list_models("ollama")
    _check_listing(models, loopback)


async def test_async_list_models_shows_each_model(loopback: Loopback) -> None:
    _route_listing(loopback)
    async with AsyncClient(env=env(loopback)) as client:
        models = await client.list_models("ollama")
    _check_listing(models, loopback)


def test_list_models_of_an_empty_server(loopback: Loopback) -> None:
    loopback.route("GET", "/api/tags", b'{"models":[]}')
    with Client(env=env(loopback)) as client:
        assert client.list_models("ollama") == []
    assert len(loopback.requests) == 1


def test_health_reports_the_version(loopback: Loopback) -> None:
    loopback.route("GET", "/api/version", fixture("version.json"))
    with Client(env=env(loopback)) as client:
        status = client.health("ollama")
    assert status.ok and status.version == "0.12.6" and status.error is None
    assert loopback.requests[0].path == "/api/version"


async def test_async_health_reports_the_version(loopback: Loopback) -> None:
    loopback.route("GET", "/api/version", fixture("version.json"))
    async with AsyncClient(env=env(loopback)) as client:
        status = await client.health("ollama")
    assert status.ok and status.version == "0.12.6"


# --------------------------------------------------------------------------- pull


def test_pull_reports_progress(loopback: Loopback) -> None:
    loopback.route("POST", "/api/pull", ndjson_reply(fixture("pull.ndjson")))
    seen: list[PullProgress] = []
    with Client(env=env(loopback)) as client:
        final = client.pull_model("ollama/llama3.2", progress=seen.append)
    assert loopback.requests[0].json() == {"model": "llama3.2", "stream": True}
    assert final.done and final.status == "success"
    assert [p.status for p in seen][:2] == ["pulling manifest", "pulling dde5aa3fc5ff"]
    layer = [p for p in seen if p.digest and p.digest.startswith("sha256:dde5")]
    assert [p.completed for p in layer] == [None, 241970, 1009688688, 2019377376]
    assert all(p.total == 2019377376 for p in layer)


async def test_async_pull_reports_progress(loopback: Loopback) -> None:
    loopback.route("POST", "/api/pull", ndjson_reply(fixture("pull.ndjson")))
    seen: list[PullProgress] = []
    async with AsyncClient(env=env(loopback)) as client:
        final = await client.pull_model("ollama/llama3.2", progress=seen.append)
    assert final.done and len(seen) == 9


def test_pull_error_line(loopback: Loopback) -> None:
    loopback.route("POST", "/api/pull", ndjson_reply(fixture("pull_error.ndjson")))
    with Client(env=env(loopback)) as client, pytest.raises(ProviderError) as info:
        client.pull_model("ollama/no-such-model")
    assert "pull model manifest: file does not exist" in str(info.value)
    assert info.value.provider == "ollama" and info.value.model == "no-such-model"


def test_pull_cut_off_before_success(loopback: Loopback) -> None:
    data = fixture("pull.ndjson")
    loopback.route("POST", "/api/pull", ndjson_reply(data[: data.index(b'{"status":"verifying')]))
    with Client(env=env(loopback)) as client, pytest.raises(ProviderUnavailableError):
        client.pull_model("ollama/llama3.2")


def test_pull_needs_an_ollama_provider() -> None:
    with Client(providers=[FakeProvider()]) as client, pytest.raises(ConfigurationError) as info:
        client.pull_model("fake/whatever")
    assert "only Ollama providers" in str(info.value)
