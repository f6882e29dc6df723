"""The Chat Completions stream parser over real-shaped transcripts, however the
network cuts the bytes."""

from __future__ import annotations

import pytest

from llmswitch.errors import InvalidRequestError, ProviderError, ProviderUnavailableError
from llmswitch.events import (
    ReasoningDelta,
    RefusalDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.messages import ToolCall, Usage
from llmswitch.providers.openai import RAW_ARGUMENTS_KEY, OpenAIAdapter
from tests.support.openai import STREAMS, awkward_splits, chat_request, fixture, run_stream
from tests.support.streams import split_at

COMPLETE = STREAMS


@pytest.mark.parametrize("name", COMPLETE)
def test_same_events_however_the_bytes_are_cut(name: str) -> None:
    data = fixture(name)
    expected, response = run_stream([data])
    assert isinstance(expected[-1], StreamEnd)
    for how, pieces in awkward_splits(data).items():
        events, resp = run_stream(pieces)
        assert events == expected, how
        assert resp == response, how


@pytest.mark.parametrize("name", COMPLETE)
def test_same_events_split_at_every_position(name: str) -> None:
    data = fixture(name)
    expected, response = run_stream([data])
    for i in range(1, len(data)):
        events, resp = run_stream(split_at(data, i))
        assert events == expected, i
        assert resp == response, i


def test_text_stream() -> None:
    events, resp = run_stream([fixture("stream_text.sse")])
    assert events[0] == StreamStart(
        "chatcmpl-CF7wQ2hM1xYt9ZrLk3VbN8aPq4sDe", "gpt-5-mini-2025-08-07"
    )
    assert sum(isinstance(e, StreamStart) for e in events) == 1
    assert all(isinstance(e, TextDelta) and e.text for e in events[1:-1])
    assert resp.text == 'Hello! 👋 你好，世界. Café "quoted"\nnext line'  # noqa: RUF001 (CJK text on purpose)
    assert resp.finish_reason == "stop" and resp.raw_finish_reason == "stop"
    assert resp.usage == Usage(
        input_tokens=1180,
        output_tokens=84,
        total_tokens=1264,
        cached_input_tokens=1024,
        cache_write_tokens=None,
        reasoning_tokens=64,
    )
    assert resp.id == "chatcmpl-CF7wQ2hM1xYt9ZrLk3VbN8aPq4sDe"
    assert resp.model == "gpt-5-mini-2025-08-07"
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.raw["choices"] == []  # raw = the usage chunk


def test_parallel_tool_calls_with_fragmented_arguments() -> None:
    events, resp = run_stream([fixture("stream_tools.sse")])
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.index, s.name) for s in starts] == [
        (0, "get_weather"),
        (1, "get_weather"),
        (2, "get_time"),
    ]
    args = {
        i: "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == i)
        for i in range(3)
    }
    assert args == {0: '{"city":"Paris","unit":"celsius"}', 1: '{"city":"東京"}', 2: "{}"}
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [e.index for e in ends] == [0, 1, 2]
    # every call ends after its last fragment and before the stream ends
    last_delta = max(i for i, e in enumerate(events) if isinstance(e, ToolCallDelta))
    assert events.index(ends[0]) > last_delta and isinstance(events[-1], StreamEnd)
    assert resp.tool_calls == (
        ToolCall(
            id="call_Wq1bLk7YpE2nR5sT8uVx0zAc",
            name="get_weather",
            arguments={"city": "Paris", "unit": "celsius"},
        ),
        ToolCall(
            id="call_Hn3cVb6NmQ9wEr2tYu5iOp8a", name="get_weather", arguments={"city": "東京"}
        ),
        ToolCall(id="call_Zx4mKj1LpQ7sWd3fGh6jKl9b", name="get_time", arguments={}),
    )
    assert resp.finish_reason == "tool_calls" and resp.text == ""
    assert resp.usage.input_tokens == 214 and resp.usage.cached_input_tokens == 0


def test_refusal_stream() -> None:
    events, resp = run_stream([fixture("stream_refusal.sse")])
    assert all(isinstance(e, RefusalDelta) for e in events[1:-1])
    assert resp.refusal == "I'm sorry, I can't help with that."
    assert resp.text == "" and resp.finish_reason == "stop"


def test_azure_stream_with_prompt_filter_chunks_and_content_filter_finish() -> None:
    events, resp = run_stream([fixture("stream_azure.sse")])
    # the leading prompt-filter chunk has empty id/model: the start carries the real ones
    assert events[0] == StreamStart("chatcmpl-CFAz9Kx2Lw5Mv8Nu1Ot4Ps7Qr0", "gpt-4o-2024-11-20")
    assert resp.text == "Once upon a time — ünïcödé"
    assert resp.finish_reason == "content_filter" and resp.raw_finish_reason == "content_filter"
    assert resp.usage.input_tokens == 30 and resp.usage.output_tokens == 12
    assert resp.model == "gpt-4o-2024-11-20"


@pytest.mark.parametrize(
    ("name", "reasoning", "text"),
    [
        (
            "stream_vllm_reasoning.sse",
            "Okay, the user greets me in French.",
            "\n\nBonjour ! Ça va ?",
        ),
        ("stream_llamacpp_reasoning.sse", "The user asks 2+2. Easy.", "2 + 2 = 4"),
        (
            "stream_ollama_reasoning.sse",
            "Let me think about haikus.",
            "Autumn moonlight—\na worm digs silently\ninto the chestnut.",
        ),
    ],
)
def test_reasoning_from_compatible_servers(name: str, reasoning: str, text: str) -> None:
    events, resp = run_stream([fixture(name)])
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == reasoning
    assert resp.reasoning == reasoning
    assert resp.text == text
    assert resp.finish_reason == "stop"
    # reasoning comes before the answer
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(not isinstance(e, ReasoningDelta) for e in events[first_text:])


def test_usage_details_missing_stay_unknown() -> None:
    _, vllm = run_stream([fixture("stream_vllm_reasoning.sse")])
    assert vllm.usage == Usage(input_tokens=18, output_tokens=42, total_tokens=60)
    assert vllm.usage.cached_input_tokens is None and vllm.usage.reasoning_tokens is None
    _, llama = run_stream([fixture("stream_llamacpp_reasoning.sse")])
    # llama.cpp puts usage on the finish chunk itself
    assert llama.usage == Usage(
        input_tokens=75, output_tokens=20, total_tokens=95, cached_input_tokens=64
    )


def test_ollama_tool_calls_arrive_whole() -> None:
    events, resp = run_stream([fixture("stream_ollama_tools.sse")])
    assert [type(e).__name__ for e in events[1:-1]] == [
        "ToolCallStart", "ToolCallDelta", "ToolCallStart", "ToolCallDelta", "ToolCallEnd", "ToolCallEnd",
    ]  # fmt: skip
    assert [c.arguments for c in resp.tool_calls] == [{"city": "Tokyo"}, {"city": "Osaka"}]
    assert resp.finish_reason == "tool_calls"


def test_keep_alive_comments_are_ignored() -> None:
    _events, resp = run_stream([fixture("stream_keepalive.sse")])
    assert resp.text == "Pong."
    assert resp.usage.total_tokens == 11 and resp.usage.reasoning_tokens == 0


@pytest.mark.parametrize("size", [1, 7, 50, 10_000])
def test_mid_stream_error_raises_after_the_text_received(size: int) -> None:
    data = fixture("stream_error.sse")
    request = chat_request(model="gpt-4o-mini")
    parser = OpenAIAdapter().stream_parser(request)
    received = []
    with pytest.raises(ProviderUnavailableError) as info:
        # one read may hold the text and the error: the text comes out first, the error
        # on the next call (close() at the latest)
        for i in range(0, len(data), size):
            received.extend(parser.feed(data[i : i + size]))
        parser.close()
    err = info.value
    assert "".join(e.text for e in received if isinstance(e, TextDelta)) == "The answer is"
    assert err.retryable and err.code == "server_error"
    assert "The server had an error" in str(err) and "openai/gpt-4o-mini" in str(err)
    with pytest.raises(ProviderUnavailableError):  # stays failed
        parser.feed(b"data: [DONE]\n\n")


def test_truncated_stream_ends_with_error_and_keeps_the_partial_call() -> None:
    events, resp = run_stream([fixture("stream_truncated.sse")])
    assert isinstance(events[-2], ToolCallEnd) and isinstance(events[-1], StreamEnd)
    assert resp.finish_reason == "error" and resp.raw_finish_reason is None
    assert resp.tool_calls[0].name == "search"
    assert resp.tool_calls[0].arguments == {RAW_ARGUMENTS_KEY: '{"query":"llm rou'}
    assert resp.usage == Usage()


# ---------------------------------------------------------------------- edge cases


def _chunk(delta: str, finish: str = "null", extra: str = "") -> bytes:
    return (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":'
        + delta.encode()
        + b',"finish_reason":'
        + finish.encode()
        + b"}]"
        + extra.encode()
        + b"}\n\n"
    )


def test_empty_input_is_a_malformed_response() -> None:
    # issue 7 item 1: an empty 200 is not an empty answer
    with pytest.raises(ProviderError, match="got an empty body"):
        run_stream([b""])


def test_done_without_finish_reason_is_other() -> None:
    _events, resp = run_stream([_chunk('{"content":"hi"}'), b"data: [DONE]\n\n"])
    assert resp.text == "hi" and resp.finish_reason == "other"


def test_finish_then_eof_keeps_the_finish_reason() -> None:
    _, resp = run_stream([_chunk('{"content":"hi"}'), _chunk("{}", '"length"')])
    assert resp.finish_reason == "length" and resp.usage == Usage()


def test_unknown_finish_reason_maps_to_other_and_keeps_raw() -> None:
    _, resp = run_stream([_chunk('{"content":"x"}', '"abort"'), b"data: [DONE]\n\n"])
    assert resp.finish_reason == "other" and resp.raw_finish_reason == "abort"


def test_nothing_after_done_is_read() -> None:
    parser = OpenAIAdapter().stream_parser(chat_request())
    events = parser.feed(_chunk('{"content":"a"}', '"stop"') + b"data: [DONE]\n\n")
    assert isinstance(events[-1], StreamEnd)
    assert parser.feed(_chunk('{"content":"b"}')) == []
    assert parser.close() == []


def test_malformed_chunk_raises_with_the_bytes() -> None:
    parser = OpenAIAdapter().stream_parser(chat_request())
    with pytest.raises(ProviderError) as info:
        parser.feed(b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"a"}\n\n')
    assert not info.value.retryable
    assert info.value.body is not None and '"content":"a"' in info.value.body


def test_non_object_chunk_shapes_raise_provider_error() -> None:
    for payload in (
        b"data: [1,2]\n\n",
        b'data: {"choices":[1]}\n\n',
        b'data: {"choices":[{"index":0,"delta":"x"}]}\n\n',
    ):
        with pytest.raises(ProviderError):
            run_stream([payload])


def test_old_vllm_error_shape_mid_stream() -> None:
    data = _chunk('{"content":"a"}') + (
        b'data: {"object":"error","message":"This model\'s maximum context length is 4096 tokens.",'
        b'"type":"BadRequestError","param":null,"code":400}\n\n'
    )
    with pytest.raises(InvalidRequestError) as info:
        run_stream([data])
    assert "maximum context length" in str(info.value)


def test_continuous_usage_stats_last_report_wins() -> None:
    usage = ',"usage":{{"prompt_tokens":10,"completion_tokens":{n},"total_tokens":{t}}}'
    data = (
        _chunk('{"content":"a"}', extra=usage.format(n=1, t=11))
        + _chunk('{"content":"b"}', extra=usage.format(n=2, t=12))
        + _chunk("{}", '"stop"', extra=usage.format(n=2, t=12))
        + b"data: [DONE]\n\n"
    )
    _, resp = run_stream([data])
    assert resp.usage == Usage(input_tokens=10, output_tokens=2, total_tokens=12)


def test_tool_calls_without_index_are_told_apart_by_id() -> None:
    call = '{{"tool_calls":[{{"id":"{id}","type":"function","function":{{"name":"f","arguments":"{args}"}}}}]}}'
    data = (
        _chunk(call.format(id="a", args='{\\"x\\":'))
        + _chunk('{"tool_calls":[{"function":{"arguments":"1}"}}]}')
        + _chunk(call.format(id="b", args='{\\"x\\":2}'))
        + _chunk("{}", '"tool_calls"')
        + b"data: [DONE]\n\n"
    )
    _, resp = run_stream([data])
    assert [(c.id, c.arguments) for c in resp.tool_calls] == [("a", {"x": 1}), ("b", {"x": 2})]


def test_tool_call_without_id_gets_a_usable_one() -> None:
    data = _chunk(
        '{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}', '"tool_calls"'
    )
    _, resp = run_stream([data + b"data: [DONE]\n\n"])
    assert resp.tool_calls == (ToolCall(id="call_0", name="f", arguments={}),)


def test_only_choice_zero_counts() -> None:
    data = (
        b'data: {"id":"c","model":"m","choices":[{"index":1,"delta":{"content":"other"}},'
        b'{"index":0,"delta":{"content":"mine"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    _, resp = run_stream([data])
    assert resp.text == "mine"


def test_reasoning_sent_under_both_names_is_not_doubled() -> None:
    data = _chunk('{"reasoning":"think","reasoning_content":"think"}') + _chunk(
        '{"content":"ok"}', '"stop"'
    )
    _, resp = run_stream([data + b"data: [DONE]\n\n"])
    assert resp.reasoning == "think" and resp.text == "ok"


def test_data_lines_without_space_and_lone_cr_line_ends() -> None:
    data = _chunk('{"content":"a"}', '"stop"').replace(b"data: ", b"data:").replace(b"\n", b"\r")
    _, resp = run_stream([data, b"data:[DONE]\r\r"])
    assert resp.text == "a" and resp.finish_reason == "stop"


def test_choices_without_delta_are_tolerated() -> None:
    data = (
        b'data: {"id":"","model":"","object":"","choices":[{"index":0,"finish_reason":null,'
        b'"content_filter_results":{}}]}\n\n'
        + _chunk('{"content":"a"}', '"stop"')
        + b"data: [DONE]\n\n"
    )
    events, resp = run_stream([data])
    assert resp.text == "a"
    assert events[0] == StreamStart("c1", "m")


def test_wrongly_typed_fields_do_not_leak_into_the_response() -> None:
    data = (
        _chunk('{"content":["not","text"]}')
        + _chunk('{"content":{"a":1},"refusal":7}')
        + _chunk('{"tool_calls":[{"index":0,"id":5,"function":{"name":9,"arguments":"{}"}}]}')
        + _chunk('{"content":"ok"}', '"stop"')
        + b"data: [DONE]\n\n"
    )
    _, resp = run_stream([data])
    assert resp.text == "ok" and resp.refusal is None
    assert resp.tool_calls == (ToolCall(id="call_0", name="", arguments={}),)
