"""The Gemini stream parser on exact provider bytes: framing-independence (whole, byte by
byte, split at every position) and what each stream means to a user."""

from __future__ import annotations

import pytest

from llmswitch.errors import (
    ContentFilterError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.events import (
    ReasoningDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.gemini import SYNTHETIC_ID_PREFIX, GeminiAdapter
from tests.support.fixtures import Fixtures
from tests.support.streams import Feeder, byte_by_byte, split_at, splits_in_two, texts

fixture = Fixtures("gemini")
REQUEST = ChatRequest(
    provider="gemini", model="gemini-2.5-flash", messages=(Message(role="user", content="hi"),)
)
RAISING = ("blocked_prompt.sse", "error_midstream.sse", "error_raw_lines.sse")
COMPLETE_STREAMS = fixture.names("*.sse", exclude=RAISING)
FEED = Feeder(GeminiAdapter, REQUEST, fixture)
parse, accumulate, streamed = FEED.parse, FEED.accumulate, FEED.streamed


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize("name", COMPLETE_STREAMS)
def test_byte_by_byte_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole = parse([data])
    assert parse(byte_by_byte(data)) == whole


@pytest.mark.parametrize("name", COMPLETE_STREAMS)
def test_split_at_every_position_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole = parse([data])
    final = accumulate(whole)
    for i, pieces in splits_in_two(data):
        events = parse(pieces)
        assert events == whole, f"split at byte {i}"
        assert accumulate(events) == final


@pytest.mark.parametrize("name", ["error_midstream.sse", "error_raw_lines.sse"])
def test_mid_stream_errors_raise_wherever_the_bytes_are_split(name: str) -> None:
    data = fixture(name)
    for i in range(0, len(data) + 1, 7):
        parser = FEED.parser()
        texts: list[str] = []
        with pytest.raises(ProviderError):
            for part in (data[:i], data[i:]):
                texts += [e.text for e in parser.feed(part) if isinstance(e, TextDelta)]
            parser.close()
        assert texts == ["Partial ans"], f"split at byte {i}"


def test_fixtures_exercise_awkward_splits() -> None:
    # The split tests above only prove something if the bytes contain the hard cases.
    text = fixture("text.sse")
    assert any(b >= 0xF0 for b in text)  # a 4-byte UTF-8 character (emoji) to cut through
    crlf = fixture("crlf.sse")
    assert b"\r\n" in crlf and b"\n\n" not in crlf and b"\r\n: keep-alive" in crlf


def test_split_inside_a_multibyte_character_keeps_the_character() -> None:
    data = fixture("text.sse")
    at = data.index("👋".encode()) + 2  # between the 2nd and 3rd byte of the emoji
    assert accumulate(parse(split_at(data, at))).text == "Grüße aus Zürich 👋 — naïve café 日本語."


# --------------------------------------------------------------------------- meaning


def test_text_stream() -> None:
    events = parse([fixture("text.sse")])
    assert events[0] == StreamStart("resp-Text01", "gemini-2.5-flash")
    assert texts(events) == [
        "Grüße aus Zürich 👋",
        " — naïve café ",
        "日本語.",
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.finish_reason, end.raw_finish_reason) == ("stop", "STOP")
    resp = accumulate(events)
    assert resp.id == "resp-Text01" and resp.model == "gemini-2.5-flash"
    # the last usageMetadata wins: earlier chunks had only the prompt count
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (
        9,
        14,
        23,
    )
    assert resp.cost == pytest.approx((9 * 0.3 + 14 * 2.5) / 1e6)


def test_thinking_then_text_then_signed_function_call() -> None:
    events = parse([fixture("thinking_tool.sse")])
    thoughts = [e for e in events if isinstance(e, ReasoningDelta)]
    texts = [e for e in events if isinstance(e, TextDelta)]
    # consecutive thought parts are one block; the text after them another
    assert {e.index for e in thoughts} == {0} and {e.index for e in texts} == {1}
    start = next(e for e in events if isinstance(e, ToolCallStart))
    delta = next(e for e in events if isinstance(e, ToolCallDelta))
    end = next(e for e in events if isinstance(e, ToolCallEnd))
    assert start.index == delta.index == end.index == 2
    assert start.id.startswith(SYNTHETIC_ID_PREFIX) and start.name == "get_weather"
    assert delta.arguments == '{"city":"Zürich","units":["célsius","°C"],"days":3}'
    call = end.tool_call
    assert call.id == start.id
    assert call.arguments == {"city": "Zürich", "units": ["célsius", "°C"], "days": 3}
    assert call.signature == "+vv8/f7/CiQBdGhvdWdodC1zaWduYXR1cmX7//4="

    resp = accumulate(events)
    assert resp.text == "Let me check the weather."
    assert resp.reasoning == (
        "**Checking the weather**\nThe user wants Zürich's weather — I should call "
        "get_weather with °C."
    )
    assert [b.text for b in resp.reasoning_blocks] == [resp.reasoning]
    # no tool finish reason on Gemini: STOP with a function call is a tool-call stop
    assert (resp.finish_reason, resp.raw_finish_reason) == ("tool_calls", "STOP")
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "tool_calls"
    assert resp.usage.output_tokens == 25 + 61 and resp.usage.reasoning_tokens == 61
    assert resp.usage.total_tokens == 158


def test_parallel_calls_keep_gemini_ids_order_and_the_first_signature() -> None:
    resp = streamed("parallel_tools.sse")
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [
        ("fc_a1b2", "get_weather", {"city": "Paris"}),
        ("fc_c3d4", "get_weather", {"city": "Tokyo"}),
        ("fc_e5f6", "get_time", {}),
    ]
    assert [c.signature for c in resp.tool_calls] == [
        "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w==",
        None,
        None,
    ]
    assert resp.finish_reason == "tool_calls" and resp.model == "gemini-3-pro-preview"
    assert resp.usage.cached_input_tokens == 64 and resp.usage.input_tokens == 120


def test_synthesized_ids_are_stable_for_the_same_bytes_and_distinct_per_call() -> None:
    two_calls = (
        b'data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "a","args": {}}},'
        b'{"functionCall": {"name": "b","args": {}}}]},"finishReason": "STOP"}],'
        b'"responseId": "resp/X 1"}\n\n'
    )
    first, second = accumulate(parse([two_calls])), accumulate(parse([two_calls]))
    assert first.tool_calls == second.tool_calls  # same bytes, same ids
    ids = [c.id for c in first.tool_calls]
    assert ids == [f"{SYNTHETIC_ID_PREFIX}resp_X_1_0", f"{SYNTHETIC_ID_PREFIX}resp_X_1_1"]
    # without a response id they are still unique, per call and per response
    anonymous = two_calls.replace(b',"responseId": "resp/X 1"', b"")
    a, b = accumulate(parse([anonymous])), accumulate(parse([anonymous]))
    assert len({c.id for c in a.tool_calls} | {c.id for c in b.tool_calls}) == 4


def test_blocked_prompt_raises_content_filter_error() -> None:
    parser = FEED.parser()
    with pytest.raises(ContentFilterError) as info:
        parser.feed(fixture("blocked_prompt.sse"))  # raised at once: no StreamStart first
    assert info.value.code == "PROHIBITED_CONTENT"
    assert "gemini/gemini-2.5-flash" in str(info.value)


def test_safety_stop_is_content_filter_and_keeps_the_text() -> None:
    resp = streamed("safety.sse")
    assert (resp.finish_reason, resp.raw_finish_reason) == ("content_filter", "SAFETY")
    assert resp.text == "Here is how to"
    assert resp.raw["candidates"][0]["safetyRatings"][0]["blocked"] is True


def test_max_tokens_is_length() -> None:
    resp = streamed("max_tokens.sse")
    assert (resp.finish_reason, resp.raw_finish_reason) == ("length", "MAX_TOKENS")
    assert resp.text == "Once upon a time, in a land"
    assert resp.reasoning == "Planning a long story"


def test_mid_stream_error_payload_raises_after_delivering_text() -> None:
    data = fixture("error_midstream.sse")
    cut = data.index(b'data: {"error"')
    parser = FEED.parser()
    before = parser.feed(data[:cut])
    assert texts(before) == ["Partial ans"]
    with pytest.raises(ProviderUnavailableError) as info:
        parser.feed(data[cut:])
    err = info.value
    assert err.retryable and err.code == "UNAVAILABLE"
    assert "The model is overloaded" in str(err) and "gemini/gemini-2.5-flash" in str(err)


def test_mid_stream_error_as_raw_json_lines_maps_with_retry_delay() -> None:
    # The official SDK buffers non-"data:" lines until their braces balance: an error
    # can arrive as pretty-printed JSON after the 200.
    parser = FEED.parser()
    events = parser.feed(fixture("error_raw_lines.sse"))
    assert texts(events) == ["Partial ans"]
    with pytest.raises(RateLimitError) as info:
        parser.close()
    assert info.value.retry_after == 1.5 and info.value.code == "RESOURCE_EXHAUSTED"
    with pytest.raises(RateLimitError):
        parser.feed(b"data: {}\n\n")  # a failed parser stays failed


def test_truncated_stream_ends_with_error_and_keeps_text_and_usage() -> None:
    events = parse([fixture("truncated.sse")])
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "error"
    assert end.raw_finish_reason is None
    resp = accumulate(events)
    assert resp.text == "Once upon a time" and resp.finish_reason == "error"
    assert resp.usage.input_tokens == 7 and resp.usage.output_tokens == 3


def test_error_as_the_first_chunk_raises_at_once() -> None:
    parser = FEED.parser()
    with pytest.raises(ProviderUnavailableError):
        parser.feed(
            b'data: {"error": {"code": 500, "message": "Internal", "status": "INTERNAL"}}\n\n'
        )


def test_error_without_code_or_status_counts_as_the_service_failing() -> None:
    parser = FEED.parser()
    with pytest.raises(ProviderUnavailableError, match="stream failed: boom"):
        parser.feed(b'data: {"error": {"message": "boom"}}\n\n')


def test_empty_stream_is_a_malformed_response() -> None:
    # issue 7 item 1: an empty 200 is not an empty answer
    with pytest.raises(ProviderError, match="got an empty body"):
        parse([b""])


def test_crlf_keepalive_and_multiline_data() -> None:
    resp = streamed("crlf.sse")
    assert resp.text == "Line one\nline two — ✓"
    assert (resp.finish_reason, resp.usage.total_tokens) == ("stop", 11)


def test_last_event_without_blank_line_still_counts() -> None:
    data = fixture("text.sse").rstrip(b"\n")
    resp = accumulate(parse([data]))
    assert resp.finish_reason == "stop" and resp.text.endswith("日本語.")


def test_usage_only_chunk_after_finish_replaces_usage() -> None:
    data = fixture("text.sse") + (
        b'data: {"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 15,'
        b'"totalTokenCount": 24},"responseId": "resp-Text01"}\n\n'
    )
    resp = accumulate(parse([data]))
    assert resp.usage.output_tokens == 15 and resp.finish_reason == "stop"


def test_malformed_chunk_is_a_provider_error_with_the_bytes() -> None:
    parser = FEED.parser()
    with pytest.raises(ProviderError) as info:
        parser.feed(b"data: {not json\n\n")
    assert info.value.body == "{not json"


def test_function_call_with_non_object_args_is_malformed() -> None:
    parser = FEED.parser()
    bad = b'data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f","args": [1]}}]}}]}\n\n'
    with pytest.raises(ProviderError, match="args is not an object"):
        parser.feed(bad)
        parser.close()


def test_unknown_parts_and_fields_are_skipped() -> None:
    data = fixture("text.sse")
    extra = (
        b'data: {"candidates": [{"content": {"parts": [{"executableCode": {"language": "PYTHON",'
        b'"code": "print(1)"}},{"inlineData": {"mimeType": "image/png","data": "iVBOR"}},'
        b'{"text": "","thoughtSignature": "c2ln"}],"role": "model"},"futureField": 1,'
        b'"index": 0}],"responseId": "resp-Text01"}\n\n'
    )
    cut = data.index(b"data:", 10)
    assert parse([data[:cut] + extra + data[cut:]]) == parse([data])


def test_other_candidates_are_ignored() -> None:
    data = (
        b'data: {"candidates": [{"content": {"parts": [{"text": "second"}]},"index": 1},'
        b'{"content": {"parts": [{"text": "first"}]},"index": 0,"finishReason": "STOP"}]}\n\n'
    )
    assert accumulate(parse([data])).text == "first"
