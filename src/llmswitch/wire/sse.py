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

__all__ = ["LineSplitter", "SSEDecoder", "event_name", "open_size"]

# Event names as str, by their bytes: a stream repeats a few names (Anthropic's about
# ten), so decoding each is a dict lookup. Bounded: names are whatever a server sends.
_NAMES: dict[bytes, str] = {}
_NAMES_LIMIT = 256


def _name(line: bytes) -> str:
    """The name of an ``event:`` line (remembered, up to a limit, by the whole line)."""
    name = line[6:].strip().decode("utf-8", "replace")
    if len(_NAMES) < _NAMES_LIMIT:
        _NAMES[line] = name
    return name


def event_name(line: bytes) -> str:
    """The name an ``event:`` line gives its event, as :class:`SSEDecoder` reads it."""
    return _NAMES.get(line) or _name(line)


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

    def _lines(self, chunk: bytes) -> list[bytes]:
        """The complete lines (``\\n``, ``\\r\\n`` or ``\\r`` ends, dropped) of what was
        read so far; the unfinished rest is kept for the next read."""
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
            # A "\r" at the very end may be the first half of "\r\n": it waits.
            stop = len(buf) - 1 if buf[-1] == 13 else len(buf)
            end = max(buf.rfind(b"\n", 0, stop), buf.rfind(b"\r", 0, stop))
            lines = buf[: end + 1].splitlines() if end >= 0 else []
        else:
            stop = len(buf)
            end = buf.rfind(b"\n")
            lines = buf[:end].split(b"\n") if end >= 0 else []
        self._buf = buf[end + 1 :]
        if end < 0:
            if stop > self.max_line:
                raise limits.line_too_long(self.max_line, buf)
        elif end > self.max_line:
            for line in lines:
                if len(line) > self.max_line:
                    raise limits.line_too_long(self.max_line, line)
        # A long unfinished tail is caught by the next feed (or close), after the
        # lines of this read have been delivered.
        return lines

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


def open_size(lines: list[bytes], carried: int = 0) -> int:
    """Bytes (with one-byte line ends) of an event still open after ``lines``: those after
    the last blank line, or ``carried`` (its size before) plus all of them if none is."""
    size = 0
    for line in reversed(lines):
        if not line:
            return size
        size += len(line) + 1
    return carried + size


class LineSplitter(_LineBuffer):
    """Bytes in, complete lines out, for SSE-style line ends (``\\n``, ``\\r\\n``, ``\\r``)."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines in ``chunk`` plus what earlier reads left over."""
        return self._lines(chunk)

    def close(self) -> bytes:
        """End of input: the unfinished last line (``b""`` if none)."""
        return self._rest()


class SSEDecoder(_LineBuffer):
    """Bytes in, ``(event name, data)`` pairs out.

    The hot path of every SSE stream: lines are split in C (``splitlines`` when a
    ``\\r`` is present, no normalising copy), the loop keeps its state in locals, an
    event's data is one ``bytes`` until a second ``data:`` line makes it a list, and
    event names are decoded once per distinct line.
    """

    __slots__ = ("_data", "_data_size", "_event")

    def __init__(self, max_line: int | None = None) -> None:
        super().__init__(max_line)
        self._event: str | None = None
        # The open event's data lines: None, one line, or a list of two or more.
        self._data: bytes | list[bytes] | None = None
        self._data_size = 0  # bytes read of an event that spans reads

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """Return the complete events in ``chunk`` as ``(event name, data)`` pairs."""
        lines = self._lines(chunk)
        if not lines:
            return []
        return self.events(lines)

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """:meth:`feed` without the event names: the data of each complete event.

        For streams whose events are unnamed ``data: `` lines (OpenAI's): a read of such
        events, each one line and a blank line, is framed with C-level slicing instead
        of the per-line loop; anything else in a read sends that read the general way.
        """
        lines = self._lines(chunk)
        if not lines:
            return []
        out: list[bytes] = []
        if self._data is not None or self._event is not None:
            # An event is open: the decoder finishes it, then the rest may be regular.
            end = lines.index(b"") + 1 if b"" in lines else len(lines)
            out = [data for _, data in self.events(lines[:end])]
            if end == len(lines):
                return out
            lines = lines[end:]
        pairs = len(lines) & ~1
        # Every second line blank, every other one a data: line (the common case).
        if not any(lines[1:pairs:2]):
            heads = lines[0:pairs:2]
            values = [line[6:] for line in heads if line[:6] == b"data: "]
            if len(values) == len(heads):
                out += values
                if pairs < len(lines):  # the last line opens an event
                    out += [data for _, data in self.events(lines[pairs:])]
                return out
        out += [data for _, data in self.events(lines)]
        return out

    # A parser's own hot loop may frame the common events itself: it takes the complete
    # lines of a read (``lines``), reads an ``event:``/``data:``/blank triple directly
    # while the decoder is ``idle`` (no event open, so nothing it holds is affected), and
    # hands every other line, in order, to ``events``. The result is the same as feed().

    def lines(self, chunk: bytes) -> list[bytes]:
        """The complete lines of what was read so far (line ends dropped, each capped);
        the unfinished rest is kept for the next read. Hand them on to :meth:`events`
        (a parser may frame the common events itself while :attr:`idle`)."""
        return self._lines(chunk)

    @property
    def idle(self) -> bool:
        """No event is open: the lines so far ended with a blank line (or none came)."""
        return self._data is None and self._event is None

    def events(self, lines: list[bytes]) -> list[tuple[str | None, bytes]]:
        """The events that complete lines end, as ``(event name, data)`` pairs; an event
        still open at the end waits for the next call (its size capped)."""
        out: list[tuple[str | None, bytes]] = []
        # The open event's first data line, and the list of all of them once a second
        # comes (rare): the common event costs no isinstance or join.
        held = self._data
        more: list[bytes] | None = None
        data: bytes | None
        if isinstance(held, list):
            more, data = held, held[0]
        else:
            data = held
        event = self._event
        ended = False
        for line in lines:
            if line:
                if line[:6] == b"data: ":
                    value = line[6:]
                elif line[0] != 100:  # not "d": an event name, or nothing for us
                    if line[:6] == b"event:":
                        event = _NAMES.get(line) or _name(line)
                    continue  # comments (":"), id:, retry: and unknown fields are ignored
                elif line[:5] == b"data:":
                    value = line[5:]
                else:
                    continue
                if data is None:
                    data = value
                elif more is None:
                    more = [data, value]
                else:
                    more.append(value)
            else:
                if data is not None:
                    if more is not None:
                        data = b"\n".join(more)
                        more = None
                    out.append((event, data))
                    data = None
                    ended = True
                event = None
        self._data = more if more is not None else data
        self._event = event
        if data is not None:  # an event continues into the next read: its size is capped too
            if not ended:  # no event ended in this read: all of it is the open one's
                self._data_size += sum(map(len, lines)) + len(lines)
            else:  # what follows the last blank line
                self._data_size = 1 + open_size(lines)
            if self._data_size > self.max_line:
                raise limits.line_too_long(self.max_line, data)
        elif self._data_size:
            self._data_size = 0
        return out

    def close(self) -> list[tuple[str | None, bytes]]:
        """End of input: a final event without its blank line still counts."""
        if not self._buf and self._data is None:
            return []
        rest = self._rest()
        return self.feed(rest + b"\n\n" if rest else b"\n\n")
