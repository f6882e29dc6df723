"""The generic middleware drivers: one script, four paths, the stream rules in one place.

Each test runs the same layer on the sync and the async stream/chat paths and checks
what a layer author relies on: effects are performed (sync or awaited), a failure
before the first event can be retried, a committed stream settles exactly once (at
StreamEnd before the caller sees it, at an error, or when closed early), the inner
stream is always closed, and a script may answer a call itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from llmswitch.errors import ProviderUnavailableError
from llmswitch.events import StreamEnd, TextDelta
from llmswitch.messages import ChatResponse, Usage
from llmswitch.middleware._drive import Layer, Op, Script, Try, arun, run
from llmswitch.middleware.base import Call

END = StreamEnd(finish_reason="stop", usage=Usage(input_tokens=1, output_tokens=2))
EVENTS = [TextDelta(index=0, text="a"), TextDelta(index=0, text="b"), END]


def make_call() -> Call:
    return Call(request=None, provider=None, ctx=None, model="m")  # type: ignore[arg-type]


class Source:
    """An inner stream (sync and async) that fails ``fail_first`` times before its
    first event, optionally fails after ``fail_after`` events, and records closing."""

    def __init__(self, events: list[Any], fail_first: int = 0, fail_after: int | None = None):
        self.events = events
        self.fail_first = fail_first
        self.fail_after = fail_after
        self.opened = 0
        self.closed = 0

    def _items(self) -> list[Any]:
        self.opened += 1
        if self.opened <= self.fail_first:
            return [ProviderUnavailableError("down")]
        items: list[Any] = list(self.events)
        if self.fail_after is not None:
            items = [*items[: self.fail_after], ProviderUnavailableError("cut")]
        return items

    def sync(self, call: Call) -> Iterator[Any]:
        items = self._items()

        def gen() -> Iterator[Any]:
            try:
                for item in items:
                    if isinstance(item, Exception):
                        raise item
                    yield item
            finally:
                self.closed += 1

        return gen()

    def asyn(self, call: Call) -> AsyncIterator[Any]:
        items = self._items()

        async def gen() -> AsyncIterator[Any]:
            try:
                for item in items:
                    await asyncio.sleep(0)
                    if isinstance(item, Exception):
                        raise item
                    yield item
            finally:
                self.closed += 1

        return gen()


class Recorder(Layer):
    """Retries failures before the first event up to ``tries`` times; records every
    settlement and performs one Op before and after each try."""

    def __init__(self, tries: int = 3) -> None:
        self.tries = tries
        self.log: list[Any] = []
        self.settled: list[Any] = []

    def _note(self, what: Any) -> str:
        self.log.append(what)
        return f"did {what}"

    async def _anote(self, what: Any) -> str:
        self.log.append(("async", what))
        return f"did {what}"

    def script(self, call: Call, stream: bool) -> Script:
        got = yield Op(self._note, self._anote, "admit")
        assert got == "did admit"
        for n in range(self.tries):
            attempt = Try(call)
            try:
                result = yield attempt
            except ProviderUnavailableError as exc:
                if attempt.started or n == self.tries - 1:
                    self.settled.append(("error", str(exc), attempt.started))
                    yield Op(self._note, self._anote, "settle-error")
                    raise
                continue
            except GeneratorExit:
                self.settled.append(("closed", attempt.started))
                yield Op(self._note, self._anote, "settle-closed")
                raise
            self.settled.append(("ok", result))
            yield Op(self._note, self._anote, "settle-ok")
            return result
        raise AssertionError("unreachable")


def consume_sync(layer: Layer, source: Source, limit: int | None = None) -> list[Any]:
    stream = layer.stream(make_call(), source.sync)
    out = []
    for event in stream:
        out.append(event)
        if limit is not None and len(out) == limit:
            stream.close()  # type: ignore[attr-defined]
            break
    return out


def consume_async(layer: Layer, source: Source, limit: int | None = None) -> list[Any]:
    async def main() -> list[Any]:
        stream = layer.astream(make_call(), source.asyn)
        out = []
        async for event in stream:
            out.append(event)
            if limit is not None and len(out) == limit:
                await stream.aclose()  # type: ignore[attr-defined]
                break
        return out

    return asyncio.run(main())


CONSUMERS = {"sync": consume_sync, "async": consume_async}


@pytest.mark.parametrize("path", ["sync", "async"])
def test_stream_settles_at_stream_end_before_the_caller_sees_it(path: str) -> None:
    layer, source = Recorder(), Source(EVENTS)
    settled_when_end_arrived: list[Any] = []
    if path == "sync":
        out = []
        for event in layer.stream(make_call(), source.sync):
            if event is END:
                settled_when_end_arrived = list(layer.settled)
            out.append(event)
    else:

        async def main() -> list[Any]:
            got = []
            async for event in layer.astream(make_call(), source.asyn):
                if event is END:
                    settled_when_end_arrived.extend(layer.settled)
                got.append(event)
            return got

        out = asyncio.run(main())
    assert out == EVENTS
    assert settled_when_end_arrived == [("ok", END)]
    assert layer.settled == [("ok", END)]
    assert source.opened == 1 and source.closed == 1
    ops = [x[1] if isinstance(x, tuple) else x for x in layer.log]
    assert ops == ["admit", "settle-ok"]
    # the sync path called the blocking effect, the async path awaited its twin
    assert all(isinstance(x, tuple) for x in layer.log) == (path == "async")


@pytest.mark.parametrize("path", CONSUMERS)
def test_failure_before_first_event_is_retried_invisibly(path: str) -> None:
    layer, source = Recorder(tries=3), Source(EVENTS, fail_first=2)
    assert CONSUMERS[path](layer, source) == EVENTS
    assert source.opened == 3 and source.closed == 3  # failed tries were closed too
    assert layer.settled == [("ok", END)]


@pytest.mark.parametrize("path", CONSUMERS)
def test_failure_after_first_event_is_not_retried_and_settles_once(path: str) -> None:
    layer, source = Recorder(tries=5), Source(EVENTS, fail_after=1)
    with pytest.raises(ProviderUnavailableError, match="cut"):
        CONSUMERS[path](layer, source)
    assert source.opened == 1 and source.closed == 1
    assert layer.settled == [("error", "cut", True)]


@pytest.mark.parametrize("path", CONSUMERS)
def test_last_failure_before_first_event_propagates(path: str) -> None:
    layer, source = Recorder(tries=2), Source(EVENTS, fail_first=5)
    with pytest.raises(ProviderUnavailableError, match="down"):
        CONSUMERS[path](layer, source)
    assert source.opened == 2 and source.closed == 2
    assert layer.settled == [("error", "down", False)]


@pytest.mark.parametrize("path", CONSUMERS)
def test_caller_closing_early_settles_as_closed_and_closes_the_source(path: str) -> None:
    layer, source = Recorder(), Source(EVENTS)
    assert CONSUMERS[path](layer, source, limit=1) == EVENTS[:1]
    assert layer.settled == [("closed", True)]
    assert source.closed == 1


@pytest.mark.parametrize("path", CONSUMERS)
def test_stream_without_stream_end_settles_with_none(path: str) -> None:
    layer, source = Recorder(), Source(EVENTS[:2])
    assert CONSUMERS[path](layer, source) == EVENTS[:2]
    assert layer.settled == [("ok", None)]


@pytest.mark.parametrize("path", CONSUMERS)
def test_empty_stream_gives_the_script_none(path: str) -> None:
    layer, source = Recorder(), Source([])
    assert CONSUMERS[path](layer, source) == []
    assert layer.settled == [("ok", None)]
    assert source.closed == 1


@pytest.mark.parametrize("path", CONSUMERS)
def test_events_after_settlement_pass_on(path: str) -> None:
    extra = TextDelta(index=0, text="late")
    layer, source = Recorder(), Source([*EVENTS, extra])
    assert CONSUMERS[path](layer, source) == [*EVENTS, extra]
    assert layer.settled == [("ok", END)]


class TriesAgainAfterCommit(Layer):
    def script(self, call: Call, stream: bool) -> Script:
        try:
            yield Try(call)
        except ProviderUnavailableError:
            yield Try(call)  # a bug: the stream was already handed on


@pytest.mark.parametrize("path", CONSUMERS)
def test_trying_again_after_commit_is_refused(path: str) -> None:
    with pytest.raises(RuntimeError, match="after its first event"):
        CONSUMERS[path](TriesAgainAfterCommit(), Source(EVENTS, fail_after=1))


class Answers(Layer):
    """Answers from a stored copy without calling the inner layers (a cache hit)."""

    def script(self, call: Call, stream: bool) -> Script:
        if stream:
            return list(EVENTS)
        return ChatResponse(id="x", model="m", provider="p", text="stored")
        yield  # a generator


@pytest.mark.parametrize("path", CONSUMERS)
def test_a_script_may_answer_a_stream_itself(path: str) -> None:
    source = Source(EVENTS)
    assert CONSUMERS[path](Answers(), source) == EVENTS
    assert source.opened == 0


def test_chat_paths_share_the_script() -> None:
    response = ChatResponse(id="1", model="m", provider="p", text="hi")
    fails = {"n": 1}

    def inner(call: Call) -> ChatResponse:
        if fails["n"]:
            fails["n"] -= 1
            raise ProviderUnavailableError("down")
        return response

    async def ainner(call: Call) -> ChatResponse:
        return inner(call)

    layer = Recorder()
    assert layer.chat(make_call(), inner) is response
    assert layer.settled == [("ok", response)]
    fails["n"] = 1
    alayer = Recorder()
    assert asyncio.run(alayer.achat(make_call(), ainner)) is response
    assert alayer.settled == [("ok", response)]
    assert [x[1] for x in alayer.log] == ["admit", "settle-ok"]
    stored = Answers().chat(make_call(), inner)
    assert stored.text == "stored"


def test_ops_errors_are_raised_in_the_script_and_run_returns_its_value() -> None:
    def boom() -> None:
        raise KeyError("store down")

    async def aboom() -> None:
        boom()

    def ops() -> Any:
        try:
            yield Op(boom, aboom)
        except KeyError:
            return "recovered"
        return "no"

    assert run(ops()) == "recovered"
    assert asyncio.run(arun(ops())) == "recovered"


def test_run_refuses_a_try() -> None:
    def ops() -> Any:
        yield Try(make_call())

    with pytest.raises(RuntimeError, match="only a Layer script"):
        run(ops())


def test_no_script_passes_through_without_a_generator() -> None:
    source = Source(EVENTS)
    stream = Layer().stream(make_call(), source.sync)
    assert list(stream) == EVENTS
    assert source.opened == 1


class Mapped(Layer):
    """One try whose events are mapped by ``each``; records the settlement and the
    time of the first event on its own clock."""

    def __init__(self, each: Any) -> None:
        self.each = each
        self.settled: list[Any] = []
        self.first_at: list[Any] = []

    def script(self, call: Call, stream: bool) -> Script:
        attempt = Try(call, clock=lambda: 42.0, each=self.each)
        try:
            result = yield attempt
        except ProviderUnavailableError as exc:
            self.settled.append(("error", str(exc), attempt.started))
            raise
        self.settled.append(("ok", result))
        self.first_at.append(attempt.first_at)
        return result


def shout(event: Any) -> Any:
    if isinstance(event, TextDelta):
        return None if event.text == "a" else TextDelta(index=0, text=event.text.upper())
    return event


@pytest.mark.parametrize("path", CONSUMERS)
def test_each_maps_and_drops_events_and_the_try_clock_times_the_first(path: str) -> None:
    layer, source = Mapped(shout), Source(EVENTS)
    assert CONSUMERS[path](layer, source) == [TextDelta(index=0, text="B"), END]
    assert layer.settled == [("ok", END)] and layer.first_at == [42.0]
    assert source.closed == 1


@pytest.mark.parametrize("path", CONSUMERS)
def test_each_dropping_the_stream_end_settles_with_none(path: str) -> None:
    layer, source = Mapped(lambda e: e if isinstance(e, TextDelta) else None), Source(EVENTS)
    assert CONSUMERS[path](layer, source) == EVENTS[:2]
    assert layer.settled == [("ok", None)]


@pytest.mark.parametrize("path", CONSUMERS)
def test_each_failing_on_the_first_event_fails_the_try_before_it_started(path: str) -> None:
    def refuse(event: Any) -> Any:
        raise ProviderUnavailableError("mapped")

    layer, source = Mapped(refuse), Source(EVENTS)
    with pytest.raises(ProviderUnavailableError, match="mapped"):
        CONSUMERS[path](layer, source)
    assert layer.settled == [("error", "mapped", False)]
    assert source.closed == 1
