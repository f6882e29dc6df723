"""Typed stream events and the accumulator that builds a ChatResponse from them.

Every adapter's stream parser emits these; :class:`Accumulator` folds them into the
same :class:`~llmswitch.ChatResponse` that ``chat()`` returns for the same answer.

``index`` is the position of the block the event belongs to (a tool call's index
for OpenAI, a content block's index for Anthropic): events with the same index
belong together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._make import make_response
from .catalog import cost_of
from .messages import ChatResponse, FinishReason, ReasoningBlock, ToolCall, Usage

__all__ = [
    "Accumulator",
    "Event",
    "ReasoningDelta",
    "ReasoningEnd",
    "RefusalDelta",
    "StreamEnd",
    "StreamStart",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
]


@dataclass(frozen=True, slots=True)
class StreamStart:
    """The provider's response id and model, when it sends them first."""

    id: str | None
    model: str | None
    kind: Literal["start"] = field(default="start", init=False)


class _TextSlots:
    """The slots of TextDelta, ReasoningDelta, RefusalDelta and DeltaDraft, which add
    none of their own: CPython then allows a ``__class__`` assignment between them by
    their common base alone, instead of comparing each class's slot names (a sixth of
    the cost of a streamed text event, see DeltaDraft). Not part of the API."""

    __slots__ = ("index", "kind", "text")


@dataclass(frozen=True, slots=True)
class TextDelta(_TextSlots):
    index: int
    text: str
    kind: Literal["text"] = field(default="text", init=False)


@dataclass(frozen=True, slots=True)
class ReasoningDelta(_TextSlots):
    index: int
    text: str
    kind: Literal["reasoning"] = field(default="reasoning", init=False)


@dataclass(frozen=True, slots=True)
class ReasoningEnd:
    """A thinking block is complete; ``block`` carries its signature or redacted data."""

    index: int
    block: ReasoningBlock
    kind: Literal["reasoning_end"] = field(default="reasoning_end", init=False)


@dataclass(frozen=True, slots=True)
class RefusalDelta(_TextSlots):
    index: int
    text: str
    kind: Literal["refusal"] = field(default="refusal", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    kind: Literal["tool_call_start"] = field(default="tool_call_start", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a JSON fragment, not aligned to JSON tokens
    kind: Literal["tool_call_delta"] = field(default="tool_call_delta", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    index: int
    tool_call: ToolCall
    kind: Literal["tool_call_end"] = field(default="tool_call_end", init=False)


@dataclass(frozen=True, slots=True)
class StreamEnd:
    finish_reason: FinishReason
    usage: Usage
    raw_finish_reason: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)
    kind: Literal["end"] = field(default="end", init=False)


def _plain_init(cls: type, second: str) -> None:
    """Give a frozen ``(index, <second>)`` event a plain ``__init__`` that sets its slots
    through their descriptors: the dataclass's own pays the frozen ``__setattr__`` check
    per field, which is half the cost of a streamed event. Fields, equality, repr,
    hashing and immutability stay the dataclass's."""
    set_index, set_second = cls.index.__set__, getattr(cls, second).__set__  # type: ignore[attr-defined]
    set_kind = cls.kind.__set__  # type: ignore[attr-defined]
    kind = cls.__dataclass_fields__["kind"].default  # type: ignore[attr-defined]

    def text_init(self: Any, index: int, text: str) -> None:
        set_index(self, index)
        set_second(self, text)
        set_kind(self, kind)

    def arguments_init(self: Any, index: int, arguments: str) -> None:
        set_index(self, index)
        set_second(self, arguments)
        set_kind(self, kind)

    init: Any = text_init if second == "text" else arguments_init
    init.__name__, init.__qualname__ = "__init__", f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses a method assignment)


# The events of which a stream carries hundreds.
for _cls in (TextDelta, ReasoningDelta, RefusalDelta):
    _plain_init(_cls, "text")
_plain_init(ToolCallDelta, "arguments")
del _cls


class DeltaDraft(_TextSlots):
    """A mutable object with the slot layout of TextDelta, ReasoningDelta and
    RefusalDelta, for a parser's hot loop: filled by plain attribute stores, then made
    the event by assigning ``__class__`` (which CPython allows between classes of the
    same layout), it *is* that event: same type, equality, hash, repr, pickling and
    immutability. About 95 ns per event against 185 through the frozen slots'
    descriptors (``text_delta_setters``), and a stream has hundreds::

        e = DeltaDraft(); e.index = i; e.text = t; e.kind = "text"; e.__class__ = TextDelta

    Every slot must be set before the ``__class__`` assignment (``kind`` to the
    class's own value)."""

    __slots__ = ()

    index: int
    text: str
    kind: str


for _same in (TextDelta, ReasoningDelta, RefusalDelta, DeltaDraft):
    # The relabelling needs the slots in the common base only (CPython checks the
    # layout at each assignment; this catches a change to the dataclasses at import).
    if _same.__bases__ != (_TextSlots,) or _same.__dict__.get("__slots__") != ():
        raise TypeError(f"{_same.__name__} must add no slots to _TextSlots")
del _same

# For a parser's hot loop that builds its TextDelta inline, as the __init__ above does
# (``e = new(TextDelta); set_index(e, i); set_text(e, t); set_kind(e, "text")``): one
# call fewer per event (DeltaDraft is cheaper still).
text_delta_setters = (
    object.__new__,
    TextDelta.index.__set__,  # type: ignore[attr-defined,misc]
    TextDelta.text.__set__,  # type: ignore[attr-defined,misc]
    TextDelta.kind.__set__,  # type: ignore[attr-defined,misc]
)


Event: TypeAlias = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ReasoningEnd
    | RefusalDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | StreamEnd
)


class Accumulator:
    """Folds events into a ChatResponse. ``snapshot()`` works mid-stream too
    (what was received so far, with ``finish_reason="error"``)."""

    __slots__ = (
        "_end",
        "_reasoning",
        "_refusal",
        "_text",
        "_tool_calls",
        "cache_age",
        "id",
        "model",
        "provider",
        "request_id",
    )

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.id: str | None = None
        self._text: list[str] = []
        self._refusal: list[str] = []
        # index -> [text pieces, finished block or None]
        self._reasoning: dict[int, tuple[list[str], list[ReasoningBlock]]] = {}
        self._tool_calls: dict[int, ToolCall] = {}
        self._end: StreamEnd | None = None
        # Set by the response cache when it replays a stored answer: snapshot() is then
        # marked cached (with this age in seconds) and costs 0.0.
        self.cache_age: float | None = None
        # The call's request id (client.stream sets it when usage is recorded).
        self.request_id: str | None = None

    def add(self, event: Event) -> None:
        kind = event.kind
        if kind == "text":
            self._text.append(event.text)  # type: ignore[union-attr]
        elif kind == "reasoning":
            self._reasoning_slot(event.index)[0].append(event.text)  # type: ignore[union-attr]
        elif kind == "reasoning_end":
            self._reasoning_slot(event.index)[1].append(event.block)  # type: ignore[union-attr]
        elif kind == "tool_call_end":
            self._tool_calls[event.index] = event.tool_call  # type: ignore[union-attr]
        elif kind == "refusal":
            self._refusal.append(event.text)  # type: ignore[union-attr]
        elif kind == "start":
            assert isinstance(event, StreamStart)
            self.id = event.id or self.id
            self.model = event.model or self.model
        elif kind == "end":
            assert isinstance(event, StreamEnd)
            self._end = event

    def text_buffer(self) -> list[str]:
        """The list :meth:`add` appends a TextDelta's text to: for a loop that folds a
        stream's events as it hands them on (AsyncChatStream). ``pieces.append(t)``
        there, not a bound ``append``: CPython 3.11 specializes the method form of a
        list append (~50 instructions fewer a call)."""
        return self._text

    def add_all(self, events: Iterable[Event]) -> None:
        """:meth:`add` each of ``events`` (a network read's batch); the common text
        delta is folded without the method call. AsyncChatStream's reader loop repeats
        this body inline, in the loop that yields (a call less per read): keep the two
        alike."""
        texts = self._text
        add = self.add
        for event in events:
            if event.__class__ is TextDelta:
                texts.append(event.text)  # type: ignore[union-attr]
            else:
                add(event)

    def _reasoning_slot(self, index: int) -> tuple[list[str], list[ReasoningBlock]]:
        slot = self._reasoning.get(index)
        if slot is None:
            slot = self._reasoning[index] = ([], [])
        return slot

    @property
    def done(self) -> bool:
        return self._end is not None

    def snapshot(self, usage: Usage | None = None) -> ChatResponse:
        """What was received so far. ``usage``: the counts the parser had seen (the
        failed stream's ``LLMError.stream_usage``), used while no ``StreamEnd`` came."""
        end = self._end
        blocks: list[ReasoningBlock] = []
        for index in sorted(self._reasoning):
            pieces, finished = self._reasoning[index]
            text = "".join(pieces)
            if finished:
                b = finished[-1]
                blocks.append(
                    b if b.text or b.redacted_data is not None
                    else ReasoningBlock(text=text, signature=b.signature)
                )  # fmt: skip
            elif text:
                blocks.append(ReasoningBlock(text=text))
        reasoning = "".join(b.text for b in blocks) or None
        response = build_response(
            provider=self.provider,
            id=self.id,
            model=self.model,
            text="".join(self._text),
            tool_calls=tuple(self._tool_calls[i] for i in sorted(self._tool_calls)),
            reasoning=reasoning,
            reasoning_blocks=tuple(blocks),
            refusal="".join(self._refusal) or None,
            finish_reason=end.finish_reason if end else "error",
            raw_finish_reason=end.raw_finish_reason if end else None,
            usage=end.usage if end else usage or Usage(),
            raw=end.raw if end else None,
            request_id=self.request_id,
        )
        if self.cache_age is not None:
            import dataclasses

            response = dataclasses.replace(
                response, cached=True, cache_age=self.cache_age, cost=0.0
            )
        return response


def build_response(
    provider: str,
    id: str | None,
    model: str,
    text: str,
    tool_calls: tuple[ToolCall, ...],
    reasoning: str | None,
    reasoning_blocks: tuple[ReasoningBlock, ...],
    refusal: str | None,
    finish_reason: FinishReason,
    raw_finish_reason: str | None,
    usage: Usage,
    raw: Any,
    request_id: str | None = None,
) -> ChatResponse:
    """The one place a ChatResponse is assembled, so chat() and stream() agree. The
    adapters' chat parsers pass the fields positionally, named in comments (cheaper
    than a dozen keywords on every response); the rest of the callers by keyword."""
    # Rule (docs/providers.md, section 1): tool calls present means the turn ended to call them,
    # whatever a lenient server reported.
    if tool_calls and finish_reason == "stop":
        finish_reason = "tool_calls"
    return make_response(  # every field, in ChatResponse's order
        id,
        model,
        provider,
        text,
        tool_calls,
        reasoning,
        reasoning_blocks,
        refusal,
        finish_reason,
        raw_finish_reason,
        usage,
        cost_of(provider, model, usage),  # cost
        raw,
        None,  # prompt
        request_id,
        None,  # parsed
        (),  # resumed
        False,  # cached
        None,  # cache_age
        None,  # cache_similarity
    )


# The adapters pass build_response's arguments positionally: a reordered or added
# parameter must fail here, at import, not put values in wrong fields.
if build_response.__code__.co_varnames[:13] != (
    "provider", "id", "model", "text", "tool_calls", "reasoning", "reasoning_blocks", "refusal",
    "finish_reason", "raw_finish_reason", "usage", "raw", "request_id",
):  # fmt: skip
    raise TypeError("build_response's parameters changed: update its positional call sites")
