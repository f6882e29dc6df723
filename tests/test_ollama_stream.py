"""The Ollama NDJSON stream parser on exact provider bytes: framing-independence (whole,
byte by byte, split at every position) and what each stream means to a user; and
``chat()`` bodies agreeing with the stream of the same answer."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from llmswitch.errors import ContextLengthExceededError, ProviderError, ProviderUnavailableError
from llmswitch.events import (
    Event,
    ReasoningDelta,
    StreamEnd,
    StreamStart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.messages import ChatRequest, ChatResponse, Message
from llmswitch.providers.ollama import OllamaAdapter
from llmswitch.wire import HttpResponse
from tests.support.fixtures import Fixtures
from tests.support.streams import Feeder, byte_by_byte, split_at, splits_in_two, texts

fixture = Fixtures("ollama")
REQUEST = ChatRequest(
    provider="ollama", model="llama3.2", messages=(Message(role="user", content="hi"),)
)
COMPLETE = fixture.names("chat_*.ndjson", exclude=("chat_error.ndjson", "chat_truncated.ndjson"))
FEED = Feeder(OllamaAdapter, REQUEST, fixture)
parse, accumulate, streamed = FEED.parse, FEED.accumulate, FEED.streamed


def same_ids(events: list[Event]) -> list[Event]:
    """Ids Ollama did not send are random per parse: compare everything else."""
    out: list[Event] = []
    for e in events:
        if isinstance(e, ToolCallStart) and e.id.startswith("call_") and len(e.id) == 29:
            e = replace(e, id="<generated>")
        elif isinstance(e, ToolCallEnd) and len(e.tool_call.id) == 29:
            e = replace(e, tool_call=replace(e.tool_call, id="<generated>"))
        out.append(e)
    return out


def same_response_ids(resp: ChatResponse) -> ChatResponse:
    calls = tuple(replace(c, id="<generated>") if len(c.id) == 29 else c for c in resp.tool_calls)
    return replace(resp, tool_calls=calls)


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize("name", COMPLETE)
def test_byte_by_byte_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole = same_ids(parse([data]))
    assert same_ids(parse(byte_by_byte(data))) == whole


@pytest.mark.parametrize("name", COMPLETE)
def test_split_at_every_position_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole = same_ids(parse([data]))
    final = same_response_ids(accumulate(parse([data])))
    for i, pieces in splits_in_two(data):
        events = parse(pieces)
        assert same_ids(events) == whole, f"split at byte {i}"
        assert same_response_ids(accumulate(events)) == final


def test_fixtures_exercise_awkward_splits() -> None:
    # The split tests only prove something if the bytes hold multi-byte characters.
    data = fixture("chat_text.ndjson")
    assert any(b >= 0xF0 for b in data)  # a 4-byte character (emoji)
    assert "日本語".encode() in data  # 3-byte characters


def test_split_inside_a_multibyte_character_keeps_the_character() -> None:
    data = fixture("chat_text.ndjson")
    at = data.index("👋".encode()) + 2
    assert accumulate(parse(split_at(data, at))).text.startswith("Grüße aus Zürich 👋 — ")


# --------------------------------------------------------------------------- meaning


def test_text_stream() -> None:
    events = parse([fixture("chat_text.ndjson")])
    assert events[0] == StreamStart(None, "llama3.2")
    assert texts(events) == [
        "Grüße",
        " aus Zürich 👋",
        " — naïve café ",
        "日本語.\n",
        '1 < 2 & "ok"',  # Go's \u003c / \u0026 escapes decoded
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.finish_reason, end.raw_finish_reason) == ("stop", "stop")
    assert (end.usage.input_tokens, end.usage.output_tokens, end.usage.total_tokens) == (26, 6, 32)
    assert end.usage.cached_input_tokens is None and end.usage.reasoning_tokens is None
    assert end.raw["total_duration"] == 3244883583  # the done line, metrics and all


def test_thinking_comes_as_reasoning_deltas() -> None:
    events = parse([fixture("chat_thinking.ndjson")])
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == [
        "The user asks 17 times 23.",
        " 17 times 20 = 340, plus 17 times 3 = 51",
        " → 391.",
    ]
    resp = accumulate(events)
    assert resp.text == "17 times 23 = **391**"
    assert (
        resp.reasoning
        == "The user asks 17 times 23. 17 times 20 = 340, plus 17 times 3 = 51 → 391."
    )
    assert resp.reasoning_blocks[0].text == resp.reasoning
    assert resp.model == "qwen3:8b"


def test_whole_tool_calls_become_start_delta_end() -> None:
    events = parse([fixture("chat_tools.ndjson")])
    calls = [e for e in events if isinstance(e, ToolCallStart | ToolCallDelta | ToolCallEnd)]
    kinds = [(type(e).__name__, e.index) for e in calls]
    assert kinds == [
        ("ToolCallStart", 0), ("ToolCallDelta", 0), ("ToolCallEnd", 0),
        ("ToolCallStart", 1), ("ToolCallDelta", 1), ("ToolCallEnd", 1),
    ]  # fmt: skip
    first, second = (e for e in calls if isinstance(e, ToolCallEnd))
    assert first.tool_call.id == "call_k3p9x2ab"  # Ollama's own id is kept
    assert first.tool_call.arguments == {"city": "Zürich", "days": 3, "units": ["célsius", "°C"]}
    delta = calls[1]
    assert isinstance(delta, ToolCallDelta)
    assert json.loads(delta.arguments) == first.tool_call.arguments
    assert second.tool_call.name == "get_time" and second.tool_call.arguments == {}
    assert second.tool_call.id.startswith("call_")  # none sent: one is made up
    start = calls[3]
    assert isinstance(start, ToolCallStart) and start.id == second.tool_call.id
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.finish_reason, end.raw_finish_reason) == ("tool_calls", "stop")


def test_generated_call_ids_differ_between_answers() -> None:
    ids = {accumulate(parse([fixture("chat_tools.ndjson")])).tool_calls[1].id for _ in range(5)}
    assert len(ids) == 5  # agent frameworks may key tool results by id over a conversation


@pytest.mark.parametrize(
    ("name", "finish", "raw"),
    [("chat_length.ndjson", "length", "length"), ("chat_load.ndjson", "other", "load")],
)
def test_done_reasons(name: str, finish: str, raw: str) -> None:
    resp = accumulate(parse([fixture(name)]))
    assert (resp.finish_reason, resp.raw_finish_reason) == (finish, raw)


def test_load_only_answer_has_unknown_usage() -> None:
    resp = accumulate(parse([fixture("chat_load.ndjson")]))
    assert resp.usage.input_tokens is None and resp.usage.total_tokens is None
    assert resp.text == ""


def test_truncated_stream_ends_with_error_and_keeps_the_text() -> None:
    data = fixture("chat_truncated.ndjson")
    events = parse([data])
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "error"
    assert accumulate(events).text == "Once upon a time"
    # cut anywhere, a stream without its done line is never taken for a finished one
    # (cut before its first whole line, it is not an answer at all: issue 7 item 1)
    first = data.index(b"\n")
    for i in range(len(data)):
        if i < first:
            with pytest.raises(ProviderError, match="malformed"):
                parse([data[:i]])
        else:
            assert accumulate(parse([data[:i]])).finish_reason == "error"


def test_error_line_raises_after_the_good_events_of_the_same_read() -> None:
    parser = FEED.parser()
    events = parser.feed(fixture("chat_error.ndjson"))
    assert texts(events) == ["Partial", " ans"]
    with pytest.raises(ProviderUnavailableError) as info:
        parser.feed(b"")
    assert "an error was encountered while running the model" in str(info.value)
    assert info.value.retryable
    with pytest.raises(ProviderUnavailableError):
        parser.close()


def test_error_line_alone_raises_at_once_without_a_start_event() -> None:
    # Nothing reached the caller, so a retry layer may still retry the stream.
    parser = FEED.parser()
    with pytest.raises(ProviderUnavailableError):
        parser.feed(b'{"error":"model runner has unexpectedly stopped"}\n')


def test_overflow_error_line_is_a_context_length_error() -> None:
    parser = FEED.parser()
    with pytest.raises(ContextLengthExceededError):
        parser.feed(b'{"error":"the input length exceeds the context length"}\n')


def test_garbage_line_is_a_provider_error_with_the_bytes() -> None:
    parser = FEED.parser()
    with pytest.raises(ProviderError) as info:
        parser.feed(b"<html>502 Bad Gateway</html>\n")
    assert not isinstance(info.value, ProviderUnavailableError)
    assert info.value.body is not None and "502 Bad Gateway" in info.value.body


def test_lines_after_done_are_ignored() -> None:
    data = fixture("chat_length.ndjson") + b'{"message":{"role":"assistant","content":"late"}}\n'
    assert accumulate(parse([data])).text == "Once upon a time"


# --------------------------------------------------------------------------- chat() bodies


@pytest.mark.parametrize("stem", ["chat_text", "chat_thinking", "chat_tools"])
def test_chat_body_and_stream_agree(stem: str) -> None:
    body = OllamaAdapter().parse_response(REQUEST, HttpResponse(200, {}, fixture(f"{stem}.json")))
    streamed = accumulate(parse([fixture(f"{stem}.ndjson")]))
    assert same_response_ids(body) == same_response_ids(streamed)


def test_chat_body_with_an_error_inside_a_200() -> None:
    with pytest.raises(ProviderUnavailableError):
        OllamaAdapter().parse_response(
            REQUEST, HttpResponse(200, {}, b'{"error":"model runner has unexpectedly stopped"}')
        )


def test_chat_body_that_is_not_json() -> None:
    with pytest.raises(ProviderError, match="not valid JSON"):
        OllamaAdapter().parse_response(REQUEST, HttpResponse(200, {}, b"<html>"))
