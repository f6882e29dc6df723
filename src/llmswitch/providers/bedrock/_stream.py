"""Incremental parser for ConverseStream: binary event-stream frames (docs/providers.md, section 3).

Hot path: ``contentBlockDelta`` with text is nearly every frame, so it is matched first
and handled inline; everything else goes through :meth:`BedrockStreamParser._other`.
Per frame the cost is the frame decode (:mod:`llmswitch.wire.eventstream`), one
``orjson.loads`` and one frozen event object.

Usage arrives in a ``metadata`` frame *after* ``messageStop``, so the ``StreamEnd`` is
emitted when both have been seen, or at end of input when the metadata never came.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..._json import loads
from ...errors import ProviderError
from ...events import (
    DeltaDraft,
    Event,
    ReasoningDelta,
    ReasoningEnd,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)
from ...messages import ChatRequest, ReasoningBlock, Usage
from ...wire.eventstream import EventStreamDecoder, EventStreamError, Headers
from .._claude import TRUNCATING_STOP_REASONS
from .._shape import SHAPE_ERRORS, shape_problem
from .._shape import index as _index
from .._shape import opt_str as _opt
from .._shape import text as _text
from .._streams import StreamParser, end_tool_call
from ._errors import malformed, stream_exception
from ._response import finish_reason, parse_usage

__all__ = ["BedrockStreamParser"]


class BedrockStreamParser(StreamParser):
    __slots__ = (
        "_bad_tool",
        "_decoder",
        "_done",
        "_hot",
        "_metadata",
        "_reasoning",
        "_stop",
        "_tools",
    )
    expected = "an event-stream of ConverseStream frames"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._decoder = EventStreamDecoder()
        # index -> (id, name, input fragments) for open client toolUse blocks; None for
        # server tools (run by Bedrock, not reported as calls)
        self._tools: dict[int, tuple[str, str, list[str]] | None] = {}
        # index -> [signature, redacted pieces] for open reasoning blocks
        self._reasoning: dict[int, list[Any]] = {}
        self._stop: dict[str, Any] | None = None
        self._metadata: dict[str, Any] | None = None
        self._bad_tool: str | None = None
        self._done = False
        self._hot: Headers | None = None  # the header block of the text deltas, once seen

    def _feed(self, data: bytes, out: list[Event]) -> None:
        try:
            frames = self._decoder.feed(data)
        except EventStreamError as exc:
            if self._head is not None:  # not an event stream at all
                raise self._unrecognised() from None
            raise _bad_frame(self._request, exc) from None
        draft: Any = DeltaDraft  # its objects become TextDelta (see DeltaDraft)
        text_delta = TextDelta
        # The decoder hands out one shared dict per distinct header block, so after the
        # first text delta an identity test finds the next ones (a new dict, e.g. once
        # its cache is full, takes the lookup).
        hot = self._hot
        for headers, payload in frames:
            if headers is hot or headers.get(":event-type") == "contentBlockDelta":
                hot = headers
                try:
                    obj = loads(payload)
                    delta = obj["delta"]
                    text = delta.get("text")
                    index = obj["contentBlockIndex"]
                    if type(text) is str and type(index) is int:
                        event = draft()  # TextDelta(index, text) without the call
                        event.index = index
                        event.text = text
                        event.kind = "text"
                        event.__class__ = text_delta
                        out.append(event)
                    else:
                        self._delta(_index(index), delta, text, out)
                except SHAPE_ERRORS as exc:
                    what = f"bad contentBlockDelta, {shape_problem(exc)}"
                    raise malformed(self._request, what, payload) from None
            else:
                self._other(headers, payload, out)
        self._hot = hot

    def usage_seen(self) -> Usage | None:
        usage = (self._metadata or {}).get("usage")
        return parse_usage(usage) if usage is not None else None

    def _close(self, out: list[Event]) -> None:
        if self._decoder.buffered:
            # The body ended inside a frame: whatever came before it still counts.
            try:
                self._decoder.feed(b"")
            except EventStreamError as exc:
                raise _bad_frame(self._request, exc) from None
        if self._head is not None and not self._done:
            raise self._unrecognised()
        if not self._done:
            self._done = True
            stop = self._stop
            metadata = self._metadata or {}
            usage = parse_usage(metadata.get("usage"))
            if stop is None:
                # No messageStop: the stream was cut off (docs/providers.md, section 1).
                out.append(StreamEnd("error", usage, None, self._snapshot()))
            else:
                raw_stop = stop.get("stopReason")
                out.append(StreamEnd(finish_reason(raw_stop), usage, raw_stop, self._snapshot()))

    # ------------------------------------------------------------------ rarer frames

    def _delta(self, index: int, delta: dict[str, Any], text: Any, out: list[Event]) -> None:
        if text is not None:  # text, but not a string
            _text(text)
        use = delta.get("toolUse")
        if use is not None:
            fragment = _text(use["input"])
            tool = self._tools.get(index)
            if tool is not None and fragment:
                tool[2].append(fragment)
                out.append(ToolCallDelta(index, fragment))
            return
        reasoning = delta.get("reasoningContent")
        if reasoning is not None:
            slot = self._reasoning.get(index)
            if slot is None:
                slot = self._reasoning[index] = [None, []]
            text = reasoning.get("text")
            if text:
                out.append(ReasoningDelta(index, _text(text)))
            signature = reasoning.get("signature")
            if signature:
                slot[0] = _text(signature)
            redacted = reasoning.get("redactedContent")
            if redacted:
                slot[1].append(_text(redacted))
        # citation, toolResult and image deltas: nothing to emit

    def _other(self, headers: Headers, payload: bytes, out: list[Event]) -> None:
        kind = headers.get(":message-type", "event")
        if kind != "event":
            if kind in ("exception", "error"):
                raise stream_exception(self._request, headers, payload)
            return  # a message type this parser does not know
        name = headers.get(":event-type")
        try:
            obj = loads(payload) if payload else {}
            if type(obj) is not dict:
                raise TypeError("the event is not a JSON object")
            if name == "contentBlockStart":
                self._block_start(_index(obj["contentBlockIndex"]), obj.get("start") or {}, out)
            elif name == "contentBlockStop":
                self._block_stop(_index(obj["contentBlockIndex"]), out)
            elif name == "messageStart":
                out.append(StreamStart(None, None))
            elif name == "messageStop":
                self._message_stop(obj, out)
            elif name == "metadata":
                self._metadata = obj
                if self._stop is not None:
                    self._end(out)
            # unknown events are skipped (new union members appear over time)
        except SHAPE_ERRORS as exc:
            what = f"bad {name} event, {shape_problem(exc)}"
            raise malformed(self._request, what, payload) from None

    def _block_start(self, index: int, start: dict[str, Any], out: list[Event]) -> None:
        use = start.get("toolUse")
        if use is None:
            return
        if use.get("type") == "server_tool_use":
            self._tools[index] = None
            return
        call_id, call_name = _text(use["toolUseId"]), _text(use["name"])
        self._tools[index] = (call_id, call_name, [])
        out.append(ToolCallStart(index, call_id, call_name))

    def _block_stop(self, index: int, out: list[Event]) -> None:
        if index in self._tools:
            tool = self._tools.pop(index)
            if tool is None:
                return
            bad = end_tool_call(index, *tool, out)
            if bad is not None:  # decided at messageStop
                self._bad_tool = bad
            return
        slot = self._reasoning.pop(index, None)
        if slot is not None:
            signature, redacted = slot
            if redacted:
                out.append(ReasoningEnd(index, ReasoningBlock(redacted_data=_join_b64(redacted))))
            else:
                out.append(ReasoningEnd(index, ReasoningBlock(signature=signature)))

    def _message_stop(self, obj: dict[str, Any], out: list[Event]) -> None:
        raw_stop = _opt(obj.get("stopReason"))
        self._stop = obj
        if self._bad_tool is not None and raw_stop not in TRUNCATING_STOP_REASONS:
            bad, self._bad_tool = self._bad_tool, None
            raise malformed(self._request, "toolUse input is not a JSON object", bad)
        if self._metadata is not None:
            self._end(out)

    def _end(self, out: list[Event]) -> None:
        if self._done:
            return
        self._done = True
        stop = self._stop or {}
        raw_stop = stop.get("stopReason")
        usage = parse_usage((self._metadata or {}).get("usage"))
        out.append(StreamEnd(finish_reason(raw_stop), usage, raw_stop, self._snapshot()))

    def _snapshot(self) -> dict[str, Any]:
        """``raw`` for a stream: the Converse response fields that are not streamed
        content (stop reason, usage, metrics, ...)."""
        raw: dict[str, Any] = {}
        if self._stop is not None:
            raw.update(self._stop)
        if self._metadata is not None:
            raw.update(self._metadata)
        raw.pop("p", None)  # the junk padding field
        return raw


def _bad_frame(request: ChatRequest, exc: EventStreamError) -> ProviderError:
    return malformed(request, f"bad event-stream frame ({exc})", exc.data)


def _join_b64(pieces: list[str]) -> str:
    """Redacted content normally arrives whole; pieces are joined as bytes, not text."""
    if len(pieces) == 1:
        return pieces[0]
    try:
        return base64.b64encode(b"".join(base64.b64decode(p) for p in pieces)).decode()
    except (binascii.Error, ValueError):
        return "".join(pieces)
