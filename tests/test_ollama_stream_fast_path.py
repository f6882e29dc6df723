"""The Ollama stream parser's fast path for the common text line gives exactly what the
general per-line path gives: the same events, the same error, for any mix of lines
(common ones, near misses of their shape, blank lines, garbage) however the bytes are cut.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch.errors import ProviderError
from llmswitch.events import Event
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers._streams import StreamParser
from llmswitch.providers.ollama._stream import OllamaStreamParser

REQUEST = ChatRequest(
    provider="ollama", model="llama3.2", messages=(Message(role="user", content="hi"),)
)


class GeneralOnly(OllamaStreamParser):
    """The reference: every line through ``_line``, none through a fast path (neither
    the whole-read one in ``feed`` nor the per-line one in ``_lines_of``)."""

    __slots__ = ()

    feed = StreamParser.feed

    def _lines_of(self, lines: list[bytes], out: list[Event], at_eof: bool) -> None:
        for line in lines:
            try:
                obj = orjson.loads(line)
            except ValueError:
                if not line.strip():
                    continue
                if at_eof:
                    return
                if self._head is not None and not out:
                    raise self._unrecognised() from None
                raise type(self).malformed(
                    self._request, "stream line is not valid JSON", line
                ) from None
            if self._line(obj, line, out):
                return


def run(parser: OllamaStreamParser, chunks: list[bytes]) -> tuple[list[Event], str | None]:
    events: list[Event] = []
    try:
        for chunk in chunks:
            events += parser.feed(chunk)
        events += parser.close()
    except ProviderError as exc:
        return events, f"{type(exc).__name__}: {exc}"
    return events, None


_MISSING = object()
texts = st.text(max_size=8)
small_ints = st.integers(-9, 9)
contents = st.one_of(
    texts, texts, texts, st.none(), small_ints, st.just(["a"]), st.just({"t": "a"})
)
tool_calls = st.lists(
    st.fixed_dictionaries(
        {  # with an id: without one each parser would draw its own
            "id": st.sampled_from(["call_1", "call_2"]),
            "function": st.fixed_dictionaries({"name": st.just("f"), "arguments": st.just({})}),
        }
    ),
    max_size=2,
)


_FIELDS = {
    "role": st.sampled_from(["assistant", "user"]),
    "content": contents,
    "thinking": st.one_of(st.text(min_size=1, max_size=4), st.just(""), st.none()),
    "tool_calls": tool_calls,
    "images": st.none(),
}


@st.composite
def messages(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["common", "pair", "pair", "pair", "varied", "other"]))
    if kind == "common":
        return {"role": "assistant", "content": draw(texts)}
    if kind == "other":
        return draw(st.one_of(st.just(_MISSING), st.none(), texts, small_ints, st.just([])))
    # Near misses of the common shape: two keys (as it has), or any subset.
    names = sorted(_FIELDS)
    size = 2 if kind == "pair" else draw(st.integers(0, len(names)))
    chosen = draw(st.permutations(names))[:size]
    return {name: draw(_FIELDS[name]) for name in chosen}


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object"] * 6 + ["raw", "json"]))
    if kind == "raw":
        return draw(st.sampled_from([b"", b"  ", b"\r", b"{", b"nope", b'{"message":']))
    if kind == "json":
        return orjson.dumps(draw(st.one_of(st.lists(small_ints, max_size=2), texts)))
    obj: dict[str, Any] = {}
    if draw(st.booleans()):
        obj["model"] = draw(st.sampled_from(["llama3.2", "", 3]))
    msg = draw(messages())
    if msg is not _MISSING:
        obj["message"] = msg
    done = draw(st.sampled_from([False] * 5 + [True, None, 0, "false", _MISSING]))
    if done is not _MISSING:
        obj["done"] = done
        if done is True and draw(st.booleans()):
            obj["done_reason"] = draw(st.sampled_from(["stop", "length", ""]))
            obj["eval_count"] = 3
    if draw(st.integers(0, 19)) == 0:
        obj["error"] = draw(st.one_of(texts, small_ints))
    if draw(st.booleans()):
        obj["obfuscation"] = "x"  # an extra key, which the fast path does not look at
    items = list(obj.items())
    return orjson.dumps(dict(draw(st.permutations(items))))


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    parts = draw(st.lists(lines(), max_size=12))
    body = b"\n".join(parts)
    if draw(st.booleans()):
        body += b"\n"
    if draw(st.booleans()):  # a line per read, as real streams come
        return [part + b"\n" for part in parts]
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


@settings(max_examples=400, deadline=None)
@given(chunks=streams())
def test_the_fast_path_equals_the_general_path(chunks: list[bytes]) -> None:
    assert run(OllamaStreamParser(REQUEST), chunks) == run(GeneralOnly(REQUEST), chunks)


class Counting(OllamaStreamParser):
    __slots__ = ("general",)

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self.general = 0

    def _line(self, obj: Any, line: bytes, out: list[Event]) -> bool:
        self.general += 1
        return super()._line(obj, line, out)


def test_common_lines_after_the_first_take_the_fast_path() -> None:
    common = b'{"model":"m","message":{"role":"assistant","content":"a"},"done":false}\n'
    done = b'{"model":"m","message":{"role":"assistant","content":""},"done":true}\n'
    parser = Counting(REQUEST)
    events = parser.feed(common * 5 + done)
    assert [e.kind for e in events] == ["start", *["text"] * 5, "end"]
    assert parser.general == 2  # the first line (it starts the stream) and the last
    parser = Counting(REQUEST)  # a line per read (the whole-read fast path)
    events = [e for line in [common] * 5 + [done] for e in parser.feed(line)]
    assert [e.kind for e in events] == ["start", *["text"] * 5, "end"]
    assert [e.text for e in events if e.kind == "text"] == ["a"] * 5
    assert parser.general == 2


def test_a_read_over_the_line_cap_is_refused_on_the_fast_path_too() -> None:
    common = b'{"model":"m","message":{"role":"assistant","content":"a"},"done":false}\n'
    long = b'{"message":{"role":"assistant","content":"' + b"x" * 200 + b'"},"done":false}\n'
    for parser in (OllamaStreamParser(REQUEST), GeneralOnly(REQUEST)):
        parser._lines.max_line = 100
        assert [e.kind for e in parser.feed(common)] == ["start", "text"]
        try:
            parser.feed(long)
        except ProviderError as exc:
            assert "100" in str(exc)
        else:
            raise AssertionError("a line over the cap was accepted")


# Every two-key message (the common shape has two keys) with values of each kind, and
# each value of "done", and the common message with a key more, after a common first
# line: the near misses, exhaustively.
_VALUES: dict[str, list[Any]] = {
    "role": ["assistant", None],
    "content": ["x", "", None, 7, ["a"]],
    "thinking": ["t", "", None],
    "tool_calls": [[{"id": "c", "function": {"name": "f", "arguments": {}}}], [], "no"],
    "images": [None],
    "other": [1],
}


def test_near_miss_messages_equal_the_general_path() -> None:
    first = b'{"model":"m","message":{"role":"assistant","content":"a"},"done":false}\n'
    checked = 0
    for a, b in itertools.permutations(_VALUES, 2):
        for va, vb, done in itertools.product(_VALUES[a], _VALUES[b], [False, True, None]):
            line = orjson.dumps({"message": {a: va, b: vb}, "done": done}) + b"\n"
            for chunks in ([first + line], [first, line]):
                got = run(OllamaStreamParser(REQUEST), chunks)
                assert got == run(GeneralOnly(REQUEST), chunks)
            checked += 1
    for extra, values in _VALUES.items():  # the common message and one key more
        for value, at in itertools.product(values, [0, 1, 2]):
            items = [("role", "assistant"), ("content", "x")]
            items.insert(at, (extra, value))
            line = orjson.dumps({"message": dict(items), "done": False}) + b"\n"
            for chunks in ([first + line], [first, line]):
                got = run(OllamaStreamParser(REQUEST), chunks)
                assert got == run(GeneralOnly(REQUEST), chunks)
            checked += 1
    assert checked > 300


def test_a_read_that_ends_an_unfinished_line_is_that_line_not_a_new_one() -> None:
    common = b'{"model":"m","message":{"role":"assistant","content":"a"},"done":false}\n'
    chunks = [common, b"nope", common]  # the line is `nope{...}`: garbage
    got = run(OllamaStreamParser(REQUEST), chunks)
    assert got == run(GeneralOnly(REQUEST), chunks)
    assert got[1] is not None and "not valid JSON" in got[1]


def test_the_hot_loop_keys_are_the_decoders_own_objects() -> None:
    # What the parser's lookups by identity rely on (only their speed does: an equal
    # str of another identity is still found).
    from llmswitch._json import decoded_key, loads

    line = b'{"model":"m","message":{"role":"assistant","content":"x"},"done":false}'
    obj = loads(line)
    keys = {k: k for k in [*obj, *obj["message"]]}
    for name in ("message", "content", "done", "role"):
        key = decoded_key(name)
        assert key == name and type(key) is str
        assert keys[name] is key
