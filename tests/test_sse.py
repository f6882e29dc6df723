from __future__ import annotations

import pytest

from llmswitch.wire.sse import SSEDecoder
from tests.support.streams import byte_by_byte, split_at

STREAM = (
    b": keep-alive\n\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b'data: {"t": "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe4\xb8\xad"}\n\n'
    b"data: line1\ndata: line2\n\n"
    b"id: 7\nretry: 100\ndata:nospace\n\n"
    b"event: ping\ndata: {}\n\n"
    b"data: [DONE]\n\n"
)

EXPECTED = [
    ("message_start", b'{"a": 1}'),
    (None, '{"t": "héllo 😀 中"}'.encode()),
    (None, b"line1\nline2"),
    (None, b"nospace"),
    ("ping", b"{}"),
    (None, b"[DONE]"),
]


def _decode(pieces: list[bytes]) -> list[tuple[str | None, bytes]]:
    d = SSEDecoder()
    out = []
    for p in pieces:
        out.extend(d.feed(p))
    out.extend(d.close())
    return out


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_split_point_gives_the_same_events(eol: bytes) -> None:
    data = STREAM.replace(b"\n", eol)
    assert _decode([data]) == EXPECTED
    assert _decode(byte_by_byte(data)) == EXPECTED
    for cut in range(1, len(data)):
        assert _decode(split_at(data, cut)) == EXPECTED, cut


def test_crlf_split_between_cr_and_lf_does_not_create_an_extra_blank_line() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: a\r") == []
    assert d.feed(b"\ndata: b\r\n\r") == []
    assert d.feed(b"\n") == [(None, b"a\nb")]


def test_final_event_without_blank_line_is_delivered_at_close() -> None:
    d = SSEDecoder()
    assert d.feed(b'data: {"x":1}') == []
    assert d.pending == b'data: {"x":1}'
    assert d.close() == [(None, b'{"x":1}')]


def test_comments_only_produce_nothing() -> None:
    assert _decode([b": ping\n\n: ping\r\n\r\n"]) == []
