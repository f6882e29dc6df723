"""A ``ChatResponse`` -> a ``chat.completion`` object, and stream events ->
``chat.completion.chunk`` SSE lines, shaped as OpenAI sends them.

A chunk is its constant head and tail, encoded once per stream, around one
``orjson.dumps`` of the delta.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from ...events import (
    Event,
    ReasoningDelta,
    RefusalDelta,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from ...messages import ChatResponse, ReasoningBlock, ToolCall, Usage
from ._chat_in import join_signature

__all__ = [
    "DONE",
    "ChunkWriter",
    "chat_id",
    "completion_id",
    "completion_json",
    "finish_reason",
    "usage_json",
]

DONE = b"data: [DONE]\n\n"
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
           "content_filter": "content_filter"}  # fmt: skip


def completion_id(prefix: str = "chatcmpl-") -> str:
    return prefix + secrets.token_urlsafe(18)


def chat_id(provider_id: str | None) -> str:
    """The provider's response id where it gave one, in OpenAI's ``chatcmpl-`` form."""
    if not provider_id:
        return completion_id()
    return provider_id if provider_id.startswith("chatcmpl-") else "chatcmpl-" + provider_id


def finish_reason(reason: str) -> str:
    """llmswitch's finish reason in OpenAI's words ("other" and "error" read as "stop")."""
    return _FINISH.get(reason, "stop")


def usage_json(u: Usage) -> dict[str, Any] | None:
    """OpenAI usage: prompt_tokens includes cached and cache-write tokens and
    completion_tokens includes reasoning (llmswitch's Usage already counts that way).
    Only what the provider reported: unknown counts stay out (or null), never guessed."""
    if u.input_tokens is None and u.output_tokens is None:
        return None
    total = u.total_tokens
    if total is None and u.input_tokens is not None and u.output_tokens is not None:
        total = u.input_tokens + u.output_tokens
    out: dict[str, Any] = {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": total,
    }
    if u.cached_input_tokens is not None or u.cache_write_tokens is not None:
        details: dict[str, int] = {}
        if u.cached_input_tokens is not None:
            details["cached_tokens"] = u.cached_input_tokens
        if u.cache_write_tokens is not None:
            details["cache_write_tokens"] = u.cache_write_tokens
        out["prompt_tokens_details"] = details
    if u.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    return out


def _arguments(call: ToolCall) -> str:
    return orjson.dumps(call.arguments).decode()


def _block_json(b: ReasoningBlock) -> dict[str, Any]:
    if b.redacted_data is not None:
        return {"type": "redacted_thinking", "data": b.redacted_data}
    return {"type": "thinking", "thinking": b.text, "signature": b.signature or ""}


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        "id": join_signature(call.id, call.signature),
        "type": "function",
        "function": {"name": call.name, "arguments": _arguments(call)},
    }


def completion_json(resp: ChatResponse, model: str, created: int) -> dict[str, Any]:
    """The ``chat.completion`` object; ``model`` is the name the client asked for."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": resp.text if resp.text or not resp.tool_calls else None,
        "refusal": resp.refusal,
    }
    if resp.tool_calls:
        message["tool_calls"] = [tool_call_json(c) for c in resp.tool_calls]
    if resp.reasoning:
        message["reasoning_content"] = resp.reasoning
    if any(b.signature or b.redacted_data for b in resp.reasoning_blocks):
        # Signed thinking (LiteLLM's field): a client that sends the message back as it
        # got it keeps Anthropic's tool use with thinking working.
        message["thinking_blocks"] = [_block_json(b) for b in resp.reasoning_blocks]
    out: dict[str, Any] = {
        "id": chat_id(resp.id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(resp.finish_reason),
            }
        ],
    }
    usage = usage_json(resp.usage)
    if usage is not None:
        out["usage"] = usage
    return out


class ChunkWriter:
    """Turns one stream's events into SSE ``chat.completion.chunk`` lines.

    Tool-call indexes are OpenAI's (0, 1, ... in the order calls start), not the
    provider's content-block indexes. A call whose arguments came in no fragment gets them
    from its end. With ``hold_tool_calls`` (providers whose calls
    carry a thought signature, known only at the call's end) a call is written whole at
    its end, so its id can carry the signature; such providers send each call whole anyway.
    """

    __slots__ = (
        "_head",
        "_hold",
        "_include_usage",
        "_model",
        "_pending",
        "_started",
        "_tail",
        "_tools",
        "_usage_head",
    )  # fmt: skip

    def __init__(
        self, chunk_id: str, model: str, created: int, *, include_usage: bool,
        hold_tool_calls: bool = False,
    ) -> None:  # fmt: skip
        head = orjson.dumps({"id": chunk_id, "object": "chat.completion.chunk",
                             "created": created, "model": model})  # fmt: skip
        self._usage_head = b"data: " + head[:-1] + b',"choices":[],"usage":'
        self._head = b"data: " + head[:-1] + b',"choices":[{"index":0,"delta":'
        self._tail = b',"logprobs":null,"finish_reason":null}]'
        self._tail += b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._include_usage = include_usage
        self._hold = hold_tool_calls
        self._tools: dict[int, int] = {}  # provider index -> OpenAI tool_calls index
        self._pending: dict[int, ToolCallStart] = {}
        self._started = False
        self._model = model

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        if not self._started:
            self._started = True
            delta = {"role": "assistant", **delta}
        return self._head + orjson.dumps(delta) + self._tail

    def first(self) -> bytes:
        """The opening chunk (role assistant, empty content), as OpenAI sends it."""
        return self._chunk({"content": ""})

    def _slot(self, index: int) -> int:
        slot = self._tools.get(index)
        if slot is None:
            slot = self._tools[index] = len(self._tools)
        return slot

    def feed(self, event: Event) -> bytes:
        """The SSE bytes for ``event`` (``b""`` when it writes nothing)."""
        kind = event.kind
        if kind == "text":
            assert isinstance(event, TextDelta)
            return self._chunk({"content": event.text}) if event.text else b""
        if kind == "reasoning":
            assert isinstance(event, ReasoningDelta)
            return self._chunk({"reasoning_content": event.text}) if event.text else b""
        if kind == "refusal":
            assert isinstance(event, RefusalDelta)
            return self._chunk({"refusal": event.text})
        if kind == "tool_call_start":
            assert isinstance(event, ToolCallStart)
            if self._hold:
                self._pending[event.index] = event
                return b""
            self._pending[event.index] = event  # until its first arguments fragment
            call = {"index": self._slot(event.index), "id": event.id, "type": "function",
                    "function": {"name": event.name, "arguments": ""}}  # fmt: skip
            return self._chunk({"tool_calls": [call]})
        if kind == "tool_call_delta":
            assert isinstance(event, ToolCallDelta)
            if self._hold or not event.arguments:
                return b""
            self._pending.pop(event.index, None)  # its arguments are on their way
            call = {"index": self._slot(event.index), "function": {"arguments": event.arguments}}
            return self._chunk({"tool_calls": [call]})
        if kind == "tool_call_end":
            assert isinstance(event, ToolCallEnd)
            if self._hold:
                self._pending.pop(event.index, None)
                whole = {"index": self._slot(event.index), **tool_call_json(event.tool_call)}
                return self._chunk({"tool_calls": [whole]})
            if self._pending.pop(event.index, None) is not None:  # no fragment came: all now
                args = {"arguments": _arguments(event.tool_call)}
                return self._chunk({"tool_calls": [{"index": self._slot(event.index),
                                                    "function": args}]})  # fmt: skip
            return b""
        if kind == "end":
            assert isinstance(event, StreamEnd)
            return self.end(event)
        return b""

    def end(self, event: StreamEnd) -> bytes:
        """The finish chunk, the usage chunk when asked for, and ``[DONE]``."""
        reason = finish_reason(event.finish_reason).encode()
        tail = self._tail.replace(b'"finish_reason":null', b'"finish_reason":"' + reason + b'"')
        delta = {"role": "assistant"} if not self._started else {}
        self._started = True
        out = self._head + orjson.dumps(delta) + tail
        if self._include_usage:
            out += self._usage_head + orjson.dumps(usage_json(event.usage)) + b"}\n\n"
        return out + DONE
