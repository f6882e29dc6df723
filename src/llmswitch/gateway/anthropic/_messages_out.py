"""ChatResponse -> an Anthropic ``Message``; stream events -> the Messages SSE sequence.

Usage follows Anthropic's accounting: ``input_tokens`` *without* cache reads and writes,
which go to ``cache_read_input_tokens`` / ``cache_creation_input_tokens``; only counts
the provider reported (the two counts the format requires are 0 when it said nothing).
A stream's counts arrive with the library's ``StreamEnd``, so ``message_start`` carries
zeros and the final ``message_delta`` the reported, cumulative counts, which the SDKs
take over (``message_delta.usage`` overwrites).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ...events import (
    Event,
    ReasoningDelta,
    ReasoningEnd,
    RefusalDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from ...messages import ChatResponse, FinishReason, Usage
from ._ids import join_id

__all__ = ["PING", "message_json", "sse_events", "stop_reason", "usage_json"]

PING = b'event: ping\ndata: {"type": "ping"}\n\n'
# Anthropic's own stop reasons, kept as the provider gave them (Anthropic, Bedrock).
_NATIVE_STOPS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
     "model_context_window_exceeded"}
)  # fmt: skip
_STOPS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
    "other": "end_turn",
}
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def message_id(provider_id: str | None) -> str:
    """The provider's id when it is an Anthropic one, else a fresh ``msg_...``."""
    if provider_id and provider_id.startswith("msg_"):
        return provider_id
    return "msg_" + secrets.token_hex(12)


def stop_reason(finish: FinishReason, raw: str | None) -> str:
    if raw in _NATIVE_STOPS:
        return raw
    return _STOPS.get(finish, "end_turn")


def _stop_sequence(raw: Any, reason: str) -> str | None:
    if reason != "stop_sequence" or not isinstance(raw, dict):
        return None
    found = raw.get("stop_sequence")
    if found is None:  # a stream's raw: the message_delta's delta
        delta = raw.get("delta")
        found = delta.get("stop_sequence") if isinstance(delta, dict) else None
    return found if isinstance(found, str) else None


def usage_json(usage: Usage, *, required: bool = True) -> dict[str, Any]:
    """Anthropic usage from ours. ``required``: fill the format's two required counts
    with 0 when unknown (else leave out what the provider did not report)."""
    out: dict[str, Any] = {}
    read, written, total_in = (
        usage.cached_input_tokens,
        usage.cache_write_tokens,
        usage.input_tokens,
    )
    if total_in is not None:
        out["input_tokens"] = max(total_in - (read or 0) - (written or 0), 0)
    elif required:
        out["input_tokens"] = 0
    if written is not None:
        out["cache_creation_input_tokens"] = written
    if read is not None:
        out["cache_read_input_tokens"] = read
    out["output_tokens"] = usage.output_tokens or 0
    if usage.reasoning_tokens is not None:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def message_json(resp: ChatResponse, model: str) -> dict[str, Any]:
    """The ``Message`` object of a finished answer; ``model`` as the client named it."""
    content: list[dict[str, Any]] = []
    for b in resp.reasoning_blocks:
        if b.redacted_data is not None:
            content.append({"type": "redacted_thinking", "data": b.redacted_data})
        else:
            content.append({"type": "thinking", "thinking": b.text, "signature": b.signature or ""})
    if not resp.reasoning_blocks and resp.reasoning:
        content.append({"type": "thinking", "thinking": resp.reasoning, "signature": ""})
    text = resp.text or resp.refusal or ""
    if text:
        content.append({"type": "text", "text": text})
    for call in resp.tool_calls:
        call_id = join_id(call.id, call.signature)
        content.append({"type": "tool_use", "id": call_id, "name": call.name,
                        "input": call.arguments})  # fmt: skip
    reason = stop_reason(resp.finish_reason, resp.raw_finish_reason)
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": _stop_sequence(resp.raw, reason),
        "usage": usage_json(resp.usage),
    }


def _sse(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class _Blocks:
    """Numbers the Anthropic content blocks as the library's events open them: one
    text or thinking block at a time (a new kind closes it), tool-use blocks open from
    their start to their end (OpenAI may interleave parallel calls' fragments)."""

    __slots__ = ("current", "defer", "next", "out", "tools", "tools_fed")

    def __init__(self, defer_tools: bool = False) -> None:
        # Tool calls whose signature comes with their end (Gemini): each is written
        # whole at its end, its id carrying the signature (``_ids.py``).
        self.defer = defer_tools
        self.next = 0
        self.current: tuple[str, int, int] | None = None  # (kind, library index, ours)
        self.tools: dict[int, int] = {}  # library index -> our block index
        self.tools_fed: set[int] = set()
        self.out: list[bytes] = []

    def start(self, block: dict[str, Any]) -> int:
        index = self.next
        self.next += 1
        self.out.append(
            _sse(b"content_block_start",
                 {"type": "content_block_start", "index": index, "content_block": block})
        )  # fmt: skip
        return index

    def delta(self, index: int, delta: dict[str, Any]) -> None:
        self.out.append(
            _sse(b"content_block_delta",
                 {"type": "content_block_delta", "index": index, "delta": delta})
        )  # fmt: skip

    def stop(self, index: int) -> None:
        self.out.append(_sse(b"content_block_stop", {"type": "content_block_stop", "index": index}))

    def close_current(self) -> None:
        if self.current is not None:
            self.stop(self.current[2])
            self.current = None

    def flowing(self, kind: str, lib_index: int, block: dict[str, Any]) -> int:
        """The open text/thinking block for ``(kind, lib_index)``, opened if needed."""
        cur = self.current
        if cur is not None and cur[0] == kind and cur[1] == lib_index:
            return cur[2]
        self.close_current()
        index = self.start(block)
        self.current = (kind, lib_index, index)
        return index

    def feed(self, event: Event) -> None:
        kind = event.kind
        if kind == "text" or kind == "refusal":
            assert isinstance(event, TextDelta | RefusalDelta)
            index = self.flowing("text", 0, {"type": "text", "text": ""})
            self.delta(index, {"type": "text_delta", "text": event.text})
        elif kind == "reasoning":
            assert isinstance(event, ReasoningDelta)
            index = self.flowing(
                "thinking", event.index, {"type": "thinking", "thinking": "", "signature": ""}
            )
            self.delta(index, {"type": "thinking_delta", "thinking": event.text})
        elif kind == "reasoning_end":
            assert isinstance(event, ReasoningEnd)
            self._reasoning_end(event)
        elif kind == "tool_call_start":
            assert isinstance(event, ToolCallStart)
            if self.defer:
                return
            self.close_current()
            block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            self.tools[event.index] = self.start(block)
        elif kind == "tool_call_delta":
            assert isinstance(event, ToolCallDelta)
            tool = self.tools.get(event.index)
            if tool is not None and event.arguments:
                self.tools_fed.add(tool)
                self.delta(tool, {"type": "input_json_delta", "partial_json": event.arguments})
        elif kind == "tool_call_end":
            assert isinstance(event, ToolCallEnd)
            self._tool_end(event)

    def _reasoning_end(self, event: ReasoningEnd) -> None:
        block = event.block
        if block.redacted_data is not None:
            self.close_current()
            self.stop(self.start({"type": "redacted_thinking", "data": block.redacted_data}))
            return
        cur = self.current
        if cur is not None and cur[0] == "thinking" and cur[1] == event.index:
            index = cur[2]
        else:  # a block given whole, without deltas
            index = self.flowing(
                "thinking", event.index, {"type": "thinking", "thinking": "", "signature": ""}
            )
            if block.text:
                self.delta(index, {"type": "thinking_delta", "thinking": block.text})
        if block.signature:
            self.delta(index, {"type": "signature_delta", "signature": block.signature})
        self.close_current()

    def _tool_end(self, event: ToolCallEnd) -> None:
        call = event.tool_call
        index = self.tools.pop(event.index, None)
        if index is None:  # an end without a start: the whole call at once
            self.close_current()
            block = {"type": "tool_use", "id": join_id(call.id, call.signature),
                     "name": call.name, "input": {}}  # fmt: skip
            index = self.start(block)
        if index not in self.tools_fed and call.arguments:
            self.delta(
                index,
                {"type": "input_json_delta", "partial_json": orjson.dumps(call.arguments).decode()},
            )
        self.tools_fed.discard(index)
        self.stop(index)

    def close_all(self) -> None:
        self.close_current()
        for index in sorted(self.tools.values()):
            self.stop(index)
        self.tools.clear()

    def take(self) -> bytes:
        out = b"".join(self.out)
        self.out.clear()
        return out


def _start(model: str, first: Event | None) -> bytes:
    provider_id = first.id if isinstance(first, StreamStart) else None
    message: dict[str, Any] = {
        "id": message_id(provider_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    return _sse(b"message_start", {"type": "message_start", "message": message})


def _end(blocks: _Blocks, end: StreamEnd | None) -> bytes:
    blocks.close_all()
    if end is None:
        reason, usage, sequence = "end_turn", {"output_tokens": 0}, None
    else:
        reason = stop_reason(end.finish_reason, end.raw_finish_reason)
        usage = usage_json(end.usage, required=False)
        sequence = _stop_sequence(end.raw, reason)
    delta = {"stop_reason": reason, "stop_sequence": sequence}
    blocks.out.append(
        _sse(b"message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
    )
    blocks.out.append(_MESSAGE_STOP)
    return blocks.take()


async def sse_events(
    model: str, first: Event | None, rest: AsyncIterator[Event], *, defer_tools: bool = False
) -> AsyncIterator[bytes]:
    """The Messages SSE byte chunks for a library stream whose first event (already
    awaited, so a failure before it was an HTTP error) is ``first``. One chunk per
    library event that produces output; closing this generator closes ``rest``.
    ``defer_tools``: write each tool call whole at its end (a provider that signs its
    calls, whose signature only the end carries)."""
    blocks = _Blocks(defer_tools)
    try:
        head = _start(model, first)
        end: StreamEnd | None = None
        if first is not None:
            if isinstance(first, StreamEnd):
                end = first
            else:
                blocks.feed(first)
        yield head + blocks.take()
        if end is None:
            async for event in rest:  # to its end, so the library stream finishes itself
                if event.kind == "end":
                    assert isinstance(event, StreamEnd)
                    end = event
                elif end is None:
                    blocks.feed(event)
                if blocks.out:
                    yield blocks.take()
        yield _end(blocks, end)
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
