"""Differential tests: the official ``anthropic`` SDK parses the same bytes, and we must
agree with it on everything a user reads (text, tool calls, thinking + signatures,
stop reason, usage). Also: chat() and stream() agree on the same answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic._models import validate_type
from anthropic._streaming import SSEDecoder as SDKDecoder
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent

from llmswitch.errors import ProviderUnavailableError
from llmswitch.messages import ChatRequest, ChatResponse, Message
from llmswitch.providers.anthropic import AnthropicAdapter
from llmswitch.wire import HttpResponse
from tests.support.fixtures import Fixtures
from tests.support.streams import Feeder

fixture = Fixtures("anthropic")
REQUEST = ChatRequest(
    provider="anthropic", model="claude-sonnet-4-5", messages=(Message(role="user", content="hi"),)
)
STREAMS = sorted(p.name for p in fixture.dir.glob("*.sse") if p.name != "error_overloaded.sse")
BODIES = sorted(p.name for p in fixture.dir.glob("*.json") if not p.name.startswith("models_"))


class SDKStreamError(Exception):
    pass


def sdk_stream(data: bytes) -> Any:
    """What the SDK's MessageStream would hold after these bytes (its own decoder,
    event types and accumulator; ping skipped and error raised as Stream does)."""
    snapshot = None
    bufs: dict[int, bytes] = {}
    for sse in SDKDecoder().iter_bytes(iter([data])):
        if sse.event == "ping" or sse.event is None:
            continue
        if sse.event == "error":
            raise SDKStreamError(sse.data)
        event: Any = validate_type(type_=RawMessageStreamEvent, value=sse.json())  # type: ignore[arg-type]
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    return snapshot


ours_stream = Feeder(AnthropicAdapter, REQUEST).streamed


def ours_body(data: bytes) -> ChatResponse:
    return AnthropicAdapter().parse_response(REQUEST, HttpResponse(200, {}, data))


def assert_agrees(ours: ChatResponse, sdk: Any, *, complete: bool = True) -> None:
    blocks = sdk.content
    assert ours.id == sdk.id
    assert ours.model == sdk.model
    assert ours.text == "".join(b.text for b in blocks if b.type == "text")
    sdk_calls = [(b.id, b.name, b.input) for b in blocks if b.type == "tool_use"]
    assert [(c.id, c.name, c.arguments) for c in ours.tool_calls] == sdk_calls
    sdk_thinking = [
        (b.thinking, b.signature or None, None) if b.type == "thinking" else ("", None, b.data)
        for b in blocks
        if b.type in ("thinking", "redacted_thinking")
    ]
    assert [(b.text, b.signature, b.redacted_data) for b in ours.reasoning_blocks] == sdk_thinking
    assert ours.reasoning == ("".join(t for t, _, _ in sdk_thinking) or None)
    if complete:
        assert ours.raw_finish_reason == sdk.stop_reason
    u = sdk.usage
    written, read = u.cache_creation_input_tokens, u.cache_read_input_tokens
    assert ours.usage.input_tokens == u.input_tokens + (written or 0) + (read or 0)
    assert ours.usage.output_tokens == u.output_tokens
    assert ours.usage.cached_input_tokens == read
    assert ours.usage.cache_write_tokens == written
    details = u.output_tokens_details
    assert ours.usage.reasoning_tokens == (details.thinking_tokens if details else None)
    if sdk.stop_reason == "refusal" and sdk.stop_details is not None:
        assert ours.refusal == sdk.stop_details.explanation


@pytest.mark.parametrize("name", BODIES)
def test_non_streamed_body_agrees_with_sdk(name: str) -> None:
    data = fixture(name)
    sdk = SDKMessage.model_validate(json.loads(data))
    assert_agrees(ours_body(data), sdk)


@pytest.mark.parametrize("name", [s for s in STREAMS if s != "max_tokens_tool.sse"])
def test_stream_agrees_with_sdk_accumulator(name: str) -> None:
    data = fixture(name)
    sdk = sdk_stream(data)
    ours = ours_stream(data)
    complete = b"message_stop" in data
    assert_agrees(ours, sdk, complete=complete)
    if not complete:
        assert ours.finish_reason == "error" and sdk.stop_reason is None


def test_tool_call_cut_by_max_tokens_differs_from_sdk_on_purpose() -> None:
    # The SDK keeps a best-effort partial parse of the cut JSON; we drop the call (its
    # arguments are not what the model meant) and report finish_reason="length".
    data = fixture("max_tokens_tool.sse")
    sdk = sdk_stream(data)
    ours = ours_stream(data)
    assert [b.input for b in sdk.content if b.type == "tool_use"] == [{"path": "a.txt"}]
    assert ours.tool_calls == () and ours.finish_reason == "length"
    assert ours.text == sdk.content[0].text


def test_mid_stream_error_both_raise() -> None:
    data = fixture("error_overloaded.sse")
    with pytest.raises(SDKStreamError):
        sdk_stream(data)
    with pytest.raises(ProviderUnavailableError):
        ours_stream(data)


@pytest.mark.parametrize(
    "name", [s for s in STREAMS if s not in ("max_tokens_tool.sse", "truncated.sse")]
)
def test_chat_and_stream_agree_on_the_same_message(name: str) -> None:
    """The SDK's final Message for a stream, sent back as a non-streamed body, parses to
    the very ChatResponse our stream produced (equality ignores ``raw``)."""
    data = fixture(name)
    body = sdk_stream(data).model_dump_json(exclude={"content": {"__all__": {"parsed_output"}}})
    assert ours_body(body.encode()) == ours_stream(data)
