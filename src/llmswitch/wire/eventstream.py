"""Incremental decoder for ``application/vnd.amazon.eventstream`` frames (docs/providers.md).

Frame layout (big-endian)::

    uint32 total_length | uint32 headers_length | uint32 prelude_crc
    headers (headers_length bytes) | payload | uint32 message_crc

Both CRCs are verified, as ``botocore.eventstream.EventStreamBuffer`` does; the tests
check this decoder against botocore's on the same bytes. We do not use botocore's
buffer on the hot path: it costs ~20 us per frame (a dozen Python calls and slices per
header), several times the budget of a whole streamed event. Here a frame costs one
``unpack_from``, two ``crc32`` calls and a dict lookup: header blocks repeat, within a
stream and across streams (``:event-type contentBlockDelta`` ...), so decoded headers
are cached by their bytes, for the whole process, as read-only mappings.

A frame arriving in many reads costs time linear in its size: once its prelude is in,
its length is known, so later reads are only collected until it is complete and then
joined once (frames are capped at botocore's limits, 24 MiB of payload).
"""

from __future__ import annotations

from collections.abc import Mapping
from struct import Struct, unpack_from
from struct import error as StructError
from types import MappingProxyType
from typing import Any
from zlib import crc32

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "EventStreamDecoder",
    "EventStreamError",
    "Headers",
]

PRELUDE_LENGTH = 12
MAX_HEADERS_LENGTH = 128 * 1024  # botocore's limits
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
Headers = Mapping[str, Any]

# Decoded header blocks by their bytes, shared by every decoder: a block is a pure
# function of its bytes, and decoding one costs ~2.5 us, a few per stream otherwise.
# Bounded: blocks over _CACHED_BLOCK bytes are not kept (a stream's are ~80-100), and a
# full cache starts over (a sender of ever-new blocks only makes it useless).
_HEADERS: dict[bytes, Headers] = {}
_CACHE_LIMIT = 256
_CACHED_BLOCK = 512
_PRELUDE = Struct("!III").unpack_from  # compiled once: a format string is looked up per call
_CRC = Struct("!I").unpack_from


class EventStreamError(ValueError):
    """Bytes that are not a valid event-stream frame. ``data`` holds the offending bytes."""

    def __init__(self, message: str, data: bytes) -> None:
        super().__init__(message)
        self.data = data


class EventStreamDecoder:
    """Feed bytes as they arrive; get back each complete ``(headers, payload)`` frame.

    A frame's headers are a read-only mapping, the same object for every frame (of any
    stream) with the same header bytes while it is cached.
    """

    __slots__ = ("_buf", "_more", "_more_size", "_need")

    def __init__(self) -> None:
        self._buf = b""
        self._more: list[bytes] = []  # later reads of an incomplete frame of known length
        self._more_size = 0
        self._need = 0  # that frame's length: nothing is parsed until it has arrived

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back (non-zero at EOF means truncation)."""
        return len(self._buf) + self._more_size

    def feed(self, data: bytes) -> list[tuple[Headers, bytes]]:
        """Complete frames, in order. A bad frame raises :class:`EventStreamError`, but
        when good frames came before it in this call they are returned first and the
        error is raised by the next call."""
        if self._need:
            self._more.append(data)
            self._more_size += len(data)
            if len(self._buf) + self._more_size < self._need:
                return []
            buf = b"".join((self._buf, *self._more))
            self._more, self._more_size, self._need = [], 0, 0
        else:
            buf = self._buf + data if self._buf else data
        size = len(buf)
        pos = 0
        out: list[tuple[Headers, bytes]] = []
        cache = _HEADERS
        try:
            while size - pos >= PRELUDE_LENGTH:
                total, headers_length, prelude_crc = _PRELUDE(buf, pos)
                if crc32(buf[pos : pos + 8]) != prelude_crc:
                    raise EventStreamError("prelude CRC mismatch", buf[pos : pos + 64])
                start = pos + PRELUDE_LENGTH  # of the headers
                end = pos + total
                # total >= 12 + headers + 4 and the payload within its cap
                if not 0 <= total - headers_length - 16 <= MAX_PAYLOAD_LENGTH or (
                    headers_length > MAX_HEADERS_LENGTH
                ):
                    raise EventStreamError("invalid frame lengths", buf[pos : pos + 64])
                if end > size:
                    self._need = total
                    break
                tail = end - 4
                if crc32(buf[pos + 8 : tail], prelude_crc) != _CRC(buf, tail)[0]:
                    raise EventStreamError("message CRC mismatch", buf[pos:end])
                headers_end = start + headers_length
                raw = buf[start:headers_end]
                headers = cache.get(raw)
                if headers is None:
                    headers = _decode_headers(raw)
                out.append((headers, buf[headers_end:tail]))
                pos = end
        except EventStreamError:
            self._buf = buf[pos:]  # the bad frame stays: the next call raises again
            if not out:
                raise
            return out
        self._buf = buf[pos:] if pos < size else b""
        return out


def _decode_headers(raw: bytes) -> Headers:
    headers = MappingProxyType(_parse_headers(raw))
    if len(raw) <= _CACHED_BLOCK:
        if len(_HEADERS) >= _CACHE_LIMIT:
            _HEADERS.clear()
        _HEADERS[raw] = headers
    return headers


def _parse_headers(raw: bytes) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    pos, size = 0, len(raw)
    try:
        while pos < size:
            name_length = raw[pos]
            name = raw[pos + 1 : pos + 1 + name_length].decode()
            pos += 1 + name_length
            kind = raw[pos]
            pos += 1
            value: Any
            if kind == 7 or kind == 6:  # string, byte array: uint16 length + bytes
                (length,) = unpack_from("!H", raw, pos)
                value = raw[pos + 2 : pos + 2 + length]
                if len(value) != length:
                    raise IndexError
                if kind == 7:
                    value = value.decode()
                pos += 2 + length
            elif kind <= 1:
                value = kind == 0
            elif kind == 2:
                (value,) = unpack_from("!b", raw, pos)
                pos += 1
            elif kind == 3:
                (value,) = unpack_from("!h", raw, pos)
                pos += 2
            elif kind == 4:
                (value,) = unpack_from("!i", raw, pos)
                pos += 4
            elif kind == 5 or kind == 8:  # int64, timestamp (ms since the epoch)
                (value,) = unpack_from("!q", raw, pos)
                pos += 8
            elif kind == 9:  # UUID: 16 raw bytes, as botocore returns it
                value = raw[pos : pos + 16]
                if len(value) != 16:
                    raise IndexError
                pos += 16
            else:
                raise EventStreamError(f"unknown header value type {kind}", raw)
            if name in headers:
                raise EventStreamError(f"duplicate header {name!r}", raw)
            headers[name] = value
    except (IndexError, UnicodeDecodeError, ValueError, StructError) as exc:
        if isinstance(exc, EventStreamError):
            raise
        raise EventStreamError("malformed frame headers", raw) from None
    if pos != size:
        raise EventStreamError("malformed frame headers", raw)
    return headers
