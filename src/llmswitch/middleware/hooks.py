"""Hooks: a middleware from four methods, applied alike on the sync, async, chat and
stream paths (one script, run by the drivers of :mod:`._drive`)."""

from __future__ import annotations

from functools import partial

from ..events import Event
from ..messages import ChatResponse
from ._drive import Layer, Script, Try
from .base import Call

__all__ = ["Hooks"]


class Hooks(Layer):
    """Override any of the ``on_*`` methods. ``on_event`` may return ``None`` to drop
    an event."""

    def on_request(self, call: Call) -> Call:
        return call

    def on_response(self, call: Call, response: ChatResponse) -> ChatResponse:
        return response

    def on_event(self, call: Call, event: Event) -> Event | None:
        return event

    def on_error(self, call: Call, error: Exception) -> None:
        """Called with any exception before it propagates (it is re-raised after)."""

    def script(self, call: Call, stream: bool) -> Script:
        call = self.on_request(call)
        attempt = Try(call)
        # Only a subclass that looks at events pays a call per event.
        if stream and type(self).on_event is not Hooks.on_event:
            attempt.each = partial(self.on_event, call)
        try:
            result = yield attempt
            return result if stream else self.on_response(call, result)
        except Exception as exc:
            self.on_error(call, exc)
            raise
