"""``response_format=`` a type: each provider gets the type's JSON schema in its native
form, and the answer comes back validated as ``resp.parsed`` (or a typed error that
names the field), in chats and streams, sync and async."""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from typing import Any

import pydantic
import pytest
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from llmswitch import AsyncClient, Client
from llmswitch.errors import ConfigurationError, LLMError, StructuredOutputError
from llmswitch.testing import FakeProvider
from tests.support.loopback import Loopback, Reply, ndjson_reply, sse_reply
from tests.support.upstreams import UPSTREAMS

HI = [{"role": "user", "content": "Tell me about Paris."}]


class Country(pydantic.BaseModel):
    name: str
    code: str


class City(pydantic.BaseModel):
    name: str
    population: int = pydantic.Field(gt=0, description="people living there")
    country: Country
    tags: list[str]
    nickname: str | None = None


PARIS = {
    "name": "Paris",
    "population": 2102650,
    "country": {"name": "France", "code": "FR"},
    "tags": ["capital", "river"],
    "nickname": None,
}
PARIS_CITY = City.model_validate(PARIS)


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Pet(TypedDict):
    name: str
    age: int


# --------------------------------------------------------------------------- replies


def openai_reply(text: str, finish: str = "stop") -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50},
        }
    ).encode()  # fmt: skip


def anthropic_reply(text: str) -> bytes:
    return json.dumps(
        {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 20, "output_tokens": 30},
        }
    ).encode()  # fmt: skip


def gemini_reply(text: str) -> bytes:
    return json.dumps(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 30,
                              "totalTokenCount": 50},
            "modelVersion": "gemini-2.5-flash",
        }
    ).encode()  # fmt: skip


def ollama_reply(text: str) -> bytes:
    return json.dumps(
        {
            "model": "llama3.2", "created_at": "2026-12-01T00:00:00Z",
            "message": {"role": "assistant", "content": text}, "done": True,
            "done_reason": "stop", "prompt_eval_count": 20, "eval_count": 30,
        }
    ).encode()  # fmt: skip


def bedrock_reply(text: str) -> bytes:
    return json.dumps(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 20, "outputTokens": 30, "totalTokens": 50},
            "metrics": {"latencyMs": 10},
        }
    ).encode()  # fmt: skip


REPLIES = {
    "openai": openai_reply, "anthropic": anthropic_reply, "gemini": gemini_reply,
    "ollama": ollama_reply, "bedrock": bedrock_reply,
}  # fmt: skip


def _sent_schema(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    """The schema as each provider's request carries it."""
    if provider == "openai":
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "City"
        assert fmt["json_schema"]["strict"] is True
        return fmt["json_schema"]["schema"]  # type: ignore[no-any-return]
    if provider == "anthropic":
        fmt = body["output_config"]["format"]
        assert fmt["type"] == "json_schema"
        return fmt["schema"]  # type: ignore[no-any-return]
    if provider == "gemini":
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        return config["responseJsonSchema"]  # type: ignore[no-any-return]
    if provider == "bedrock":
        fmt = body["outputConfig"]["textFormat"]
        assert fmt["type"] == "json_schema" and fmt["structure"]["jsonSchema"]["name"] == "City"
        return json.loads(fmt["structure"]["jsonSchema"]["schema"])  # type: ignore[no-any-return]
    return body["format"]  # type: ignore[no-any-return]


def _chat(loopback: Loopback, provider: str, text: str, **kw: Any) -> tuple[Any, dict[str, Any]]:
    up = UPSTREAMS[provider]
    loopback.route("POST", up.chat_path, REPLIES[provider](text))
    with up.client(loopback, max_retries=0) as client:
        resp = client.chat(up.model, HI, response_format=City, **kw)
    return resp, json.loads(loopback.requests[-1].body)


# --------------------------------------------------------------------------- per provider


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama", "bedrock"])
def test_the_answer_is_a_validated_instance(loopback: Loopback, provider: str) -> None:
    resp, _ = _chat(loopback, provider, json.dumps(PARIS))
    assert isinstance(resp.parsed, City) and resp.parsed == PARIS_CITY
    assert resp.text == json.dumps(PARIS)  # the raw answer stays as received
    assert resp.usage.output_tokens == 30


def test_openai_gets_a_strict_schema(loopback: Loopback) -> None:
    _, body = _chat(loopback, "openai", json.dumps(PARIS))
    schema = _sent_schema("openai", body)
    # Strict mode: no extra keys anywhere, every property required (an optional one
    # stays nullable), no null defaults.
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "population", "country", "tags", "nickname"]
    assert schema["properties"]["nickname"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}], "title": "Nickname"
    }  # fmt: skip
    country = schema["$defs"]["Country"]
    assert country["additionalProperties"] is False and country["required"] == ["name", "code"]
    assert schema["properties"]["country"] == {"$ref": "#/$defs/Country"}


def test_anthropic_and_bedrock_get_the_structured_output_subset(loopback: Loopback) -> None:
    for provider in ("anthropic", "bedrock"):
        _, body = _chat(loopback, provider, json.dumps(PARIS))
        schema = _sent_schema(provider, body)
        assert schema["additionalProperties"] is False
        assert schema["$defs"]["Country"]["additionalProperties"] is False
        population = schema["properties"]["population"]
        # exclusiveMinimum is refused there: it moves into the description (and the
        # client still enforces it when validating).
        assert "exclusiveMinimum" not in population
        assert population["description"] == "people living there\n\n{exclusiveMinimum: 0}"
        assert "default" not in schema["properties"]["nickname"]
        assert schema["required"] == ["name", "population", "country", "tags"]


def test_gemini_gets_the_response_json_schema_subset(loopback: Loopback) -> None:
    _, body = _chat(loopback, "gemini", json.dumps(PARIS))
    schema = _sent_schema("gemini", body)
    assert schema["propertyOrdering"] == ["name", "population", "country", "tags", "nickname"]
    population = schema["properties"]["population"]
    assert "exclusiveMinimum" not in population
    assert "exclusiveMinimum: 0" in population["description"]
    assert "default" not in schema["properties"]["nickname"]
    assert schema["$defs"]["Country"]["propertyOrdering"] == ["name", "code"]


def test_ollama_gets_the_schema_as_generated(loopback: Loopback) -> None:
    _, body = _chat(loopback, "ollama", json.dumps(PARIS))
    assert _sent_schema("ollama", body) == City.model_json_schema()


def test_a_dict_schema_is_sent_as_given(loopback: Loopback) -> None:
    up = UPSTREAMS["openai"]
    schema = {"type": "object", "properties": {"a": {"type": "integer", "default": None}}}
    loopback.route("POST", up.chat_path, openai_reply('{"a": 1}'))
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}}
    with up.client(loopback, max_retries=0) as client:
        resp = client.chat(up.model, HI, response_format=fmt)
    sent = json.loads(loopback.requests[0].body)["response_format"]["json_schema"]
    assert sent == {"name": "A", "schema": schema}  # no strict rewrite
    assert resp.parsed == {"a": 1}  # decoded, not validated


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("answer", "field", "says"),
    [
        ({**PARIS, "population": "many"}, "population", "valid integer"),
        ({**PARIS, "population": 0}, "population", "greater than 0"),
        ({**PARIS, "country": {"name": "France"}}, "country.code", "Field required"),
        ({**PARIS, "tags": ["capital", 3]}, "tags[1]", "valid string"),
    ],
)
def test_an_answer_that_does_not_validate_names_the_field(
    loopback: Loopback, answer: dict[str, Any], field: str, says: str
) -> None:
    text = json.dumps(answer)
    with pytest.raises(StructuredOutputError) as info:
        _chat(loopback, "openai", text)
    err = info.value
    assert isinstance(err, LLMError) and not err.retryable
    assert err.field == field and says in str(err)
    assert f"response_format=City: {field}:" in str(err)
    assert "openai/gpt-4o-mini" in str(err)
    # What was received is kept: the text and the billed response.
    assert err.text == text and err.response.usage.output_tokens == 30
    assert err.errors and err.errors[0]["loc"]


def test_an_answer_that_is_not_json(loopback: Loopback) -> None:
    with pytest.raises(StructuredOutputError, match="the answer is not JSON") as info:
        _chat(loopback, "anthropic", "Paris is the capital of France.")
    assert info.value.field is None and info.value.text.startswith("Paris is")


def test_an_answer_cut_at_max_tokens_says_so(loopback: Loopback) -> None:
    cut = json.dumps(PARIS)[:40]
    up = UPSTREAMS["openai"]
    loopback.route("POST", up.chat_path, openai_reply(cut, finish="length"))
    with up.client(loopback, max_retries=0) as client, pytest.raises(StructuredOutputError) as info:
        client.chat(up.model, HI, response_format=City, max_tokens=10)
    assert "cut short at max_tokens" in str(info.value)
    assert info.value.response.finish_reason == "length"


def test_json_fenced_in_markdown_is_accepted() -> None:
    fenced = "```json\n" + json.dumps(PARIS) + "\n```"
    fake = FakeProvider().reply(fenced).reply(fenced)
    with Client(providers=[fake], max_retries=0) as client:
        assert client.chat("fake/m", HI, response_format=City).parsed == PARIS_CITY
        assert client.chat("fake/m", HI, response_format="json").parsed == PARIS


def test_a_refusal_or_a_tool_call_has_no_parsed_value() -> None:
    fake = FakeProvider().reply(refusal="I can't help with that.")
    fake.reply(tool_calls=[{"name": "lookup", "arguments": {"city": "Paris"}}])
    tools = [{"name": "lookup", "parameters": {"type": "object"}}]
    with Client(providers=[fake], max_retries=0) as client:
        refused = client.chat("fake/m", HI, response_format=City)
        called = client.chat("fake/m", HI, response_format=City, tools=tools)
    assert refused.parsed is None and refused.refusal
    assert called.parsed is None and called.tool_calls[0].name == "lookup"


def test_parsed_for_the_other_formats() -> None:
    fake = FakeProvider().default_reply('{"a": [1, 2]}')
    with Client(providers=[fake], max_retries=0) as client:
        assert client.chat("fake/m", HI).parsed is None  # no format asked
        assert client.chat("fake/m", HI, response_format="text").parsed is None
        assert client.chat("fake/m", HI, response_format="json").parsed == {"a": [1, 2]}
        assert client.chat("fake/m", HI, response_format={"type": "json_object"}).parsed == {
            "a": [1, 2]
        }
    not_json = FakeProvider().default_reply("sure!")
    with Client(providers=[not_json], max_retries=0) as client:
        # JSON mode and dict schemas keep their old behaviour: nothing raised.
        resp = client.chat("fake/m", HI, response_format="json")
        assert resp.parsed is None and resp.text == "sure!"


# --------------------------------------------------------------------------- other types


def test_a_dataclass_and_a_typeddict() -> None:
    fake = FakeProvider().reply('{"x": 1, "y": 2}').reply('{"name": "Rex", "age": 3}')
    with Client(providers=[fake], max_retries=0) as client:
        point = client.chat("fake/m", HI, response_format=Point).parsed
        pet = client.chat("fake/m", HI, response_format=Pet).parsed
    assert point == Point(x=1, y=2)
    assert pet == {"name": "Rex", "age": 3}
    sent = [r.response_format for r in fake.requests]
    assert sent[0] is not None and sent[0].name == "Point" and sent[0].from_type
    assert sent[0].schema is not None and sent[0].schema["required"] == ["x", "y"]
    assert sent[1] is not None and sent[1].name == "Pet"
    with Client(providers=[FakeProvider().reply('{"name": "Rex"}')], max_retries=0) as client:
        with pytest.raises(StructuredOutputError) as info:
            client.chat("fake/m", HI, response_format=Pet)
    assert info.value.field == "age"


class Owner(typing.TypedDict):
    name: str


class Collar(typing.TypedDict, total=False):
    """A plain typing.TypedDict, which pydantic refuses as such before Python 3.12."""

    tag: typing.Required[str]
    owner: Owner
    bells: int


def test_a_typing_typeddict_works_as_the_typing_extensions_one() -> None:
    answers = FakeProvider().reply('{"tag": "rex-1", "owner": {"name": "Ann"}}').reply("{}")
    with Client(providers=[answers], max_retries=0) as client:
        collar = client.chat("fake/m", HI, response_format=Collar).parsed
        with pytest.raises(StructuredOutputError) as info:
            client.chat("fake/m", HI, response_format=Collar)
    assert collar == {"tag": "rex-1", "owner": {"name": "Ann"}}
    assert info.value.field == "tag"  # the one required key of a total=False TypedDict
    sent = answers.requests[0].response_format
    assert sent is not None and sent.name == "Collar" and sent.schema is not None
    assert sent.schema["required"] == ["tag"]
    assert set(sent.schema["properties"]) == {"tag", "owner", "bells"}


def test_a_dataclass_reaches_openai_as_strict(loopback: Loopback) -> None:
    up = UPSTREAMS["openai"]
    loopback.route("POST", up.chat_path, openai_reply('{"x": 1, "y": 2}'))
    with up.client(loopback, max_retries=0) as client:
        assert client.chat(up.model, HI, response_format=Point).parsed == Point(x=1, y=2)
    spec = json.loads(loopback.requests[0].body)["response_format"]["json_schema"]
    assert spec["name"] == "Point" and spec["strict"] is True
    assert spec["schema"]["additionalProperties"] is False


def test_without_pydantic_a_type_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class Fresh:  # not prepared before: its schema needs pydantic now
        a: int

    monkeypatch.setitem(sys.modules, "pydantic", None)  # import pydantic -> ImportError
    fake = FakeProvider().default_reply('{"a": 1}')
    with Client(providers=[fake], max_retries=0) as client:
        with pytest.raises(ConfigurationError, match="needs pydantic") as info:
            client.chat("fake/m", HI, response_format=Fresh)
    assert info.value.field == "response_format"
    assert fake.requests == []  # refused before anything was sent


def test_a_type_that_is_not_an_object_is_refused() -> None:
    class Unrelated:
        pass

    with Client(providers=[FakeProvider()], max_retries=0) as client:
        with pytest.raises(ConfigurationError) as info:
            client.chat("fake/m", HI, response_format=Unrelated)
    assert info.value.field == "response_format"


# --------------------------------------------------------------------------- streams


def _openai_sse(text: str) -> bytes:
    cut = len(text) // 2
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": text[:cut]}}]},
        {"choices": [{"index": 0, "delta": {"content": text[cut:]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    out = b""
    for c in chunks:
        c = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini", **c}
        out += b"data: " + json.dumps(c).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


def test_a_stream_validates_the_final_response(loopback: Loopback) -> None:
    up = UPSTREAMS["openai"]
    loopback.route("POST", up.stream_path, sse_reply(_openai_sse(json.dumps(PARIS))))
    with up.client(loopback, max_retries=0) as client:
        with client.stream(up.model, HI, response_format=City) as stream:
            pieces = list(stream.text_stream)
            final = stream.response
            assert stream.response is final  # validated once
    assert "".join(pieces) == json.dumps(PARIS)
    assert final.parsed == PARIS_CITY
    body = json.loads(loopback.requests[0].body)
    assert body["stream"] is True and body["response_format"]["json_schema"]["strict"] is True


def test_a_stream_whose_answer_does_not_validate(loopback: Loopback) -> None:
    up = UPSTREAMS["ollama"]
    bad = json.dumps({**PARIS, "country": "France"})
    lines = [
        {"model": "llama3.2", "message": {"role": "assistant", "content": bad}, "done": False},
        {"model": "llama3.2", "message": {"role": "assistant", "content": ""}, "done": True,
         "done_reason": "stop", "prompt_eval_count": 20, "eval_count": 30},
    ]  # fmt: skip
    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    loopback.route("POST", up.stream_path, ndjson_reply(data))
    with up.client(loopback, max_retries=0) as client:
        with client.stream(up.model, HI, response_format=City) as stream:
            events = list(stream)  # the events arrive as usual
            with pytest.raises(StructuredOutputError) as info:
                _ = stream.response
    assert events and info.value.field == "country"
    assert info.value.text == bad and info.value.response.usage.output_tokens == 30


async def test_async_chat_and_stream(loopback: Loopback) -> None:
    up = UPSTREAMS["openai"]
    loopback.route(
        "POST", up.chat_path,
        Reply(body=openai_reply(json.dumps(PARIS))),
        sse_reply(_openai_sse(json.dumps(PARIS))),
        sse_reply(_openai_sse('{"x": "one", "y": 2}')),
    )  # fmt: skip
    async with up.async_client(loopback, max_retries=0) as client:
        resp = await client.chat(up.model, HI, response_format=City)
        assert resp.parsed == PARIS_CITY
        async with client.stream(up.model, HI, response_format=City) as stream:
            final = await stream.get_response()
        assert final.parsed == PARIS_CITY and stream.response is final
        async with client.stream(up.model, HI, response_format=Point) as stream:
            with pytest.raises(StructuredOutputError) as info:
                await stream.get_response()
        assert info.value.field == "x"


async def test_async_fake_provider_stream() -> None:
    fake = FakeProvider().default_reply('{"name": "Rex", "age": 3}', chunk_size=4)
    async with AsyncClient(providers=[fake], max_retries=0) as client:
        async with client.stream("fake/m", HI, response_format=Pet) as stream:
            async for _ in stream:
                pass
            assert stream.response.parsed == {"name": "Rex", "age": 3}
