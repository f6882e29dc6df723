"""The Anthropic Messages translators, unit by unit: request body -> library call
arguments, ChatResponse/events -> Message JSON and the SSE sequence, errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic._models import construct_type
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent

from llmswitch.events import (
    ReasoningDelta,
    ReasoningEnd,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.gateway import ErrorInfo, HttpError
from llmswitch.gateway.anthropic import ANTHROPIC_ERRORS
from llmswitch.gateway.anthropic._messages_in import parse_count_tokens, parse_messages
from llmswitch.gateway.anthropic._messages_out import message_json, sse_events
from llmswitch.gateway.anthropic._target import Target
from llmswitch.messages import (
    ChatResponse,
    ImagePart,
    Message,
    ReasoningBlock,
    ReasoningConfig,
    TextPart,
    ToolCall,
    ToolChoice,
    Usage,
)
from tests.support.claude_code import CLAUDE_CODE_HEADERS, USER_ID, claude_code_body

ANTHROPIC = Target(kinds=frozenset({"anthropic"}), max_output_tokens=64000, reasoning=True)
OPENAI = Target(kinds=frozenset({"openai"}), max_output_tokens=16384, reasoning=False)
GEMINI = Target(kinds=frozenset({"gemini"}), max_output_tokens=65536, reasoning=True)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _basic(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "anthropic/claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    body.update(changes)
    return body


def _error(body: Any, target: Target = OPENAI) -> HttpError:
    with pytest.raises(HttpError) as info:
        parse_messages(body, {}, target)
    assert info.value.status == 400
    return info.value


# --------------------------------------------------------------------------- inbound


def test_claude_code_body_to_an_anthropic_target_keeps_its_own_fields() -> None:
    call = parse_messages(claude_code_body(), CLAUDE_CODE_HEADERS, ANTHROPIC)
    kw = call.kwargs
    assert call.stream is True and call.model == "claude-sonnet-4-5"
    assert kw["max_tokens"] == 32000
    assert kw["user"] == USER_ID[:256]
    # Only the format's own headers go upstream; bookkeeping and session ids never.
    assert kw["extra_headers"] == {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": CLAUDE_CODE_HEADERS["anthropic-beta"],
    }
    assert kw["extra_body"] == {
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    }
    assert "reasoning" not in kw  # adaptive thinking goes as sent, not as a budget
    system, user, assistant, tool, reminder, last = kw["messages"]
    assert system == Message(
        role="system",
        content=(
            TextPart(text="You are Claude Code, Anthropic's official CLI for Claude."),
            TextPart(
                text="You are an interactive CLI tool that helps users with software tasks.",
                cache_control={"type": "ephemeral"},
            ),
        ),
    )
    assert user.content[1].cache_control == {"type": "ephemeral"}
    assert assistant.reasoning == (ReasoningBlock(text="I should run ls.", signature="EqQBsig=="),)
    assert assistant.tool_calls == (
        ToolCall(
            id="toolu_01A", name="Bash", arguments={"command": "ls src", "description": "List src"}
        ),
    )
    assert tool.role == "tool" and tool.tool_call_id == "toolu_01A"
    assert tool.content == (TextPart(text="llmswitch\n"),)
    assert tool.cache_control == {"type": "ephemeral"}
    # A system turn inside the conversation: a user turn, so the prefix stays cached.
    assert reminder == Message(
        role="user", content=(TextPart(text="The user switched to plan mode."),)
    )
    assert last == Message(role="user", content="Now summarise.")
    bash, read = kw["tools"]
    assert bash.parameters["required"] == ["command"]
    assert read.cache_control == {"type": "ephemeral"}
    assert kw["tool_choice"] == ToolChoice(mode="auto")


def test_claude_code_body_to_openai_drops_what_openai_lacks() -> None:
    call = parse_messages(claude_code_body("openai/gpt-4o-mini"), CLAUDE_CODE_HEADERS, OPENAI)
    kw = call.kwargs
    assert kw["max_tokens"] == 16384  # clamped to the model's output limit
    assert "extra_headers" not in kw and "extra_body" not in kw
    assert "reasoning" not in kw  # gpt-4o-mini does not reason: thinking dropped
    assert kw["user"] == USER_ID[:256]


def test_thinking_and_effort_become_reasoning_on_a_reasoning_model() -> None:
    kw = parse_messages(claude_code_body("gemini/gemini-2.5-flash"), {}, GEMINI).kwargs
    assert kw["reasoning"] == ReasoningConfig(effort="high")
    kw = parse_messages(
        _basic(thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=5000), {}, GEMINI
    ).kwargs
    assert kw["reasoning"] == ReasoningConfig(budget_tokens=2048)
    kw = parse_messages(_basic(thinking={"type": "adaptive"}), {}, GEMINI).kwargs
    assert kw["reasoning"] == ReasoningConfig(effort="medium")
    kw = parse_messages(_basic(thinking={"type": "disabled"}), {}, GEMINI).kwargs
    assert "reasoning" not in kw


def test_enabled_thinking_to_anthropic_is_a_budget() -> None:
    body = _basic(thinking={"type": "enabled", "budget_tokens": 2048, "display": "omitted"})
    kw = parse_messages(body, {}, ANTHROPIC).kwargs
    assert kw["reasoning"] == ReasoningConfig(budget_tokens=2048)
    assert kw["extra_body"] == {"thinking": {"display": "omitted"}}


def test_sampling_stop_and_anthropic_only_fields() -> None:
    body = _basic(temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["###"], service_tier="auto")
    kw = parse_messages(body, {"x-stainless-os": "Linux"}, ANTHROPIC).kwargs
    assert (kw["temperature"], kw["top_p"], kw["stop"]) == (0.2, 0.9, ["###"])
    assert kw["extra_body"] == {"top_k": 40, "service_tier": "auto"}
    assert "extra_headers" not in kw
    kw = parse_messages(body, {}, OPENAI).kwargs
    assert "extra_body" not in kw  # top_k and service_tier: no OpenAI equivalent


def test_images_tool_errors_documents_and_structured_output() -> None:
    body = _basic(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                    {"type": "document", "title": "notes",
                     "source": {"type": "text", "media_type": "text/plain", "data": "abc"}},
                ],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
                {"type": "text", "text": "and?"},
            ]},
        ],
        tools=[{"name": "f", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
    )  # fmt: skip
    kw = parse_messages(body, {}, OPENAI).kwargs
    user, _, result, tail = kw["messages"]
    assert user.content == (
        ImagePart(url=f"data:image/png;base64,{PNG}"),
        ImagePart(url="https://example.com/a.jpg"),
        TextPart(text="notes\n\nabc"),
    )
    assert result == Message(role="tool", tool_call_id="t1", content="Error: boom")
    assert tail == Message(role="user", content=(TextPart(text="and?"),))
    assert kw["tool_choice"] == ToolChoice(mode="required")
    assert kw["extra_body"] == {"parallel_tool_calls": False}
    assert kw["response_format"].schema == {"type": "object"}
    kw = parse_messages(body, {}, ANTHROPIC).kwargs
    assert kw["extra_body"] == {"tool_choice": {"disable_parallel_tool_use": True}}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": 3}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user"}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0.type"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                "data": "JVBERi0="}}]}]},
            "messages.1.content.0.source.type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": {
                "type": "base64", "media_type": "image/tiff", "data": "AAAA"}}]}]},
            "messages.0.content.0.source.media_type",
        ),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
        ({"tools": [{"name": "f"}]}, "tools.0.input_schema"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"tool_choice": {"type": "tool", "name": "f"}}, "tool_choice.type"),
        ({"thinking": {"type": "enabled", "budget_tokens": 10}}, "thinking.budget_tokens"),
        ({"output_config": {"effort": "extreme"}}, "output_config.effort"),
        ({"temperature": 1.5}, "temperature"),
        ({"stop_sequences": "###"}, "stop_sequences"),
        ({"stream": "yes"}, "stream"),
        ({"system": [{"type": "image"}]}, "system.0.type"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a",
                                                     "cache_control": {"type": "forever"}}]}]},
         "messages.0.content.0.cache_control.type"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(change: dict[str, Any], param: str) -> None:
    error = _error(_basic(**change))
    assert error.param == param
    assert str(error).startswith(param)


def test_server_tools_reach_an_anthropic_target_as_sent() -> None:
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"name": "f", "input_schema": {"type": "object"}},
    ]
    kw = parse_messages(_basic(tools=tools), {}, ANTHROPIC).kwargs
    assert [t.name for t in kw["tools"]] == ["f"]
    assert kw["extra_body"] == {"tools": tools}


def test_count_tokens_body_needs_no_max_tokens() -> None:
    call = parse_count_tokens(
        {"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "top_k": 3}, {}, ANTHROPIC
    )
    assert call.kwargs == {"messages": [Message(role="user", content="hi")]}


# --------------------------------------------------------------------------- outbound


def test_message_json_maps_blocks_stop_reason_and_usage() -> None:
    resp = ChatResponse(
        id="chatcmpl-1",
        model="gpt-4o",
        provider="openai",
        text="Checking.",
        reasoning="hmm",
        reasoning_blocks=(ReasoningBlock(text="hmm", signature="sig"), ReasoningBlock(redacted_data="xx")),
        tool_calls=(ToolCall(id="call_1", name="f", arguments={"a": 1}),),
        finish_reason="tool_calls",
        raw_finish_reason="tool_calls",
        usage=Usage(input_tokens=100, output_tokens=20, cached_input_tokens=60,
                    cache_write_tokens=10, reasoning_tokens=5),
    )  # fmt: skip
    out = message_json(resp, "openai/gpt-4o")
    assert out["id"].startswith("msg_") and out["model"] == "openai/gpt-4o"
    assert out["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xx"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]
    assert out["stop_reason"] == "tool_use"
    assert out["usage"] == {
        "input_tokens": 30,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 60,
        "output_tokens": 20,
        "output_tokens_details": {"thinking_tokens": 5},
    }


@pytest.mark.parametrize(
    ("finish", "raw", "expected"),
    [
        ("stop", "STOP", "end_turn"),
        ("length", "length", "max_tokens"),
        ("content_filter", "SAFETY", "refusal"),
        ("stop", "stop_sequence", "stop_sequence"),
        ("length", "model_context_window_exceeded", "model_context_window_exceeded"),
        ("other", "pause_turn", "pause_turn"),
    ],
)
def test_stop_reasons(finish: Any, raw: str, expected: str) -> None:
    resp = ChatResponse(id=None, model="m", provider="p", text="x", finish_reason=finish,
                        raw_finish_reason=raw, raw={"stop_sequence": "###"})  # fmt: skip
    out = message_json(resp, "m")
    assert out["stop_reason"] == expected
    assert out["stop_sequence"] == ("###" if expected == "stop_sequence" else None)
    assert out["usage"] == {"input_tokens": 0, "output_tokens": 0}  # nothing reported


async def _aiter(events: list[Any]) -> Any:
    for e in events:
        yield e


async def _sse(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    it = _aiter(events[1:])
    out = b"".join([chunk async for chunk in sse_events("alias", events[0], it)])
    frames = []
    for frame in out.decode().split("\n\n"):
        if frame:
            name_line, data_line = frame.split("\n")
            frames.append((name_line.removeprefix("event: "), orjson.loads(data_line[6:])))
    return frames


async def test_stream_events_become_the_exact_sse_sequence_the_sdk_accumulates() -> None:
    events = [
        StreamStart("msg_01abc", "claude"),
        ReasoningDelta(0, "Let me"),
        ReasoningEnd(0, ReasoningBlock(text="Let me", signature="EqQB")),
        TextDelta(1, "Check"),
        TextDelta(1, "ing."),
        ToolCallStart(0, "call_a", "f"),
        ToolCallStart(1, "call_b", "g"),
        ToolCallDelta(0, '{"a"'),
        ToolCallDelta(1, '{"b": 2}'),
        ToolCallDelta(0, ": 1}"),
        ToolCallEnd(0, ToolCall(id="call_a", name="f", arguments={"a": 1})),
        ToolCallEnd(1, ToolCall(id="call_b", name="g", arguments={"b": 2})),
        ToolCallEnd(2, ToolCall(id="call_c", name="h", arguments={"c": 3})),  # whole (Gemini)
        StreamEnd("tool_calls", Usage(input_tokens=50, output_tokens=7, cached_input_tokens=40),
                  "tool_use"),
    ]  # fmt: skip
    frames = await _sse(events)
    names = [n for n, _ in frames]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert all(n == d["type"] for n, d in frames)
    assert frames[0][1]["message"]["id"] == "msg_01abc"
    assert frames[0][1]["message"]["model"] == "alias"
    starts = [d["index"] for n, d in frames if n == "content_block_start"]
    stops = [d["index"] for n, d in frames if n == "content_block_stop"]
    assert starts == [0, 1, 2, 3, 4] and sorted(stops) == starts
    assert frames[-2][1]["usage"] == {
        "input_tokens": 10,
        "cache_read_input_tokens": 40,
        "output_tokens": 7,
    }
    snapshot = None
    bufs: dict[int, bytes] = {}
    for _, data in frames:
        event = construct_type(type_=RawMessageStreamEvent, value=data)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    kinds = [b.type for b in snapshot.content]
    assert kinds == ["thinking", "text", "tool_use", "tool_use", "tool_use"]
    assert snapshot.content[0].signature == "EqQB"  # type: ignore[union-attr]
    assert snapshot.content[1].text == "Checking."  # type: ignore[union-attr]
    assert [b.input for b in snapshot.content[2:]] == [{"a": 1}, {"b": 2}, {"c": 3}]  # type: ignore[union-attr]
    assert snapshot.stop_reason == "tool_use"
    assert snapshot.usage.input_tokens == 10 and snapshot.usage.cache_read_input_tokens == 40


async def test_redacted_thinking_and_an_empty_stream() -> None:
    frames = await _sse(
        [ReasoningEnd(0, ReasoningBlock(redacted_data="zz")), StreamEnd("stop", Usage())]
    )
    assert frames[1][1]["content_block"] == {"type": "redacted_thinking", "data": "zz"}
    assert frames[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert frames[-2][1]["usage"] == {"output_tokens": 0}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("info", "status", "kind"),
    [
        (ErrorInfo(400, "invalid_request", "bad"), 400, "invalid_request_error"),
        (ErrorInfo(401, "authentication", "invalid access key"), 401, "authentication_error"),
        (ErrorInfo(403, "permission", "no"), 403, "permission_error"),
        (ErrorInfo(404, "not_found", "no model"), 404, "not_found_error"),
        (ErrorInfo(429, "rate_limit", "slow down", retry_after=1.2), 429, "rate_limit_error"),
        (ErrorInfo(503, "overloaded", "busy"), 529, "overloaded_error"),
        (ErrorInfo(500, "server", "oops"), 500, "api_error"),
        (ErrorInfo(502, "upstream", "openai: bad gateway"), 502, "api_error"),
        (ErrorInfo(504, "timeout", "slow"), 504, "timeout_error"),
        (ErrorInfo(413, "invalid_request", "too big"), 413, "request_too_large"),
        (ErrorInfo(402, "budget", "budget exceeded"), 402, "billing_error"),
    ],
)
def test_error_shapes(info: ErrorInfo, status: int, kind: str) -> None:
    response = ANTHROPIC_ERRORS.render(info)
    assert response.status == status
    assert orjson.loads(response.body) == {
        "type": "error",
        "error": {"type": kind, "message": info.message},
    }
    if status == 429:
        assert ("retry-after", "2") in list(response.headers)
    event = ANTHROPIC_ERRORS.event(info)
    assert event.startswith(b"event: error\ndata: ") and event.endswith(b"\n\n")


def test_context_length_has_anthropics_wording() -> None:
    info = ErrorInfo(400, "context_length", "input is 300000 tokens, the model takes 200000")
    body = orjson.loads(ANTHROPIC_ERRORS.render(info).body)
    assert body["error"]["message"].startswith("prompt is too long: ")
    same = ErrorInfo(400, "context_length", "prompt is too long: 208656 tokens > 200000 maximum")
    assert orjson.loads(ANTHROPIC_ERRORS.render(same).body)["error"]["message"] == same.message


# --------------------------------------------------------------------------- targets


def test_targets_of_models_aliases_and_groups(tmp_path: Any) -> None:
    from llmswitch import AsyncClient
    from llmswitch.gateway.anthropic._target import target_of

    path = tmp_path / "llmswitch.toml"
    path.write_text(
        '[aliases]\nsmart = "anthropic/claude-sonnet-4-5"\n\n'
        '[models.claudes]\n[[models.claudes.deployments]]\nmodel = "anthropic/claude-sonnet-4-5"\n'
        '[[models.claudes.deployments]]\nmodel = "anthropic/claude-haiku-4-5"\n\n'
        '[models.mixed]\n[[models.mixed.deployments]]\nmodel = "anthropic/claude-sonnet-4-5"\n'
        '[[models.mixed.deployments]]\nmodel = "openai/gpt-4o-mini"\n',
        encoding="utf-8",
    )
    env = {"ANTHROPIC_API_KEY": "sk-ant-x", "OPENAI_API_KEY": "sk-x"}
    client = AsyncClient(config=str(path), env=env)
    assert target_of(client, "smart").anthropic
    assert target_of(client, "claudes").anthropic
    mixed = target_of(client, "mixed")  # Anthropic-only fields would reach OpenAI: not sent
    assert not mixed.anthropic and not mixed.openai
    gpt = target_of(client, "openai/gpt-4o-mini")
    assert gpt.openai and gpt.max_output_tokens == 16384 and gpt.reasoning is False
    assert target_of(client, "openai/gpt-4o-mini") is gpt  # cached for this configuration


def test_signed_ids_round_trip() -> None:
    from llmswitch.gateway.anthropic._ids import join_id, split_id

    joined = join_id("llmswitch_abc_0", "+vv8/f7/CiQ=")
    assert joined.startswith("llmswitch_abc_0__sig_")
    assert all(c.isalnum() or c in "_-" for c in joined)  # Anthropic's id alphabet
    assert split_id(joined) == ("llmswitch_abc_0", "+vv8/f7/CiQ=")
    assert join_id("toolu_1", None) == "toolu_1"
    assert split_id("toolu_1") == ("toolu_1", None)
    assert split_id("x__sig_%%%") == ("x__sig_%%%", None)


def test_a_system_turn_between_tool_calls_and_results_goes_after_the_results() -> None:
    body = _basic(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "system", "content": "Plan mode is on."},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "done"},
                {"type": "text", "text": "next?"},
            ]},
            {"role": "assistant", "content": "ok"},
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        ],
        tools=[{"name": "f", "input_schema": {"type": "object"}}],
    )  # fmt: skip
    messages = parse_messages(body, {}, OPENAI).kwargs["messages"]
    assert [m.role for m in messages] == ["user", "assistant", "tool", "user", "assistant", "user"]
    assert messages[3].content == (TextPart(text="Plan mode is on."), TextPart(text="next?"))
    assert messages[5].content == (TextPart(text="Be brief."),)
