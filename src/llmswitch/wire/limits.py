"""Size caps on what a provider may send, so a hostile or broken server costs bounded
memory and time.

Both are generous (no real provider comes near them) and process-wide: set them
before creating a client, e.g. ``llmswitch.wire.limits.MAX_BODY_BYTES = 256 << 20``.
Transports and decoders read them when they are created; each also takes its own
value (``SyncTransport(max_body_bytes=...)``, ``SSEDecoder(max_line=...)``).
Going over a cap is a :class:`~llmswitch.ProviderError`: the provider's bytes are
malformed, and repeating the call would get the same bytes.
"""

from __future__ import annotations

from ..errors import ProviderError

__all__ = ["MAX_BODY_BYTES", "MAX_LINE_BYTES", "body_too_large", "line_too_long", "size_text"]

MAX_LINE_BYTES = 16 * 1024 * 1024
"""One stream line, SSE event or NDJSON line (after decompression)."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""A whole non-streamed response body, after decompression."""

_HEAD = 300  # bytes of the offending data kept in the error's body


def size_text(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


def line_too_long(limit: int, head: bytes) -> ProviderError:
    return ProviderError(f"stream line exceeds {size_text(limit)}", body=head[:_HEAD])


def body_too_large(limit: int, head: bytes, status: int, decompressed: bool) -> ProviderError:
    after = " after decompression" if decompressed else ""
    return ProviderError(
        f"response body exceeds {size_text(limit)}{after}", status_code=status, body=head[:_HEAD]
    )
