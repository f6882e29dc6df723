"""Client-side glue of code completion: ``complete_code``/``stream_code`` build a
:class:`~llmswitch.fim.CodeRequest` with the chat options' checks, send it through the
same pipeline as a chat (middleware, router, key rotation, retries, usage recording
all see a chat call whose request is a CodeRequest), and trim the answer by the rules
of :mod:`llmswitch.fim`. Whether the answer came from a native fill-in-the-middle route
is asked of the provider that answered (the router may have picked another one).

Streams: :class:`CodeStream`/:class:`AsyncCodeStream` wrap the chat stream the client
opens (its class is handed in: this module sits beside ``client.py``, not above it)
and yield ``StreamStart``, trimmed ``TextDelta``s and the ``StreamEnd``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ._chat_stream import atext_pieces, text_pieces
from .errors import ConfigurationError, LLMError
from .events import Accumulator, Event, TextDelta
from .fim import (
    FIM_INSTRUCTION,
    CodeCompletion,
    CodeRequest,
    Method,
    Trimmer,
    fallback_messages,
    trim,
)
from .messages import ChatResponse
from .middleware.base import (
    Call,
    _terminal_achat,
    _terminal_astream,
    _terminal_chat,
    _terminal_stream,
    stream_state,
)
from .providers.runtime import CallContext, Provider

__all__ = ["AsyncCodeStream", "CodeStream", "acomplete", "complete", "open_astream", "open_stream"]


def _text(value: Any, name: str, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string", field=name)


def code_request(
    core: Any,
    model: str,
    prefix: Any,
    suffix: Any,
    language: Any,
    options: dict[str, Any],
    *,
    stream: bool = False,
) -> tuple[Provider, CodeRequest, CallContext]:
    """The checked request: ``prefix``/``suffix``/``language`` here, every chat option
    by the chat checks (``max_tokens``, ``stop``, ``temperature``, ``timeout``...)."""
    _text(prefix, "prefix")
    _text(suffix, "suffix")
    _text(language, "language", optional=True)
    blocked = core.blocked(model) if isinstance(model, str) and model else ()
    if blocked:
        from ._capabilities import check_code

        check_code(blocked, model, core.resolve(model)[0].id, streaming=stream)
    build = core.stream_request if stream and hasattr(core, "stream_request") else core.request
    provider, request, ctx = build(
        model, fallback_messages(prefix, suffix, language), system=FIM_INSTRUCTION, **options
    )
    return provider, CodeRequest.of(request, prefix, suffix, language), ctx


def method_of(core: Any, provider: Provider, request: CodeRequest, pid: str, model: str) -> Method:
    """``native`` when the provider that answered has a fill-in-the-middle route for the
    model (``pid``/``model``: what the answer names; the request's own when it is the
    provider asked)."""
    if pid == provider.id:
        answered, model = provider, request.model
    else:
        try:
            answered = core.provider(pid)
        except LLMError:
            return "chat"
    adapter = getattr(answered, "adapter", None)
    endpoint = getattr(answered, "endpoint", None)
    if adapter is None or endpoint is None:
        return "chat"
    return "native" if adapter.fim_route(endpoint, model) is not None else "chat"


def completion(resp: ChatResponse, request: CodeRequest, method: Method) -> CodeCompletion:
    text, stopped = trim(resp.text, request.prefix, request.suffix, request.stop, method=method)
    finish = "stop" if stopped and resp.finish_reason in ("length", "other") else resp.finish_reason
    return CodeCompletion(
        text=text,
        finish_reason=finish,
        raw_finish_reason=resp.raw_finish_reason,
        usage=resp.usage,
        cost=resp.cost,
        model=resp.model,
        provider=resp.provider,
        method=method,
        id=resp.id,
        raw=resp.raw,
    )


# ---------------------------------------------------------------- one answer


def complete(core: Any, model: str, provider: Provider, request: CodeRequest,
             ctx: CallContext) -> CodeCompletion:  # fmt: skip
    """As ``Client.chat`` sends a request: the pipeline, else the default retry."""
    if core.pipe is not None:
        resp = core.pipe.chat(Call(request=request, provider=provider, ctx=ctx, model=model))
    elif core.retry is None:
        resp = provider.chat(request, ctx)
    else:
        start = time.monotonic()
        try:
            resp = provider.chat(request, ctx)
        except LLMError as exc:
            if not exc.retryable:
                raise
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            resp = core.retry.resume_chat(call, _terminal_chat, exc, start)
    return completion(resp, request, method_of(core, provider, request, resp.provider, resp.model))


async def acomplete(core: Any, model: str, provider: Provider, request: CodeRequest,
                    ctx: CallContext) -> CodeCompletion:  # fmt: skip
    if core.pipe is not None:
        call = Call(request=request, provider=provider, ctx=ctx, model=model)
        resp = await core.pipe.achat(call)
    elif core.retry is None:
        resp = await provider.achat(request, ctx)
    else:
        start = time.monotonic()
        try:
            resp = await provider.achat(request, ctx)
        except LLMError as exc:
            if not exc.retryable:
                raise
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            resp = await core.retry.aresume_chat(call, _terminal_achat, exc, start)
    return completion(resp, request, method_of(core, provider, request, resp.provider, resp.model))


# ---------------------------------------------------------------- streams


class _Trimming:
    """What both code streams share: the trimmer, started at the first text (when the
    accumulator says which provider answered), and the final completion."""

    def __init__(self, core: Any, provider: Provider, request: CodeRequest, acc: Accumulator):
        self._core, self._provider, self._request, self._acc = core, provider, request, acc
        self._trimmer: Trimmer | None = None
        self._method: Method | None = None

    def _method_now(self) -> Method:
        if self._method is None:
            acc = self._acc
            self._method = method_of(self._core, self._provider, self._request, acc.provider,
                                     acc.model)  # fmt: skip
        return self._method

    def _events(self, event: Event) -> list[Event]:
        kind = event.kind
        if kind == "text":
            if self._trimmer is None:
                r = self._request
                self._trimmer = Trimmer(r.prefix, r.suffix, r.stop, self._method_now())
            piece = self._trimmer.feed(event.text)  # type: ignore[union-attr]
            return [TextDelta(0, piece)] if piece else []
        if kind == "end":
            rest = self._trimmer.close() if self._trimmer is not None else ""
            return [TextDelta(0, rest), event] if rest else [event]
        return [event] if kind == "start" else []  # reasoning and tool events are not code

    def _completion(self, resp: ChatResponse) -> CodeCompletion:
        return completion(resp, self._request, self._method_now())


class CodeStream(_Trimming):
    """A streamed code completion: ``with`` sends the request, iterating yields
    ``StreamStart``, ``TextDelta`` (trimmed) and ``StreamEnd``; ``response`` is the
    final :class:`~llmswitch.fim.CodeCompletion` (its text is the deltas joined)."""

    def __init__(self, inner: Any, core: Any, provider: Provider, request: CodeRequest,
                 acc: Accumulator) -> None:  # fmt: skip
        super().__init__(core, provider, request, acc)
        self._inner = inner

    def __enter__(self) -> CodeStream:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        for event in self._inner:
            yield from self._events(event)

    @property
    def text_stream(self) -> Iterator[str]:
        """Just the text pieces, as they arrive."""
        return text_pieces(self)

    @property
    def response(self) -> CodeCompletion:
        return self._completion(self._inner.response)

    def close(self) -> None:
        self._inner.close()


class AsyncCodeStream(_Trimming):
    """Async twin of :class:`CodeStream` (``async with``, ``async for``,
    ``await get_response()``)."""

    def __init__(self, inner: Any, core: Any, provider: Provider, request: CodeRequest,
                 acc: Accumulator) -> None:  # fmt: skip
        super().__init__(core, provider, request, acc)
        self._inner = inner

    async def __aenter__(self) -> AsyncCodeStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for event in self._inner:
            for out in self._events(event):
                yield out

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Just the text pieces, as they arrive."""
        return atext_pieces(self)

    @property
    def response(self) -> CodeCompletion:
        """The final completion; the stream must have been read to the end."""
        return self._completion(self._inner.response)

    async def get_response(self) -> CodeCompletion:
        return self._completion(await self._inner.get_response())

    async def aclose(self) -> None:
        await self._inner.aclose()


def open_stream(core: Any, model: str, provider: Provider, request: CodeRequest,
                ctx: CallContext, chat_stream: Callable[..., Any]) -> CodeStream:  # fmt: skip
    """As ``Client.stream`` opens one; ``chat_stream`` is the client's ``ChatStream``."""
    acc = Accumulator(provider.id, request.model)
    if core.pipe is not None:
        call = Call(request=request, provider=provider, ctx=ctx, model=model,
                    state=stream_state(acc))  # fmt: skip
        inner = chat_stream(core.pipe.stream(call), acc)
    elif core.retry is None:
        inner = chat_stream(provider.stream(request, ctx), acc)
    else:
        retry, start = core.retry, time.monotonic()

        def restart(error: LLMError) -> Iterator[Event]:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            return retry.resume_stream(call, _terminal_stream, error, start)  # type: ignore[no-any-return]

        inner = chat_stream(provider.stream(request, ctx), acc, restart)
    return CodeStream(inner, core, provider, request, acc)


def open_astream(core: Any, model: str, provider: Provider, request: CodeRequest,
                 ctx: CallContext, chat_stream: Callable[..., Any]) -> AsyncCodeStream:  # fmt: skip
    """As ``AsyncClient.stream`` opens one; ``chat_stream``: its ``AsyncChatStream``."""
    acc = Accumulator(provider.id, request.model)
    if core.pipe is not None:
        call = Call(request=request, provider=provider, ctx=ctx, model=model,
                    state=stream_state(acc))  # fmt: skip
        inner = chat_stream(core.pipe.astream(call), acc)
        return AsyncCodeStream(inner, core, provider, request, acc)
    batches = getattr(provider, "astream_batches", None)
    source = provider.astream(request, ctx) if batches is None else batches(request, ctx)
    retry = core.retry
    if retry is None:
        inner = chat_stream(source, acc, batched=batches is not None)
    else:
        start = time.monotonic()

        def restart(error: LLMError) -> AsyncIterator[Event]:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            return retry.aresume_stream(call, _terminal_astream, error, start)  # type: ignore[no-any-return]

        inner = chat_stream(source, acc, restart, batched=batches is not None)
    return AsyncCodeStream(inner, core, provider, request, acc)
