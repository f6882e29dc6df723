"""The NDJSON line splitter: whatever the reads look like, the same lines come out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch.wire.ndjson import NDJSONDecoder
from tests.support.streams import byte_by_byte, split_at

STREAM = (
    b'{"a":1}\n'
    b'{"t":"h\xc3\xa9llo \xf0\x9f\x98\x80 \xe4\xb8\xad"}\n'
    b"\n"  # blank lines are skipped
    b'{"b":[1,2]}\r\n'  # a CRLF line keeps its \r: JSON parsers take it as whitespace
    b"   \n"
    b'{"last":true}'  # no final newline: counts at close()
)

EXPECTED = [
    b'{"a":1}',
    '{"t":"héllo 😀 中"}'.encode(),
    b'{"b":[1,2]}\r',
    b'{"last":true}',
]


def decode(pieces: list[bytes]) -> list[bytes]:
    d = NDJSONDecoder()
    out: list[bytes] = []
    for p in pieces:
        out.extend(d.feed(p))
    out.extend(d.close())
    return out


def decode_lines(pieces: list[bytes]) -> list[bytes]:
    d = NDJSONDecoder()
    out: list[bytes] = []
    for p in pieces:
        out.extend(d.feed_lines(p))
    out.extend(d.close())
    return out


def test_feed_lines_keeps_the_blank_lines_of_a_read() -> None:
    d = NDJSONDecoder()
    assert d.feed_lines(b'{"a":1}\n\n \r\n{"b":2}\n{"c"') == [b'{"a":1}', b"", b" \r", b'{"b":2}']
    assert d.feed(b':3}\n\n\n{"d":4}\n') == [b'{"c":3}', b'{"d":4}']


def test_whole_and_byte_by_byte() -> None:
    assert decode([STREAM]) == EXPECTED
    assert decode(byte_by_byte(STREAM)) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_split_point(cut: int) -> None:
    assert decode(split_at(STREAM, cut)) == EXPECTED


def test_a_line_comes_out_as_soon_as_its_newline_arrives() -> None:
    d = NDJSONDecoder()
    assert d.feed(b'{"a":') == []
    assert d.pending == b'{"a":'
    assert d.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert d.pending == b'{"b"'


def test_close_without_a_tail_and_twice() -> None:
    d = NDJSONDecoder()
    assert d.feed(b'{"a":1}\n') == [b'{"a":1}']
    assert d.close() == []
    assert d.close() == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"", b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"{}", b' {"a": 1} ', b"x"]),
        max_size=8,
    ).map(b"".join),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
)
def test_lines_are_the_non_blank_ones_however_cut(line_parts: bytes, cuts: list[int]) -> None:
    # Lines from a small alphabet of whitespace and JSON-ish bytes, so that blank,
    # whitespace-only and padded lines all occur; cut into reads of varying sizes.
    data = line_parts.replace(b"x", b"\n")
    pieces, i, k = [], 0, 0
    while i < len(data):
        pieces.append(data[i : i + cuts[k % len(cuts)]])
        i += cuts[k % len(cuts)]
        k += 1
    expected = [line for line in data.split(b"\n") if line and not line.isspace()]
    assert decode(pieces) == expected
    assert decode([data]) == expected
    # feed_lines: the same lines, blank ones possibly among them (never a line cut).
    for reads in (pieces, [data]):
        raw = decode_lines(reads)
        assert [line for line in raw if not line.isspace() and line] == expected
        assert all(line in data.split(b"\n") or line.isspace() for line in raw)
