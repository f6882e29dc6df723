"""Our event-stream frame decoder against botocore's ``EventStreamBuffer`` on the same
bytes: the same frames however the bytes are cut, and the same verdict on bad bytes."""

from __future__ import annotations

import struct
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer, ParserError

from llmswitch.wire.eventstream import (
    MAX_HEADERS_LENGTH,
    MAX_PAYLOAD_LENGTH,
    EventStreamDecoder,
    EventStreamError,
)
from tests.support.bedrock import event, fixture, frame
from tests.support.streams import byte_by_byte, splits_in_two

STREAMS = fixture.names("*.bin")
Frames = list[tuple[dict[str, object], bytes]]


def botocore_frames(data: bytes) -> Frames:
    buf = EventStreamBuffer()
    buf.add_data(data)
    return [(dict(m.headers), bytes(m.payload)) for m in buf]


def ours(pieces: list[bytes]) -> Frames:
    decoder = EventStreamDecoder()
    out: Frames = []
    for piece in pieces:
        out.extend((dict(h), p) for h, p in decoder.feed(piece))
    return out


@pytest.mark.parametrize("name", STREAMS)
def test_same_frames_as_botocore_whole_and_byte_by_byte(name: str) -> None:
    data = fixture(name)
    expected = botocore_frames(data)
    assert expected  # every fixture holds frames
    assert ours([data]) == expected
    assert ours(byte_by_byte(data)) == expected


@pytest.mark.parametrize("name", ["tool_use.bin", "reasoning.bin", "throttled.bin"])
def test_same_frames_split_at_every_position(name: str) -> None:
    data = fixture(name)
    expected = botocore_frames(data)
    for i, pieces in splits_in_two(data):
        assert ours(pieces) == expected, f"split at byte {i}"


def test_every_header_value_type_decodes_like_botocore() -> None:
    raw = b"".join(
        [
            b"\x04true\x00",
            b"\x05false\x01",
            b"\x04byte\x02" + struct.pack("!b", -7),
            b"\x05short\x03" + struct.pack("!h", -300),
            b"\x07integer\x04" + struct.pack("!i", 70000),
            b"\x04long\x05" + struct.pack("!q", 2**40),
            b"\x05bytes\x06" + struct.pack("!H", 3) + b"\x00\xff\x10",
            b"\x06string\x07" + struct.pack("!H", len("häll".encode())) + "häll".encode(),
            b"\x09timestamp\x08" + struct.pack("!q", 1_700_000_000_123),
            b"\x04uuid\x09" + bytes(range(16)),
        ]
    )
    total = 12 + len(raw) + 2 + 4
    prelude = struct.pack("!II", total, len(raw))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + raw + b"{}"
    data = message + struct.pack("!I", zlib.crc32(message))
    (frame_ours,) = ours([data])
    assert frame_ours == botocore_frames(data)[0]
    headers = frame_ours[0]
    assert headers["true"] is True and headers["false"] is False
    assert (headers["byte"], headers["short"], headers["integer"]) == (-7, -300, 70000)
    assert headers["string"] == "häll" and headers["uuid"] == bytes(range(16))


def _corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize(
    ("where", "at"),
    [("prelude", 1), ("prelude crc", 9), ("headers", 14), ("payload", -10), ("message crc", -1)],
)
def test_corrupted_bytes_are_rejected_like_botocore(where: str, at: int) -> None:
    good = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hello"}})
    bad = _corrupt(good, at if at >= 0 else len(good) + at)
    with pytest.raises(ParserError):
        botocore_frames(bad)
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(bad)


def test_good_frames_before_a_bad_one_are_delivered_first() -> None:
    good = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "kept"}})
    bad = _corrupt(good, len(good) - 10)
    decoder = EventStreamDecoder()
    frames = decoder.feed(good + bad)
    assert [p for _, p in frames] == [botocore_frames(good)[0][1]]
    with pytest.raises(EventStreamError) as info:
        decoder.feed(b"")
    assert info.value.data == bad  # the offending bytes, for the error report


def test_a_json_body_instead_of_frames_is_an_error_not_a_hang() -> None:
    # A proxy answering 200 with JSON: 12 bytes are enough to see it is not a frame.
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(b'{"message":"Internal Server Error"}')


def test_oversized_lengths_are_rejected_before_buffering() -> None:
    prelude = struct.pack("!II", MAX_PAYLOAD_LENGTH + 1000, 0)
    prelude += struct.pack("!I", zlib.crc32(prelude))
    with pytest.raises(EventStreamError, match="lengths"):
        EventStreamDecoder().feed(prelude)


def test_incomplete_frame_is_held_back_until_complete() -> None:
    data = frame({":message-type": "event", ":event-type": "x"}, b"{}")
    decoder = EventStreamDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.buffered == len(data) - 1
    assert len(decoder.feed(data[-1:])) == 1 and decoder.buffered == 0


def test_fixture_files_are_binary_event_streams() -> None:
    # The parser tests only mean something if the fixtures hold the hard cases.
    text = fixture("text.bin")
    assert any(b >= 0xF0 for b in text)  # a 4-byte UTF-8 character to cut through
    assert b'"p":"' in text  # Bedrock's padding field
    assert (fixture.dir / "truncated.bin").stat().st_size > 0


def _prelude(total: int, headers_length: int) -> bytes:
    prelude = struct.pack("!II", total, headers_length)
    return prelude + struct.pack("!I", zlib.crc32(prelude))


@pytest.mark.parametrize(
    ("total", "headers_length"),
    [
        (15, 0),  # shorter than prelude + message CRC
        (16, 1),  # headers running into the message CRC
        (12, 0),
        (MAX_HEADERS_LENGTH + 16 + 1, MAX_HEADERS_LENGTH + 1),
        (MAX_PAYLOAD_LENGTH + 17, 0),
    ],
)
def test_impossible_frame_lengths_are_rejected_from_the_prelude(
    total: int, headers_length: int
) -> None:
    with pytest.raises(EventStreamError, match="lengths"):
        EventStreamDecoder().feed(_prelude(total, headers_length))


def test_the_smallest_frame_and_the_largest_lengths_are_accepted() -> None:
    empty = _prelude(16, 0)
    empty += struct.pack("!I", zlib.crc32(empty))
    assert ours([empty]) == botocore_frames(empty) == [({}, b"")]
    decoder = EventStreamDecoder()  # at the caps: waits for the rest of the frame
    assert (
        decoder.feed(_prelude(MAX_HEADERS_LENGTH + MAX_PAYLOAD_LENGTH + 16, MAX_HEADERS_LENGTH))
        == []
    )
    assert decoder.buffered == 12
