"""The OpenAI routes' pure translators: request bodies in, JSON and SSE chunks out."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmswitch.errors import ConfigurationError
from llmswitch.events import (
    ReasoningDelta,
    RefusalDelta,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.fim import CodeCompletion
from llmswitch.gateway.openai._chat_in import Target, parse_chat
from llmswitch.gateway.openai._chat_out import ChunkWriter, completion_json, usage_json
from llmswitch.gateway.openai._other import (
    TextChunks,
    embeddings_json,
    parse_completion,
    parse_embeddings,
)
from llmswitch.gateway.openai._other import completion_json as text_completion_json
from llmswitch.messages import (
    ChatResponse,
    EmbeddingResponse,
    ImagePart,
    ReasoningBlock,
    ReasoningConfig,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoice,
    Usage,
)

OPENAI = Target(openai_format=True, max_output_tokens=16384)
OTHER = Target(openai_format=False, max_output_tokens=8192)
USER = [{"role": "user", "content": "Hi"}]


def parse(target: Target = OTHER, **body: Any) -> Any:
    body.setdefault("model", "openai/gpt-4o-mini")
    body.setdefault("messages", USER)
    return parse_chat(body, lambda model: target)


def bad(param: str, target: Target = OTHER, **body: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        parse(target, **body)
    assert info.value.field == param, info.value
    return info.value.message


# ------------------------------------------------------------------ requests


def test_every_field_maps_to_the_typed_arguments() -> None:
    call = parse(
        OPENAI,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
            ]},
            {"role": "assistant", "content": None, "reasoning_content": "hmm",
             "tool_calls": [{"id": "call_1", "type": "function",
                             "function": {"name": "look", "arguments": '{"q": 1}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
        tools=[{"type": "function", "function": {"name": "look", "description": "d",
               "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}},
               "strict": True}}],
        tool_choice={"type": "function", "function": {"name": "look"}},
        temperature=0.5, top_p=0.9, max_completion_tokens=100, stop="END",
        response_format={"type": "json_schema",
                         "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True}},
        reasoning_effort="high", user="u1", metadata={"k": "v"}, stream=True,
        stream_options={"include_usage": True}, seed=7, logit_bias={"1": 2},
        parallel_tool_calls=False, n=1,
    )  # fmt: skip
    assert call.stream and call.include_usage and call.model == "openai/gpt-4o-mini"
    o = call.options
    system, user, assistant, tool = o["messages"]
    assert system.role == "system" and system.content == "Be brief."
    assert user.content == (
        TextPart(text="What is this?"),
        ImagePart(url="https://x.test/a.png", detail="low"),
    )
    assert assistant.tool_calls == (ToolCall(id="call_1", name="look", arguments={"q": 1}),)
    assert assistant.reasoning == (ReasoningBlock(text="hmm"),)
    assert tool.tool_call_id == "call_1" and tool.content == "a cat"
    assert o["tools"][0].name == "look" and o["tools"][0].strict is True
    assert o["tool_choice"] == ToolChoice(mode="tool", name="look")
    assert (o["temperature"], o["top_p"], o["max_tokens"], o["stop"]) == (0.5, 0.9, 100, ["END"])
    assert o["response_format"] == ResponseFormat(
        type="json_schema", schema={"type": "object"}, name="out", strict=True
    )
    assert o["reasoning"] == ReasoningConfig(effort="high")
    assert (o["user"], o["metadata"]) == ("u1", {"k": "v"})
    assert o["extra_body"] == {"seed": 7, "logit_bias": {"1": 2}, "parallel_tool_calls": False}


def test_openai_only_fields_are_dropped_for_other_targets() -> None:
    call = parse(OTHER, seed=7, presence_penalty=0.1, frequency_penalty=0.2, logprobs=True)
    assert "extra_body" not in call.options


def test_max_tokens_is_clamped_to_the_model_limit() -> None:
    assert parse(OTHER, max_tokens=32000).options["max_tokens"] == 8192
    assert parse(Target(), max_tokens=32000).options["max_tokens"] == 32000
    assert "max_tokens" not in parse(OTHER).options


def test_reasoning_object_and_late_system_turn() -> None:
    call = parse(reasoning={"effort": "low", "max_tokens": 2048})
    assert call.options["reasoning"] == ReasoningConfig(effort="low", budget_tokens=2048)
    msgs = parse(messages=[*USER, {"role": "system", "content": "Now French."}]).options["messages"]
    assert [m.role for m in msgs] == ["user", "user"]


def test_signature_in_tool_call_id_round_trips() -> None:
    msgs = parse(messages=[
        *USER,
        {"role": "assistant", "tool_calls": [{"id": "call_9__thought__SIG=", "type": "function",
                                              "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_9__thought__SIG=", "content": "ok"},
    ]).options["messages"]  # fmt: skip
    assert msgs[1].tool_calls[0] == ToolCall(id="call_9", name="f", arguments={}, signature="SIG=")
    assert msgs[2].tool_call_id == "call_9"


@pytest.mark.parametrize(
    ("param", "body"),
    [
        ("model", {"model": ""}),
        ("messages", {"messages": []}),
        ("messages[0].role", {"messages": [{"role": "robot", "content": "x"}]}),
        ("messages[0].content", {"messages": [{"role": "user", "content": 5}]}),
        ("messages[0].content[0].type",
         {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
        ("messages[0].content[0].type",
         {"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]}),
        ("messages[0].content[0].image_url.url",
         {"messages": [{"role": "user", "content": [{"type": "image_url",
                                                     "image_url": {"url": "ftp://x"}}]}]}),
        ("messages[1].tool_calls[0].function.arguments",
         {"messages": [*USER, {"role": "assistant", "tool_calls": [
             {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{no"}}]}]}),
        ("messages[1].tool_call_id", {"messages": [*USER, {"role": "tool", "content": "x"}]}),
        ("tools[0].function.parameters",
         {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]}),
        ("tools[0].type", {"tools": [{"type": "custom", "custom": {}}]}),
        ("tool_choice", {"tool_choice": "required"}),
        ("tool_choice", {"tool_choice": {"type": "function", "function": {"name": "nope"}}}),
        ("temperature", {"temperature": 3}),
        ("top_p", {"top_p": "high"}),
        ("max_tokens", {"max_tokens": 0}),
        ("stop", {"stop": [1]}),
        ("n", {"n": 2}),
        ("response_format.type", {"response_format": {"type": "xml"}}),
        ("response_format.json_schema.name",
         {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}),
        ("reasoning_effort", {"reasoning_effort": "extreme"}),
        ("stream", {"stream": "yes"}),
        ("metadata", {"metadata": {"k": 1}}),
        ("functions", {"functions": [{"name": "f"}]}),
        ("modalities", {"modalities": ["text", "audio"]}),
    ],
)  # fmt: skip
def test_bad_input_names_the_param(param: str, body: dict[str, Any]) -> None:
    bad(param, **body)


# ------------------------------------------------------------------ responses


def test_completion_json_shape_and_usage() -> None:
    usage = Usage(input_tokens=120, output_tokens=30, total_tokens=150, cached_input_tokens=100,
                  cache_write_tokens=10, reasoning_tokens=20)  # fmt: skip
    resp = ChatResponse(
        id="msg_1", model="claude", provider="anthropic", text="", finish_reason="tool_calls",
        tool_calls=(ToolCall(id="t1", name="f", arguments={"a": 1}, signature="S"),),
        reasoning="thought", usage=usage,
    )  # fmt: skip
    out = completion_json(resp, "anthropic/claude-sonnet-4-5", 1700000000)
    assert out["id"] == "chatcmpl-msg_1" and out["object"] == "chat.completion"
    assert out["model"] == "anthropic/claude-sonnet-4-5" and out["created"] == 1700000000
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None and message["reasoning_content"] == "thought"
    assert message["tool_calls"] == [{"id": "t1__thought__S", "type": "function",
                                      "function": {"name": "f", "arguments": '{"a":1}'}}]  # fmt: skip
    assert out["usage"] == {
        "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }  # fmt: skip


def test_unknown_usage_is_never_guessed() -> None:
    assert usage_json(Usage()) is None
    assert usage_json(Usage(input_tokens=5)) == {
        "prompt_tokens": 5,
        "completion_tokens": None,
        "total_tokens": None,
    }
    for reason, mapped in (("other", "stop"), ("content_filter", "content_filter"),
                           ("length", "length")):  # fmt: skip
        resp = ChatResponse(id=None, model="m", provider="p", text="x", finish_reason=reason)
        out = completion_json(resp, "m", 1)
        assert out["choices"][0]["finish_reason"] == mapped and "usage" not in out
        assert out["id"].startswith("chatcmpl-")


def _chunks(raw: bytes) -> list[Any]:
    lines = [line for line in raw.decode().split("\n\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    return [line[6:] if line == "data: [DONE]" else json.loads(line[6:]) for line in lines]


def test_stream_chunks_as_openai_sends_them() -> None:
    w = ChunkWriter("chatcmpl-1", "m", 5, include_usage=True)
    raw = w.first()
    for event in (
        ReasoningDelta(0, "think"),
        TextDelta(1, "Hel"),
        TextDelta(1, "lo"),
        ToolCallStart(3, "call_a", "f"),
        ToolCallDelta(3, '{"x":'),
        ToolCallStart(4, "call_b", "g"),
        ToolCallDelta(3, "1}"),
        ToolCallDelta(4, "{}"),
        ToolCallEnd(3, ToolCall(id="call_a", name="f", arguments={"x": 1})),
        RefusalDelta(0, "no"),
        StreamEnd("tool_calls", Usage(input_tokens=3, output_tokens=4)),
    ):
        raw += w.feed(event)
    chunks = _chunks(raw)
    assert chunks[-1] == "[DONE]"
    usage = chunks[-2]
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] == 3
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1"
               for c in chunks[:-1])  # fmt: skip
    deltas = [c["choices"][0]["delta"] for c in chunks[:-2]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"reasoning_content": "think"}
    assert deltas[2:4] == [{"content": "Hel"}, {"content": "lo"}]
    assert deltas[4] == {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                         "function": {"name": "f", "arguments": ""}}]}  # fmt: skip
    assert deltas[5] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}
    assert deltas[6]["tool_calls"][0]["index"] == 1
    assert deltas[7] == {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}
    assert deltas[8] == {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}
    assert deltas[9] == {"refusal": "no"}
    assert chunks[-3]["choices"][0]["finish_reason"] == "tool_calls" and deltas[10] == {}
    assert all(c["usage"] is None for c in chunks[:-2])
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-3]] == [None] * 10


def test_tool_call_without_fragments_gets_its_arguments_at_the_end() -> None:
    w = ChunkWriter("chatcmpl-3", "m", 5, include_usage=False)
    raw = w.feed(ToolCallStart(2, "c1", "f"))
    raw += w.feed(ToolCallEnd(2, ToolCall(id="c1", name="f", arguments={"a": [1]})))
    raw += w.feed(ToolCallStart(5, "c2", "g")) + w.feed(ToolCallDelta(5, "{}"))
    raw += w.feed(ToolCallEnd(5, ToolCall(id="c2", name="g", arguments={})))
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in _chunks(raw)]
    assert deltas[1] == {"index": 0, "function": {"arguments": '{"a":[1]}'}}
    assert deltas[2]["index"] == 1 and deltas[3] == {"index": 1, "function": {"arguments": "{}"}}
    assert len(deltas) == 4


def test_stream_without_usage_and_held_tool_calls() -> None:
    w = ChunkWriter("chatcmpl-2", "m", 5, include_usage=False, hold_tool_calls=True)
    raw = w.feed(ToolCallStart(0, "gem_1", "f")) + w.feed(ToolCallDelta(0, "{}"))
    assert raw == b""
    raw += w.feed(ToolCallEnd(0, ToolCall(id="gem_1", name="f", arguments={}, signature="SIG")))
    raw += w.feed(StreamEnd("tool_calls", Usage()))
    chunks = _chunks(raw)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "tool_calls": [
        {"index": 0, "id": "gem_1__thought__SIG", "type": "function",
         "function": {"name": "f", "arguments": "{}"}}]}  # fmt: skip
    assert "usage" not in chunks[0] and chunks[-1] == "[DONE]" and len(chunks) == 3


# ------------------------------------------------------------------ embeddings, completions


def test_embeddings_parse_and_shape() -> None:
    call = parse_embeddings({"model": "m", "input": "a", "dimensions": 8, "user": "u",
                             "encoding_format": "base64"})  # fmt: skip
    assert call.inputs == ["a"] and call.base64 and call.options == {"dimensions": 8, "user": "u"}
    resp = EmbeddingResponse(vectors=[[0.5, -1.0]], usage=Usage(input_tokens=2), model="x")
    out = embeddings_json(resp, "m", as_base64=True)
    assert struct.unpack("<2f", base64.b64decode(out["data"][0]["embedding"])) == (0.5, -1.0)
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2} and out["object"] == "list"
    assert embeddings_json(resp, "m", as_base64=False)["data"][0]["embedding"] == [0.5, -1.0]
    for body, param in (({"model": "m", "input": [[1, 2]]}, "input"),
                        ({"model": "m", "input": [1, 2]}, "input"),
                        ({"model": "m", "input": []}, "input"),
                        ({"model": "m", "input": "a", "encoding_format": "int8"}, "encoding_format"),
                        ({"model": "m", "input": "a", "dimensions": -1}, "dimensions")):  # fmt: skip
        with pytest.raises(ConfigurationError) as info:
            parse_embeddings(body)
        assert info.value.field == param


def test_completions_parse_and_shape() -> None:
    call = parse_completion({"model": "m", "prompt": ["def f("], "suffix": "\n", "max_tokens": 9,
                             "stop": "\n\n", "stream": True,
                             "stream_options": {"include_usage": True}})  # fmt: skip
    assert (call.prefix, call.suffix, call.stream, call.include_usage) == (
        "def f(",
        "\n",
        True,
        True,
    )
    assert call.options == {"max_tokens": 9, "stop": ["\n\n"]}
    done = CodeCompletion(text="x)", finish_reason="length", usage=Usage(input_tokens=1,
                          output_tokens=2), cost=None, model="m", provider="p", method="native")  # fmt: skip
    out = text_completion_json(done, "cmpl-1", "m", 3)
    assert out["choices"][0] == {"text": "x)", "index": 0, "logprobs": None,
                                 "finish_reason": "length"}  # fmt: skip
    t = TextChunks("cmpl-1", "m", 3, include_usage=True)
    chunks = _chunks(t.text("x") + t.end(done))
    assert (
        chunks[0]["choices"][0]["text"] == "x"
        and chunks[1]["choices"][0]["finish_reason"] == "length"
    )
    assert chunks[2]["usage"]["completion_tokens"] == 2 and chunks[3] == "[DONE]"
    for body, param in (({"model": "m", "prompt": [1, 2]}, "prompt"),
                        ({"model": "m", "prompt": "a", "n": 3}, "n"),
                        ({"model": "m", "prompt": "a", "echo": True}, "echo"),
                        ({"model": "m", "prompt": "a", "suffix": 1}, "suffix")):  # fmt: skip
        with pytest.raises(ConfigurationError) as info:
            parse_completion(body)
        assert info.value.field == param


# ---------------------------------------------------------------- plain-body fast path

_TEXT = st.text(min_size=1, max_size=20)
_TURN = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]), "content": _TEXT}),
    st.fixed_dictionaries({"role": st.just("user"), "content": _TEXT, "name": _TEXT}),
    st.fixed_dictionaries(
        {"role": st.just("user"), "content": st.lists(
            st.fixed_dictionaries({"type": st.just("text"), "text": _TEXT}), min_size=1,
            max_size=2)}
    ),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": _TEXT}),
)  # fmt: skip


@given(
    messages=st.lists(_TURN, min_size=1, max_size=4),
    max_tokens=st.one_of(st.none(), st.integers(1, 10_000)),
    stream=st.one_of(st.none(), st.booleans()),
    limit=st.one_of(st.none(), st.integers(1, 5_000)),
)
def test_a_plain_body_parses_as_the_general_path_does(
    messages: list[dict[str, Any]], max_tokens: int | None, stream: bool | None,
    limit: int | None,
) -> None:  # fmt: skip
    """The body with only model/messages/max_tokens/stream takes a shorter path; adding
    an optional field set to null (which forces the general path) changes nothing."""
    body: dict[str, Any] = {"model": "openai/gpt-4o-mini", "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream is not None:
        body["stream"] = stream
    target = Target(openai_format=True, max_output_tokens=limit)
    plain = parse_chat(body, lambda _: target)
    general = parse_chat({**body, "user": None, "temperature": None}, lambda _: target)
    assert plain == general
