"""What every stream parser shares: the ``feed``/``close`` skeleton around its format.

A parser subclasses :class:`StreamParser` and writes only ``_feed(data, out)`` (decode
the bytes, append events) and ``_close(out)`` (end of input). The skeleton keeps:

- the *failed latch*: an error raised while parsing is raised again by every later
  call, so a broken stream never carries on from a half-parsed state;
- *deliver, then raise*: one read can hold good events and then an error; ``feed``
  returns the events and the next call raises, so the caller keeps what was received
  (``close`` raises at once: nothing calls again after it);
- the *head*: the first bytes, kept until an event is recognised, so that a 200 with
  an HTML page, a JSON document or nothing at all fails with those bytes
  (:meth:`StreamParser._unrecognised`) instead of ending as an empty stream.

The per-event work stays inline in each format's ``_feed``; this costs one call per read.
See docs/architecture.md ("how a stream flows").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from .._json import loads
from ..errors import ProviderError
from ..events import Event, ToolCallEnd
from ..messages import ChatRequest, ToolCall, Usage
from ._shape import keep_head, stream_head_error

__all__ = ["StreamParser", "end_tool_call"]


class StreamParser:
    """``feed(bytes) -> events``; ``close() -> events`` at end of input."""

    __slots__ = ("_failed", "_head", "_request")

    # What the stream should have been, for the error when it was not ("an SSE stream
    # of ..."), and the adapter's malformed-response error.
    expected: ClassVar[str]
    malformed: ClassVar[Callable[[ChatRequest | None, str, bytes], ProviderError]]

    def __init__(self, request: ChatRequest) -> None:
        self._request = request
        self._failed: ProviderError | None = None
        # The first bytes, kept until an event is recognised (None from then on).
        self._head: bytes | None = b""

    def feed(self, data: bytes) -> list[Event]:
        if self._failed is not None:
            raise self._failed
        if self._head is not None:
            self._head = keep_head(self._head, data)
        out: list[Event] = []
        try:
            self._feed(data, out)
        except ProviderError as exc:
            self._failed = exc
            if not out:
                raise
        if out:
            self._head = None
        return out

    def close(self) -> list[Event]:
        if self._failed is not None:
            raise self._failed
        out: list[Event] = []
        try:
            self._close(out)
        except ProviderError as exc:
            self._failed = exc
            raise
        return out

    def usage_seen(self) -> Usage | None:
        """The usage received so far (``None``: none yet), for a stream that fails
        before its end: the transport puts it on the error (``LLMError.stream_usage``)."""
        return None

    def _feed(self, data: bytes, out: list[Event]) -> None:
        raise NotImplementedError

    def _close(self, out: list[Event]) -> None:
        raise NotImplementedError

    def _error_document(self, doc: Any) -> ProviderError | None:
        """The error a JSON document sent instead of the stream stands for (``None``:
        it is not an error document of this provider)."""
        return None

    def _unrecognised(self) -> ProviderError:
        """No event of the format came: the error naming what came instead."""
        return stream_head_error(
            self._head or b"",
            self.expected,
            type(self).malformed,
            self._request,
            self._error_document,
        )


def end_tool_call(
    index: int, call_id: str, name: str, fragments: list[str], out: list[Event]
) -> str | None:
    """A tool call streamed as JSON fragments is complete: append its ToolCallEnd, or,
    when the fragments are not a JSON object, return their text for the parser to
    judge at the stop reason (fine if the output limit cut it, else malformed)."""
    text = "".join(fragments)
    try:
        arguments = loads(text) if text else {}
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        return text
    out.append(ToolCallEnd(index, ToolCall(id=call_id, name=name, arguments=arguments)))
    return None
