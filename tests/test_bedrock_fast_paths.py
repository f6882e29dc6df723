"""The Bedrock stream's fast paths against the general ones: the shared header-block
cache of the event-stream decoder, and the parser's identity test for the text-delta
header block. Every stream is also run with a distinct header block per frame, which
takes the general path on every frame; both must give the same events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch.errors import ProviderError
from llmswitch.events import Event, StreamStart, TextDelta, ToolCallDelta, ToolCallStart
from llmswitch.wire import eventstream
from llmswitch.wire.eventstream import EventStreamDecoder
from tests.support.bedrock import FEED, event, frame
from tests.support.streams import feed, in_pieces

HEADERS = {":event-type": "contentBlockDelta", ":content-type": "application/json"}


def _frame(name: str, payload: bytes, n: int | None) -> bytes:
    """A frame of event ``name``; ``n`` adds a header that makes its block unique."""
    headers: dict[str, str | int] = {":event-type": name, ":message-type": "event"}
    if n is not None:
        headers["x-frame"] = n
    return frame(headers, payload)


def _events(frames: list[bytes], piece: int) -> list[Event]:
    data = b"".join(frames)
    return feed(FEED.parser(), in_pieces(data, piece) if piece else [data])


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
deltas = st.lists(
    st.tuples(st.integers(0, 3), texts | st.none()),  # None: a tool-input delta
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(deltas, st.integers(0, 97))
def test_text_deltas_same_events_on_the_fast_and_the_general_path(
    items: list[tuple[int, str | None]], piece: int
) -> None:
    def stream(unique: bool) -> list[bytes]:
        out = [_frame("messageStart", b'{"role":"assistant"}', 0 if unique else None)]
        for k in range(4):  # a tool block at every index, for the tool-input deltas
            start = {
                "contentBlockIndex": k,
                "start": {"toolUse": {"toolUseId": f"t{k}", "name": "f"}},
            }
            out.append(
                _frame("contentBlockStart", json.dumps(start).encode(), 1 if unique else None)
            )
        for n, (index, text) in enumerate(items):
            delta: dict[str, Any] = (
                {"text": text} if text is not None else {"toolUse": {"input": "{"}}
            )
            body = json.dumps({"contentBlockIndex": index, "delta": delta, "p": "abcdef"})
            out.append(_frame("contentBlockDelta", body.encode(), n + 2 if unique else None))
        return out

    fast, general = _events(stream(False), piece), _events(stream(True), piece)
    assert fast == general
    expected: list[Event] = [StreamStart(None, None)]
    expected += [ToolCallStart(k, f"t{k}", "f") for k in range(4)]
    expected += [TextDelta(i, t) if t is not None else ToolCallDelta(i, "{") for i, t in items]
    assert fast[: len(expected)] == expected


@pytest.mark.parametrize(
    "payload",
    [
        b'{"contentBlockIndex":0,"delta":{"text":7}}',  # text not a string
        b'{"contentBlockIndex":true,"delta":{"text":"a"}}',  # a boolean index
        b'{"contentBlockIndex":"0","delta":{"text":"a"}}',
        b'{"contentBlockIndex":0,"delta":["text"]}',
        b'{"contentBlockIndex":0}',
        b'["contentBlockIndex"]',
        b"{not json",
    ],
)
def test_a_bad_text_delta_after_good_ones_is_malformed(payload: bytes) -> None:
    good = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "ok"}})
    bad = frame({":event-type": "contentBlockDelta", **HEADERS}, payload)
    parser = FEED.parser()
    assert parser.feed(good + good) == [TextDelta(0, "ok")] * 2  # the fast path is set up
    with pytest.raises(ProviderError, match="bad contentBlockDelta") as info:
        parser.feed(bad)
    assert info.value.body is not None


def test_decoded_headers_are_shared_read_only_mappings() -> None:
    data = frame(HEADERS, b"{}")
    (first, _), (second, _) = EventStreamDecoder().feed(data) + EventStreamDecoder().feed(data)
    assert first is second  # decoded once for every decoder
    assert first == HEADERS
    with pytest.raises(TypeError):
        first[":event-type"] = "changed"  # type: ignore[index]


def test_header_cache_is_bounded() -> None:
    limit = eventstream._CACHE_LIMIT
    decoder = EventStreamDecoder()
    for n in range(limit + 10):
        ((headers, _),) = decoder.feed(frame({":event-type": "x", "n": n}, b""))
        assert headers == {":event-type": "x", "n": n}
        assert len(eventstream._HEADERS) <= limit
    big = {":event-type": "x", "blob": b"\x00" * (eventstream._CACHED_BLOCK + 1)}
    ((headers, _),) = decoder.feed(frame(big, b""))
    assert headers == big
    assert all(len(raw) <= eventstream._CACHED_BLOCK for raw in eventstream._HEADERS)
