"""Incremental parser for ``/api/chat`` NDJSON streams (docs/providers.md, section 3).

Hot path: nearly every line is ``{"message": {"role": "assistant", "content": "..."},
"done": false, ...}``; it costs one ``loads``, a few dict lookups and one TextDelta.
Thinking, tool calls (which arrive whole, with object arguments), the final
``done: true`` line and ``{"error": ...}`` lines take the slower branches.
"""

from __future__ import annotations

from typing import Any

from ..._json import decoded_key, dumps_str, loads
from ...errors import ProviderError
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
from ...messages import ChatRequest, Usage
from ...wire.ndjson import NDJSONDecoder
from .._shape import SHAPE_ERRORS, shape_problem
from .._streams import StreamParser
from ._errors import malformed, stream_error
from ._response import map_done, map_usage, tool_call

__all__ = ["OllamaStreamParser"]

# The hot loop's keys as orjson hands them out (see decoded_key): lookups by identity.
_MESSAGE, _CONTENT, _DONE, _ROLE = map(decoded_key, ("message", "content", "done", "role"))


class OllamaStreamParser(StreamParser):
    """Emits StreamStart with the first line, text/thinking deltas (index 0), a
    start/delta/end triple per tool call (index = its position in the answer), and
    StreamEnd at ``done: true``. EOF without it ends with ``finish_reason="error"``; a
    body in which no line was recognised (HTML, a JSON document of another shape,
    nothing) raises, as does a ``done: true`` line when no line had a message.
    """

    __slots__ = ("_answered", "_calls", "_done", "_lines", "_started")
    expected = "an NDJSON stream of /api/chat lines"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._lines = NDJSONDecoder()
        self._started = False
        # Whether any line carried a message: a done line without one ever is malformed,
        # as chat() treats a body without a message.
        self._answered = False
        self._calls = 0
        self._done = False

    def feed(self, data: bytes) -> list[Event]:
        # The common read after the first line: exactly one whole text line, decoded
        # here without the general path's four calls and line list (a third of this
        # parser's cost per line). Anything else, or any doubt, takes the general path
        # (which decodes again: only uncommon lines pay twice). The check repeats
        # _lines_of's inline, as a shared function would cost a call a line.
        lines = self._lines
        if (
            self._started
            and data[-1:] == b"\n"
            and not lines._buf
            and len(data) <= lines.max_line
            and not self._done
            and self._failed is None
        ):
            try:
                obj = loads(data)  # one JSON value (two lines are a ValueError)
                msg = obj[_MESSAGE]
                content = msg[_CONTENT]
                if (
                    obj[_DONE] is False
                    and len(msg) == 2
                    and content.__class__ is str
                    and _ROLE in msg
                ):
                    if not content:
                        return []
                    event: Any = DeltaDraft()  # TextDelta(0, content), see DeltaDraft
                    event.index = 0
                    event.text = content
                    event.kind = "text"
                    event.__class__ = TextDelta
                    return [event]
            except (ValueError, KeyError, TypeError):
                pass
        return super().feed(data)

    def _feed(self, data: bytes, out: list[Event]) -> None:
        lines = self._lines.feed_lines(data)  # blank lines are skipped in _lines_of
        if lines and not self._done:
            try:  # here, not in a helper: real streams come a line per read
                self._lines_of(lines, out, False)
            except SHAPE_ERRORS as exc:
                raise self._shape_error(exc, lines) from None

    def _close(self, out: list[Event]) -> None:
        tail = self._lines.close()
        if tail and not self._done:
            try:
                self._lines_of(tail, out, True)
            except SHAPE_ERRORS as exc:
                raise self._shape_error(exc, tail) from None
        if self._head is not None and not out and not self._done:
            raise self._unrecognised()
        if not self._done:
            # No done:true line: the stream was cut off (docs/providers.md, section 1).
            self._done = True
            out.append(StreamEnd("error", Usage(), None, None))

    # ------------------------------------------------------------------ internals

    def _shape_error(self, exc: BaseException, lines: list[bytes]) -> ProviderError:
        shown = b"\n".join([line for line in lines if line.strip()])  # not the blank ones
        return malformed(self._request, shape_problem(exc), shown)

    def _lines_of(self, lines: list[bytes], out: list[Event], at_eof: bool) -> None:
        draft: Any = DeltaDraft  # its objects become TextDelta (see DeltaDraft)
        text_delta = TextDelta
        started = self._started
        # The loop's globals as locals (a lookup less each, five a line).
        decode, size = loads, len
        key_message, key_content, key_done, key_role = _MESSAGE, _CONTENT, _DONE, _ROLE
        for line in lines:
            try:
                obj = decode(line)
                # The common line, {"message": {"role", "content": str}, "done": false}
                # after the first, by subscripts (a third of the cost of .get calls);
                # anything else (a KeyError or TypeError on the way) takes _line.
                # feed repeats this check for a read of one line: a shared function
                # would put a call back on every line of both.
                msg = obj[key_message]
                content = msg[key_content]
                if (
                    started
                    and obj[key_done] is False
                    and size(msg) == 2
                    and content.__class__ is str
                    and key_role in msg
                ):
                    if content:  # TextDelta(0, content) without the call
                        event = draft()
                        event.index = 0
                        event.text = content
                        event.kind = "text"
                        event.__class__ = text_delta
                        out.append(event)
                    continue
            except ValueError:
                if not line.strip():  # a blank line (the decoder does not filter them)
                    continue
                if at_eof:  # the connection died mid-line: a truncated stream, not garbage
                    return
                if self._head is not None and not out:  # not an NDJSON stream at all
                    raise self._unrecognised() from None
                raise malformed(self._request, "stream line is not valid JSON", line) from None
            except (KeyError, TypeError):
                pass
            if self._line(obj, line, out):
                return  # nothing after the final line matters
            started = self._started

    def _line(self, obj: Any, line: bytes, out: list[Event]) -> bool:
        """One line that is not the common text line; True for the final one."""
        try:
            msg = obj.get("message")  # only a dict has .get among JSON values
        except AttributeError:
            raise malformed(self._request, "stream line is not a JSON object", line) from None
        if type(msg) is dict:
            if not self._started:
                self._answered = True
                self._start(obj, out)
            self._message(msg, line, out)
        elif "error" in obj:
            err = obj["error"]
            raise stream_error(self._request, line, err if isinstance(err, str) else str(err))
        if obj.get("done") is not True:
            return False
        if not self._answered:
            raise malformed(self._request, "no message in the response", line)
        if not self._started:
            self._start(obj, out)
        self._done = True
        raw = obj.get("done_reason")
        raw = raw if isinstance(raw, str) and raw else None
        out.append(StreamEnd(map_done(raw, self._calls > 0), map_usage(obj), raw, obj))
        return True

    def _start(self, obj: dict[str, Any], out: list[Event]) -> None:
        self._started = True
        model = obj.get("model")
        out.append(StreamStart(None, model if isinstance(model, str) and model else None))

    def _message(self, msg: dict[str, Any], line: bytes, out: list[Event]) -> None:
        thinking = msg.get("thinking")
        if thinking and isinstance(thinking, str):
            out.append(ReasoningDelta(0, thinking))
        content = msg.get("content")
        if content is not None and type(content) is not str:
            raise malformed(self._request, "message content is not a string", line)
        if content:
            out.append(TextDelta(0, content))
        calls = msg.get("tool_calls")
        if not calls:
            return
        if not isinstance(calls, list):
            raise malformed(self._request, "tool_calls is not a list", line)
        for raw in calls:
            call = tool_call(raw)
            if call is None:
                raise malformed(self._request, "tool call without a function", line)
            index = self._calls
            self._calls += 1
            out.append(ToolCallStart(index, call.id, call.name))
            out.append(ToolCallDelta(index, dumps_str(call.arguments)))
            out.append(ToolCallEnd(index, call))
