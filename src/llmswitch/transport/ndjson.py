"""Incremental NDJSON splitter (sans-I/O): bytes in, complete lines out.

Works on ``bytes`` like :mod:`.sse`: a ``\\n`` byte never occurs inside a multi-byte
UTF-8 character, so splitting before decoding is safe, and each line goes to the
JSON parser without a str round trip. Blank lines (and ``\\r`` of ``\\r\\n`` endings,
which JSON parsers treat as whitespace) are tolerated.
"""

from __future__ import annotations

__all__ = ["NDJSONDecoder"]


class NDJSONDecoder:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete, non-blank lines in ``chunk`` (plus what earlier reads left over)."""
        buf = self._buf + chunk if self._buf else chunk
        end = buf.rfind(b"\n")
        if end < 0:
            self._buf = buf
            return []
        self._buf = buf[end + 1 :]
        if end == len(buf) - 1 and buf.find(b"\n") == end:
            # The common read: exactly one whole line.
            line = buf[:end]
            return [line] if line and not line.isspace() else []
        return [line for line in buf[:end].split(b"\n") if line and not line.isspace()]

    def close(self) -> list[bytes]:
        """End of input: a last line without its ``\\n`` still counts."""
        tail, self._buf = self._buf, b""
        return [tail] if tail and not tail.isspace() else []

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete line (for error reports)."""
        return self._buf
