"""Incremental parser for ``:streamGenerateContent?alt=sse`` (docs/providers.md, section 3).

Each SSE event is ``data: <GenerateContentResponse>`` holding only the new parts. There
is no end marker: the stream ends when the connection closes, so :meth:`close` emits the
``StreamEnd`` (``"error"`` when no ``finishReason`` arrived), or raises when no chunk had
a candidate (as ``parse_response`` does for a body without one). The last ``usageMetadata``
wins (running totals).

Framing is decoded here rather than by the shared SSE decoder because an error after the
200 may arrive as raw JSON lines, not as ``data:`` (the official SDK buffers such lines
until their braces balance); those are collected the same way and raised. Lines come
from the shared :class:`~llmswitch.wire.sse.LineSplitter` (linear in the input,
lines capped); an event or raw JSON object over the same cap is a ``ProviderError``.

Block indices: consecutive text parts share an index, as do consecutive thought parts;
each function call gets its own. ``parse_response`` groups a whole body the same way,
so chat() and stream() build the same ChatResponse.
"""

from __future__ import annotations

from typing import Any

from ..._json import dumps_str, loads
from ...events import (
    DeltaDraft,
    Event,
    ReasoningDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from ...messages import ChatRequest, ToolCall, Usage
from ...wire import limits
from ...wire.sse import LineSplitter, open_size
from .._shape import SHAPE_ERRORS, opt_str, shape_problem
from .._shape import text as text_of
from .._streams import StreamParser
from ._errors import error_from_payload, malformed
from ._response import (
    blocked_prompt,
    finish_reason,
    first_candidate,
    id_stem,
    parse_usage,
    synthetic_id,
)

__all__ = ["GeminiStreamParser"]

_TEXT, _THOUGHT, _CALL = 1, 2, 3
_END = b"\n"  # no line holds a line end: what next() gives when a read's lines run out
# A first chunk with none of these is not a GenerateContentResponse (a stray JSON
# document): it starts nothing, and a stream of only such chunks fails at close().
_RESPONSE_KEYS = ("candidates", "usageMetadata", "promptFeedback", "modelVersion", "responseId")


_NOT_STRUCTURAL = bytes(c for c in range(256) if c not in b'"{}[]')


def _depth_change(line: bytes, in_string: bool) -> tuple[int, bool]:
    """Bracket depth change of a raw JSON line, ignoring brackets inside strings.

    Escapes are dropped first (``\\\\`` pairs, then ``\\"``), then every byte that is not a
    quote or bracket, so the Python loop only sees structure: a hostile 16 MiB line costs
    a fraction of a second, not seconds."""
    if b"\\" in line:
        line = line.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = 0
    for c in line.translate(None, _NOT_STRUCTURAL):
        if c == 0x22:  # quote
            in_string = not in_string
        elif not in_string:
            depth += 1 if c == 0x7B or c == 0x5B else -1  # { [ open, } ] close
    return depth, in_string


class GeminiStreamParser(StreamParser):
    __slots__ = (
        "_answered",
        "_calls",
        "_data",
        "_depth",
        "_done",
        "_finish",
        "_in_string",
        "_index",
        "_kind",
        "_last",
        "_open",
        "_raw",
        "_raw_size",
        "_split",
        "_started",
        "_stem",
        "_usage",
    )
    expected = "an SSE stream of GenerateContentResponse chunks"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._split = LineSplitter()
        # The open event's data lines: None, one line, or a list of two or more.
        self._data: bytes | list[bytes] | None = None
        self._open = 0  # bytes of an event that spans reads
        self._raw: list[bytes] = []  # raw (non-SSE) JSON lines being collected
        self._raw_size = 0
        self._depth = 0
        self._in_string = False
        self._index = -1
        self._kind = 0
        self._calls = 0
        self._stem: str | None = None
        self._finish: str | None = None
        self._usage: Any = None
        self._last: Any = None
        self._started = False
        # Whether any chunk had a candidate: a stream without one is refused at close(),
        # as chat() refuses a body without candidates.
        self._answered = False
        self._done = False

    # ------------------------------------------------------------------ framing

    def _feed(self, data: bytes, out: list[Event]) -> None:
        lines = self._split.feed(data)
        if not lines:
            return
        self._lines(lines, out)
        if lines[-1] or self._open:  # an event spans reads: cap its size
            self._open = open_size(lines, self._open)
            if self._open > self._split.max_line:
                held = self._data
                head = held[0] if isinstance(held, list) else lines[-1] if held is None else held
                raise limits.line_too_long(self._split.max_line, head)

    def usage_seen(self) -> Usage | None:
        return parse_usage(self._usage) if self._usage is not None else None

    def _close(self, out: list[Event]) -> None:
        if self._done:
            return
        self._done = True
        rest = self._split.close()
        # A last event without its blank line still counts.
        self._lines([rest, b""] if rest else [b""], out)
        if self._raw:
            raw = b"\n".join(self._raw)
            self._raw.clear()
            self._payload(raw, out)
        if self._head is not None and not out:
            raise self._unrecognised()
        if not self._answered:
            # Only usage or feedback chunks: no answer. Mapped as chat() maps such a
            # body (a blocked prompt's own chunk already raised when it arrived).
            last = self._last if isinstance(self._last, dict) else {}
            raise blocked_prompt(self._request, last, dumps_str(last).encode())
        raw_finish = self._finish
        reason = finish_reason(raw_finish, self._calls > 0) if raw_finish else "error"
        out.append(StreamEnd(reason, parse_usage(self._usage), raw_finish, self._last))

    def _lines(self, lines: list[bytes], out: list[Event]) -> None:
        # The hot loop frames the usual event itself: a ``data: `` line and a blank line,
        # read while no event is open and no raw JSON is being collected, are exactly
        # what the general loop (_general) would dispatch; any other line goes there, in
        # order. A chunk of one text (or thought) part after the first is then handled
        # here, with the parser's state in locals (stored back before anything else
        # reads it); every other chunk goes through _object, unchanged.
        raw = self._raw  # cleared in place, never replaced
        request = self._request
        draft: Any = DeltaDraft  # its objects become the delta event (see DeltaDraft)
        text_delta, reasoning_delta = TextDelta, ReasoningDelta
        started, answered = self._started, self._answered
        index, kind, usage, last = self._index, self._kind, self._usage, self._last
        it = iter(lines)
        for line in it:
            if line[:6] == b"data: " and self._data is None and not raw:
                blank = next(it, _END)
                if blank == b"":  # data:, blank line: one event
                    payload = line[6:]
                    try:
                        obj = loads(payload)
                    except ValueError:
                        raise malformed(request, "stream chunk is not JSON", payload) from None
                    if started:
                        try:
                            cand = obj["candidates"][0]
                            parts = cand["content"]["parts"]
                            part = parts[0]
                            text = part["text"]
                        except (KeyError, TypeError, IndexError):
                            text = None
                        if (
                            type(text) is str
                            and text
                            and len(parts) == 1
                            and "finishReason" not in cand
                            and cand.get("index", 0) == 0
                        ):
                            event = draft()  # TextDelta or ReasoningDelta(index, text)
                            event.text = text
                            if part.get("thought"):
                                if kind != _THOUGHT:
                                    index += 1
                                    kind = _THOUGHT
                                event.index = index
                                event.kind = "reasoning"
                                event.__class__ = reasoning_delta
                            else:
                                if kind != _TEXT:
                                    index += 1
                                    kind = _TEXT
                                event.index = index
                                event.kind = "text"
                                event.__class__ = text_delta
                            out.append(event)
                            answered = True
                            chunk_usage = obj.get("usageMetadata")
                            if chunk_usage is not None:
                                usage = chunk_usage
                            last = obj
                            continue
                    held = None
                else:
                    held = [line] if blank is _END else [line, blank]
            else:
                held = [line]
            # Anything else: the parser's state is stored for the general path to see.
            self._started, self._answered = started, answered
            self._index, self._kind, self._usage, self._last = index, kind, usage, last
            if held is None:
                self._object(obj, payload, out)
            else:
                self._general(held, out)
            started, answered = self._started, self._answered
            index, kind, usage, last = self._index, self._kind, self._usage, self._last
        self._started, self._answered = started, answered
        self._index, self._kind, self._usage, self._last = index, kind, usage, last

    def _general(self, lines: list[bytes], out: list[Event]) -> None:
        """Lines of any shape: data lines collected per event, raw JSON lines per object."""
        data = self._data
        raw = self._raw
        for line in lines:
            if raw:
                self._raw_line(line, out)
            elif not line:
                if data is None:
                    continue
                payload = b"\n".join(data) if isinstance(data, list) else data
                data = self._data = None
                self._payload(payload, out)
            else:
                if line[:6] == b"data: ":
                    value = line[6:]
                elif line[:5] == b"data:":
                    value = line[5:]
                else:
                    if line.lstrip()[:1] in (b"{", b"["):
                        self._raw_line(line, out)
                    continue  # comments (":"), event:, id:, retry: carry nothing for us
                if data is None:
                    data = value
                elif isinstance(data, list):
                    data.append(value)
                else:
                    data = [data, value]
        self._data = data

    def _raw_line(self, line: bytes, out: list[Event]) -> None:
        self._raw.append(line)
        self._raw_size += len(line) + 1
        if self._raw_size > self._split.max_line:
            raise limits.line_too_long(self._split.max_line, self._raw[0])
        change, self._in_string = _depth_change(line, self._in_string)
        self._depth += change
        if self._depth <= 0:
            raw = b"\n".join(self._raw)
            self._raw.clear()
            self._depth, self._in_string, self._raw_size = 0, False, 0
            self._payload(raw, out)

    # ------------------------------------------------------------------ chunks

    def _payload(self, payload: bytes, out: list[Event]) -> None:
        try:
            obj = loads(payload)
        except ValueError:
            raise malformed(self._request, "stream chunk is not JSON", payload) from None
        self._object(obj, payload, out)

    def _object(self, obj: Any, payload: bytes, out: list[Event]) -> None:
        if isinstance(obj, list) and len(obj) == 1:
            obj = obj[0]
        if not isinstance(obj, dict):
            raise malformed(self._request, "stream chunk is not an object", payload)
        try:
            self._chunk(obj, payload, out)
        except SHAPE_ERRORS as exc:
            raise malformed(self._request, shape_problem(exc), payload) from None

    def _chunk(self, obj: dict[str, Any], payload: bytes, out: list[Event]) -> None:
        cands = obj.get("candidates")
        if not cands:
            # Checked before StreamStart so that an error or a blocked prompt as the first
            # chunk surfaces when the stream opens, like an HTTP error would.
            if "error" in obj:
                raise error_from_payload(self._request, obj["error"], payload)
            feedback = obj.get("promptFeedback")
            if self._index < 0 and isinstance(feedback, dict) and feedback.get("blockReason"):
                raise blocked_prompt(self._request, obj, payload)
        if not self._started:
            if not any(key in obj for key in _RESPONSE_KEYS):
                return
            model = opt_str(obj.get("modelVersion")) or None
            start = StreamStart(opt_str(obj.get("responseId")), model)
            self._started = True
            out.append(start)
        if cands:
            self._answered = True
            cand = cands[0]
            if cand.get("index", 0) != 0:  # candidateCount > 1: find index 0
                cand = first_candidate(cands)
            content = cand.get("content")
            parts = content.get("parts") if content else None
            if parts:
                for part in parts:
                    text = part.get("text")
                    if text is not None:
                        if type(text) is not str:
                            text_of(text)  # raises the shape error
                        if not text:
                            continue  # e.g. a part that only carries a thoughtSignature
                        if part.get("thought"):
                            if self._kind != _THOUGHT:
                                self._index += 1
                                self._kind = _THOUGHT
                            out.append(ReasoningDelta(self._index, text))
                        else:
                            if self._kind != _TEXT:
                                self._index += 1
                                self._kind = _TEXT
                            out.append(TextDelta(self._index, text))
                    else:
                        fc = part.get("functionCall")
                        if fc is not None:
                            self._call(obj, part, fc, payload, out)
            raw_finish = cand.get("finishReason")
            if raw_finish:
                self._finish = text_of(raw_finish)
        usage = obj.get("usageMetadata")
        if usage is not None:
            self._usage = usage
        self._last = obj

    def _call(
        self, obj: dict[str, Any], part: dict[str, Any], fc: Any, payload: bytes, out: list[Event]
    ) -> None:
        # Gemini sends function calls whole: start, the full arguments, end at once.
        args = fc.get("args")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise malformed(self._request, "functionCall args is not an object", payload)
        call_id = fc.get("id")
        if not isinstance(call_id, str) or not call_id:
            if self._stem is None:
                self._stem = id_stem(obj)
            call_id = synthetic_id(self._stem, self._calls)
        name = text_of(fc["name"])
        signature = opt_str(part.get("thoughtSignature")) or None
        self._index += 1
        self._kind = _CALL
        self._calls += 1
        index = self._index
        out.append(ToolCallStart(index, call_id, name))
        out.append(ToolCallDelta(index, dumps_str(args)))
        call = ToolCall(id=call_id, name=name, arguments=args, signature=signature)
        out.append(ToolCallEnd(index, call))
