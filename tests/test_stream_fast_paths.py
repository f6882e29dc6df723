"""The SSE parsers' fast paths (their own framing of the usual event shape, byte-matched
text deltas) give exactly what the general path gives: the same events, the same error
at the same point, for streams of real and mangled events cut anywhere, with either line
end. The general path is the parser with its framing done by ``SSEDecoder.feed`` and
every event through the parser's general per-event code."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmswitch.errors import ProviderError
from llmswitch.events import (
    DeltaDraft,
    Event,
    ReasoningDelta,
    RefusalDelta,
    StreamEnd,
    TextDelta,
)
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers._streams import StreamParser
from llmswitch.providers.anthropic._stream import AnthropicStreamParser
from llmswitch.providers.gemini._stream import GeminiStreamParser
from llmswitch.providers.openai._stream import OpenAIStreamParser
from llmswitch.wire.sse import SSEDecoder

CHECK = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _request(provider: str, model: str) -> ChatRequest:
    return ChatRequest(
        provider=provider, model=model, messages=(Message(role="user", content="hi"),)
    )


class GeneralAnthropic(AnthropicStreamParser):
    """Every event framed by the decoder and read by the general per-event path."""

    __slots__ = ()

    def _feed(self, data: bytes, out: list[Event]) -> None:
        for name, payload in self._sse.feed(data):
            self._event(name, payload, out)


class Outcome(tuple[list[Event], str | None]):
    """The events a caller receives and the error (type and text) that ends them; equal
    only if StreamEnd.raw (which its own equality ignores) is equal too."""

    def __eq__(self, other: object) -> bool:
        raws = [[e.raw for e in o[0] if isinstance(e, StreamEnd)] for o in (self, other)]  # type: ignore[index]
        return tuple.__eq__(self, other) and raws[0] == raws[1]

    __hash__ = tuple.__hash__


def run(parser: StreamParser, pieces: list[bytes]) -> Outcome:
    events: list[Event] = []
    try:
        for piece in pieces:
            events += parser.feed(piece)
        events += parser.close()
    except ProviderError as exc:
        return Outcome((events, f"{type(exc).__name__}: {exc}"))
    return Outcome((events, None))


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


# Any text, as JSON writes it: quotes, backslashes, control characters, non-ASCII, emoji.
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


def dumps(obj: Any, ascii_only: bool, spaced: bool) -> bytes:
    seps = (", ", ": ") if spaced else (",", ":")
    return json.dumps(obj, separators=seps, ensure_ascii=ascii_only).encode()


# --------------------------------------------------------------------------- Anthropic


# What may follow the hot prefix instead of one JSON string and "}}".
MANGLED_TAILS = [
    *(b'"ab"}}x', b'"ab"}} ', b'"a","x":1}}', b'"a\\"}}', b'"a" }}', b"7}}", b'"a}}'),
    *(b'"a"}', b'"a"}}}', b'"\xff"}}', b'"a\\u00e9"}}', b'"\x01"}}', b"null}}"),
]


@st.composite
def anthropic_event(draw: st.DrawFn) -> tuple[str | None, bytes]:
    """One event as (name, data bytes): mostly the service's own, some mangled."""
    kind = draw(
        st.sampled_from(
            ["text"] * 6
            + ["start", "block_text", "block_thinking", "block_tool", "ping", "thinking"]
            + ["signature", "json", "stop", "message_delta", "message_stop", "mangled"]
        )
    )
    index = draw(st.integers(0, 2))
    ascii_only, spaced = draw(st.booleans()), draw(st.integers(0, 5)) == 0
    name = {"text": "content_block_delta", "thinking": "content_block_delta"}.get(kind)
    obj: Any
    if kind == "text":
        obj = {"type": "content_block_delta", "index": index}
        obj["delta"] = {"type": "text_delta", "text": draw(texts)}
    elif kind == "start":
        name = "message_start"
        usage = {"input_tokens": 5, "output_tokens": 1}
        obj = {"type": name, "message": {"id": "msg_1", "model": "claude", "usage": usage}}
    elif kind.startswith("block_"):
        name = "content_block_start"
        block: dict[str, Any] = {
            "block_text": {"type": "text", "text": draw(texts)},
            "block_thinking": {"type": "thinking", "thinking": "", "signature": ""},
            "block_tool": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        }[kind]
        obj = {"type": name, "index": index, "content_block": block}
    elif kind == "ping":
        name, obj = "ping", {"type": "ping"}
    elif kind in ("thinking", "signature", "json"):
        name = "content_block_delta"
        field = {"thinking": "thinking", "signature": "signature", "json": "partial_json"}[kind]
        delta_type = {"thinking": "thinking_delta", "signature": "signature_delta"}.get(
            kind, "input_json_delta"
        )
        obj = {"type": name, "index": index, "delta": {"type": delta_type, field: draw(texts)}}
    elif kind == "stop":
        name, obj = "content_block_stop", {"type": "content_block_stop", "index": index}
    elif kind == "message_delta":
        name = kind
        obj = {"type": kind, "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
    elif kind == "message_stop":
        name, obj = kind, {"type": kind}
    else:  # the hot prefix with something else after it, or a wrong-typed text
        prefix = b'{"type":"content_block_delta","index":%d,' % index
        prefix += b'"delta":{"type":"text_delta","text":'
        return "content_block_delta", prefix + draw(st.sampled_from(MANGLED_TAILS))
    return name, dumps(obj, ascii_only, spaced)


@st.composite
def sse_stream(draw: st.DrawFn, events: st.SearchStrategy[tuple[str | None, bytes]]) -> bytes:
    """Events written the usual way, with SSE's other spellings mixed in."""
    eol = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]))
    out: list[bytes] = []
    for name, data in draw(st.lists(events, max_size=12)):
        if name == "RAW":  # JSON lines outside SSE (how Gemini may send a late error)
            out.append(eol.join(data.split(b"\n")) + eol)
            continue
        lines: list[bytes] = []
        style = draw(st.integers(0, 19))
        if style == 1:
            lines.append(b": keep-alive")
        if style == 8:  # a second event: line before the one that counts
            lines.append(b"event: content_block_delta" if name != "content_block_delta"
                         else b"event: ping")  # fmt: skip
        if name is not None and style not in (2, 9):  # 2: a proxy dropped the event line
            lines.append((b"event:" if style == 3 else b"event: ") + name.encode())
        if style == 4:
            lines.append(b"id: 7")
        comma = data.find(b",")
        if style == 5 and comma > 0:  # two data lines, joined by a newline (JSON space)
            lines += [b"data: " + data[: comma + 1], b"data: " + data[comma + 1 :]]
        else:
            lines.append((b"data:" if style == 6 else b"data: ") + data)
        if style == 9:  # a name after the data: the last one counts
            lines.append(b"event: ping" if name == "content_block_delta" else b"event: x")
        elif style == 10:
            lines.append(b"id: 8")
        elif style == 11:
            lines.append(b"data: 1")
        elif style == 12:  # a data line before the event: line
            lines.insert(0, b"data: 1")
        out.append(eol.join(lines) + eol + eol * (2 if style == 7 else 1))
    if draw(st.booleans()):  # no blank line after the last event: it ends at close
        while out and out[-1].endswith(eol * 2):
            out[-1] = out[-1][: -len(eol)]
    return b"".join(out)


def check_same(fast: Callable[[], StreamParser], general: Callable[[], StreamParser],
               data: bytes, points: list[int]) -> None:  # fmt: skip
    whole = run(general(), [data])
    assert run(fast(), [data]) == whole
    pieces = cut(data, points)
    assert run(fast(), pieces) == run(general(), pieces)
    ends = [i + 1 for i, byte in enumerate(data) if byte in b"\r\n"]
    if ends:  # reads that end at line ends, as servers write them
        pieces = cut(data, [ends[p % len(ends)] for p in points])
        assert run(fast(), pieces) == run(general(), pieces)
    lines = data.splitlines(keepends=True)  # every line in a read of its own
    assert run(fast(), lines) == run(general(), lines)


ANTHROPIC = _request("anthropic", "claude-sonnet-4-5")


@CHECK
@given(data=sse_stream(anthropic_event()), points=st.lists(st.integers(0, 10_000), max_size=8))
def test_anthropic_fast_path_is_the_general_path(data: bytes, points: list[int]) -> None:
    check_same(
        lambda: AnthropicStreamParser(ANTHROPIC), lambda: GeneralAnthropic(ANTHROPIC), data, points
    )


def test_anthropic_stream_of_the_service_shape_takes_the_fast_path() -> None:
    # What the service sends (compact JSON, named events, a ping): the text deltas are
    # read without the decoder's per-line loop, and give the same events as it does.
    body = b"".join(
        b"event: %s\ndata: %s\n\n" % (name.encode(), dumps(obj, False, False))
        for name, obj in [
            ("message_start", {"type": "message_start", "message": {"id": "m", "model": "c"}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"}),
            *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": f"t{i} é\""}})
              for i in range(5)],
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
            ("message_stop", {"type": "message_stop"}),
        ]
    )  # fmt: skip
    calls: list[list[bytes]] = []

    class Counting(AnthropicStreamParser):
        __slots__ = ()

        def _decode(self, held: list[bytes], lines: Any, out: list[Event]) -> bool:
            calls.append(held)
            return super()._decode(held, lines, out)

    fast = run(Counting(ANTHROPIC), [body])
    assert fast == run(GeneralAnthropic(ANTHROPIC), [body])
    assert [type(e).__name__ for e in fast[0]].count("TextDelta") == 5
    assert fast[1] is None and calls == []
    # A read that starts inside an event: the decoder finishes that one, then the
    # loop frames the rest itself again.
    at = body.index(b"data: ") + 3
    assert run(Counting(ANTHROPIC), [body[:at], body[at:]]) == fast
    assert len(calls) == 2 and calls[0] == [b"event: message_start"] and calls[1][-1] == b""


# --------------------------------------------------------------------------- DeltaDraft


@pytest.mark.parametrize("cls", [TextDelta, ReasoningDelta, RefusalDelta])
def test_a_relabelled_draft_is_the_event_itself(cls: type[Any]) -> None:
    made = cls(3, "héllo")
    event: Any = DeltaDraft()
    event.index, event.text, event.kind = 3, "héllo", made.kind
    event.__class__ = cls
    assert type(event) is cls and isinstance(event, cls)
    assert event == made and hash(event) == hash(made) and repr(event) == repr(made)
    assert dataclasses.astuple(event) == dataclasses.astuple(made)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(event, protocol)) == made
    assert copy.copy(event) == made and copy.deepcopy(event) == made
    assert dataclasses.replace(event, text="x") == cls(3, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "changed"
    assert event != cls(3, "other") and event != DeltaDraft()
    # The slots live in a shared private base: the public shape is the dataclass's.
    assert [f.name for f in dataclasses.fields(cls)] == ["index", "text", "kind"]
    match event:
        case cls(index=3, text="héllo"):  # type: ignore[misc]
            pass
        case _:
            raise AssertionError("a relabelled event must match its class pattern")


def test_a_draft_of_another_layout_cannot_become_an_event() -> None:
    # What the import-time layout check guards: CPython refuses the relabelling.
    class Other:
        __slots__ = ("index", "kind", "txt")

    with pytest.raises(TypeError):
        Other().__class__ = TextDelta  # type: ignore[assignment]


# --------------------------------------------------------------------------- SSEDecoder


@st.composite
def any_sse(draw: st.DrawFn) -> bytes:
    """Unnamed one-line events (the fast case) among every other SSE line shape."""
    line = st.one_of(
        st.builds(lambda v: b"data: " + v, st.sampled_from([b"{}", b"[DONE]", b"", b"x y"])),
        st.sampled_from([b"", b"", b"data:x", b"event: e", b": c", b"id: 1", b"data"]),
    )
    eol = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]))
    return eol.join(draw(st.lists(line, max_size=30))) + draw(st.sampled_from([b"", eol]))


@CHECK
@given(data=any_sse(), points=st.lists(st.integers(0, 10_000), max_size=8))
def test_feed_data_is_feed_without_the_names(data: bytes, points: list[int]) -> None:
    def both(pieces: list[bytes]) -> tuple[list[bytes], list[bytes]]:
        a, b = SSEDecoder(), SSEDecoder()
        fast = [p for piece in pieces for p in a.feed_data(piece)]
        general = [p for piece in pieces for _, p in b.feed(piece)]
        return fast + [p for _, p in a.close()], general + [p for _, p in b.close()]

    for pieces in ([data], cut(data, points), data.splitlines(keepends=True)):
        fast, general = both(pieces)
        assert fast == general


def test_feed_data_caps_an_open_event_as_feed_does() -> None:
    for method in ("feed", "feed_data"):
        d = SSEDecoder(max_line=64)
        getattr(d, method)(b"data: {}\n\ndata: " + b"a" * 40 + b"\n")
        with pytest.raises(ProviderError, match="64"):
            getattr(d, method)(b"data: " + b"b" * 40 + b"\n")


# --------------------------------------------------------------------------- OpenAI


OPENAI = _request("openai", "gpt-4o-mini")


class GeneralOpenAI(OpenAIStreamParser):
    """Every event framed by the decoder's per-line loop."""

    __slots__ = ()

    def _feed(self, data: bytes, out: list[Event]) -> None:
        if not self._ended:
            self._process([payload for _, payload in self._sse.feed(data)], False, out)


@st.composite
def openai_chunk(draw: st.DrawFn) -> tuple[str | None, bytes]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    kind = draw(st.sampled_from(["text"] * 6 + ["role", "tool", "finish", "usage", "odd"]))
    choice: dict[str, Any] = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": None}
    if kind == "text":
        choice["delta"] = {"content": draw(texts)}
    elif kind == "role":
        choice["delta"] = {"role": "assistant", "content": "", "refusal": None}
    elif kind == "tool":
        call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": draw(texts)}}
        choice["delta"] = {"tool_calls": [call]}
    elif kind == "finish":
        choice["finish_reason"] = draw(st.sampled_from(["stop", "length", "tool_calls"]))
    chunk: dict[str, Any] = {**head, "choices": [choice], "usage": None}
    if kind == "usage":
        chunk["choices"] = []
        chunk["usage"] = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    chunk["obfuscation"] = "x" * draw(st.integers(0, 6))
    if kind == "odd":  # what a server may send instead of a chunk
        odd = [b"[DONE]", b"", b"  ", b"[1]", b"3", b'"x"', b"null", b"true", b"{", b"{}"]
        return None, draw(st.sampled_from(odd))
    return None, dumps(chunk, draw(st.booleans()), draw(st.integers(0, 5)) == 0)


@CHECK
@given(data=sse_stream(openai_chunk()), points=st.lists(st.integers(0, 10_000), max_size=8))
def test_openai_fast_framing_is_the_general_path(data: bytes, points: list[int]) -> None:
    check_same(lambda: OpenAIStreamParser(OPENAI), lambda: GeneralOpenAI(OPENAI), data, points)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"[1]", "not a JSON object"),
        (b"3", "not a JSON object"),
        (b'"x"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"true", "not a JSON object"),
        (b"{", "not valid JSON"),
        (b"<html>", "not valid JSON"),
    ],
)
def test_openai_chunk_that_is_no_object(payload: bytes, problem: str) -> None:
    text = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    events, error = run(OpenAIStreamParser(OPENAI), [text + b"data: " + payload + b"\n\n"])
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(0, "a")]
    assert error is not None and problem in error


def test_openai_blank_data_and_done() -> None:
    text = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    events, error = run(OpenAIStreamParser(OPENAI), [text + b"data: \n\ndata:  \n\n" * 2 + text
                                                     + b"data: [DONE]\n\n" + text])  # fmt: skip
    assert error is None
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(0, "a")] * 2
    assert events[-1].kind == "end" and events[-1].finish_reason == "other"


# --------------------------------------------------------------------------- Gemini


GEMINI = _request("gemini", "gemini-2.5-flash")


class GeneralGemini(GeminiStreamParser):
    """Every line through the general loop, every chunk through _object."""

    __slots__ = ()

    def _lines(self, lines: list[bytes], out: list[Event]) -> None:
        self._general(lines, out)


@st.composite
def gemini_chunk(draw: st.DrawFn) -> tuple[str | None, bytes]:
    kind = draw(
        st.sampled_from(
            ["text"] * 5 + ["thought"] * 2 + ["two", "call", "finish", "usage", "feedback"]
            + ["other_index", "empty", "number", "no_parts", "error", "raw", "odd"]
            + ["raw_open", "raw_close"]
        )
    )  # fmt: skip
    part: dict[str, Any] = {"text": draw(texts)}
    cand: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": 0}
    if kind == "thought":
        part["thought"] = True
    elif kind == "two":
        cand["content"]["parts"].append({"text": "more", "thought": draw(st.booleans())})
    elif kind == "call":
        cand["content"]["parts"] = [{"functionCall": {"name": "f", "args": {"a": 1}}}]
    elif kind == "finish":
        cand["finishReason"] = "STOP"
    elif kind == "other_index":
        cand["index"] = 1
    elif kind == "empty":
        part["text"] = ""
    elif kind == "number":
        part["text"] = 7
    elif kind == "no_parts":
        cand["content"] = {"role": "model"}
    chunk: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-2.5-flash"}
    chunk["responseId"] = "r1"  # synthetic tool-call ids are built from it (else random)
    if draw(st.booleans()):
        chunk["usageMetadata"] = {"promptTokenCount": 3, "totalTokenCount": draw(st.integers(3, 9))}
    if kind == "usage":
        chunk = {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}
    elif kind == "feedback":
        chunk = {"promptFeedback": {"blockReason": "SAFETY"}}
    elif kind == "raw_open":  # raw JSON that the following lines continue (or not)
        return "RAW", b'{"usageMetadata": {"promptTokenCount": 1},'
    elif kind == "raw_close":
        return "RAW", b'"responseId": "r2"}'
    elif kind in ("error", "raw"):
        chunk = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
        if kind == "raw":
            return "RAW", json.dumps([chunk], indent=2).encode()
    elif kind == "odd":
        return None, draw(st.sampled_from([b"[1]", b"3", b"null", b"{", b"", b"[{}]"]))
    return None, dumps(chunk, draw(st.booleans()), draw(st.booleans()))


@CHECK
@given(data=sse_stream(gemini_chunk()), points=st.lists(st.integers(0, 10_000), max_size=8))
def test_gemini_fast_path_is_the_general_path(data: bytes, points: list[int]) -> None:
    check_same(lambda: GeminiStreamParser(GEMINI), lambda: GeneralGemini(GEMINI), data, points)
