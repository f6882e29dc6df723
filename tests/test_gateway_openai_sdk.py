"""The official ``openai`` SDK against the gateway's OpenAI routes, with OpenAI, Anthropic
and Gemini loopback fakes behind it: chat, streams, tools, vision, JSON schema,
reasoning, embeddings, models and completions."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.fixtures import Fixtures
from tests.support.gateway_openai import BOB_KEY, by_stream, gateway, last_body, sdk, strict
from tests.support.loopback import Loopback, Reply
from tests.support.upstreams import ANTHROPIC, GEMINI, OPENAI

OA, AN, GE = Fixtures("openai"), Fixtures("anthropic"), Fixtures("gemini")
HI: Any = [{"role": "user", "content": "Hi"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}  # fmt: skip
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


async def test_chat_on_three_providers(loopback: Loopback) -> None:
    loopback.route("POST", OPENAI.chat_path, OA("chat_text.json"))
    loopback.route("POST", ANTHROPIC.chat_path, handler=strict(AN("text.json")))
    loopback.route("POST", GEMINI.chat_path, handler=strict(GE("text.json")))
    async with gateway(loopback, [OPENAI, ANTHROPIC, GEMINI]) as (app, _):
        api = sdk(app)
        for model in (OPENAI.model, ANTHROPIC.model, GEMINI.model):
            out = await api.chat.completions.create(
                model=model, messages=HI, seed=3, parallel_tool_calls=False,
                max_tokens=10**6, temperature=0.2,
            )  # fmt: skip
            assert out.object == "chat.completion" and out.model == model
            assert out.choices[0].message.role == "assistant" and out.choices[0].message.content
            assert out.choices[0].finish_reason == "stop"
            assert out.id.startswith("chatcmpl-") and out.usage is not None
            assert out.usage.prompt_tokens > 0
            sent = last_body(loopback)
            limit = sent.get("max_tokens", sent.get("max_completion_tokens"))
            if model == GEMINI.model:
                limit = sent["generationConfig"]["maxOutputTokens"]
            assert limit < 10**6  # clamped to the model's output limit
        openai_body = json.loads(loopback.requests[0].body)
        assert openai_body["seed"] == 3 and openai_body["parallel_tool_calls"] is False


async def test_stream_with_usage_on_three_providers(loopback: Loopback) -> None:
    loopback.route("POST", OPENAI.stream_path, OPENAI.stream_reply(OA("stream_text.sse")))
    loopback.route("POST", ANTHROPIC.stream_path,
                   handler=strict(ANTHROPIC.stream_reply(AN("text_pings.sse"))))  # fmt: skip
    loopback.route("POST", GEMINI.stream_path, handler=strict(GEMINI.stream_reply(GE("text.sse"))))
    async with gateway(loopback, [OPENAI, ANTHROPIC, GEMINI]) as (app, _):
        api = sdk(app)
        for model in (OPENAI.model, ANTHROPIC.model, GEMINI.model):
            stream = await api.chat.completions.create(
                model=model, messages=HI, stream=True, stream_options={"include_usage": True}
            )
            chunks = [c async for c in stream]
            assert chunks[0].choices[0].delta.role == "assistant"
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text
            finish = [c.choices[0].finish_reason for c in chunks if c.choices]
            assert finish[-1] == "stop" and set(finish[:-1]) == {None}
            assert chunks[-1].choices == [] and chunks[-1].usage is not None
            assert chunks[-1].usage.prompt_tokens > 0
            assert all(c.usage is None for c in chunks[:-1])
            assert len({c.id for c in chunks}) == 1 and chunks[0].model == model
            if model == OPENAI.model:  # its fixture reports cached and reasoning counts
                usage = chunks[-1].usage
                assert usage.prompt_tokens == 1180 and usage.completion_tokens == 84
                assert usage.prompt_tokens_details is not None
                assert usage.prompt_tokens_details.cached_tokens == 1024
                assert usage.completion_tokens_details is not None
                assert usage.completion_tokens_details.reasoning_tokens == 64


async def test_parallel_tool_calls_and_result_round_trip(loopback: Loopback) -> None:
    replies = by_stream(OA("chat_tools.json"), OPENAI.stream_reply(OA("stream_tools.sse")))
    loopback.route("POST", OPENAI.chat_path, handler=replies)
    async with gateway(loopback, [OPENAI]) as (app, _):
        api = sdk(app)
        out = await api.chat.completions.create(
            model=OPENAI.model, messages=HI, tools=[WEATHER, TIME],
            tool_choice="auto",
        )  # fmt: skip
        calls = out.choices[0].message.tool_calls or []
        assert out.choices[0].finish_reason == "tool_calls" and len(calls) >= 2
        assert calls[0].id == "call_Wq1bLk7YpE2nR5sT8uVx0zAc"
        assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}
        stream = await api.chat.completions.create(
            model=OPENAI.model, messages=HI, tools=[WEATHER, TIME], stream=True,
        )  # fmt: skip
        got: dict[int, dict[str, str]] = {}
        async for chunk in stream:
            for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                slot = got.setdefault(d.index, {"id": "", "name": "", "args": ""})
                slot["id"] += d.id or ""
                slot["name"] += (d.function.name or "") if d.function else ""
                slot["args"] += (d.function.arguments or "") if d.function else ""
        assert sorted(got) == list(range(len(got))) and len(got) >= 2
        assert all(
            json.loads(s["args"]) is not None and s["id"] and s["name"] for s in got.values()
        )
        # The results go back with the ids the client saw.
        history = [*HI, out.choices[0].message.model_dump(exclude_none=True)]
        history += [{"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls]
        loopback.route("POST", OPENAI.chat_path, handler=lambda _: Reply(body=OA("chat_text.json")))
        await api.chat.completions.create(
            model=OPENAI.model, messages=history, tools=[WEATHER, TIME]
        )
        sent = last_body(loopback)["messages"]
        assert [m["tool_call_id"] for m in sent if m["role"] == "tool"] == [c.id for c in calls]


def _gemini_calls(with_ids: bool) -> bytes:
    part = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": "U0lHTkFUVVJF"}  # fmt: skip
    other = {"functionCall": {"name": "get_time", "args": {}}}
    if with_ids:
        part["functionCall"]["id"] = "fc_1"
    answer = {"candidates": [{"content": {"parts": [part, other], "role": "model"},
                              "finishReason": "STOP", "index": 0}],
              "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                                "totalTokenCount": 15}, "responseId": "r1"}  # fmt: skip
    return json.dumps(answer).encode()


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_made_up_ids_and_signatures_map_back(loopback: Loopback, stream: bool) -> None:
    answer = _gemini_calls(with_ids=False)
    loopback.route("POST", GEMINI.chat_path, handler=strict(answer))
    loopback.route("POST", GEMINI.stream_path,
                   handler=strict(GEMINI.stream_reply(b"data: " + answer + b"\r\n\r\n")))  # fmt: skip
    async with gateway(loopback, [GEMINI]) as (app, _):
        api = sdk(app)
        args: dict[str, Any] = {"model": GEMINI.model, "messages": HI, "tools": [WEATHER, TIME]}
        if stream:
            calls: dict[int, dict[str, str]] = {}
            async for chunk in await api.chat.completions.create(**args, stream=True):
                for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                    slot = calls.setdefault(d.index, {})
                    slot["id"] = d.id or slot.get("id", "")
                    slot["name"] = (
                        d.function.name if d.function and d.function.name else slot.get("name", "")
                    )
                    slot["arguments"] = slot.get("arguments", "") + (
                        (d.function.arguments or "") if d.function else ""
                    )
            tool_calls = [{"id": c["id"], "type": "function",
                           "function": {"name": c["name"], "arguments": c["arguments"]}}
                          for _, c in sorted(calls.items())]  # fmt: skip
        else:
            out = await api.chat.completions.create(**args)
            tool_calls = [c.model_dump() for c in out.choices[0].message.tool_calls or []]
        assert [c["function"]["name"] for c in tool_calls] == ["get_weather", "get_time"]
        assert "__thought__U0lHTkFUVVJF" in tool_calls[0]["id"]
        history = [*HI, {"role": "assistant", "content": None, "tool_calls": tool_calls}]
        history += [{"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in tool_calls]
        loopback.route("POST", GEMINI.chat_path, handler=strict(GE("text.json")))
        await api.chat.completions.create(
            model=GEMINI.model, messages=history, tools=[WEATHER, TIME]
        )
        contents = last_body(loopback)["contents"]
        model_parts = contents[1]["parts"]
        assert model_parts[0]["thoughtSignature"] == "U0lHTkFUVVJF"
        responses = [p["functionResponse"] for p in contents[2]["parts"]]
        assert [r["name"] for r in responses] == ["get_weather", "get_time"]
        assert all("id" not in r for r in responses)  # made-up ids never reach Gemini


async def test_vision_json_schema_and_reasoning(loopback: Loopback) -> None:
    loopback.route("POST", ANTHROPIC.chat_path, handler=strict(AN("thinking_tool.json")))
    loopback.route("POST", GEMINI.chat_path, handler=strict(GE("text.json")))
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    async with gateway(loopback, [ANTHROPIC, GEMINI]) as (app, _):
        api = sdk(app)
        out = await api.chat.completions.create(
            model=ANTHROPIC.model,
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": png, "detail": "high"}}]}],
            tools=[WEATHER, TIME], reasoning_effort="high", max_tokens=30000,
        )  # fmt: skip
        sent = last_body(loopback)
        blocks = sent["messages"][0]["content"]
        assert blocks[1]["type"] == "image" and blocks[1]["source"]["media_type"] == "image/png"
        assert sent["thinking"]["type"] in ("enabled", "adaptive")
        message = out.choices[0].message
        assert (message.model_extra or {})["reasoning_content"].startswith("The user wants")
        assert out.usage is not None and out.usage.completion_tokens_details is not None
        assert out.usage.completion_tokens_details.reasoning_tokens == 61
        # The signed thinking goes back to Anthropic with the tool results.
        history = [
            {"role": "user", "content": "What is this?"},
            message.model_dump(exclude_none=True),
        ]
        history += [{"role": "tool", "tool_call_id": c.id, "content": "ok"}
                    for c in message.tool_calls or []]  # fmt: skip
        await api.chat.completions.create(model=ANTHROPIC.model, messages=history,
                                          tools=[WEATHER, TIME], reasoning_effort="high")  # fmt: skip
        turn = last_body(loopback)["messages"][1]["content"]
        assert turn[0] == {"type": "thinking", "signature": "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w==",
                           "thinking": "The user wants the weather. I should call get_weather."}  # fmt: skip
        schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
        await api.chat.completions.create(
            model=GEMINI.model, messages=HI,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "out", "schema": schema, "strict": True}},
        )  # fmt: skip
        config = last_body(loopback)["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert "a" in json.dumps(config.get("responseJsonSchema") or config.get("responseSchema"))


async def test_reasoning_stream_from_anthropic(loopback: Loopback) -> None:
    loopback.route("POST", ANTHROPIC.stream_path,
                   handler=strict(ANTHROPIC.stream_reply(AN("thinking_tool.sse"))))  # fmt: skip
    async with gateway(loopback, [ANTHROPIC]) as (app, _):
        stream = await sdk(app).chat.completions.create(
            model=ANTHROPIC.model, messages=HI, stream=True, tools=[WEATHER],
        )  # fmt: skip
        chunks = [c async for c in stream]
    thinking = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content", "")
                       for c in chunks if c.choices)  # fmt: skip
    assert thinking.startswith("The user wants the weather")
    indexes = {d.index for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []}
    assert indexes == set(range(len(indexes))) and indexes
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_embeddings_float_and_base64(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/embeddings", OA("embed_openai_float.json"))
    async with gateway(loopback, [OPENAI]) as (app, _):
        api = sdk(app)
        # The SDK asks for base64 by default and decodes it itself.
        out = await api.embeddings.create(
            model="openai/text-embedding-3-small", input=["a", "b", "c"]
        )
        assert out.model == "openai/text-embedding-3-small" and len(out.data) == 3
        assert out.data[0].embedding[:4] == pytest.approx([0.1, 0.0, 1.0, -1.5])
        floats = await api.embeddings.create(
            model="openai/text-embedding-3-small",
            input=["a", "b", "c"],
            encoding_format="float",
            dimensions=8,
        )
        assert floats.data[0].embedding[0] == pytest.approx(0.1)
        assert last_body(loopback)["dimensions"] == 8
        with pytest.raises(Exception) as info:
            await api.embeddings.create(model="openai/text-embedding-3-small", input=[[1, 2]])
        assert getattr(info.value, "status_code", None) == 400


async def test_models_list_is_filtered_by_the_key(loopback: Loopback) -> None:
    import openai

    async with gateway(loopback, [OPENAI, ANTHROPIC]) as (app, _):
        everything = [m.id async for m in sdk(app).models.list()]
        assert OPENAI.model in everything and ANTHROPIC.model in everything
        assert not any(m.startswith(("gemini/", "ollama/")) for m in everything)  # not set up
        assert [m.id async for m in sdk(app, BOB_KEY).models.list()] == [OPENAI.model]
        found = await sdk(app).models.retrieve(ANTHROPIC.model)
        assert found.id == ANTHROPIC.model and found.owned_by == "anthropic"
        with pytest.raises(openai.NotFoundError):
            await sdk(app, BOB_KEY).models.retrieve(ANTHROPIC.model)


async def test_model_not_allowed_for_the_key(loopback: Loopback) -> None:
    import openai

    async with gateway(loopback, [OPENAI, ANTHROPIC]) as (app, _):
        with pytest.raises(openai.PermissionDeniedError) as info:
            await sdk(app, BOB_KEY).chat.completions.create(model=ANTHROPIC.model, messages=HI)
        assert info.value.code == "model_not_allowed"
    assert not loopback.requests


async def test_completions_with_suffix(loopback: Loopback) -> None:
    replies = by_stream(OA("chat_text.json"), OPENAI.stream_reply(OA("stream_text.sse")))
    loopback.route("POST", OPENAI.chat_path, handler=replies)
    async with gateway(loopback, [OPENAI]) as (app, _):
        api = sdk(app)
        out = await api.completions.create(
            model=OPENAI.model, prompt="def add(a, b):\n    return ", suffix="\n\nprint(add(1, 2))"
        )
        assert out.object == "text_completion" and out.choices[0].text
        assert out.choices[0].finish_reason in ("stop", "length")
        sent = json.dumps(last_body(loopback))
        assert "def add(a, b)" in sent and "print(add(1, 2))" in sent
        stream = await api.completions.create(
            model=OPENAI.model, prompt="x = ", suffix="\n", stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].text for c in chunks if c.choices)
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


async def test_truncated_upstream_stream_ends_with_an_error_event(loopback: Loopback) -> None:
    import openai

    loopback.route("POST", OPENAI.stream_path, OPENAI.stream_reply(OA("stream_truncated.sse")))
    async with gateway(loopback, [OPENAI]) as (app, _):
        stream = await sdk(app).chat.completions.create(
            model=OPENAI.model, messages=HI, stream=True
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass


async def test_upstream_bodies_that_fail_as_a_stream_start(loopback: Loopback) -> None:
    import openai

    bad = b'{"error":{"message":"bad","type":"invalid_request_error","code":null}}'
    loopback.route("POST", OPENAI.stream_path, Reply(status=400, body=bad))
    async with gateway(loopback, [OPENAI]) as (app, _):
        with pytest.raises(openai.BadRequestError):
            await sdk(app).chat.completions.create(model=OPENAI.model, messages=HI, stream=True)


async def test_aliases_and_groups(loopback: Loopback, tmp_path: Any) -> None:
    toml = tmp_path / "llmswitch.toml"
    toml.write_text(
        '[aliases]\nfast = "openai/gpt-4o-mini"\n\n[models.smart]\nstrategy = "ordered"\n\n'
        '[[models.smart.deployments]]\nmodel = "anthropic/claude-sonnet-4-5"\npriority = 0\n\n'
        '[[models.smart.deployments]]\nmodel = "openai/gpt-4o-mini"\npriority = 1\n'
    )
    loopback.route("POST", OPENAI.chat_path, OA("chat_text.json"))
    loopback.route("POST", ANTHROPIC.chat_path, handler=strict(AN("text.json")))
    async with gateway(loopback, [OPENAI, ANTHROPIC], config=str(toml)) as (app, _):
        api = sdk(app)
        listed = [m.id async for m in api.models.list()]
        assert "fast" in listed and "smart" in listed
        out = await api.chat.completions.create(model="smart", messages=HI, seed=1)
        assert out.model == "smart" and loopback.requests[-1].path == ANTHROPIC.chat_path
        assert "seed" not in last_body(loopback)  # a group with a non-OpenAI deployment
        out = await api.chat.completions.create(model="fast", messages=HI, seed=1)
        assert out.model == "fast" and last_body(loopback)["seed"] == 1
