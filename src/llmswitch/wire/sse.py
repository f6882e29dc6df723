"""Incremental Server-Sent Events decoder (sans-I/O).

Hand-written rather than taken from a library: it works on ``bytes`` so a UTF-8
character split across reads is never decoded half-way, and ``data`` goes to the
JSON parser without a str round trip. That keeps a 200-chunk stream within budget.

Handles lines split across reads, ``\\n``, ``\\r\\n`` and lone ``\\r`` line ends,
comments (``: keep-alive``), multi-line ``data:``, ``event:`` names, and ignores
``id:``/``retry:``.

Cost is linear in the input however it is cut: a line arriving in many reads is kept
as a list of pieces and joined once, when its end arrives. A line or event longer
than ``max_line`` (default :data:`~llmswitch.wire.limits.MAX_LINE_BYTES`) is a
:class:`~llmswitch.ProviderError`.
"""

from __future__ import annotations

from . import limits

__all__ = ["LineSplitter", "SSEDecoder"]


class _LineBuffer:
    """The unfinished last line of what was read so far, and the cap on a line."""

    __slots__ = ("_buf", "_more", "_more_size", "max_line")

    def __init__(self, max_line: int | None = None) -> None:
        self._buf = b""  # the start of an unfinished line
        self._more: list[bytes] = []  # later pieces of it, joined once its end arrives
        self._more_size = 0
        self.max_line = limits.MAX_LINE_BYTES if max_line is None else max_line

    def _hold(self, chunk: bytes) -> None:
        """A read with no line end, while a line is unfinished: keep it, copy nothing."""
        self._more.append(chunk)
        self._more_size += len(chunk)
        if len(self._buf) + self._more_size > self.max_line:
            raise limits.line_too_long(self.max_line, self._buf)

    def _join(self, chunk: bytes) -> bytes:
        if not self._more:
            return self._buf + chunk
        buf = b"".join((self._buf, *self._more, chunk))
        self._more = []
        self._more_size = 0
        return buf

    def _check_lines(self, block: bytes) -> None:
        """Only a huge read can hold a whole line over the cap: look for one."""
        for line in block.split(b"\n"):
            if len(line) > self.max_line:
                raise limits.line_too_long(self.max_line, line)

    def _rest(self) -> bytes:
        rest = self.pending
        self._buf, self._more, self._more_size = b"", [], 0
        if len(rest) > self.max_line:
            raise limits.line_too_long(self.max_line, rest)
        return rest

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete line (for error reports)."""
        return b"".join((self._buf, *self._more)) if self._more else self._buf


class LineSplitter(_LineBuffer):
    """Bytes in, complete lines out, for SSE-style line ends (``\\n``, ``\\r\\n``, ``\\r``)."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines in ``chunk`` plus what earlier reads left over."""
        buf = self._buf
        if buf:
            # Still inside one long line: search only the new bytes.
            if b"\n" not in chunk and b"\r" not in chunk and buf[-1] != 13:
                self._hold(chunk)
                return []
            buf = self._join(chunk)
        else:
            buf = chunk
        if b"\r" in buf:
            held = b""
            if buf.endswith(b"\r"):  # its "\n" may be in the next read
                buf, held = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            end = buf.rfind(b"\n")
            self._buf = buf[end + 1 :] + held
        else:
            end = buf.rfind(b"\n")
            self._buf = buf[end + 1 :]
        if end < 0:
            if len(buf) > self.max_line:
                raise limits.line_too_long(self.max_line, buf)
            return []
        if end > self.max_line:
            self._check_lines(buf[:end])
        # A long unfinished tail is caught by the next feed (or close), after the
        # lines of this read have been delivered.
        return buf[:end].split(b"\n")

    def close(self) -> bytes:
        """End of input: the unfinished last line (``b""`` if none)."""
        return self._rest()


class SSEDecoder(_LineBuffer):
    # The line splitting of LineSplitter.feed, inlined: this is the hot path of every
    # SSE stream, and a call per read costs more than the rest of the framing.
    __slots__ = ("_data", "_data_size", "_event")

    def __init__(self, max_line: int | None = None) -> None:
        super().__init__(max_line)
        self._event: str | None = None
        self._data: list[bytes] = []
        self._data_size = 0  # bytes read of an event that spans reads

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """Return the complete events in ``chunk`` as ``(event name, data)`` pairs."""
        buf = self._buf
        if buf:
            if b"\n" not in chunk and b"\r" not in chunk and buf[-1] != 13:
                self._hold(chunk)
                return []
            buf = self._join(chunk)
        else:
            buf = chunk
        if b"\r" in buf:
            held = b""
            if buf.endswith(b"\r"):  # its "\n" may be in the next read
                buf, held = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            end = buf.rfind(b"\n")
            self._buf = buf[end + 1 :] + held
        else:
            end = buf.rfind(b"\n")
            self._buf = buf[end + 1 :]
        if end < 0:
            if len(buf) > self.max_line:
                raise limits.line_too_long(self.max_line, buf)
            return []
        block = buf[:end]
        if end > self.max_line:
            self._check_lines(block)
        out: list[tuple[str | None, bytes]] = []
        data = start = self._data
        for line in block.split(b"\n"):
            if not line:
                if data:
                    out.append((self._event, data[0] if len(data) == 1 else b"\n".join(data)))
                    data = self._data = []
                self._event = None
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"event:"):
                self._event = line[6:].strip().decode("utf-8", "replace")
            # comments (":"), id:, retry: and unknown fields are ignored
        if data:  # an event continues into the next read: its size is capped too
            if data is start:  # no event ended in this read: all of it is the open one's
                self._data_size += end + 1
            else:  # what follows the last blank line
                self._data_size = end - block.rfind(b"\n\n")
            if self._data_size > self.max_line:
                raise limits.line_too_long(self.max_line, data[0])
        elif self._data_size:
            self._data_size = 0
        return out

    def close(self) -> list[tuple[str | None, bytes]]:
        """End of input: a final event without its blank line still counts."""
        if not self._buf and not self._data:
            return []
        rest = self._rest()
        return self.feed(rest + b"\n\n" if rest else b"\n\n")
