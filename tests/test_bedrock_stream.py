"""The ConverseStream parser on exact event-stream bytes: framing-independence (whole,
byte by byte, split at every position) and what each stream means to a user."""

from __future__ import annotations

import json

import pytest

from llmswitch.errors import (
    ContextLengthExceededError,
    InvalidRequestError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
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
from tests.support.bedrock import (
    FEED,
    accumulate,
    chat_request,
    event,
    exception,
    fixture,
    frame,
    run_stream,
)
from tests.support.streams import byte_by_byte, split_at, splits_in_two, texts

COMPLETE = fixture.names("*.bin", exclude=("throttled.bin", "model_stream_error.bin"))
REQUEST = chat_request()


def feed_all(data: bytes) -> list[object]:
    return list(FEED.parse([data]))


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize("name", COMPLETE)
def test_byte_by_byte_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole, final = run_stream([data])
    events, resp = run_stream(byte_by_byte(data))
    assert events == whole and resp == final


@pytest.mark.parametrize("name", COMPLETE)
def test_split_at_every_position_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole, final = run_stream([data])
    for i, pieces in splits_in_two(data):
        events, resp = run_stream(pieces)
        assert events == whole, f"split at byte {i}"
        assert resp == final


def test_split_inside_a_multibyte_character_keeps_the_character() -> None:
    data = fixture("text.bin")
    at = data.index("👋".encode()) + 2
    _, resp = run_stream(split_at(data, at))
    assert resp.text == "Grüße aus Zürich 👋 — naïve café 日本語."


# --------------------------------------------------------------------------- meaning


def test_text_stream() -> None:
    events, resp = run_stream([fixture("text.bin")])
    assert events[0] == StreamStart(None, None)
    assert texts(events) == [
        "Grüße aus Zürich 👋",
        " — naïve café ",
        "日本語.",
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop"
    assert end.raw_finish_reason == "end_turn"
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (
        25,
        14,
        39,
    )
    assert resp.model == REQUEST.model and resp.cost is not None  # priced via the catalog
    assert end.raw == {
        "stopReason": "end_turn",
        "usage": {"inputTokens": 25, "outputTokens": 14, "totalTokens": 39},
        "metrics": {"latencyMs": 512},
    }


def test_tool_use_with_fragmented_input() -> None:
    events, resp = run_stream([fixture("tool_use.bin")])
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(e.index, e.id, e.name) for e in starts] == [
        (1, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather"),
        (2, "tooluse_NoArgs01", "get_time"),
    ]
    fragments = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert fragments == '{"city": "Zürich", "units": ["c\\u00e9lsius", "°C"], "days": 3}'
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert ends[0].tool_call.arguments == {"city": "Zürich", "units": ["célsius", "°C"], "days": 3}
    assert ends[1].tool_call.arguments == {}  # a tool with no input deltas at all
    assert events.index(ends[1]) < len(events) - 1  # tool calls end before the stream
    assert resp.text == "Let me check the weather."
    assert (resp.finish_reason, resp.raw_finish_reason) == ("tool_calls", "tool_use")


def test_reasoning_with_signature_and_cache_usage_after_message_stop() -> None:
    events, resp = run_stream([fixture("reasoning.bin")])
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == [
        "The user wants 2+2. ",
        "Simple arithmetic — 4.",
    ]
    (end_block,) = [e for e in events if isinstance(e, ReasoningEnd)]
    assert end_block.block.signature == "EqoBCkgIARABGAIiQHx+c2lnbmF0dXJl=="
    (block,) = resp.reasoning_blocks
    assert block.text == "The user wants 2+2. Simple arithmetic — 4." == resp.reasoning
    assert block.signature == "EqoBCkgIARABGAIiQHx+c2lnbmF0dXJl=="
    assert resp.text == "2 + 2 = 4."
    # inputTokens (12) is uncached input only; ours includes cache reads and writes
    u = resp.usage
    assert (u.input_tokens, u.cached_input_tokens, u.cache_write_tokens) == (3860, 1800, 2048)
    assert (u.output_tokens, u.total_tokens) == (80, 3940)


def test_usage_arrives_only_after_message_stop() -> None:
    data = fixture("reasoning.bin")
    at = data.index(b"metadata") - 30  # inside the metadata frame's prelude/headers
    parser = FEED.parser()
    before = parser.feed(data[:at])
    assert not any(isinstance(e, StreamEnd) for e in before)  # messageStop alone: no end yet
    after = parser.feed(data[at:])
    assert isinstance(after[-1], StreamEnd) and after[-1].usage.total_tokens == 3940
    assert parser.close() == []


def test_stream_end_at_close_when_metadata_never_came() -> None:
    events, resp = run_stream([fixture("no_metadata.bin")])
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop"
    assert end.usage.input_tokens is None  # unknown, not zero
    assert resp.text == "ok"


def test_redacted_reasoning_keeps_its_place() -> None:
    _, resp = run_stream([fixture("redacted.bin")])
    first, second = resp.reasoning_blocks
    assert first.redacted_data == "EmwKAhgBEgxlbmNyeXB0ZWQgdGhpbmtpbmf//gE=" and first.text == ""
    assert (second.text, second.signature) == ("Now, openly: 2+2=4.", "ErUBCkYIAxgCIkDsig==")
    assert resp.reasoning == "Now, openly: 2+2=4." and resp.text == "4"


def test_throttling_exception_mid_stream_after_delivering_text() -> None:
    data = fixture("throttled.bin")
    cut = data.index(b"throttlingException") - 20
    parser = FEED.parser()
    before = parser.feed(data[:cut])
    assert texts(before) == ["Partial ans"]
    with pytest.raises(RateLimitError) as info:
        parser.feed(data[cut:])
    err = info.value
    assert err.retryable and err.code == "throttlingException"
    assert "Too many tokens" in str(err) and REQUEST.model in str(err)


def test_exception_in_the_same_read_as_text_is_raised_on_the_next_call() -> None:
    parser = FEED.parser()
    events = parser.feed(fixture("throttled.bin"))
    assert accumulate(events).text == "Partial ans"
    with pytest.raises(RateLimitError):
        parser.feed(b"")
    with pytest.raises(RateLimitError):
        parser.close()


def test_model_stream_error_is_retryable_and_keeps_the_original_message() -> None:
    parser = FEED.parser()
    parser.feed(fixture("model_stream_error.bin"))
    with pytest.raises(ProviderUnavailableError) as info:
        parser.close()
    assert "upstream reset" in str(info.value) and info.value.retryable


@pytest.mark.parametrize(
    ("kind", "message", "cls"),
    [
        ("serviceUnavailableException", "Service unavailable", ProviderUnavailableError),
        ("internalServerException", "Internal error", ProviderUnavailableError),
        ("validationException", "Malformed input request", InvalidRequestError),
        ("validationException", "Input is too long for requested model.", ContextLengthExceededError),
        ("somethingNewException", "new", ProviderUnavailableError),
    ],
)  # fmt: skip
def test_exception_frames_map_to_typed_errors(kind: str, message: str, cls: type) -> None:
    data = event("messageStart", {"role": "assistant"}) + exception(kind, {"message": message})
    with pytest.raises(cls) as info:
        feed_all(data)
    assert type(info.value) is cls and message in str(info.value)


def test_error_message_type_uses_its_headers() -> None:
    data = frame(
        {":message-type": "error", ":error-code": "ThrottlingException", ":error-message": "slow"},
        b"",
    )
    with pytest.raises(RateLimitError, match="slow"):
        feed_all(data)


def test_truncated_stream_ends_with_error_and_keeps_text() -> None:
    events, resp = run_stream([fixture("truncated.bin")])
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "error"
    assert resp.text == "Once upon a time" and resp.finish_reason == "error"


def test_tool_input_cut_by_max_tokens_is_not_malformed() -> None:
    events, resp = run_stream([fixture("max_tokens_tool.bin")])
    assert [type(e).__name__ for e in events if isinstance(e, ToolCallEnd)] == []
    assert resp.finish_reason == "length" and resp.tool_calls == ()


def test_bad_tool_input_with_a_normal_stop_is_malformed() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}},
        ),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{"}}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "tool_use"}),
    ]
    with pytest.raises(ProviderError, match="not a JSON object"):
        feed_all(b"".join(frames))


def test_server_tool_use_is_not_reported_as_a_call() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {
                "contentBlockIndex": 0,
                "start": {"toolUse": {"toolUseId": "s1", "name": "web", "type": "server_tool_use"}},
            },
        ),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{}"}}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "done"}}),
        event("messageStop", {"stopReason": "end_turn"}),
    ]
    events, resp = run_stream([b"".join(frames)])
    assert not any(isinstance(e, ToolCallStart | ToolCallDelta | ToolCallEnd) for e in events)
    assert resp.text == "done" and resp.finish_reason == "stop"


def test_unknown_events_and_delta_kinds_are_skipped() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event("somethingNew", {"x": 1}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"citation": {"title": "t"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "fine"}}),
        event("messageStop", {"stopReason": "some_future_reason"}),
        event("metadata", {"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}),
    ]
    _, resp = run_stream([b"".join(frames)])
    assert resp.text == "fine"
    assert (resp.finish_reason, resp.raw_finish_reason) == ("other", "some_future_reason")


def test_garbage_payload_is_a_provider_error_with_the_bytes() -> None:
    data = frame({":event-type": "contentBlockDelta", ":message-type": "event"}, b"{not json")
    with pytest.raises(ProviderError) as info:
        feed_all(data)
    assert info.value.body is not None and "{not json" in info.value.body


def test_corrupted_frame_is_a_provider_error() -> None:
    good = fixture("text.bin")
    bad = good[:40] + bytes([good[40] ^ 0xFF]) + good[41:]
    with pytest.raises(ProviderError, match="event-stream"):
        feed_all(bad)


def test_json_payload_padding_and_order_do_not_matter() -> None:
    payload = json.dumps({"p": "x" * 50, "delta": {"text": "a"}, "contentBlockIndex": 3}).encode()
    data = frame(
        {":message-type": "event", ":event-type": "contentBlockDelta", ":content-type": "json"},
        payload,
    )
    parser = FEED.parser()
    assert parser.feed(data) == [TextDelta(3, "a")]
