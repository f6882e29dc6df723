"""Incremental NDJSON splitter (sans-I/O): bytes in, complete lines out.

Works on ``bytes`` like :mod:`.sse`: a ``\\n`` byte never occurs inside a multi-byte
UTF-8 character, so splitting before decoding is safe, and each line goes to the
JSON parser without a str round trip. Blank lines (and ``\\r`` of ``\\r\\n`` endings,
which JSON parsers treat as whitespace) are tolerated.

Linear in the input however it is cut (a line arriving in many reads is joined once,
when its end arrives); a line longer than ``max_line`` (default
:data:`~llmswitch.wire.limits.MAX_LINE_BYTES`) is a :class:`~llmswitch.ProviderError`.
"""

from __future__ import annotations

from . import limits
from .sse import _LineBuffer

__all__ = ["NDJSONDecoder"]


class NDJSONDecoder(_LineBuffer):
    __slots__ = ()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete, non-blank lines in ``chunk`` (plus what earlier reads left over)."""
        lines = self.feed_lines(chunk)
        # strip() is empty exactly for blank lines, and returns a line without
        # surrounding whitespace as it is: the filter runs in C.
        return list(filter(bytes.strip, lines))

    def feed_lines(self, chunk: bytes) -> list[bytes]:
        """The complete lines, as :meth:`feed`, but blank (empty or whitespace-only)
        ones may be among them: for a caller whose JSON parser rejects those anyway
        and can skip them then, without the copy of the list that filtering costs."""
        if self._buf:
            if b"\n" not in chunk:  # still inside one long line: copy nothing yet
                self._hold(chunk)
                return []
            chunk = self._join(chunk)
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
        if end > self.max_line:  # only a huge read can hold a line over the cap
            self._check_lines(chunk[:end])
        # A long unfinished tail is caught by the next feed (or close).
        lines = chunk.split(b"\n")
        lines.pop()  # the unfinished tail, kept above
        return lines

    def close(self) -> list[bytes]:
        """End of input: a last line without its ``\\n`` still counts."""
        tail = self._rest()
        return [tail] if tail and not tail.isspace() else []
