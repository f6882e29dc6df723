"""Accumulator.add_all (what the async client folds each network read with) builds the
same response as add() event by event, for every kind of event and any batching."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from llmswitch.events import (
    Accumulator,
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
from llmswitch.messages import ReasoningBlock, ToolCall, Usage

EVENTS = [
    StreamStart("msg_1", "model-x"),
    ReasoningDelta(0, "think "),
    ReasoningDelta(0, "more"),
    ReasoningEnd(0, ReasoningBlock(text="", signature="sig")),
    TextDelta(1, "Hello"),
    TextDelta(1, ", world"),
    RefusalDelta(1, "no"),
    ToolCallStart(2, "call_1", "lookup"),
    ToolCallDelta(2, '{"q": 1}'),
    ToolCallEnd(2, ToolCall(id="call_1", name="lookup", arguments={"q": 1})),
    TextDelta(1, "!"),
    StreamEnd("tool_calls", Usage(input_tokens=3, output_tokens=5), "tool_use", {"raw": 1}),
]


def _one_by_one(events: list) -> Accumulator:
    acc = Accumulator("p", "m")
    for e in events:
        acc.add(e)
    return acc


@given(
    st.lists(st.integers(min_value=0, max_value=len(EVENTS)), max_size=6),
    st.integers(0, len(EVENTS)),
)
def test_add_all_in_any_batches_equals_add(cuts: list[int], stop: int) -> None:
    events = EVENTS[:stop]
    bounds = sorted({0, len(events), *(c for c in cuts if c <= len(events))})
    acc = Accumulator("p", "m")
    for lo, hi in itertools.pairwise(bounds):
        acc.add_all(events[lo:hi])
    want = _one_by_one(events)
    assert acc.snapshot() == want.snapshot()
    assert acc.done == want.done


def test_the_whole_stream_folds_to_its_response() -> None:
    acc = Accumulator("p", "m")
    acc.add_all(EVENTS)
    r = acc.snapshot()
    assert (r.id, r.model, r.text, r.refusal, r.finish_reason) == (
        "msg_1",
        "model-x",
        "Hello, world!",
        "no",
        "tool_calls",
    )
    assert r.reasoning == "think more"
    assert [c.name for c in r.tool_calls] == ["lookup"]
    assert r.usage.output_tokens == 5
