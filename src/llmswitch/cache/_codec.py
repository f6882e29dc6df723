"""Cache entries and their compact encoding.

An :class:`Entry` holds either a whole :class:`ChatResponse` (a ``chat()`` miss) or a
finished stream's events in order, with the milliseconds from the call's start to each
(for a paced replay). Either serves both: :func:`response_of` folds events into the
response ``chat()`` would have returned (the client's own :class:`Accumulator`), and
:func:`events_of` turns a response into the event sequence a parser would have emitted
for it.

:func:`encode` / :func:`decode`: orjson of short lists (one letter per event type), so
a 200-event stream is a few kB; the Redis backend compresses that with zlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..events import (
    Accumulator,
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
from ..messages import ChatResponse, ReasoningBlock, ToolCall, Usage

__all__ = ["Entry", "decode", "encode", "events_of", "response_of"]

_VERSION = 1


@dataclass(slots=True, kw_only=True)
class Entry:
    """One cached answer. ``created``: epoch seconds when it was stored; ``cost_nano``:
    what the original call cost (``None``: unknown price), what a hit saves."""

    provider: str
    model: str
    created: float
    cost_nano: int | None
    response: ChatResponse | None = None
    events: tuple[Event, ...] | None = None
    offsets: tuple[int, ...] = ()


# ---------------------------------------------------------------------- conversions


def response_of(entry: Entry) -> ChatResponse:
    if entry.response is not None:
        return entry.response
    acc = Accumulator(entry.provider, entry.model)
    acc.add_all(entry.events or ())
    return acc.snapshot()


def events_of(entry: Entry) -> tuple[Event, ...]:
    if entry.events is not None:
        return entry.events
    r = entry.response
    assert r is not None
    out: list[Event] = [StreamStart(r.id, r.model)]
    index = 0
    for block in r.reasoning_blocks:
        if block.text:
            out.append(ReasoningDelta(index, block.text))
        out.append(ReasoningEnd(index, block))
        index += 1
    if r.text:
        out.append(TextDelta(index, r.text))
        index += 1
    if r.refusal:
        out.append(RefusalDelta(index, r.refusal))
        index += 1
    for call in r.tool_calls:
        out.append(ToolCallStart(index, call.id, call.name))
        out.append(ToolCallDelta(index, orjson.dumps(call.arguments).decode()))
        out.append(ToolCallEnd(index, call))
        index += 1
    out.append(StreamEnd(r.finish_reason, r.usage, r.raw_finish_reason, r.raw))
    return tuple(out)


# ---------------------------------------------------------------------- encoding


def _usage(u: Usage) -> list[int | None]:
    return [
        u.input_tokens, u.output_tokens, u.total_tokens, u.cached_input_tokens,
        u.cache_write_tokens, u.reasoning_tokens, u.cache_write_1h_tokens, u.reported_cost_nano,
    ]  # fmt: skip


def _unusage(v: list[int | None]) -> Usage:
    return Usage(
        input_tokens=v[0], output_tokens=v[1], total_tokens=v[2], cached_input_tokens=v[3],
        cache_write_tokens=v[4], reasoning_tokens=v[5], cache_write_1h_tokens=v[6],
        reported_cost_nano=v[7],
    )  # fmt: skip


def _call(c: ToolCall) -> list[Any]:
    return [c.id, c.name, c.arguments, c.signature]


def _uncall(v: list[Any]) -> ToolCall:
    return ToolCall(id=v[0], name=v[1], arguments=v[2], signature=v[3])


def _block(b: ReasoningBlock) -> list[Any]:
    return [b.text, b.signature, b.redacted_data]


def _unblock(v: list[Any]) -> ReasoningBlock:
    return ReasoningBlock(text=v[0], signature=v[1], redacted_data=v[2])


def _response(r: ChatResponse) -> list[Any]:
    return [
        r.id, r.model, r.provider, r.text, [_call(c) for c in r.tool_calls], r.reasoning,
        [_block(b) for b in r.reasoning_blocks], r.refusal, r.finish_reason,
        r.raw_finish_reason, _usage(r.usage), r.raw,
    ]  # fmt: skip


def _unresponse(v: list[Any]) -> ChatResponse:
    return ChatResponse(
        id=v[0], model=v[1], provider=v[2], text=v[3],
        tool_calls=tuple(_uncall(c) for c in v[4]), reasoning=v[5],
        reasoning_blocks=tuple(_unblock(b) for b in v[6]), refusal=v[7],
        finish_reason=v[8], raw_finish_reason=v[9], usage=_unusage(v[10]), raw=v[11],
    )  # fmt: skip


def _event(e: Event) -> list[Any]:
    cls = type(e)
    if cls is TextDelta:
        return ["t", e.index, e.text]  # type: ignore[union-attr]
    if cls is ReasoningDelta:
        return ["r", e.index, e.text]  # type: ignore[union-attr]
    if cls is ToolCallDelta:
        return ["d", e.index, e.arguments]  # type: ignore[union-attr]
    if cls is StreamStart:
        return ["s", e.id, e.model]  # type: ignore[union-attr]
    if cls is ReasoningEnd:
        return ["R", e.index, _block(e.block)]  # type: ignore[union-attr]
    if cls is RefusalDelta:
        return ["f", e.index, e.text]  # type: ignore[union-attr]
    if cls is ToolCallStart:
        return ["c", e.index, e.id, e.name]  # type: ignore[union-attr]
    if cls is ToolCallEnd:
        return ["C", e.index, _call(e.tool_call)]  # type: ignore[union-attr]
    if cls is StreamEnd:
        assert isinstance(e, StreamEnd)
        return ["e", e.finish_reason, _usage(e.usage), e.raw_finish_reason, e.raw]
    raise TypeError(f"cannot cache a {cls.__name__} event")


def _unevent(v: list[Any]) -> Event:
    k = v[0]
    if k == "t":
        return TextDelta(v[1], v[2])
    if k == "r":
        return ReasoningDelta(v[1], v[2])
    if k == "d":
        return ToolCallDelta(v[1], v[2])
    if k == "s":
        return StreamStart(v[1], v[2])
    if k == "R":
        return ReasoningEnd(v[1], _unblock(v[2]))
    if k == "f":
        return RefusalDelta(v[1], v[2])
    if k == "c":
        return ToolCallStart(v[1], v[2], v[3])
    if k == "C":
        return ToolCallEnd(v[1], _uncall(v[2]))
    if k == "e":
        return StreamEnd(v[1], _unusage(v[2]), v[3], v[4])
    raise ValueError(f"unknown cached event {k!r}")


def encode(entry: Entry) -> bytes:
    """``entry`` as bytes (raises ``TypeError`` when a raw body holds a non-JSON value)."""
    return orjson.dumps(
        [
            _VERSION,
            entry.provider,
            entry.model,
            entry.created,
            entry.cost_nano,
            None if entry.response is None else _response(entry.response),
            None if entry.events is None else [_event(e) for e in entry.events],
            list(entry.offsets),
        ]
    )


def decode(data: bytes) -> Entry:
    """The entry :func:`encode` made (``ValueError`` for anything else)."""
    v = orjson.loads(data)
    if not isinstance(v, list) or len(v) != 8 or v[0] != _VERSION:
        raise ValueError("not a cache entry of this version")
    return Entry(
        provider=v[1], model=v[2], created=v[3], cost_nano=v[4],
        response=None if v[5] is None else _unresponse(v[5]),
        events=None if v[6] is None else tuple(_unevent(e) for e in v[6]),
        offsets=tuple(v[7]),
    )  # fmt: skip
