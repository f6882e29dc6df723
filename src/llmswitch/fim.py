"""Code completion (fill-in-the-middle): the request and result types, the chat
fallback's fixed instruction, and the trimming rules every provider's output goes
through, native or chat-based, so an answer means the same wherever it came from.

A :class:`CodeRequest` is a :class:`~llmswitch.messages.ChatRequest` (whose messages
are the chat fallback's: the instruction and the marked file) that also carries the
prefix, suffix and language. Every layer of the pipeline (retries, breaker, router,
key rotation, usage recording) sees it as the chat call it is; a provider with a native
fill-in-the-middle route recognises it and sends that instead, any other provider
answers the chat messages.

The trimming rules (:func:`trim`, and :class:`Trimmer` for streams), in this order:

1. *Fences* (chat method only): an answer that starts with a code fence line
   (```` ```lang ````) is the fence's body, up to the first closing ```` ``` ```` (a
   newline just before it goes with it); anything after the closing fence is dropped.
2. *Repeated prefix*: the longest overlap between the end of the prefix and the start
   of the output is cut when it contains a non-blank character and is at least
   :data:`MIN_OVERLAP` characters long or starts at a line start of the prefix (the
   model repeated the line the cursor is on).
3. *Stop sequences*: the output ends before the stop sequence that is complete first
   (the one whose occurrence ends earliest), as a server stops when one completes.
4. *Repeated suffix*: the longest overlap between the end of the output and the start
   of the suffix is cut when it contains a non-blank character and is at least
   :data:`MIN_OVERLAP` characters long or is a whole line (it starts at a line start
   of the output, after indentation, and ends at a line end of the suffix or at its
   end).

Overlaps are looked for within :data:`WINDOW` characters. An empty suffix makes rule 4
a no-op, on every provider alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .messages import ChatRequest, FinishReason, Message, Usage

__all__ = [
    "FIM_INSTRUCTION",
    "MIN_OVERLAP",
    "WINDOW",
    "CodeCompletion",
    "CodeRequest",
    "Method",
    "Trimmer",
    "fallback_prompt",
    "trim",
]

Method = Literal["native", "chat"]

MIN_OVERLAP = 8
"""Characters a repeated prefix tail or suffix head needs to be cut anywhere (shorter
ones are cut only when they are whole lines)."""

WINDOW = 1000
"""Characters of the prefix's end and the suffix's start searched for repeats."""

_FENCE = "```"
_CURSOR = "<|fill|>"

FIM_INSTRUCTION = (
    "You are a code completion engine. The user sends a file with one gap marked "
    f"{_CURSOR}. Reply with exactly the text that belongs at {_CURSOR} and nothing "
    "else: no explanation, no code fences, and do not repeat any of the code before "
    f"or after {_CURSOR}. If nothing belongs there, reply with nothing."
)
"""The fixed system instruction of the chat fallback."""


def fallback_prompt(prefix: str, suffix: str, language: str | None) -> str:
    """The chat fallback's user turn: the file with the gap marked."""
    head = f"Language: {language}\n" if language else ""
    return f"{head}File:\n{prefix}{_CURSOR}{suffix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeRequest(ChatRequest):
    """A code completion on its way to a provider. The inherited chat fields hold the
    chat fallback (``system`` the instruction, ``messages`` the marked file), so a
    provider without native fill-in-the-middle answers it as a chat."""

    prefix: str
    suffix: str = ""
    language: str | None = None

    @classmethod
    def of(
        cls, request: ChatRequest, prefix: str, suffix: str, language: str | None
    ) -> CodeRequest:
        fields = {name: getattr(request, name) for name in ChatRequest.__dataclass_fields__}
        return cls(**fields, prefix=prefix, suffix=suffix, language=language)


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeCompletion:
    """The code that goes between ``prefix`` and ``suffix``, trimmed by the rules of
    :mod:`llmswitch.fim`. ``method``: ``"native"`` when the provider's own
    fill-in-the-middle route answered, ``"chat"`` for the chat-based fallback.
    ``cost`` in USD (``None`` when the price or the counts are unknown)."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    cost: float | None
    model: str
    provider: str
    method: Method
    raw_finish_reason: str | None = None
    id: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- trimming rules


def _blank(text: str) -> bool:
    return not text.strip()


def _prefix_cut(out: str, prefix: str) -> int:
    """Characters at the start of ``out`` that repeat the end of ``prefix`` (rule 2)."""
    tail = prefix[-WINDOW:]
    for n in range(min(len(tail), len(out)), 0, -1):
        if not out.startswith(tail[-n:]) or _blank(tail[-n:]):
            continue
        start = len(prefix) - n
        if n >= MIN_OVERLAP or start == 0 or prefix[start - 1] == "\n":
            return n
    return 0


def _suffix_cut(out: str, suffix: str) -> int:
    """Characters at the end of ``out`` that repeat the start of ``suffix`` (rule 4)."""
    head = suffix[:WINDOW]
    for n in range(min(len(head), len(out)), 0, -1):
        piece = head[:n]
        if not out.endswith(piece) or _blank(piece):
            continue
        if n >= MIN_OVERLAP:
            return n
        line_end = n == len(suffix) or suffix[n - 1] == "\n" or suffix[n] == "\n"
        before = out[: len(out) - n]
        line_start = _blank(before[before.rfind("\n") + 1 :])
        if line_end and line_start:
            return n
    return 0


def _first_stop(text: str, stops: Sequence[str]) -> int:
    """Where the answer ends: at the start of the stop sequence that is complete first
    (the earliest end), as a server stops generating when one completes."""
    found = [(i + len(s), i) for s in stops if s and (i := text.find(s)) >= 0]
    return min(found)[1] if found else -1


def _opening(raw: str) -> tuple[bool | None, int]:
    """(fenced?, where the body starts); ``None`` while the start is undecided."""
    lead = len(raw) - len(raw.lstrip(" \t\r\n"))
    rest = raw[lead:]
    if len(rest) < len(_FENCE):
        return (None, 0) if _FENCE.startswith(rest) else (False, 0)
    if not rest.startswith(_FENCE):
        return False, 0
    newline = rest.find("\n")
    return (None, 0) if newline < 0 else (True, lead + newline + 1)


def _closing(body: str) -> int:
    """Where a fenced body ends: at its closing fence (with the newline before it)."""
    at = body.find(_FENCE)
    if at < 0:
        return -1
    return at - 1 if at > 0 and body[at - 1] == "\n" else at


def trim(
    text: str, prefix: str, suffix: str, stop: Sequence[str] = (), *, method: Method
) -> tuple[str, bool]:
    """``text`` by the rules of this module; and whether a stop sequence (or a closing
    fence) ended it."""
    stopped = False
    if method == "chat":
        fenced, start = _opening(text)
        if fenced is None and text.strip():  # an opening fence line and nothing after it
            text = ""
        elif fenced:
            text = text[start:]
            end = _closing(text)
            if end >= 0:
                text, stopped = text[:end], True
    text = text[_prefix_cut(text, prefix) :]
    at = _first_stop(text, stop)
    if at >= 0:
        text, stopped = text[:at], True
    cut = _suffix_cut(text, suffix)
    return (text[: len(text) - cut] if cut else text), stopped


def _held_for(text: str, candidates: Sequence[str]) -> int:
    """The longest end of ``text`` that is a proper start of one of ``candidates``."""
    best = 0
    for c in candidates:
        for n in range(min(len(c) - 1, len(text)), best, -1):
            if text.endswith(c[:n]):
                best = n
                break
    return best


class Trimmer:
    """:func:`trim` for a stream: :meth:`feed` each text piece as it arrives and get
    the text that can no longer change; :meth:`close` at the end gives the rest. The
    pieces joined are exactly ``trim(whole text)``. Text that might yet be a repeat, a
    stop sequence or a fence is held back until it is decided."""

    __slots__ = (
        "_cut", "_done", "_emitted", "_method", "_prefix", "_raw", "_stop", "_suffix", "stopped",
    )  # fmt: skip

    def __init__(self, prefix: str, suffix: str, stop: Sequence[str], method: Method) -> None:
        self._prefix, self._suffix, self._stop = prefix, suffix, tuple(s for s in stop if s)
        self._method: Method = method
        self._raw = ""
        self._emitted = 0
        self._done = False
        self._cut: int | None = None  # the prefix repeat's length, once decided
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self._done:
            return ""
        self._raw += piece
        safe = self._safe()
        if safe is None:
            return ""
        text, end = safe
        out = text[self._emitted : end]
        self._emitted = max(self._emitted, end)
        return out

    def close(self) -> str:
        text, self.stopped = trim(
            self._raw, self._prefix, self._suffix, self._stop, method=self._method
        )
        out = text[self._emitted :]
        self._emitted += len(out)
        self._done = True
        return out

    def _safe(self) -> tuple[str, int] | None:
        """The text so far after the rules that are decided, and how much of it is
        final; ``None`` while the start is undecided."""
        raw = self._raw
        fenced = False
        if self._method == "chat":
            opened, start = _opening(raw)
            if opened is None:
                return None
            fenced = opened
            raw = raw[start:]
            end = _closing(raw) if fenced else -1
            if end >= 0:
                raw = raw[:end]
                self._done = True
        if not self._done and (not raw or raw in self._prefix[-WINDOW:]):
            return None  # it may still grow into a repeat of the prefix
        if self._cut is None or self._done:  # decided: longer repeats can no longer form
            self._cut = _prefix_cut(raw, self._prefix)
        text = raw[self._cut :]
        at = _first_stop(text, self._stop)
        if at >= 0:
            text = text[:at]
            self._done, self.stopped = True, True
        if self._done:
            return text, len(text) - _suffix_cut(text, self._suffix)
        ending = max(  # a stop or fence that may start in the last `ending` characters
            _held_for(text, self._stop),
            _held_for(text, ("\n" + _FENCE, _FENCE)) if fenced else 0,
        )
        if not self._suffix:
            return text, len(text) - ending
        # The answer may end at any of those places (the stop completing there), and then
        # the end of what comes before it may be cut as a repeat of the suffix: hold what
        # either could take.
        head = (self._suffix[:WINDOW] + "\0",)
        end = len(text)
        safe = min(e - _held_for(text[:e], head) for e in range(end - ending, end + 1))
        return text, safe


def fallback_messages(prefix: str, suffix: str, language: str | None) -> list[Message]:
    """The chat fallback's messages (its system turn is :data:`FIM_INSTRUCTION`)."""
    return [Message(role="user", content=fallback_prompt(prefix, suffix, language))]
