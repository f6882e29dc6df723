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
        if self._buf:
            chunk = self._buf + chunk
        end = chunk.rfind(b"\n")
        if end < 0:
            self._buf = chunk
            return []
        if end == len(chunk) - 1:
            self._buf = b""
            if chunk.find(b"\n") == end:  # the common read: exactly one whole line
                return [chunk[:end]] if end and not chunk.isspace() else []
        else:
            self._buf = chunk[end + 1 :]
        return [line for line in chunk[:end].split(b"\n") if line and not line.isspace()]

    def close(self) -> list[bytes]:
        """End of input: a last line without its ``\\n`` still counts."""
        tail, self._buf = self._buf, b""
        return [tail] if tail and not tail.isspace() else []

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete line (for error reports)."""
        return self._buf
