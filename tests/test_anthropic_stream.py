"""The Anthropic stream parser on exact provider bytes: framing-independence (whole,
byte by byte, split at every position) and what each stream means to a user."""

from __future__ import annotations

import pytest

from llmswitch.errors import ProviderError, ProviderUnavailableError, RateLimitError
from llmswitch.events import (
    ReasoningEnd,
    StreamEnd,
    StreamStart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.anthropic import AnthropicAdapter
from tests.support.fixtures import Fixtures
from tests.support.streams import Feeder, byte_by_byte, split_at, splits_in_two, texts

fixture = Fixtures("anthropic")
REQUEST = ChatRequest(
    provider="anthropic",
    model="claude-sonnet-4-5",
    messages=(Message(role="user", content="hi"),),
)
COMPLETE_STREAMS = fixture.names("*.sse", exclude=("error_overloaded.sse",))
FEED = Feeder(AnthropicAdapter, REQUEST, fixture)
parse, accumulate, streamed = FEED.parse, FEED.accumulate, FEED.streamed


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize("name", COMPLETE_STREAMS)
def test_byte_by_byte_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole = parse([data])
    assert parse(byte_by_byte(data)) == whole
    assert accumulate(whole) == accumulate(parse(byte_by_byte(data)))


@pytest.mark.parametrize("name", COMPLETE_STREAMS)
def test_split_at_every_position_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole = parse([data])
    final = accumulate(whole)
    for i, pieces in splits_in_two(data):
        events = parse(pieces)
        assert events == whole, f"split at byte {i}"
        assert accumulate(events) == final


def test_fixtures_exercise_awkward_splits() -> None:
    # The split tests above only prove something if the bytes contain the hard cases.
    text = fixture("text_pings.sse")
    assert any(b >= 0xF0 for b in text)  # a 4-byte UTF-8 character (emoji) to cut through
    crlf = fixture("crlf.sse")
    assert b"\r\n" in crlf and b"\n\n" not in crlf


def test_split_inside_a_multibyte_character_keeps_the_character() -> None:
    data = fixture("text_pings.sse")
    emoji = "👋".encode()
    at = data.index(emoji) + 2  # between the 2nd and 3rd byte of the emoji
    events = parse(split_at(data, at))
    assert accumulate(events).text == "Grüße aus Zürich 👋 — naïve café 日本語."


# --------------------------------------------------------------------------- meaning


def test_text_stream_with_pings() -> None:
    events = parse([fixture("text_pings.sse")])
    assert events[0] == StreamStart("msg_01TextPings", "claude-sonnet-4-5-20250929")
    assert texts(events) == [
        "Grüße aus Zürich 👋",
        " — naïve café ",
        "日本語.",
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.finish_reason, end.raw_finish_reason) == ("stop", "end_turn")
    resp = accumulate(events)
    assert resp.id == "msg_01TextPings" and resp.model == "claude-sonnet-4-5-20250929"
    assert resp.usage.input_tokens == 25 and resp.usage.output_tokens == 14
    assert resp.usage.total_tokens == 39


def test_thinking_signature_text_and_fragmented_tool_json() -> None:
    events = parse([fixture("thinking_tool.sse")])
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(e.index, e.id, e.name) for e in starts] == [
        (2, "toolu_01A09q90qw90lq917835lq9", "get_weather"),
        (3, "toolu_02NoArgs", "get_time"),
    ]
    fragments = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert fragments == '{"city": "Zürich", "units": ["c\\u00e9lsius", "°C"], "days": 3}'
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert ends[0].tool_call.arguments == {"city": "Zürich", "units": ["célsius", "°C"], "days": 3}
    assert ends[1].tool_call.arguments == {}  # no input_json_delta at all
    # tool calls end before the stream does, in block order
    assert events.index(ends[0]) < events.index(ends[1]) < len(events) - 1

    resp = accumulate(events)
    assert resp.text == "Let me check the weather."
    assert (
        resp.reasoning
        == "The user wants the weather in Zürich. I should call get_weather — with °C."
    )
    assert len(resp.reasoning_blocks) == 1
    assert resp.reasoning_blocks[0].signature == "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w=="
    assert resp.reasoning_blocks[0].text == resp.reasoning
    assert (resp.finish_reason, resp.raw_finish_reason) == ("tool_calls", "tool_use")
    assert resp.usage.reasoning_tokens == 61 and resp.usage.output_tokens == 189


def test_redacted_thinking_arrives_whole_and_keeps_its_place() -> None:
    events = parse([fixture("redacted_thinking.sse")])
    redacted = [e for e in events if isinstance(e, ReasoningEnd) and e.block.redacted_data]
    assert len(redacted) == 1 and redacted[0].index == 0
    resp = accumulate(events)
    first, second = resp.reasoning_blocks
    assert first.redacted_data and first.redacted_data.startswith("EmwKAhgBEgy3va3p")
    assert second.text == "Now, openly: 2+2=4." and second.signature == "ErUBCkYIAxgCIkDsig=="
    assert resp.reasoning == "Now, openly: 2+2=4."  # redacted data is not text
    assert resp.text == "4"


def test_cache_usage_is_cumulative_and_includes_cached_input() -> None:
    resp = streamed("cache_usage.sse")
    # message_delta restated the cache read (0 at message_start, 1800 at the end): overwrite
    assert resp.usage.cached_input_tokens == 1800
    assert resp.usage.cache_write_tokens == 2048
    assert resp.usage.input_tokens == 12 + 2048 + 1800
    assert resp.usage.output_tokens == 5
    assert resp.usage.total_tokens == 12 + 2048 + 1800 + 5
    assert resp.cost is not None  # claude-haiku-4-5-20251001 priced via its family


def test_message_delta_without_input_keeps_message_start_counts() -> None:
    resp = streamed("context_window_exceeded.sse")
    assert resp.usage.input_tokens == 190000 + 9000
    assert resp.usage.cached_input_tokens == 9000
    assert resp.usage.output_tokens == 1000


def test_mid_stream_overload_raises_retryable_error_after_delivering_text() -> None:
    data = fixture("error_overloaded.sse")
    cut = data.index(b"event: error")
    parser = FEED.parser()
    before = parser.feed(data[:cut])
    assert texts(before) == ["Partial ans"]
    with pytest.raises(ProviderUnavailableError) as info:
        parser.feed(data[cut:])
    err = info.value
    assert err.retryable and err.code == "overloaded_error"
    assert "Overloaded" in str(err) and "anthropic/claude-sonnet-4-5" in str(err)


def test_mid_stream_error_of_another_type_maps_like_http() -> None:
    parser = FEED.parser()
    data = (
        b'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error",'
        b'"message":"Number of request tokens has exceeded your per-minute rate limit"}}\n\n'
    )
    with pytest.raises(RateLimitError):
        parser.feed(data)


def test_truncated_stream_ends_with_error_and_keeps_text() -> None:
    events = parse([fixture("truncated.sse")])
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "error"
    assert end.usage.input_tokens == 25  # what message_start said is still known
    resp = accumulate(events)
    assert resp.text == "Once upon a time" and resp.finish_reason == "error"


def test_crlf_stream() -> None:
    resp = streamed("crlf.sse")
    assert resp.text == "Line one\nline two — ✓"
    assert (resp.finish_reason, resp.raw_finish_reason) == ("stop", "stop_sequence")
    assert resp.raw["stop_sequence"] == "###"


def test_refusal_maps_to_content_filter_with_explanation() -> None:
    resp = streamed("refusal.sse")
    assert (resp.finish_reason, resp.raw_finish_reason) == ("content_filter", "refusal")
    assert resp.refusal == "This request could enable malware development."
    assert resp.text == "I can"


def test_pause_turn_skips_server_tools_and_citations() -> None:
    resp = streamed("pause_turn.sse")
    assert (resp.finish_reason, resp.raw_finish_reason) == ("other", "pause_turn")
    assert resp.tool_calls == ()  # server_tool_use ran on Anthropic's side; nothing to call
    assert resp.text == "Searching"


def test_context_window_exceeded_is_length() -> None:
    resp = streamed("context_window_exceeded.sse")
    assert (resp.finish_reason, resp.raw_finish_reason) == (
        "length",
        "model_context_window_exceeded",
    )


def test_tool_call_cut_by_max_tokens_is_dropped_not_an_error() -> None:
    events = parse([fixture("max_tokens_tool.sse")])
    assert not [e for e in events if isinstance(e, ToolCallEnd)]
    resp = accumulate(events)
    assert resp.finish_reason == "length" and resp.tool_calls == ()
    assert resp.text == "Writing it."


def test_unparseable_tool_json_without_truncation_is_a_provider_error() -> None:
    data = fixture("max_tokens_tool.sse").replace(b'"max_tokens"', b'"tool_use"')
    with pytest.raises(ProviderError) as info:
        parse([data])
    assert "not a JSON object" in str(info.value)
    assert info.value.body is not None and '"content": "lo' in info.value.body


def test_malformed_event_is_a_provider_error_with_the_bytes() -> None:
    parser = FEED.parser()
    with pytest.raises(ProviderError) as info:
        parser.feed(b"event: content_block_delta\ndata: {not json\n\n")
    assert info.value.body == "{not json"


def test_unknown_events_and_deltas_are_skipped() -> None:
    data = fixture("text_pings.sse")
    extra = (
        b'event: future_event\ndata: {"type":"future_event","x":1}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"future_delta","y":2}}\n\n'
    )
    cut = data.index(b"event: content_block_stop")
    assert parse([data[:cut] + extra + data[cut:]]) == parse([data])


def test_events_without_event_names_are_still_understood() -> None:
    # Some proxies drop the "event:" lines; the JSON "type" says the same thing.
    data = fixture("thinking_tool.sse")
    bare = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"event:"))
    assert parse([bare]) == parse([data])


def test_error_in_the_same_read_as_good_events_is_raised_after_them() -> None:
    # A socket read can hold both; the text must reach the caller before the error.
    parser = FEED.parser()
    events = parser.feed(fixture("error_overloaded.sse"))
    assert texts(events) == ["Partial ans"]
    with pytest.raises(ProviderUnavailableError):
        parser.close()
    with pytest.raises(ProviderUnavailableError):
        parser.feed(b"event: ping\ndata: {}\n\n")  # a failed parser stays failed
