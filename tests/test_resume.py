"""Stream recovery (``stream(..., resume=True)``) on a scripted provider: what the caller
sees, what the continuation asks, the seams, the policy's limits. The sans-I/O parts
are in tests/test_resume_seam.py, the wire formats' own breaks in
tests/test_resume_e2e.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch._resume import (
    CONTINUE_INSTRUCTION,
)
from llmswitch.errors import (
    ConfigurationError,
    ContentFilterError,
    LLMTimeoutError,
    ProviderUnavailableError,
    TransportError,
)
from llmswitch.events import (
    Event,
    ReasoningDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.messages import Message, Usage
from llmswitch.middleware import Middleware
from llmswitch.middleware.retry import Retry, RetryPolicy, no_sleep
from llmswitch.testing import FakeProvider

MESSAGES = [{"role": "user", "content": "Tell me about foxes"}]
MODEL = "fake/m"


def highest(lo: float, hi: float) -> float:
    """A RetryPolicy ``random`` without jitter: always the full backoff."""
    return hi


def collect(client: Client, **kw: Any) -> tuple[list[Event], Any]:
    with client.stream(MODEL, MESSAGES, **kw) as stream:
        events = list(stream)
    return events, stream.response


def texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


# --------------------------------------------------------------------------- the caller's view


def fake_client(*replies: dict[str, Any], **kw: Any) -> tuple[FakeProvider, Client]:
    fake = FakeProvider(replies=replies)
    return fake, Client(providers=[fake], **kw)


def test_a_broken_stream_goes_on_as_one_sequence() -> None:
    fake, client = fake_client(
        {"text": "Foxes are small omnivores.", "chunk_size": 5, "error_after": 3,
         "usage": {"input_tokens": 7, "output_tokens": 4}},
        {"text": "small omnivores.", "chunk_size": 6, "usage": {"input_tokens": 20,
         "output_tokens": 5}},
    )  # fmt: skip
    with no_sleep() as slept:
        events, resp = collect(client, resume=True)
    assert [type(e) for e in events] == [StreamStart, *[TextDelta] * 5, StreamEnd]
    assert all(e.index == 0 for e in events if isinstance(e, TextDelta))
    assert resp.text == "Foxes are small omnivores."
    assert "".join(texts(events)) == "Foxes are small omnivores."
    # The first attempt never reported usage (it broke): the sum is the second's.
    assert resp.usage.input_tokens == 20 and resp.usage.output_tokens == 5
    assert resp.finish_reason == "stop"
    (seam,) = resp.resumed
    assert seam.offset == len("Foxes are ")
    assert seam.attempt == 2
    assert seam.how == "continuation"  # FakeProvider has no wire kind: no prefill
    assert isinstance(seam.error, ProviderUnavailableError)
    assert seam.trimmed == ""
    assert seam.delay == slept[0]
    assert fake.requests[1].messages[-2:] == (
        Message(role="assistant", content="Foxes are "),
        Message(role="user", content=CONTINUE_INSTRUCTION),
    )


def test_the_repetition_at_the_seam_is_cut() -> None:
    _fake, client = fake_client(
        {"text": "The quick brown fox", "chunk_size": 4, "error_after": 4},
        {"text": "brown fox jumps.", "chunk_size": 3},
    )
    with no_sleep():
        _events, resp = collect(client, resume=True)
    assert resp.text == "The quick brown fox jumps."
    assert resp.resumed[0].trimmed == "br"
    assert resp.resumed[0].offset == len("The quick br")


def test_resume_off_keeps_the_committed_stream() -> None:
    fake, client = fake_client(
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 3}, {"text": "unused"}
    )
    with no_sleep(), pytest.raises(ProviderUnavailableError) as info:
        collect(client)
    assert info.value.partial.text == "Foxes are "
    assert info.value.partial.resumed == ()
    assert fake.calls == 1


@pytest.mark.parametrize(
    "error",
    [ContentFilterError("blocked", provider="fake"), ConfigurationError("bad")],
)
def test_a_non_retryable_break_surfaces(error: Exception) -> None:
    fake, client = fake_client(
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 3, "error": error},
        {"text": "unused"},
    )
    with no_sleep() as slept, pytest.raises(type(error)) as info:
        collect(client, resume=True)
    assert info.value.partial.text == "Foxes are "
    assert slept == [] and fake.calls == 1


def test_resumptions_stop_at_the_policys_attempts() -> None:
    broken = {"text": "one two three four", "chunk_size": 4, "error_after": 2}
    fake, client = fake_client(
        broken, broken, broken, {"text": "never"},
        middleware=[Retry(RetryPolicy(attempts=3, initial=1, random=highest), sleep=False)],
    )  # fmt: skip
    retry = client._pipeline.middleware[0]  # type: ignore[union-attr]
    with pytest.raises(ProviderUnavailableError) as info:
        collect(client, resume=True)
    assert fake.calls == 3  # two resumptions, then the policy gives up
    assert retry.sleeps == [1.0, 2.0]  # the policy's backoff, exponential
    partial = info.value.partial
    assert [s.attempt for s in partial.resumed] == [2, 3]
    assert [s.delay for s in partial.resumed] == [1.0, 2.0]


def test_a_sleep_function_waits_the_backoff() -> None:
    waited: list[float] = []
    policy = RetryPolicy(attempts=2, initial=0.25, random=highest)
    _fake, client = fake_client(
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 2},
        {"text": " are small."},
        middleware=[Retry(policy, sleep=waited.append)],
    )
    _events, resp = collect(client, resume=True)
    assert waited == [0.25]
    assert resp.text == "Foxes are small."


def test_resume_works_with_retries_off() -> None:
    _fake, client = fake_client(
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 2},
        {"text": " are small."},
        max_retries=0,
    )
    with no_sleep():
        _, resp = collect(client, resume=True)
    assert resp.text == "Foxes are small." and len(resp.resumed) == 1


def test_resume_rejects_other_values() -> None:
    _, client = fake_client({"text": "x"})
    with pytest.raises(ConfigurationError) as info:
        collect(client, resume="yes")
    assert info.value.field == "resume"


def test_a_failure_before_the_first_event_is_the_retry_layers() -> None:
    fake, client = fake_client({"error": TransportError("refused")}, {"text": "Foxes."})
    with no_sleep() as slept:
        _, resp = collect(client, resume=True)
    assert resp.text == "Foxes." and resp.resumed == ()  # retried, not resumed
    assert len(slept) == 1 and fake.calls == 2


def test_a_continuation_failing_before_its_first_event_surfaces_after_its_retries() -> None:
    fake, client = fake_client(
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 2},
        {"error": TransportError("refused")},
        {"error": TransportError("refused")},
        {"error": TransportError("refused again")},
        max_retries=2,
    )
    with no_sleep(), pytest.raises(TransportError, match="refused again") as info:
        collect(client, resume=True)
    assert fake.calls == 4  # the break, then the continuation tried three times
    assert info.value.partial.text == "Foxes"


def test_a_tool_call_broken_mid_arguments_is_made_anew() -> None:
    call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
    fake, client = fake_client(
        # StreamStart, "Let me check." (2 pieces), ToolCallStart, 2 argument fragments
        {"text": "Let me check.", "tool_calls": [call], "chunk_size": 7, "error_after": 6},
        {"tool_calls": [{**call, "id": "call_2"}], "chunk_size": 7},
    )
    with no_sleep():
        events, resp = collect(client, resume=True)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [(s.index, s.id) for s in starts] == [(1, "call_1"), (2, "call_2")]
    assert [e.index for e in ends] == [2]
    fragments = "".join(
        e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 2
    )
    assert fragments == '{"city":"Paris","unit":"C"}'
    assert [c.id for c in resp.tool_calls] == ["call_2"]
    assert resp.finish_reason == "tool_calls"
    assert resp.resumed[0].abandoned == (1,)
    assert fake.requests[1].messages[-2].content == "Let me check."


def test_a_finished_tool_call_is_not_resumed() -> None:
    calls = [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]
    fake, client = fake_client(
        # StreamStart, ToolCallStart a, "{}", ToolCallEnd a, ToolCallStart b: break
        {"tool_calls": calls, "error_after": 5},
        {"text": "unused"},
    )
    with no_sleep(), pytest.raises(ProviderUnavailableError) as info:
        collect(client, resume=True)
    assert [c.name for c in info.value.partial.tool_calls] == ["a"]
    assert fake.calls == 1


def test_new_blocks_of_a_continuation_take_new_indexes() -> None:
    _fake, client = fake_client(
        # reasoning at 0, text at 1: breaks in the text
        {"reasoning": "Think.", "text": "Foxes are small.", "chunk_size": 6, "error_after": 3},
        # the continuation thinks again (0) and answers (1)
        {"reasoning": "Again.", "text": "are small."},
    )
    with no_sleep():
        events, resp = collect(client, resume=True)
    indexes = [(type(e).__name__, e.index) for e in events if hasattr(e, "index")]
    assert indexes == [
        ("ReasoningDelta", 0), ("TextDelta", 1),  # "Think.", "Foxes "
        ("ReasoningDelta", 2), ("TextDelta", 1), ("TextDelta", 1),  # "Again.", "are ", "small."
    ]  # fmt: skip
    assert resp.text == "Foxes are small."
    assert [b.text for b in resp.reasoning_blocks] == ["Think.", "Again."]
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["Think.", "Again."]


def test_a_cut_off_body_is_resumed_and_its_usage_counted() -> None:
    fake, client = fake_client(
        {"text": "Foxes are", "finish_reason": "error", "usage": {"input_tokens": 7,
         "output_tokens": 2}},
        {"text": " small.", "usage": {"input_tokens": 12, "output_tokens": 3}},
    )  # fmt: skip
    # FakeProvider reports a scripted "error" end with that raw reason: make it a cut-off
    # one, as a parser does at a body without its end marker (raw reason None).
    original = fake._events

    def cut(reply: Any, request: Any) -> list[Event]:
        events = original(reply, request)
        end = events[-1]
        assert isinstance(end, StreamEnd)
        if end.finish_reason == "error":
            events[-1] = StreamEnd("error", end.usage, None)
        return events

    fake._events = cut  # type: ignore[method-assign]
    with no_sleep():
        events, resp = collect(client, resume=True)
    assert [type(e) for e in events].count(StreamEnd) == 1
    assert resp.text == "Foxes are small."
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (19, 5)
    assert isinstance(resp.resumed[0].error, TransportError)
    assert "cut off" in str(resp.resumed[0].error)


def test_a_cut_off_body_not_resumed_ends_as_without_resume() -> None:
    fake, client = fake_client({"text": "Foxes are", "finish_reason": "error"})
    original = fake._events

    def cut(reply: Any, request: Any) -> list[Event]:
        events = original(reply, request)
        events[-1] = StreamEnd("error", Usage(input_tokens=3), None)
        return events

    fake._events = cut  # type: ignore[method-assign]
    _, plain = collect(client)
    fake.reply("Foxes are", finish_reason="error")
    once = Client(providers=[fake], middleware=[Retry(RetryPolicy(attempts=1))])
    with no_sleep():
        _, resumed = collect(once, resume=True)
    assert dataclasses.replace(resumed, id=None) == dataclasses.replace(plain, id=None)
    assert resumed.finish_reason == "error" and resumed.usage == Usage(input_tokens=3)


def test_a_timeout_within_the_total_is_resumed_and_not_past_it() -> None:
    fake, client = fake_client(
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 2,
         "error": LLMTimeoutError("read timed out", phase="read")},
        {"text": "are small."},
    )  # fmt: skip
    with no_sleep():
        _, resp = collect(client, resume=True)
    assert isinstance(resp.resumed[0].error, LLMTimeoutError)
    # The client's own retries stay within the call's total timeout: a wait that would
    # end past it is not made.
    fake.reply("Foxes are small.", chunk_size=5, error_after=2)
    slow = RetryPolicy(initial=10, random=highest)
    bounded = Client(providers=[fake], middleware=[Retry(slow, within_timeout=True)])
    with no_sleep(), pytest.raises(ProviderUnavailableError):
        collect(bounded, resume=True, timeout=5)


def test_closing_the_stream_early_stops_everything() -> None:
    fake, client = fake_client({"text": "Foxes are small.", "chunk_size": 5, "error_after": 3})
    with no_sleep() as slept, client.stream(MODEL, MESSAGES, resume=True) as stream:
        for event in stream:
            if isinstance(event, TextDelta):
                break
    assert slept == [] and fake.calls == 1


class Counting(Middleware):
    """Sees each provider call of the pipeline (every attempt goes through it)."""

    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    def stream(self, call: Any, next: Any) -> Any:
        self.calls.append(list(call.request.messages))
        return next(call)

    def astream(self, call: Any, next: Any) -> Any:
        self.calls.append(list(call.request.messages))
        return next(call)


def test_each_attempt_is_a_call_through_the_middleware() -> None:
    counting = Counting()
    _fake, client = fake_client(
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 2},
        {"text": " are small."},
        middleware=[counting],
    )
    with no_sleep():
        _, resp = collect(client, resume=True)
    assert len(counting.calls) == 2
    assert counting.calls[1][-1].content == CONTINUE_INSTRUCTION
    assert resp.text == "Foxes are small."


async def test_async_stream_resumes_the_same_way() -> None:
    fake = FakeProvider(
        replies=[
            {"text": "The quick brown fox", "chunk_size": 4, "error_after": 4},
            {"text": "brown fox jumps.", "chunk_size": 3, "usage": {"input_tokens": 9}},
        ]
    )
    counting = Counting()
    async with AsyncClient(providers=[fake], middleware=[counting]) as client:
        with no_sleep() as slept:
            async with client.stream(MODEL, MESSAGES, resume=True) as stream:
                events = [e async for e in stream]
            resp = stream.response
    assert "".join(texts(events)) == resp.text == "The quick brown fox jumps."
    assert [type(e) for e in events].count(StreamEnd) == 1
    assert [type(e) for e in events].count(StreamStart) == 1
    assert resp.resumed[0].trimmed == "br" and resp.resumed[0].delay == slept[0]
    assert resp.usage.input_tokens == 9
    assert len(counting.calls) == 2


async def test_async_non_retryable_break_surfaces() -> None:
    fake = FakeProvider(
        replies=[{"text": "Foxes are small.", "chunk_size": 5, "error_after": 3,
                  "error": ContentFilterError("blocked")}]
    )  # fmt: skip
    async with AsyncClient(providers=[fake]) as client:
        with no_sleep(), pytest.raises(ContentFilterError) as info:
            async with client.stream(MODEL, MESSAGES, resume=True) as stream:
                async for _ in stream:
                    pass
    assert info.value.partial.text == "Foxes are "
    assert fake.calls == 1
