"""Incremental NDJSON splitter (sans-I/O): bytes in, complete lines out.

Works on ``bytes`` like :mod:`.sse`: a ``\\n`` byte never occurs inside a multi-byte
UTF-8 character, so splitting before decoding is safe, and each line goes to the
JSON parser without a str round trip. Blank lines (and ``\\r`` of ``\\r\\n`` endings,
which JSON parsers treat as whitespace) are tolerated.

Linear in the input however it is cut (a line arriving in many reads is joined once,
when its end arrives); a line longer than ``max_line`` (default
:data:`~llmswitch.transport.limits.MAX_LINE_BYTES`) is a :class:`~llmswitch.ProviderError`.
"""

from __future__ import annotations

from . import limits

__all__ = ["NDJSONDecoder"]


class NDJSONDecoder:
    __slots__ = ("_buf", "_more", "_more_size", "max_line")

    def __init__(self, max_line: int | None = None) -> None:
        self._buf = b""  # the start of an unfinished line
        self._more: list[bytes] = []  # later pieces of it, joined once its end arrives
        self._more_size = 0
        self.max_line = limits.MAX_LINE_BYTES if max_line is None else max_line

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete, non-blank lines in ``chunk`` (plus what earlier reads left over)."""
        if self._buf:
            if b"\n" not in chunk:  # still inside one long line: copy nothing yet
                self._more.append(chunk)
                self._more_size += len(chunk)
                if len(self._buf) + self._more_size > self.max_line:
                    raise limits.line_too_long(self.max_line, self._buf)
                return []
            if self._more:
                chunk = b"".join((self._buf, *self._more, chunk))
                self._more = []
                self._more_size = 0
            else:
                chunk = self._buf + chunk
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) > self.max_line:
                raise limits.line_too_long(self.max_line, chunk)
            self._buf = chunk
            return []
        if end == len(chunk) - 1:
            self._buf = b""
            if chunk.find(b"\n") == end:  # the common read: exactly one whole line
                if end > self.max_line:
                    raise limits.line_too_long(self.max_line, chunk)
                return [chunk[:end]] if end and not chunk.isspace() else []
        else:
            self._buf = chunk[end + 1 :]
        lines = chunk[:end].split(b"\n")
        if end > self.max_line:  # only a huge read can hold a line over the cap
            for line in lines:
                if len(line) > self.max_line:
                    raise limits.line_too_long(self.max_line, line)
        # A long unfinished tail is caught by the next feed (or close).
        return [line for line in lines if line and not line.isspace()]

    def close(self) -> list[bytes]:
        """End of input: a last line without its ``\\n`` still counts."""
        tail = self.pending
        self._buf, self._more, self._more_size = b"", [], 0
        if len(tail) > self.max_line:
            raise limits.line_too_long(self.max_line, tail)
        return [tail] if tail and not tail.isspace() else []

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete line (for error reports)."""
        return b"".join((self._buf, *self._more)) if self._more else self._buf
