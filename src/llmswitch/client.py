"""``Client`` and ``AsyncClient``: resolve the model, validate the request, hand it to
the provider over the client's pooled transport.

Both share :class:`~llmswitch._core._Core` (configuration, provider lookup, validation); they differ
only in the transport they own and whether they await.
"""

from __future__ import annotations

import os
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any

from ._client_args import unknown_argument
from ._client_cache import CacheAccess, cache_option
from ._client_features import AsyncFeatures, Features
from ._client_feedback import AsyncFeedbackCalls, FeedbackCalls
from ._client_usage import AsyncUsageReports, UsageReports
from .config import Config, ProviderConfig
from .errors import ConfigurationError, LLMError
from .events import Accumulator, Event
from .messages import (
    ChatResponse,
    EmbeddingResponse,
    HealthStatus,
    ModelInfo,
)
from .middleware.base import (
    ACCUMULATOR_KEY,
    CACHE_OPTION_KEY,
    Call,
    Middleware,
    Pipeline,
    _terminal_achat,
    _terminal_astream,
    _terminal_chat,
    _terminal_stream,
)
from .providers.runtime import CallContext, Provider
from .usage.middleware import stream_request_id, with_request_id
from .wire import to_timeout

if TYPE_CHECKING:
    from ._code import AsyncCodeStream, CodeStream
    from ._core import _Core
    from .catalog import CostEstimate, TokenCount
    from .config import ConfigDiff
    from .fim import CodeCompletion
    from .middleware.retry import Retry
    from .providers.ollama import PullProgress
    from .usage.budgets import BudgetStatus
    from .usage.ledger import Ledger

__all__ = ["AsyncChatStream", "AsyncClient", "ChatStream", "Client"]


def _budget_layer(pipe: Pipeline | None) -> Any:
    """The pipeline's budget layer, if budgets are configured."""
    from .usage.budgets_layer import BudgetLayer

    return next((m for m in pipe.middleware if isinstance(m, BudgetLayer)), None) if pipe else None


def _attach_partial(exc: LLMError, acc: Accumulator) -> None:
    if getattr(exc, "partial", None) is None:
        exc.partial = acc.snapshot()


class ChatStream:
    """A streamed answer: iterate for events; ``response`` is the final ChatResponse.

    The request is sent when the ``with`` block is entered (so HTTP errors surface
    there); leaving the block early closes the connection.
    """

    __slots__ = ("_acc", "_events", "_restart", "_source", "_started")

    def __init__(
        self,
        source: Iterator[Event],
        acc: Accumulator,
        restart: Callable[[LLMError], Iterator[Event]] | None = None,
    ) -> None:
        self._source = source
        self._acc = acc
        self._events: list[Event] = []
        self._started = False
        # The default retry: a source that carries on after the first try failed
        # before its first event (nothing reached the caller, so it can start over).
        self._restart = restart

    def _first(self) -> None:
        try:
            self._events.append(next(self._source))
        except StopIteration:
            pass
        except LLMError as exc:
            if self._restart is None or not exc.retryable:
                _attach_partial(exc, self._acc)
                raise
            restart, self._restart = self._restart, None
            failed = exc
        else:
            return
        self._source = restart(failed)
        self._first()

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._first()

    def __enter__(self) -> ChatStream:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        self._start()
        acc = self._acc
        try:
            while self._events:
                event = self._events.pop(0)
                acc.add(event)
                yield event
            for event in self._source:
                acc.add(event)
                yield event
        except LLMError as exc:
            _attach_partial(exc, acc)
            raise

    @property
    def text_stream(self) -> Iterator[str]:
        """Just the text pieces, as they arrive."""
        for event in self:
            if event.kind == "text":
                yield event.text  # type: ignore[union-attr]

    @property
    def response(self) -> ChatResponse:
        """The final response; reads the rest of the stream first if needed."""
        if not self._acc.done:
            for _ in self:
                pass
        return self._acc.snapshot()

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


class _Client:
    """The constructor both clients share (arguments are checked here)."""

    _core: _Core  # everything built from the configuration (swapped by reload)

    def __init__(
        self,
        *,
        config: str | os.PathLike[str] | Config | None = None,
        providers: Iterable[Provider | ProviderConfig] = (),
        timeout: Any = None,
        env: Mapping[str, str] | None = None,
        middleware: Sequence[Middleware] = (),
        max_retries: int | None = None,
        watch_config: bool | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise unknown_argument(type(self), unknown)
        from ._reload import Reloader, build_core

        # A reload builds the next configuration from the same arguments: one pass only.
        providers = list(providers) if isinstance(providers, Iterator) else providers
        middleware = list(middleware) if isinstance(middleware, Iterator) else middleware
        self._reloader = Reloader(
            self, config=config, providers=providers, timeout=timeout, env=env,
            max_retries=max_retries, middleware=middleware, watch=watch_config,
        )  # fmt: skip
        self._transport = self._new_transport()
        # Everything built from the configuration: swapped as one by reload().
        self._core = build_core(self._reloader.args, config, self._transport)
        self._reloader.sync_watch()

    @property
    def _pipeline(self) -> Pipeline | None:
        return self._core.pipe

    @property
    def _retry(self) -> Retry | None:
        return self._core.retry

    @property
    def usage_ledger(self) -> Ledger | None:
        """The usage ledger this client records into (``None``: no database configured
        and no ``[usage] enabled``); ``usage_ledger.flush()`` waits for its rows."""
        return self._core.ledger

    def reload(self, config: str | os.PathLike[str] | Config | None = None) -> ConfigDiff:
        """Re-read the configuration file (and the environment), validate it and switch
        to it as a whole: providers, aliases, model groups and the middleware built from
        it. Calls in flight finish on the previous configuration; calls started after
        this returns use the new one. A file that does not validate raises its
        :class:`ConfigurationError` and the previous configuration keeps serving.
        ``config``: read this path or use this :class:`Config` instead (and from now
        on). Returns what changed (masked); a change is recorded in the audit log when
        a database is configured. Safe to call from any thread, and from async code (it
        does no network I/O: see ``AsyncClient.areload``)."""
        return self._reloader.reload(config)

    @staticmethod
    def _new_transport() -> Any:
        raise NotImplementedError


class Client(UsageReports, Features, CacheAccess, FeedbackCalls, _Client):
    """Blocking client. Thread-safe; reuse one for the life of the program.

    ``config``: path to ``llmswitch.toml`` or a :class:`Config` (default: ``$LLMSWITCH_CONFIG``
    or ``./llmswitch.toml`` if present). ``providers``: extra :class:`ProviderConfig` entries or
    ready providers (e.g. ``llmswitch.testing.FakeProvider``). ``timeout``: seconds (total) or
    a :class:`Timeout`/dict with ``connect``, ``first_token``, ``total``. ``env``: where
    credentials are read (default ``os.environ``), copied when the client is built.
    ``middleware``: layers wrapped around every chat and stream call, outermost first (see
    :mod:`llmswitch.middleware`). ``max_retries``: retries of a retryable error (default
    2, as the official SDKs; ``0`` for none); a ``Retry`` in ``middleware`` or ``[retry]``
    in the config replaces this default, and an explicit value overrides ``[retry]``.
    ``watch_config``: reload the file when it changes (polled every second; default:
    as ``[config] watch`` says); see :meth:`reload`.
    Misused arguments raise :class:`ConfigurationError` here, not at the first call.
    """

    @staticmethod
    def _new_transport() -> Any:
        from .transport import SyncTransport  # urllib3 is imported on first use

        return SyncTransport()

    def chat(self, model: str | None = None, messages: Any = None, **options: Any) -> ChatResponse:
        """One complete answer. Options: see the README (system, tools, tool_choice, ...).
        ``model``: default ``$LLMSWITCH_MODEL``."""
        core = self._core  # read once: a reload during the call does not reach it
        if model is None:
            model = core.default()
        cache = cache_option(core.pipe, options.pop("cache", None))  # bypass it, or its ttl
        provider, request, ctx = core.request(model, messages, **options)
        if core.pipe is not None:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            if cache is not None:
                call.state[CACHE_OPTION_KEY] = cache
            return with_request_id(core.pipe.chat(call), call.state)
        retry = core.retry
        if retry is None:
            return provider.chat(request, ctx)  # type: ignore[no-any-return]
        start = time.monotonic()
        try:
            return provider.chat(request, ctx)  # type: ignore[no-any-return]
        except LLMError as exc:
            if not exc.retryable:
                raise
            failed = exc
        call = Call(request=request, provider=provider, ctx=ctx, model=model)
        return retry.resume_chat(call, _terminal_chat, failed, start)

    def stream(self, model: str | None = None, messages: Any = None, **options: Any) -> ChatStream:
        core = self._core  # read once: a reload during the stream does not reach it
        if model is None:
            model = core.default()
        cache = cache_option(core.pipe, options.pop("cache", None))  # bypass it, or its ttl
        provider, request, ctx = core.stream_request(model, messages, **options)
        acc = Accumulator(provider.id, request.model)
        if core.pipe is not None:
            call = Call(
                request=request, provider=provider, ctx=ctx, model=model,
                state={ACCUMULATOR_KEY: acc},
            )  # fmt: skip
            if cache is not None:
                call.state[CACHE_OPTION_KEY] = cache
            stream_request_id(core.ledger, acc, call.state)  # response.request_id
            return ChatStream(core.pipe.stream(call), acc)
        retry = core.retry
        if retry is None:
            return ChatStream(provider.stream(request, ctx), acc)
        start = time.monotonic()

        def restart(error: LLMError) -> Iterator[Event]:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            return retry.resume_stream(call, _terminal_stream, error, start)

        return ChatStream(provider.stream(request, ctx), acc, restart)

    def embed(self, model: str, input: str | list[str], **options: Any) -> EmbeddingResponse:
        """Embedding vectors, one per input in order; large inputs are split into the
        provider's batch size and reassembled. Options: dimensions, input_type, user,
        timeout, extra_body, extra_headers."""
        core = self._core
        provider, request, ctx = core.embed_request(model, input, **options)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            return keyed.call(provider, request.user, lambda p: p.embed(request, ctx))  # type: ignore[no-any-return]
        return provider.embed(request, ctx)  # type: ignore[no-any-return]

    def count_tokens(self, model: str, messages: Any, **options: Any) -> TokenCount:
        """Input tokens of this request (messages, system, tools); takes the options of
        :meth:`chat`. A :class:`~llmswitch.catalog.TokenCount` (an ``int``) whose
        ``method`` says how: ``"tokenizer"`` (OpenAI models, offline), ``"provider"``
        (Anthropic, Gemini, Vertex, Bedrock count endpoints) or ``"estimate"``
        (elsewhere); ``exact`` whether it is what the provider bills."""
        from . import _counting

        return _counting.count_tokens(self._core, model, messages, options)

    def estimate_cost(
        self, model: str, messages: Any, *, max_tokens: int | None = None, exact: bool = False,
        **options: Any,
    ) -> CostEstimate:  # fmt: skip
        """What this call would cost, before making it: a :class:`~llmswitch.catalog.
        CostEstimate` with the input tokens and the ``low_usd`` (input only) to
        ``high_usd`` (plus ``max_tokens``, else the model's maximum output) range; ``None``
        prices when the model's price is unknown. Takes the options of :meth:`chat`.
        Offline unless ``exact=True``, which asks the provider's count endpoint where
        :meth:`count_tokens` would."""
        from . import _counting

        options["max_tokens"] = max_tokens
        return _counting.estimate_cost(self._core, model, messages, exact, options)

    def list_models(self, provider: str, *, timeout: Any = None) -> list[ModelInfo]:
        """Models the provider offers right now (live listing)."""
        core = self._core  # one configuration for the whole call
        p, ctx = core.provider(provider), core.context(provider, timeout)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            models: list[ModelInfo] = keyed.call(p, None, lambda q: q.list_models(ctx))
        else:
            models = p.list_models(ctx)
        core.discovered(provider, models)  # what capabilities() knows from now on
        return models

    def health(self, provider: str, *, timeout: Any = None) -> HealthStatus:
        """Probe the provider live: reachable, credentials accepted, round-trip time."""
        core = self._core  # one configuration for the whole call
        p = core.provider(provider)
        probe = getattr(p, "health", None)
        if probe is None:
            return HealthStatus(provider=provider, ok=True, latency_ms=0.0)
        ctx = core.context(provider, timeout)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            return keyed.call(p, None, lambda q: q.health(ctx))  # type: ignore[no-any-return]
        return probe(ctx)  # type: ignore[no-any-return]

    def pull_model(
        self,
        model: str,
        *,
        progress: Callable[[PullProgress], None] | None = None,
        timeout: Any = None,
    ) -> PullProgress:
        """Download ``model`` (``"ollama/llama3.2"``) into its Ollama server; ``progress``
        gets each report. No time limit unless ``timeout`` is given. Ollama only."""
        from .providers.ollama import PULL_TIMEOUT, pull_model

        provider, name = self._core.resolve(model)
        ctx = CallContext(timeout=to_timeout(timeout, PULL_TIMEOUT), transport=self._transport)
        return pull_model(provider, name, ctx, progress)

    def budgets(self) -> list[BudgetStatus]:
        """Each ``[[budgets]]`` entry's current period, read live (with Redis: what every
        process has spent): spent, reserved by calls in flight, limit, period start."""
        layer = _budget_layer(self._core.pipe)
        return layer.budget_status() if layer is not None else []

    def status(self) -> dict[str, Any]:
        """Live state of this client's middleware: breakers, key pools, and any layer
        with a ``status()`` (see :func:`llmswitch.observability.collect_status`)."""
        from .observability.status import collect_status

        pipe = self._core.pipe
        return collect_status(pipe.middleware if pipe is not None else ())

    def close(self) -> None:
        self._reloader.close()
        self._core.close()
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- code completion (fill-in-the-middle): llmswitch._code, llmswitch.fim

    def complete_code(
        self,
        model: str,
        prefix: str,
        suffix: str = "",
        *,
        language: str | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: Any = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CodeCompletion:
        """The code between ``prefix`` and ``suffix``: the provider's native
        fill-in-the-middle route where it has one, else a chat with a fixed instruction;
        trimmed the same way on every provider (see :mod:`llmswitch.fim`). Goes through
        the same middleware, retries and usage recording as :meth:`chat`."""
        from ._code import code_request, complete

        core = self._core
        options = dict(max_tokens=max_tokens, stop=stop, temperature=temperature, top_p=top_p,
                       user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
                       extra_headers=extra_headers)  # fmt: skip
        provider, request, ctx = code_request(core, model, prefix, suffix, language, options)
        return complete(core, model, provider, request, ctx)

    def stream_code(
        self,
        model: str,
        prefix: str,
        suffix: str = "",
        *,
        language: str | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: Any = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CodeStream:
        """:meth:`complete_code` streamed, used like :meth:`stream`: ``with`` sends it,
        iterating yields trimmed ``TextDelta``s, ``response`` is the CodeCompletion."""
        from ._code import code_request, open_stream

        core = self._core
        options = dict(max_tokens=max_tokens, stop=stop, temperature=temperature, top_p=top_p,
                       user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
                       extra_headers=extra_headers)  # fmt: skip
        provider, request, ctx = code_request(
            core, model, prefix, suffix, language, options, stream=True
        )
        return open_stream(core, model, provider, request, ctx, ChatStream)


class AsyncChatStream:
    """Async twin of :class:`ChatStream`: ``async with`` sends the request,
    ``async for`` yields events, ``response`` (or ``await get_response()``) is final."""

    __slots__ = ("_acc", "_batched", "_events", "_pending", "_restart", "_source", "_started")

    def __init__(
        self,
        source: AsyncIterator[Any],
        acc: Accumulator,
        restart: Callable[[LLMError], AsyncIterator[Event]] | None = None,
        *,
        batched: bool = False,
    ) -> None:
        # ``batched``: the source yields one list of events per network read.
        self._source, self._batched, self._acc = source, batched, acc
        self._pending: list[Event] = []
        self._started, self._restart = False, restart  # as in ChatStream
        self._events: Any = None  # the one async generator iteration goes through

    async def _first(self) -> None:
        try:
            first = await self._source.__anext__()
        except StopAsyncIteration:
            pass
        except LLMError as exc:
            if self._restart is None or not exc.retryable:
                _attach_partial(exc, self._acc)
                raise
            restart, self._restart = self._restart, None
            failed = exc
        else:
            self._pending = first if self._batched else [first]
            return
        self._source, self._batched = restart(failed), False
        await self._first()

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self._first()

    async def __aenter__(self) -> AsyncChatStream:
        if not self._started:  # _start inline: a coroutine less on every stream
            self._started = True
            await self._first()
        return self

    def __aexit__(self, *exc: object) -> Awaitable[None]:
        return self.aclose()  # awaited by ``async with``; None: exceptions go on

    def __aiter__(self) -> AsyncIterator[Event]:
        # One generator step per event (an async __anext__ adds a coroutine per event).
        if self._events is None:
            self._events = self._iterate()
        return self._events  # type: ignore[no-any-return]

    def __anext__(self) -> Any:  # an awaitable of the next event
        return self.__aiter__().__anext__()

    async def _iterate(self) -> AsyncIterator[Event]:
        if not self._started:  # mostly entered already by ``async with``
            await self._start()
        acc = self._acc
        pending, self._pending = self._pending, []
        # A read's events are folded into the accumulator before the first is yielded:
        # they were received, so a partial response or error keeps them either way.
        acc.add_all(pending)
        for event in pending:
            yield event
        add, add_all = acc.add, acc.add_all
        try:
            if self._batched:
                async for events in self._source:
                    add_all(events)
                    for event in events:
                        yield event
            else:
                async for event in self._source:
                    add(event)
                    yield event
        except LLMError as exc:
            _attach_partial(exc, self._acc)
            raise

    @property
    async def text_stream(self) -> AsyncIterator[str]:
        async for event in self:
            if event.kind == "text":
                yield event.text  # type: ignore[union-attr]

    @property
    def response(self) -> ChatResponse:
        """The final response; the stream must have been read to the end
        (use ``await stream.get_response()`` to read the rest first)."""
        if not self._acc.done:
            raise ConfigurationError(
                "the stream is not finished: iterate it to the end or await get_response()"
            )
        return self._acc.snapshot()

    async def get_response(self) -> ChatResponse:
        async for _ in self:
            pass
        return self._acc.snapshot()

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


class AsyncClient(AsyncUsageReports, AsyncFeatures, CacheAccess, AsyncFeedbackCalls, _Client):
    """Asynchronous client; same arguments and methods as :class:`Client`, awaited.
    Use it as ``async with AsyncClient() as client`` or call ``await client.aclose()``."""

    @staticmethod
    def _new_transport() -> Any:
        from .transport import AsyncTransport  # aiohttp is imported on first use

        return AsyncTransport()

    async def chat(
        self, model: str | None = None, messages: Any = None, **options: Any
    ) -> ChatResponse:
        core = self._core  # read once: a reload during the call does not reach it
        if model is None:
            model = core.default()
        cache = cache_option(core.pipe, options.pop("cache", None))  # bypass it, or its ttl
        provider, request, ctx = core.request(model, messages, **options)
        if core.pipe is not None:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            if cache is not None:
                call.state[CACHE_OPTION_KEY] = cache
            return with_request_id(await core.pipe.achat(call), call.state)
        retry = core.retry
        if retry is None:
            return await provider.achat(request, ctx)  # type: ignore[no-any-return]
        start = time.monotonic()
        try:
            return await provider.achat(request, ctx)  # type: ignore[no-any-return]
        except LLMError as exc:
            if not exc.retryable:
                raise
            failed = exc
        call = Call(request=request, provider=provider, ctx=ctx, model=model)
        return await retry.aresume_chat(call, _terminal_achat, failed, start)

    def stream(
        self, model: str | None = None, messages: Any = None, **options: Any
    ) -> AsyncChatStream:
        core = self._core  # read once: a reload during the stream does not reach it
        if model is None:
            model = core.default()
        cache = cache_option(core.pipe, options.pop("cache", None))  # bypass it, or its ttl
        provider, request, ctx = core.stream_request(model, messages, **options)
        acc = Accumulator(provider.id, request.model)
        if core.pipe is not None:
            call = Call(
                request=request, provider=provider, ctx=ctx, model=model,
                state={ACCUMULATOR_KEY: acc},
            )  # fmt: skip
            if cache is not None:
                call.state[CACHE_OPTION_KEY] = cache
            stream_request_id(core.ledger, acc, call.state)  # response.request_id
            return AsyncChatStream(core.pipe.astream(call), acc)
        retry = core.retry
        batches = getattr(provider, "astream_batches", None)
        source = provider.astream(request, ctx) if batches is None else batches(request, ctx)
        if retry is None:
            return AsyncChatStream(source, acc, batched=batches is not None)
        start = time.monotonic()

        def restart(error: LLMError) -> AsyncIterator[Event]:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            return retry.aresume_stream(call, _terminal_astream, error, start)

        return AsyncChatStream(source, acc, restart, batched=batches is not None)

    async def embed(self, model: str, input: str | list[str], **options: Any) -> EmbeddingResponse:
        core = self._core
        provider, request, ctx = core.embed_request(model, input, **options)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            return await keyed.acall(provider, request.user, lambda p: p.aembed(request, ctx))
        return await provider.aembed(request, ctx)  # type: ignore[no-any-return]

    async def count_tokens(self, model: str, messages: Any, **options: Any) -> TokenCount:
        from . import _counting

        return await _counting.acount_tokens(self._core, model, messages, options)

    async def estimate_cost(
        self, model: str, messages: Any, *, max_tokens: int | None = None, exact: bool = False,
        **options: Any,
    ) -> CostEstimate:  # fmt: skip
        from . import _counting

        options["max_tokens"] = max_tokens
        return await _counting.aestimate_cost(self._core, model, messages, exact, options)

    async def list_models(self, provider: str, *, timeout: Any = None) -> list[ModelInfo]:
        core = self._core  # one configuration for the whole call
        p, ctx = core.provider(provider), core.context(provider, timeout)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            models: list[ModelInfo] = await keyed.acall(p, None, lambda q: q.alist_models(ctx))
        else:
            models = await p.alist_models(ctx)
        core.discovered(provider, models)  # what capabilities() knows from now on
        return models

    async def health(self, provider: str, *, timeout: Any = None) -> HealthStatus:
        core = self._core  # one configuration for the whole call
        p = core.provider(provider)
        probe = getattr(p, "ahealth", None)
        if probe is None:
            return HealthStatus(provider=provider, ok=True, latency_ms=0.0)
        ctx = core.context(provider, timeout)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            return await keyed.acall(p, None, lambda q: q.ahealth(ctx))
        return await probe(ctx)  # type: ignore[no-any-return]

    async def pull_model(
        self,
        model: str,
        *,
        progress: Callable[[PullProgress], None] | None = None,
        timeout: Any = None,
    ) -> PullProgress:
        from .providers.ollama import PULL_TIMEOUT, apull_model

        provider, name = self._core.resolve(model)
        ctx = CallContext(timeout=to_timeout(timeout, PULL_TIMEOUT), transport=self._transport)
        return await apull_model(provider, name, ctx, progress)

    async def budgets(self) -> list[BudgetStatus]:
        """See :meth:`Client.budgets`."""
        layer = _budget_layer(self._core.pipe)
        return await layer.abudget_status() if layer is not None else []

    async def status(self) -> dict[str, Any]:
        """Live state of this client's middleware (see :meth:`Client.status`)."""
        from .observability.status import acollect_status

        pipe = self._core.pipe
        return await acollect_status(pipe.middleware if pipe is not None else ())

    async def aclose(self) -> None:
        self._reloader.close()
        await self._core.aclose()
        await self._transport.aclose()

    async def areload(self, config: str | os.PathLike[str] | Config | None = None) -> ConfigDiff:
        """:meth:`Client.reload` in a worker thread, so reading and validating the file
        and building the new configuration never holds up the event loop."""
        import asyncio

        return await asyncio.to_thread(self._reloader.reload, config)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- code completion (fill-in-the-middle): llmswitch._code, llmswitch.fim

    async def complete_code(
        self,
        model: str,
        prefix: str,
        suffix: str = "",
        *,
        language: str | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: Any = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CodeCompletion:
        """The code between ``prefix`` and ``suffix``: the provider's native
        fill-in-the-middle route where it has one, else a chat with a fixed instruction;
        trimmed the same way on every provider (see :mod:`llmswitch.fim`). Goes through
        the same middleware, retries and usage recording as :meth:`chat`."""
        from ._code import acomplete, code_request

        core = self._core
        options = dict(max_tokens=max_tokens, stop=stop, temperature=temperature, top_p=top_p,
                       user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
                       extra_headers=extra_headers)  # fmt: skip
        provider, request, ctx = code_request(core, model, prefix, suffix, language, options)
        return await acomplete(core, model, provider, request, ctx)

    def stream_code(
        self,
        model: str,
        prefix: str,
        suffix: str = "",
        *,
        language: str | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: Any = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncCodeStream:
        """:meth:`complete_code` streamed, used like :meth:`stream`: ``async with``
        sends it, ``async for`` yields trimmed ``TextDelta``s, ``await
        get_response()`` is the CodeCompletion."""
        from ._code import code_request, open_astream

        core = self._core
        options = dict(max_tokens=max_tokens, stop=stop, temperature=temperature, top_p=top_p,
                       user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
                       extra_headers=extra_headers)  # fmt: skip
        provider, request, ctx = code_request(
            core, model, prefix, suffix, language, options, stream=True
        )
        return open_astream(core, model, provider, request, ctx, AsyncChatStream)
