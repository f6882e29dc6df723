"""Incremental Server-Sent Events decoder (sans-I/O).

Hand-written rather than taken from a library: it works on ``bytes`` so a UTF-8
character split across reads is never decoded half-way, and ``data`` goes to the
JSON parser without a str round trip. That keeps a 200-chunk stream within budget.

Handles lines split across reads, ``\\n``, ``\\r\\n`` and lone ``\\r`` line ends,
comments (``: keep-alive``), multi-line ``data:``, ``event:`` names, and ignores
``id:``/``retry:``.
"""

from __future__ import annotations

__all__ = ["SSEDecoder"]


class SSEDecoder:
    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """Return the complete events in ``chunk`` as ``(event name, data)`` pairs."""
        buf = self._buf + chunk if self._buf else chunk
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
            return []
        out: list[tuple[str | None, bytes]] = []
        data = self._data
        for line in buf[:end].split(b"\n"):
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
        return out

    def close(self) -> list[tuple[str | None, bytes]]:
        """End of input: a final event without its blank line still counts."""
        out = self.feed(b"\n\n") if (self._buf or self._data) else []
        self._buf = b""
        return out

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete line (for error reports)."""
        return self._buf
