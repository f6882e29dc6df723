"""``async with client.stream(...)``: entering sends the request once, leaving closes
the source whether the block ended normally, early or by an error, and never
swallows the block's exception."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmswitch import AsyncClient
from llmswitch.events import Event
from llmswitch.messages import ChatRequest
from llmswitch.testing import FakeProvider

HI = [{"role": "user", "content": "hi"}]


class _Tracked(FakeProvider):
    """A FakeProvider whose streams report being started and closed."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.closed = 0

    def astream(self, request: ChatRequest, ctx: Any = None) -> AsyncIterator[Event]:
        inner = super().astream(request, ctx)

        async def tracked() -> AsyncIterator[Event]:
            self.opened += 1
            try:
                async for event in inner:
                    yield event
            finally:
                self.closed += 1

        return tracked()


async def test_a_read_stream_is_opened_once_and_closed() -> None:
    fake = _Tracked().default_reply("one two three")
    client = AsyncClient(providers=[fake], max_retries=0)
    async with client.stream("fake/m", HI) as stream:
        assert fake.opened == 1  # sent on entering
        texts = [e.text async for e in stream if e.kind == "text"]  # type: ignore[union-attr]
        assert "".join(texts) == "one two three"
    assert (fake.opened, fake.closed) == (1, 1)
    assert stream.response.text == "one two three"


async def test_leaving_early_closes_the_source() -> None:
    fake = _Tracked().default_reply("one two three four five", chunk_size=4)
    client = AsyncClient(providers=[fake], max_retries=0)
    async with client.stream("fake/m", HI) as stream:
        async for _ in stream:
            break
    assert (fake.opened, fake.closed) == (1, 1)


async def test_an_error_in_the_block_goes_on_and_the_source_is_closed() -> None:
    fake = _Tracked().default_reply("one two three")
    client = AsyncClient(providers=[fake], max_retries=0)
    with pytest.raises(KeyError, match="mine"):
        async with client.stream("fake/m", HI) as stream:
            async for _ in stream:
                raise KeyError("mine")
    assert (fake.opened, fake.closed) == (1, 1)


async def test_iterating_without_async_with_starts_the_stream() -> None:
    fake = _Tracked().default_reply("hello")
    client = AsyncClient(providers=[fake], max_retries=0)
    stream = client.stream("fake/m", HI)
    assert fake.opened == 0  # nothing sent before it is used
    assert [e.text async for e in stream if e.kind == "text"] == ["hello"]  # type: ignore[union-attr]
    await stream.aclose()
    assert (fake.opened, fake.closed) == (1, 1)


async def test_a_source_that_ends_at_once_is_an_empty_stream() -> None:
    # A middleware's or plugin's stream may end before its first event.
    from llmswitch._chat_stream import AsyncChatStream
    from llmswitch.events import Accumulator

    async def nothing() -> AsyncIterator[list[Event]]:
        return
        yield

    for batched in (True, False):
        stream = AsyncChatStream(nothing(), Accumulator("openai", "m"), batched=batched)
        async with stream as s:
            assert [event async for event in s] == []


def test_a_sync_source_that_ends_at_once_is_an_empty_stream() -> None:
    from llmswitch._chat_stream import ChatStream
    from llmswitch.events import Accumulator

    with ChatStream(iter([]), Accumulator("openai", "m")) as s:
        assert list(s) == []


class _Reader:
    """A StreamReader's shape (providers/_stream_reader.py) over canned reads of
    events: ``open`` hands the first read's, ``chunks`` the rest, ``finish`` the end."""

    def __init__(self, reads: list[list[Event]], end: list[Event]) -> None:
        self._reads, self._end = reads, end
        self.ended = False
        self.exited: list[BaseException | None] = []
        self.feed = lambda events: events  # a "chunk" here is a read's events

        async def chunks() -> AsyncIterator[list[Event]]:
            for read in self._reads[1:]:
                yield read

        self.chunks = chunks()

    async def open(self) -> list[Event]:
        return self._reads[0]

    def finish(self) -> list[Event]:
        return self._end

    async def exit(self, exc: BaseException | None) -> None:
        self.exited.append(exc)

    def fail(self, exc: Any) -> Any:
        return exc


async def test_a_reader_stream_has_folded_every_event_it_hands_on() -> None:
    from llmswitch._chat_stream import AsyncChatStream
    from llmswitch.events import Accumulator, ReasoningDelta, StreamEnd, StreamStart, TextDelta
    from llmswitch.messages import Usage

    reads: list[list[Event]] = [
        [StreamStart("id-1", "m"), TextDelta(0, "a"), ReasoningDelta(0, "r")],
        [TextDelta(0, "b"), TextDelta(0, "c")],
        [],
    ]
    end: list[Event] = [TextDelta(0, "d"), StreamEnd("stop", Usage(output_tokens=4), "stop", None)]
    acc = Accumulator("fake", "m")
    reader = _Reader(reads, end)
    handed: list[str] = []
    async with AsyncChatStream(None, acc, reader=reader) as stream:
        async for event in stream:
            # whatever the caller holds is in the accumulator already
            if event.kind == "text":
                handed.append(event.text)
            assert acc.snapshot().text.startswith("".join(handed))
            assert acc.done or event.kind != "end"
    assert handed == ["a", "b", "c", "d"]
    response = stream.response
    assert (response.text, response.reasoning, response.id) == ("abcd", "r", "id-1")
    assert reader.exited[0] is None  # released after a clean end (a later exit is a no-op)
