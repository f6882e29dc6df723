"""Incremental parser for Anthropic's named-event SSE stream (docs/providers.md, section 3).

Hot path: ``content_block_delta`` is nearly every event, so it is matched first and
handled inline; everything else goes through :meth:`AnthropicStreamParser._other`.
Per event the cost is one ``orjson.loads`` and one frozen event object.

Thinking text is not buffered here: ``ReasoningEnd`` carries only the signature and the
accumulator joins the ``ReasoningDelta`` texts it already holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..._json import dumps_str, loads
from ...errors import ProviderError
from ...events import (
    DeltaDraft,
    Event,
    ReasoningDelta,
    ReasoningEnd,
    RefusalDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)
from ...messages import ChatRequest, ReasoningBlock, Usage
from ...wire.sse import SSEDecoder, event_name
from .._claude import TRUNCATING_STOP_REASONS
from .._shape import SHAPE_ERRORS, shape_problem
from .._shape import index as _index
from .._shape import opt_str as _opt
from .._shape import text as _text
from .._streams import StreamParser, end_tool_call
from ._errors import malformed, stream_error
from ._response import finish_reason, parse_usage, refusal_of

__all__ = ["AnthropicStreamParser"]

# The data line of a text delta as the service writes it, up to the text's opening quote.
_HOT = b'data: {"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":"'
_HOT_0 = _HOT % 0
_DELTA_LINE = b"event: content_block_delta"
_END = b"\n"  # no line holds a line end: what next() gives when a read's lines run out


class AnthropicStreamParser(StreamParser):
    __slots__ = (
        "_bad_tool",
        "_done",
        "_hot",
        "_hot_index",
        "_hot_start",
        "_message",
        "_signatures",
        "_sse",
        "_stop",
        "_tools",
        "_usage",
    )
    expected = "an SSE stream of Messages events"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._sse = SSEDecoder()
        # index -> (id, name, JSON fragments) for open client tool_use blocks
        self._tools: dict[int, tuple[str, str, list[str]]] = {}
        # index -> signature for open thinking blocks
        self._signatures: dict[int, str | None] = {}
        self._usage: dict[str, Any] = {}
        self._message: dict[str, Any] = {}
        self._stop: dict[str, Any] = {}
        self._bad_tool: str | None = None
        self._done = False
        self._hot, self._hot_start, self._hot_index = _HOT_0, len(_HOT_0) - 1, 0

    def _feed(self, data: bytes, out: list[Event]) -> None:
        sse = self._sse
        lines = sse.lines(data)
        if not lines:
            return
        # The hot loop frames the service's events itself: an ``event:`` line, one
        # ``data: `` line and a blank line, read while the decoder holds no open event,
        # are exactly the event the decoder would give. Any other line goes to the
        # decoder, in order, up to the blank line that ends its event.
        draft: Any = DeltaDraft  # its objects become TextDelta (see DeltaDraft)
        text_delta = TextDelta
        hot, start, hot_index = self._hot, self._hot_start, self._hot_index
        delta_line = _DELTA_LINE
        idle = sse.idle
        it = iter(lines)
        for line in it:
            if line == delta_line and idle:
                payload = next(it, _END)
                blank = next(it, _END)
                # The service's compact text delta, matched by its bytes: only the text
                # literal is decoded. Exactly ``hot + <one JSON string> + "}}"`` is the
                # JSON the general path would read; anything else goes there.
                if blank == b"" and payload.startswith(hot) and payload[-2:] == b"}}":
                    try:  # the slice starts with a quote: it decodes to a str or raises
                        text = loads(payload[start:-2])
                    except ValueError:
                        pass
                    else:
                        event = draft()  # TextDelta(hot_index, text), see DeltaDraft
                        event.index = hot_index
                        event.text = text
                        event.kind = "text"
                        event.__class__ = text_delta
                        out.append(event)
                        continue
            elif idle and line[:6] == b"event:":
                payload = next(it, _END)
                blank = next(it, _END)
            else:  # not the start of an event in the usual shape: the decoder reads it
                idle = self._decode([line], it, out)
                hot, start, hot_index = self._hot, self._hot_start, self._hot_index
                continue
            if blank == b"" and payload[:6] == b"data: ":  # event:, data:, blank line
                self._event(event_name(line), payload[6:], out)
            else:
                held = [line] if payload is _END else [line, payload]
                if blank is not _END:
                    held.append(blank)
                idle = self._decode(held, it, out)
            hot, start, hot_index = self._hot, self._hot_start, self._hot_index

    def _decode(self, held: list[bytes], lines: Iterator[bytes], out: list[Event]) -> bool:
        """The lines ``held`` and, unless the last is blank, the rest of their event from
        ``lines``, through the decoder; whether it is idle after them."""
        if held[-1]:
            for line in lines:
                held.append(line)
                if not line:
                    break
        sse = self._sse
        for name, payload in sse.events(held):
            self._event(name, payload, out)
        return sse.idle

    def _event(self, name: str | None, payload: bytes, out: list[Event]) -> None:
        """One event, by the general path."""
        if name == "content_block_delta":
            try:
                obj = loads(payload)
                delta = obj["delta"]
                if delta["type"] == "text_delta":
                    index = obj["index"]
                    if type(index) is not int:
                        _index(index)  # raises the shape error
                    text = delta["text"]
                    if type(text) is not str:
                        _text(text)
                    out.append(TextDelta(index, text))
                    if index != self._hot_index:
                        self._hot_text(index)
                else:
                    self._relay_delta(obj, out)
            except SHAPE_ERRORS as exc:
                what = f"bad content_block_delta, {shape_problem(exc)}"
                raise malformed(self._request, what, payload) from None
        elif name != "ping":
            self._other(name, payload, out)

    def _hot_text(self, index: int) -> tuple[bytes, int, int]:
        """Text deltas of block ``index`` are what the byte match looks for from now on."""
        hot = _HOT % index
        self._hot, self._hot_start, self._hot_index = hot, len(hot) - 1, index
        return hot, len(hot) - 1, index

    def _close(self, out: list[Event]) -> None:
        for name, payload in self._sse.close():
            self._other(name, payload, out)
        if self._head is not None and not out and not self._done:
            raise self._unrecognised()
        if not self._done:
            # No message_stop: the stream was cut off (docs/providers.md, section 1).
            self._done = True
            raw_stop = self._stop.get("stop_reason")
            raw_stop = raw_stop if isinstance(raw_stop, str) else None
            out.append(StreamEnd("error", parse_usage(self._usage), raw_stop, self._snapshot()))

    def usage_seen(self) -> Usage | None:
        return parse_usage(self._usage) if self._usage else None

    def _error_document(self, doc: Any) -> ProviderError | None:
        """An Anthropic error document sent with the 200 maps as the error it is."""
        if isinstance(doc, dict) and doc.get("type") == "error":
            return stream_error(self._request, self._head or b"")
        return None

    # ------------------------------------------------------------------ rarer events

    def _json(self, index: int, fragment: str, out: list[Event]) -> None:
        tool = self._tools.get(index)
        # server tool inputs stream too (not ours to call); empty fragments say nothing
        if tool is not None and fragment:
            tool[2].append(fragment)
            out.append(ToolCallDelta(index, fragment))

    def _other(self, name: str | None, payload: bytes, out: list[Event]) -> None:
        if not payload:
            return
        try:
            obj = loads(payload)
            if name is None:  # tolerate proxies that drop the event: line
                name = obj.get("type")
            if name == "content_block_delta":  # unnamed, or the last event at EOF
                self._relay_delta(obj, out)
            elif name == "content_block_start":
                self._block_start(_index(obj["index"]), obj["content_block"], out)
            elif name == "content_block_stop":
                self._block_stop(_index(obj["index"]), out)
            elif name == "message_start":
                message = obj["message"]
                if type(message) is not dict:
                    raise TypeError("message is not an object")
                start = StreamStart(_opt(message.get("id")), _opt(message.get("model")))
                self._message = message
                usage = message.get("usage")
                if isinstance(usage, dict):
                    self._usage = dict(usage)
                out.append(start)
            elif name == "message_delta":
                self._message_delta(obj, out)
            elif name == "message_stop":
                self._end(out)
            elif name == "error":
                raise stream_error(self._request, payload)
            # ping and unknown events are skipped
        except SHAPE_ERRORS as exc:
            what = f"bad {name} event, {shape_problem(exc)}"
            raise malformed(self._request, what, payload) from None

    def _relay_delta(self, obj: dict[str, Any], out: list[Event]) -> None:
        # feed()'s inline branch does text_delta; this does the rest, and every delta
        # of events that came without a name.
        delta, index = obj["delta"], _index(obj["index"])
        kind = delta["type"]
        if kind == "text_delta":
            out.append(TextDelta(index, _text(delta["text"])))
        elif kind == "input_json_delta":
            self._json(index, _text(delta["partial_json"]), out)
        elif kind == "thinking_delta":
            out.append(ReasoningDelta(index, _text(delta["thinking"])))
        elif kind == "signature_delta":
            self._signatures[index] = _text(delta["signature"])
        # citations_delta and unknown delta types: nothing to emit

    def _block_start(self, index: int, block: dict[str, Any], out: list[Event]) -> None:
        kind = block["type"]
        if kind == "text":
            if block.get("text"):
                out.append(TextDelta(index, _text(block["text"])))
        elif kind == "thinking":
            self._signatures[index] = _opt(block.get("signature")) or None
            if block.get("thinking"):
                out.append(ReasoningDelta(index, _text(block["thinking"])))
        elif kind == "redacted_thinking":  # arrives whole, no deltas
            out.append(ReasoningEnd(index, ReasoningBlock(redacted_data=_text(block["data"]))))
        elif kind == "tool_use":
            call_id, call_name = _text(block["id"]), _text(block["name"])
            fragments: list[str] = []
            initial = block.get("input")
            if initial:  # a proxy may send the whole input here instead of deltas
                fragments.append(dumps_str(initial))
            self._tools[index] = (call_id, call_name, fragments)
            out.append(ToolCallStart(index, call_id, call_name))

    def _block_stop(self, index: int, out: list[Event]) -> None:
        tool = self._tools.pop(index, None)
        if tool is not None:
            bad = end_tool_call(index, *tool, out)
            if bad is not None:  # decided at message_delta
                self._bad_tool = bad
            return
        if index in self._signatures:
            out.append(ReasoningEnd(index, ReasoningBlock(signature=self._signatures.pop(index))))

    def _message_delta(self, obj: dict[str, Any], out: list[Event]) -> None:
        delta = obj.get("delta") or {}
        if type(delta) is not dict:
            raise TypeError("delta is not an object")
        raw_stop = _opt(delta.get("stop_reason"))
        self._stop = delta
        usage = obj.get("usage")
        if isinstance(usage, dict):
            # cumulative counts: overwrite, and keep message_start's where omitted
            for key, value in usage.items():
                if value is not None:
                    self._usage[key] = value
        if self._bad_tool is not None and raw_stop not in TRUNCATING_STOP_REASONS:
            bad, self._bad_tool = self._bad_tool, None
            raise malformed(self._request, "tool_use input is not a JSON object", bad)
        refusal = refusal_of(raw_stop, delta.get("stop_details"))
        if refusal is not None:
            out.append(RefusalDelta(0, refusal))

    def _end(self, out: list[Event]) -> None:
        if self._done:
            return
        self._done = True
        raw_stop = self._stop.get("stop_reason")
        out.append(
            StreamEnd(finish_reason(raw_stop), parse_usage(self._usage), raw_stop, self._snapshot())
        )

    def _snapshot(self) -> dict[str, Any]:
        """``raw`` for a stream: the message_start Message (its content is streamed, not
        repeated) with the final stop fields and usage."""
        raw = dict(self._message)
        for key in ("stop_reason", "stop_sequence", "stop_details"):
            if key in self._stop:
                raw[key] = self._stop[key]
        raw["usage"] = dict(self._usage)
        return raw
