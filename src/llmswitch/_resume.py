"""Stream recovery: ``client.stream(..., resume=True)`` (README "Stream recovery").

Without it a stream is committed once an event has reached the caller: a later failure
surfaces with what was received (docs/architecture.md, "A stream"). With it, a stream
that breaks after that point — the connection reset or closed early (a
``TransportError``, or a body cut off before the format's end marker), a mid-stream
overload (``ProviderUnavailableError``), a read timeout — is reconnected after the
retry policy's backoff and continued where it stopped, so the caller sees one event
sequence:

- **How it continues.** Where the provider continues a final assistant message
  (:func:`prefills`: Anthropic, Claude on Bedrock and on Vertex, Ollama), the text so
  far is sent as that message (*prefill*; without trailing whitespace, which Claude
  refuses). Elsewhere the text so far goes as an assistant turn followed by a user turn
  with :data:`CONTINUE_INSTRUCTION` (*continuation*). With no text yet the request is
  sent again (*restart*). Thinking turned on makes it a continuation everywhere
  (Claude refuses a prefill then). The continuation drops ``response_format`` (a
  schema-constrained decoder cannot start mid-document; ``parsed`` still validates the
  joined text) and lowers ``max_tokens`` by the output tokens already counted.
- **The seam.** The continuation's start is held back until it is known how much of
  it repeats the end of the text so far (at most :data:`SEAM_WINDOW` characters; after
  a prefill only the whitespace left out of it), and that much is cut. Its
  ``StreamStart`` is dropped; its text continues the text block that broke (same
  ``index``); its other blocks get indexes after every one used so far; the one
  ``StreamEnd`` carries the usage summed over the attempts. Each join is a
  :class:`~llmswitch.messages.Seam` in ``response.resumed``.
- **Tool calls.** A call cut off mid-arguments is abandoned (a ``ToolCallStart``
  without a ``ToolCallEnd``, listed in ``Seam.abandoned``, not in ``tool_calls``); the
  continuation makes it anew under a new index. A break after a *finished* tool call is
  not resumed: that call cannot be sent back without its result.
- **What is not resumed**: a failure before the attempt's first event (the retry
  layer's case, already retried there), a non-retryable error (content filter, bad
  request...), the caller closing or cancelling the stream, and anything the policy
  refuses (attempts, deadline, the call's total timeout for the client's own retries).

Every attempt is an ordinary call through the client's middleware (router, breaker,
keys, budgets, the usage ledger's one row per attempt). The decisions come from the
client's :class:`~llmswitch.middleware.retry.Retry` (``max_retries``, ``[retry]`` or
one in ``middleware``; ``RetryPolicy()`` when retries are off): at most
``attempts - 1`` resumptions.
:class:`Seamer` is the sans-I/O part, shared by the blocking and the async driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigurationError, LLMError, TransportError
from .events import (
    Accumulator,
    Event,
    ReasoningDelta,
    ReasoningEnd,
    RefusalDelta,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from .messages import ChatRequest, ChatResponse, Message, Seam, Usage
from .middleware._drive import aclose_source, close_source
from .middleware.base import (
    Call,
    _terminal_astream,
    _terminal_stream,
    stream_state,
)
from .middleware.retry import Retry, RetryPolicy, Tries
from .usage.middleware import stream_request_id

if TYPE_CHECKING:
    from ._core import _Core
    from .providers.runtime import CallContext, Provider

__all__ = [
    "CONTINUE_INSTRUCTION",
    "SEAM_WINDOW",
    "ResumedAccumulator",
    "Seamer",
    "continuation",
    "open_resumed",
    "prefills",
]

CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stopped, without "
    "repeating anything already written and without any preamble."
)
SEAM_WINDOW = 500  # characters of the text so far in which a repetition is looked for

How = Literal["prefill", "continuation", "restart"]

_FAMILY = {
    "text": "text",
    "reasoning": "reasoning",
    "reasoning_end": "reasoning",
    "refusal": "refusal",
    "tool_call_start": "tool",
    "tool_call_delta": "tool",
    "tool_call_end": "tool",
}


# --------------------------------------------------------------------------- requests


def _thinking(request: ChatRequest) -> bool:
    r = request.reasoning
    if r is None:
        return False
    if r.budget_tokens is not None:
        return r.budget_tokens > 0
    return r.effort is not None and r.effort != "none"


def prefills(kind: str | None, model: str, request: ChatRequest) -> bool:
    """Whether provider kind ``kind`` continues ``request`` ending with an assistant
    message as that message's own text (docs/providers.md: Anthropic "last message
    assistant = prefill"; Bedrock's Converse hands it to Claude; Ollama's templates
    leave a final assistant message open). OpenAI-style APIs answer it with a new turn,
    and Gemini documents no prefill: those get a continuation request."""
    if _thinking(request):
        return False  # Claude refuses a prefill with thinking on
    if kind in ("anthropic", "ollama"):
        return True
    if kind == "bedrock":
        return "anthropic." in model or "claude" in model
    if kind == "vertex":
        return model.startswith(("claude", "anthropic/"))
    return False


def continuation(
    request: ChatRequest, text: str, prefill: bool, output_tokens: int | None = None
) -> tuple[ChatRequest, How, str]:
    """The request that continues ``request``'s answer after ``text``, how, and the end
    of the text so far that the continuation may repeat (what the seam trims)."""
    if not text.strip():
        return request, "restart", text[-SEAM_WINDOW:]
    messages = request.messages
    head = ""
    last = messages[-1] if messages else None
    if (
        last is not None
        and last.role == "assistant"
        and isinstance(last.content, str)
        and not last.tool_calls
    ):
        # The caller's own prefill: the answer so far continues it.
        head, messages = last.content, messages[:-1]
    answer = head + text
    changes: dict[str, Any] = {}
    if request.response_format is not None:
        changes["response_format"] = None
    if request.max_tokens is not None and output_tokens:
        changes["max_tokens"] = max(1, request.max_tokens - output_tokens)
    if prefill:
        kept = answer.rstrip()
        tail = answer[len(kept) :]
        turns: tuple[Message, ...] = (Message(role="assistant", content=kept),)
        how: How = "prefill"
    else:
        tail = text[-SEAM_WINDOW:]
        turns = (
            Message(role="assistant", content=answer),
            Message(role="user", content=CONTINUE_INSTRUCTION),
        )
        how = "continuation"
    return dataclasses.replace(request, messages=(*messages, *turns), **changes), how, tail


# --------------------------------------------------------------------------- the seam


class _Overlap:
    """A continuation's start, held back until it is known how much of it repeats the
    end of the text before the seam (``tail``); that much is then cut."""

    __slots__ = ("buf", "tail", "trimmed")

    def __init__(self, tail: str) -> None:
        self.tail = tail
        self.buf = ""
        self.trimmed = ""

    def feed(self, piece: str) -> str | None:
        """The text to hand on once decided, ``None`` while it may still be a repetition."""
        self.buf += piece
        tail, buf = self.tail, self.buf
        # Found in the tail short of its end: a longer repetition may still be coming.
        if len(buf) < len(tail) and tail.find(buf, 0, len(tail) - 1) >= 0:
            return None
        return self.flush()

    def flush(self) -> str:
        """Decide on what came: cut the longest start of it that ends the tail."""
        tail, buf = self.tail, self.buf
        k = min(len(tail), len(buf))
        while k and not tail.endswith(buf[:k]):
            k -= 1
        self.trimmed = buf[:k]
        return buf[k:]


def add_usage(total: Usage | None, more: Usage) -> Usage:
    """Token counts of two attempts added (``None``, not said, counts as nothing)."""
    if total is None:
        return more
    values: dict[str, int | None] = {}
    for f in dataclasses.fields(Usage):
        a, b = getattr(total, f.name), getattr(more, f.name)
        values[f.name] = b if a is None else a if b is None else a + b
    return Usage(**values)


class ResumedAccumulator(Accumulator):
    """An :class:`Accumulator` whose responses carry the stream's seams (``resumed``),
    the final one and the ``partial`` of an error alike."""

    __slots__ = ("seams",)

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self.seams: list[Seam] = []

    def snapshot(self, usage: Usage | None = None) -> ChatResponse:
        response = super().snapshot(usage)
        if not self.seams:
            return response
        return dataclasses.replace(response, resumed=tuple(self.seams))


class Seamer:
    """Makes the caller's one event sequence out of the attempts' (sans-I/O).

    ``feed(event)`` takes an attempt's event and returns what the caller gets for it (none
    while the seam's start is held back, or a cut-off ``StreamEnd`` that may yet be
    resumed: then ``truncated`` is set). At a break: ``flush()`` (what was held back),
    ``resumable()``, then ``resume(error, delay, attempt)`` for the next request, or
    ``give_up()`` for a cut-off stream's own end."""

    def __init__(self, acc: ResumedAccumulator, request: ChatRequest, prefill: bool) -> None:
        self.acc = acc
        self.request = request
        self.prefill = prefill
        self.text: list[str] = []  # the text the caller has been given
        self.text_index: int | None = None  # the caller's index of the latest text block
        self.top = -1  # the highest index the caller has seen
        self.open_tools: set[int] = set()  # tool calls started and not ended (caller's index)
        self.finished_tools = 0
        self.usage: Usage | None = None  # summed over the attempts
        self.started = False  # the current attempt has produced an event
        self.truncated: StreamEnd | None = None  # the current attempt's cut-off end
        self._first = True  # on the first attempt: events pass as they are
        self._map: dict[tuple[str, int], int] = {}  # (family, attempt's index) -> caller's
        self._overlap: _Overlap | None = None
        self._overlap_index = 0
        self._seam: dict[str, Any] | None = None  # the join being made, until its trim is known

    # ---- events

    def feed(self, event: Event) -> list[Event]:
        self.started = True
        kind = event.kind
        if kind == "end":
            assert isinstance(event, StreamEnd)
            return self._end(event)
        if self._first:
            self._track(event)
            return [event]
        if kind == "start":
            return []  # the caller has had the stream's start
        index = self._index(_FAMILY.get(kind, kind), event.index)  # type: ignore[union-attr]
        if kind == "text":
            return self._text(index, event.text)  # type: ignore[union-attr]
        out = self.flush() if kind == "tool_call_start" else []
        if kind == "tool_call_start":
            assert isinstance(event, ToolCallStart)
            self.open_tools.add(index)
            moved = event if event.index == index else ToolCallStart(index, event.id, event.name)
            out.append(moved)
        elif kind == "tool_call_delta":
            assert isinstance(event, ToolCallDelta)
            out.append(event if event.index == index else ToolCallDelta(index, event.arguments))
        elif kind == "tool_call_end":
            assert isinstance(event, ToolCallEnd)
            self.open_tools.discard(index)
            self.finished_tools += 1
            out.append(event if event.index == index else ToolCallEnd(index, event.tool_call))
        elif kind == "reasoning":
            assert isinstance(event, ReasoningDelta)
            out.append(event if event.index == index else ReasoningDelta(index, event.text))
        elif kind == "reasoning_end":
            assert isinstance(event, ReasoningEnd)
            out.append(event if event.index == index else ReasoningEnd(index, event.block))
        elif kind == "refusal":
            assert isinstance(event, RefusalDelta)
            out.append(event if event.index == index else RefusalDelta(index, event.text))
        return out

    def _track(self, event: Event) -> None:
        kind = event.kind
        if kind == "start":
            return
        index: int = event.index  # type: ignore[union-attr]
        if index > self.top:
            self.top = index
        if kind == "text":
            self.text.append(event.text)  # type: ignore[union-attr]
            self.text_index = index
        elif kind == "tool_call_start":
            self.open_tools.add(index)
        elif kind == "tool_call_end":
            self.open_tools.discard(index)
            self.finished_tools += 1

    def _index(self, family: str, index: int) -> int:
        key = (family, index)
        mine = self._map.get(key)
        if mine is None:
            if (
                family == "text"
                and self.text_index is not None
                and not any(f == "text" for f, _ in self._map)
            ):
                mine = self.text_index  # the text goes on in the block that broke
            else:
                mine = self.top + 1
            self._map[key] = mine
            if mine > self.top:
                self.top = mine
        return mine

    def _text(self, index: int, piece: str) -> list[Event]:
        if self._overlap is not None:
            self._overlap_index = index
            decided = self._overlap.feed(piece)
            if decided is None:
                return []
            self._joined()
            piece = decided
        if not piece:
            return []
        self.text.append(piece)
        self.text_index = index
        return [TextDelta(index, piece)]

    def _end(self, end: StreamEnd) -> list[Event]:
        self.usage = add_usage(self.usage, end.usage)
        if end.finish_reason == "error" and end.raw_finish_reason is None:
            # Cut off before the format's end marker: resumable like a reset connection.
            self.truncated = end
            return []
        return self._final(end)

    def _final(self, end: StreamEnd) -> list[Event]:
        out = self.flush()
        if self._first:
            out.append(end)
        else:
            assert self.usage is not None
            out.append(StreamEnd(end.finish_reason, self.usage, end.raw_finish_reason, end.raw))
        return out

    # ---- breaks

    def flush(self) -> list[Event]:
        """What the seam held back, decided on what has come (at a break or an end)."""
        overlap = self._overlap
        if overlap is None:
            return []
        rest = overlap.flush()
        self._joined()
        if not rest:
            return []
        self.text.append(rest)
        self.text_index = self._overlap_index
        return [TextDelta(self._overlap_index, rest)]

    def _joined(self) -> None:
        assert self._overlap is not None and self._seam is not None
        self.acc.seams.append(Seam(**self._seam, trimmed=self._overlap.trimmed))
        self._overlap = self._seam = None

    def truncation(self) -> TransportError:
        """The error a cut-off stream stands for."""
        return TransportError(
            "the stream ended before the provider finished it (cut off)",
            provider=self.acc.provider,
            model=self.acc.model,
        )

    def resumable(self) -> bool:
        """Whether the current attempt's break may be resumed at all (the policy decides
        the rest): it produced an event (before that the retry layer decides, and has),
        and no finished tool call would have to be sent back without its result."""
        return self.started and not self.finished_tools

    def give_up(self) -> list[Event]:
        """A cut-off stream that is not resumed ends as it would have without resume."""
        end, self.truncated = self.truncated, None
        assert end is not None
        return self._final(end)

    def resume(self, error: LLMError, delay: float, attempt: int) -> ChatRequest:
        """The request of try number ``attempt``, which carries on after ``error``."""
        text = "".join(self.text)
        output = self.usage.output_tokens if self.usage is not None else None
        request, how, tail = continuation(self.request, text, self.prefill, output)
        self._seam = {
            "offset": len(text),
            "attempt": attempt,
            "error": error,
            "how": how,
            "delay": delay,
            "abandoned": tuple(sorted(self.open_tools)),
        }
        self._overlap, self._overlap_index = _Overlap(tail), self.text_index or 0
        self.open_tools.clear()
        self._map.clear()
        self._first = False
        self.started = False
        self.truncated = None
        return request


# --------------------------------------------------------------------------- drivers


def _resumed(
    seamer: Seamer, open_: Callable[[Call], Iterator[Event]], call: Call, retry: Retry
) -> Iterator[Event]:
    tries: Tries = retry.tries(call)
    source = open_(call)
    try:
        while True:
            error: LLMError | None = None
            try:
                for event in source:
                    out = seamer.feed(event)
                    if out:
                        yield from out
                    if seamer.truncated is not None:
                        break
            except LLMError as exc:
                error = exc
            if error is None:
                if seamer.truncated is None:  # ended (or stopped without an end, as ever)
                    yield from seamer.flush()
                    return
                error = seamer.truncation()
            close_source(source)
            yield from seamer.flush()
            delay = tries.delay(error) if seamer.resumable() else None
            if delay is None:
                if seamer.truncated is None:
                    raise error
                yield from seamer.give_up()
                return
            tries.wait(delay)
            request = seamer.resume(error, delay, tries.number)
            source = open_(tries.call().replace(request=request))
    finally:
        close_source(source)


async def _aresumed(
    seamer: Seamer, open_: Callable[[Call], AsyncIterator[Event]], call: Call, retry: Retry
) -> AsyncIterator[Event]:
    tries: Tries = retry.tries(call)
    source = open_(call)
    try:
        while True:
            error: LLMError | None = None
            try:
                async for event in source:
                    for out in seamer.feed(event):
                        yield out
                    if seamer.truncated is not None:
                        break
            except LLMError as exc:
                error = exc
            if error is None:
                if seamer.truncated is None:
                    for out in seamer.flush():
                        yield out
                    return
                error = seamer.truncation()
            await aclose_source(source)
            for out in seamer.flush():
                yield out
            delay = tries.delay(error) if seamer.resumable() else None
            if delay is None:
                if seamer.truncated is None:
                    raise error
                for out in seamer.give_up():
                    yield out
                return
            await tries.await_(delay)
            request = seamer.resume(error, delay, tries.number)
            source = open_(tries.call().replace(request=request))
    finally:
        await aclose_source(source)


# --------------------------------------------------------------------------- wiring


def _retry(core: _Core, resume: Any) -> Retry:
    """Whose decisions the resumptions follow (see the module docstring)."""
    if resume is not True:
        raise ConfigurationError(f"resume must be True or False (got {resume!r})", field="resume")
    if core.retry is not None:
        return core.retry
    if core.pipe is not None:
        for layer in core.pipe.middleware:
            if isinstance(layer, Retry):
                return layer
    return Retry(RetryPolicy(), within_timeout=True)


def _prefill(core: _Core, model: str, provider: Provider, request: ChatRequest) -> bool:
    group = core.config.models.get(model)
    if group is None:
        return prefills(core.provider_kind(provider.id), request.model, request)
    # A model group's continuation may go to any of its deployments: prefill only when
    # every one of them continues a prefill.
    return all(
        prefills(core.provider_kind(pid), name, request)
        for pid, _, name in (d.model.partition("/") for d in group.deployments)
    )


def open_resumed(
    core: _Core,
    model: str,
    provider: Provider,
    request: ChatRequest,
    ctx: CallContext,
    resume: Any,
    *,
    asynchronous: bool,
    state: Mapping[str, Any] | None = None,
) -> tuple[Any, ResumedAccumulator]:
    """The event source of a resumable stream and the accumulator it reports its seams
    to (for :class:`~llmswitch.client.ChatStream` / ``AsyncChatStream``). ``state``:
    more of the call's ``Call.state`` (shared by every attempt, as by retries)."""
    retry = _retry(core, resume)
    acc = ResumedAccumulator(provider.id, request.model)
    seamer = Seamer(acc, request, _prefill(core, model, provider, request))
    call = Call(
        request=request, provider=provider, ctx=ctx, model=model,
        state={**(state or {}), **stream_state(acc)},
    )  # fmt: skip
    stream_request_id(core.ledger, acc, call.state)  # one request id for every attempt
    pipe, first_retry = core.pipe, core.retry  # each try is retried before its first event
    if asynchronous:
        aopen: Callable[[Call], AsyncIterator[Event]] = _terminal_astream
        if pipe is not None:
            aopen = pipe.astream
        elif first_retry is not None:
            aopen = lambda c: first_retry.astream(c, _terminal_astream)  # noqa: E731
        return _aresumed(seamer, aopen, call, retry), acc
    sopen: Callable[[Call], Iterator[Event]] = _terminal_stream
    if pipe is not None:
        sopen = pipe.stream
    elif first_retry is not None:
        sopen = lambda c: first_retry.stream(c, _terminal_stream)  # noqa: E731
    return _resumed(seamer, sopen, call, retry), acc
