"""Incremental parser for Chat Completions SSE streams (docs/providers.md, section 3).

This is the hot path: one ``loads`` per chunk, then a handful of dict lookups. The
common chunk (``delta == {"content": "..."}``) takes a short branch; everything else
(reasoning, refusal, tool calls, finish, usage) is checked only when present.
"""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import ProviderError
from ...events import (
    DeltaDraft,
    Event,
    ReasoningDelta,
    RefusalDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from ...messages import ChatRequest, ToolCall, Usage
from ...wire.sse import SSEDecoder
from .._shape import SHAPE_ERRORS, opt_str, shape_problem, text
from .._streams import StreamParser
from ._errors import error_from_payload, malformed
from ._response import map_finish, map_usage, parse_arguments

__all__ = ["OpenAIStreamParser"]

_NO_HEADERS: dict[str, str] = {}


class _Call:
    """A tool call being assembled from its ``tool_calls[].index`` fragments."""

    __slots__ = ("args", "ended", "id", "name")

    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name
        self.args: list[str] = []
        self.ended = False


class OpenAIStreamParser(StreamParser):
    """Emits StreamStart once, then deltas for choice 0, a ToolCallEnd per call when the
    choice finishes, and StreamEnd after the usage chunk or at ``[DONE]``. A stream that
    stops without a finish signal ends with ``finish_reason="error"``; one in which no
    chunk was recognised at all (an HTML page, a JSON document, an empty body) raises,
    as does one that reaches ``[DONE]`` without any chunk having had a choice.
    """

    __slots__ = (
        "_answered",
        "_calls",
        "_ended",
        "_finished",
        "_last",
        "_raw_finish",
        "_sse",
        "_started",
        "_usage",
    )
    expected = "an SSE stream of chat completion chunks"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._sse = SSEDecoder()
        self._started = False
        # Whether any chunk carried choice 0: a stream that finishes without one is
        # malformed, as chat() treats a body without choices.
        self._answered = False
        self._calls: dict[int, _Call] = {}
        self._finished = False
        self._raw_finish: str | None = None
        self._usage: Any = None
        self._last: Any = None
        self._ended = False

    def _feed(self, data: bytes, out: list[Event]) -> None:
        if self._ended:
            return  # nothing after [DONE] matters
        payloads = self._sse.feed_data(data)  # the events' names carry nothing here
        if payloads:
            self._process(payloads, False, out)

    def usage_seen(self) -> Usage | None:
        return map_usage(self._usage) if self._usage else None

    def _close(self, out: list[Event]) -> None:
        if self._ended:
            return
        self._process([payload for _, payload in self._sse.close()], True, out)
        if not self._ended:
            if self._head is not None and not out:
                raise self._unrecognised()
            self._end(out, done=False)

    def _error_document(self, doc: Any) -> ProviderError | None:
        """A JSON error document sent with the 200 maps as the error it is."""
        if isinstance(doc, dict) and (doc.get("error") or doc.get("object") == "error"):
            err = doc["error"] if doc.get("error") else doc
            body = self._head or b""
            return error_from_payload(
                self._request, err, status=None, headers=_NO_HEADERS, body=body
            )
        return None

    # ------------------------------------------------------------------ internals

    def _process(self, payloads: list[bytes], at_eof: bool, out: list[Event]) -> None:
        loads = _json.loads
        draft: Any = DeltaDraft  # its objects become TextDelta (see DeltaDraft)
        text_delta = TextDelta
        started = self._started
        answered = self._answered
        chunk: Any = None
        for payload in payloads:
            try:
                chunk = loads(payload)
            except ValueError:  # not JSON: [DONE], blank, junk, or cut off
                if payload.startswith(b"[DONE]"):
                    if chunk is not None:
                        self._last = chunk
                    self._end(out, done=True)
                    return
                if not payload.strip():
                    continue
                if at_eof:  # the connection died mid-event: a truncated stream, not garbage
                    break
                raise malformed(self._request, "stream chunk is not valid JSON", payload) from None
            try:
                choices = chunk.get("choices")
            except AttributeError:  # of the JSON values only an object has .get()
                raise malformed(
                    self._request, "stream chunk is not a JSON object", payload
                ) from None
            if choices is None or "error" in chunk:
                self._check_error(chunk, payload)
            try:
                if not started:
                    self._start(chunk, choices, out)
                    started = self._started
                if choices:
                    choice = choices[0]
                    if choice.get("index", 0) != 0:  # n=1, but find choice 0 wherever it is
                        choice = next((c for c in choices if c.get("index", 0) == 0), None)
                        if choice is None:
                            choice = {}
                        elif not answered:
                            self._answered = answered = True
                    elif not answered:
                        self._answered = answered = True
                    delta = choice.get("delta")
                    if delta:
                        content = delta.get("content")
                        if len(delta) == 1 and type(content) is str:
                            if content:  # TextDelta(0, content) without the call
                                event = draft()
                                event.index = 0
                                event.text = content
                                event.kind = "text"
                                event.__class__ = text_delta
                                out.append(event)
                        else:
                            self._delta(delta, content, out)
                    finish = choice.get("finish_reason")
                    if finish and not self._finished:
                        self._raw_finish = text(finish)
                        self._finished = True
                        if self._calls:
                            self._end_calls(out)
                usage = chunk.get("usage")
                if usage:
                    self._usage = usage  # replace semantics: the last report wins
                    if self._finished and not choices:
                        self._last = chunk
                        self._end(out, done=True)  # the usage chunk is the last one that matters
                        return
            except SHAPE_ERRORS as exc:
                raise malformed(self._request, shape_problem(exc), payload) from None
        if chunk is not None:
            self._last = chunk  # StreamEnd.raw: the last chunk received

    def _start(self, chunk: dict[str, Any], choices: Any, out: list[Event]) -> None:
        chunk_id = chunk.get("id")
        model = chunk.get("model")
        # Azure's filter-only chunks carry empty ids: start at the first real chunk.
        if chunk_id or model or (choices and choices[0].get("delta")):
            self._started = True
            out.append(StreamStart(opt_str(chunk_id) or None, opt_str(model) or None))

    def _check_error(self, chunk: dict[str, Any], payload: bytes) -> None:
        err = chunk.get("error")
        if err:
            raise error_from_payload(
                self._request, err, status=None, headers=_NO_HEADERS, body=payload
            )
        if chunk.get("object") == "error":  # vLLM's old top-level shape
            raise error_from_payload(
                self._request, chunk, status=None, headers=_NO_HEADERS, body=payload
            )

    def _delta(self, delta: dict[str, Any], content: Any, out: list[Event]) -> None:
        # vLLM renamed reasoning_content -> reasoning; llama.cpp and Ollama use one or the
        # other. Take the first that is set so a server sending both is not doubled.
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        if reasoning and isinstance(reasoning, str):
            out.append(ReasoningDelta(0, reasoning))
        if content and isinstance(content, str):
            out.append(TextDelta(0, content))
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            out.append(RefusalDelta(0, refusal))
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            self._tool_deltas(tool_calls, out)

    def _tool_deltas(self, tool_calls: list[Any], out: list[Event]) -> None:
        calls = self._calls
        for tc in tool_calls:
            fn = tc.get("function") or {}
            idx = tc.get("index")
            call_id = tc.get("id")
            if type(idx) is not int:
                # Servers that omit the index send each call whole or in order: a new
                # id starts the next call, anything else continues the current one.
                last = max(calls) if calls else -1
                new = last < 0 or (call_id and call_id != calls[last].id)
                idx = last + 1 if new else last
            name = fn.get("name")
            name = name if isinstance(name, str) else ""
            call = calls.get(idx)
            if call is None:
                call_id = call_id if isinstance(call_id, str) and call_id else f"call_{idx}"
                call = calls[idx] = _Call(call_id, name)
                out.append(ToolCallStart(idx, call.id, call.name))
            elif not call.name and name:
                call.name = name
            args = fn.get("arguments")
            if args:
                if not isinstance(args, str):  # a server that sends the object itself
                    args = _json.dumps_str(args)
                call.args.append(args)
                out.append(ToolCallDelta(idx, args))

    def _end_calls(self, out: list[Event]) -> None:
        calls = self._calls
        for idx in sorted(calls):
            call = calls[idx]
            if not call.ended:
                call.ended = True
                tool_call = ToolCall(
                    id=call.id, name=call.name, arguments=parse_arguments("".join(call.args))
                )
                out.append(ToolCallEnd(idx, tool_call))

    def _end(self, out: list[Event], *, done: bool) -> None:
        if done and not self._answered:
            # [DONE] (or a usage chunk) ended a stream in which no chunk had a choice:
            # no answer at all, the body chat() rejects as "no choices". (The usage-only
            # chunk with ``choices: []`` after real chunks is normal and passes.)
            self._ended = True
            raise malformed(
                self._request,
                "no choices in the response",
                _json.dumps(self._last) if self._last is not None else b"data: [DONE]",
            )
        self._end_calls(out)
        self._ended = True
        raw = self._raw_finish
        # [DONE] is a finish signal even without a finish_reason ("other"); EOF without
        # either is a truncated stream.
        reason = map_finish(raw) if self._finished else "other" if done else "error"
        out.append(StreamEnd(reason, map_usage(self._usage), raw, self._last))
