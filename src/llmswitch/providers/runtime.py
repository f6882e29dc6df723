"""The innermost layer of a call: a provider that turns a ChatRequest into a response
or an event stream. :class:`~llmswitch.providers.http.HttpProvider` does it over HTTP
with an adapter; :class:`~llmswitch.providers.fake.FakeProvider` does it from a script."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..events import Event
from ..messages import ChatRequest, ChatResponse, ModelInfo
from ..wire import Timeout

__all__ = ["CallContext", "Provider"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallContext:
    """Per-call settings handed to a provider. ``transport`` is the client's
    :class:`~llmswitch.transport.AsyncTransport` or ``SyncTransport``."""

    timeout: Timeout
    transport: Any = None


class Provider(Protocol):
    """A configured provider: ``id`` is what goes before the slash in ``"id/model"``.

    Streams are iterators the caller may abandon: closing them (``aclose()``/``close()``)
    must release the connection.
    """

    id: str

    async def achat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse: ...

    def astream(self, request: ChatRequest, ctx: CallContext) -> AsyncIterator[Event]: ...

    async def alist_models(self, ctx: CallContext) -> list[ModelInfo]: ...

    def chat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse: ...

    def stream(self, request: ChatRequest, ctx: CallContext) -> Iterator[Event]: ...

    def list_models(self, ctx: CallContext) -> list[ModelInfo]: ...
