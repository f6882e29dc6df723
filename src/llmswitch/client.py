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
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any

from ._chat_stream import AsyncChatStream, ChatStream
from ._client_args import unknown_argument
from ._client_cache import CacheAccess, cache_option
from ._client_features import AsyncFeatures, Features
from ._client_feedback import AsyncFeedbackCalls, FeedbackCalls
from ._client_tokens import AsyncTokenCalls, TokenCalls
from ._client_usage import AsyncUsageReports, UsageReports
from ._core import _Core
from ._options import (  # the aliases: named by the options' annotations, resolved here
    CHAT_OPTIONS,
    CallOptions,
    CodeOptions,
    MessagesInput,
    ReasoningInput,  # noqa: F401
    ResponseFormatInput,  # noqa: F401
    StopInput,  # noqa: F401
    StreamOptions,
    TimeoutInput,  # noqa: F401
    ToolChoiceInput,  # noqa: F401
    ToolsInput,  # noqa: F401
    keywords,
    unexpected_keyword,
)
from ._prompt_wiring import (
    AsyncPromptAccess,
    PromptAccess,
    aprompted_chat,
    aprompted_stream,
    prompted_chat,
    prompted_stream,
)
from ._structured import finish
from .config import Config, ProviderConfig
from .errors import LLMError
from .events import Accumulator, Event
from .messages import (
    ChatResponse,
    HealthStatus,
    ModelInfo,
)
from .middleware.base import (
    CACHE_OPTION_KEY,
    Call,
    Middleware,
    Pipeline,
    _terminal_achat,
    _terminal_astream,
    _terminal_chat,
    _terminal_stream,
    stream_state,
)
from .providers.runtime import CallContext, Provider
from .usage.middleware import stream_request_id, with_request_id
from .wire import to_timeout

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._code import AsyncCodeStream, CodeStream
    from .config import ConfigDiff
    from .fim import CodeCompletion
    from .messages import ChatRequest
    from .middleware.retry import Retry
    from .providers.ollama import PullProgress
    from .usage.budgets import BudgetStatus
    from .usage.ledger import Ledger

__all__ = ["AsyncChatStream", "AsyncClient", "ChatStream", "Client"]


def _budget_layer(pipe: Pipeline | None) -> Any:
    """The pipeline's budget layer, if budgets are configured."""
    from .usage.budgets_layer import BudgetLayer

    return next((m for m in pipe.middleware if isinstance(m, BudgetLayer)), None) if pipe else None


_REQUEST_KEYS = frozenset(CHAT_OPTIONS)
_CALL_KEYS = frozenset(CallOptions.__annotations__)
_STREAM_KEYS = frozenset(StreamOptions.__annotations__)
_CODE_KEYS = frozenset(CodeOptions.__annotations__)


_request = _Core.request
_stream_request = _Core.stream_request


def _prompt_call(model: Any, messages: Any, options: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """``prompt``, ``variables`` and the call to make once the prompt is applied."""
    args = {"model": model, "messages": messages, **options}
    return args.pop("prompt", None), args.pop("variables", None), args


def _open(
    core: _Core, method: str, model: Any, messages: Any, options: Any, stream: bool = False
) -> tuple[str, Provider, ChatRequest, CallContext, Any, bool] | None:
    """The part of ``chat``/``stream`` both clients share, before anything is sent: the
    option names checked, the model resolved, the request built and checked, then the
    per-call ``cache=`` (and ``resume=``) taken out. ``(model, provider, request, ctx,
    cache, resume)``, or ``None`` when the call names a stored prompt (made through
    :mod:`llmswitch._prompt_wiring` instead); ``options`` (the call's own dict) keeps
    only the request's options."""
    cache = None
    resume = False
    # One set check on the usual call (request options only): the rest is rarer.
    if options and not _REQUEST_KEYS.issuperset(options):
        known = _STREAM_KEYS if stream else _CALL_KEYS
        if not known.issuperset(options):
            raise unexpected_keyword(method, options, known)
        if options.get("prompt") is not None or options.get("variables") is not None:
            return None
        options.pop("prompt", None)  # given as None: not given
        options.pop("variables", None)
        cache = options.pop("cache", None)
        if stream:
            resume = options.pop("resume", False)
    if model is None:
        model = core.default()
    # The functions, not bound methods: with **options, a bound method is made and its
    # arguments copied once more on every call.
    if stream:
        provider, request, ctx = _stream_request(core, model, messages, **options)
    else:
        provider, request, ctx = _request(core, model, messages, **options)
    # per call: bypass the cache, or its ttl (checked after the request)
    if cache is not None:
        cache = cache_option(core.pipe, cache)
    return model, provider, request, ctx, cache, resume


def _call(
    model: str,
    provider: Provider,
    request: ChatRequest,
    ctx: CallContext,
    cache: Any,
    acc: Accumulator | None = None,
) -> Call:
    """The :class:`Call` that enters the pipeline, carrying the cache option and the
    stream's accumulator in its state."""
    state = stream_state(acc) if acc is not None else {}
    call = Call(request=request, provider=provider, ctx=ctx, model=model, state=state)
    if cache is not None:
        call.state[CACHE_OPTION_KEY] = cache
    return call


def _resumed(
    core: _Core,
    model: str,
    provider: Provider,
    request: ChatRequest,
    ctx: CallContext,
    resume: bool,
    cache: Any,
    asynchronous: bool,
) -> tuple[Any, Accumulator]:
    from ._resume import open_resumed

    state = {CACHE_OPTION_KEY: cache} if cache is not None else None
    return open_resumed(
        core, model, provider, request, ctx, resume, asynchronous=asynchronous, state=state
    )


def _code_call(
    core: _Core,
    method: str,
    model: str,
    prefix: str,
    suffix: str,
    options: Any,
) -> tuple[Provider, Any, CallContext]:
    """``complete_code``/``stream_code``'s checked request (names, then values)."""
    from ._code import code_request

    if not _CODE_KEYS.issuperset(options):
        raise unexpected_keyword(method, options, _CODE_KEYS)
    language = options.pop("language", None)
    stream = method == "stream_code"
    return code_request(core, model, prefix, suffix, language, options, stream=stream)


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


class Client(UsageReports, Features, TokenCalls, CacheAccess, PromptAccess, FeedbackCalls, _Client):
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

    @keywords(CallOptions)
    def chat(
        self,
        model: str | None = None,
        messages: MessagesInput | None = None,
        **options: Unpack[CallOptions],
    ) -> ChatResponse:
        """One complete answer. ``model``: ``"<provider>/<model>"``, an alias or a model
        group (default ``$LLMSWITCH_MODEL``); ``messages``: OpenAI-style dicts or
        :class:`Message` objects. The options are the README's "Typed options and
        structured output"; ``response_format=`` a pydantic model, dataclass or TypedDict
        returns its validated instance as ``resp.parsed`` (:mod:`llmswitch._structured`).
        ``prompt="NAME[:LABEL|@VERSION]"`` with ``variables={...}``: a stored prompt
        rendered into the call (README "Prompts", :mod:`llmswitch._prompt_wiring`)."""
        core = self._core  # read once: a reload during the call does not reach it
        opened = _open(core, "chat", model, messages, options)
        if opened is None:  # prompt=: rendered, then this call again
            return prompted_chat(self, *_prompt_call(model, messages, options))
        model, provider, request, ctx, cache, _ = opened
        pipe = core.pipe
        if pipe is not None:
            call = _call(model, provider, request, ctx, cache)
            resp: ChatResponse = with_request_id(pipe.chat(call), call.state)
        elif (retry := core.retry) is None:
            resp = provider.chat(request, ctx)
        else:
            start = time.monotonic()
            failed = None
            try:
                resp = provider.chat(request, ctx)
            except LLMError as exc:
                if not exc.retryable:
                    raise
                failed = exc
            if failed is not None:  # resumed outside ``except``: no chained context
                call = _call(model, provider, request, ctx, None)
                resp = retry.resume_chat(call, _terminal_chat, failed, start)
        fmt = options.get("response_format")
        return resp if fmt is None else finish(resp, fmt)

    @keywords(StreamOptions)
    def stream(
        self,
        model: str | None = None,
        messages: MessagesInput | None = None,
        **options: Unpack[StreamOptions],
    ) -> ChatStream:
        """:meth:`chat` streamed: ``with`` sends it, iterating yields typed events,
        ``stream.response`` is the final ChatResponse (``parsed`` included).
        ``resume=True``: a stream that breaks after events reached the caller is
        reconnected and continued where it stopped, the seams reported in
        ``response.resumed`` (README "Stream recovery", :mod:`llmswitch._resume`).
        ``prompt=``/``variables=``: as :meth:`chat`."""
        core = self._core  # read once: a reload during the stream does not reach it
        opened = _open(core, "stream", model, messages, options, stream=True)
        if opened is None:  # prompt=: rendered, then this call again
            return prompted_stream(self, *_prompt_call(model, messages, options))  # type: ignore[no-any-return]
        model, provider, request, ctx, cache, resume = opened
        acc = Accumulator(provider.id, request.model)
        fmt = options.get("response_format")
        if resume:  # opt-in: a continuation is a new generation
            source, acc = _resumed(core, model, provider, request, ctx, resume, cache, False)
            return ChatStream(source, acc, response_format=fmt)
        if core.pipe is not None:
            call = _call(model, provider, request, ctx, cache, acc)
            stream_request_id(core.ledger, acc, call.state)  # response.request_id
            return ChatStream(core.pipe.stream(call), acc, response_format=fmt)
        retry = core.retry
        if retry is None:
            return ChatStream(provider.stream(request, ctx), acc, response_format=fmt)
        start = time.monotonic()

        def restart(error: LLMError) -> Iterator[Event]:
            call = _call(model, provider, request, ctx, None)
            return retry.resume_stream(call, _terminal_stream, error, start)

        return ChatStream(provider.stream(request, ctx), acc, restart, response_format=fmt)

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
        self._close_prompts()
        self._core.close()
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- code completion (fill-in-the-middle): llmswitch._code, llmswitch.fim

    @keywords(CodeOptions)
    def complete_code(
        self, model: str, prefix: str, suffix: str = "", **options: Unpack[CodeOptions]
    ) -> CodeCompletion:
        """The code between ``prefix`` and ``suffix``: the provider's native
        fill-in-the-middle route where it has one, else a chat with a fixed instruction;
        trimmed the same way on every provider (see :mod:`llmswitch.fim`). Goes through
        the same middleware, retries and usage recording as :meth:`chat`."""
        from ._code import complete

        core = self._core
        provider, request, ctx = _code_call(core, "complete_code", model, prefix, suffix, options)
        return complete(core, model, provider, request, ctx)

    @keywords(CodeOptions)
    def stream_code(
        self, model: str, prefix: str, suffix: str = "", **options: Unpack[CodeOptions]
    ) -> CodeStream:
        """:meth:`complete_code` streamed, used like :meth:`stream`: ``with`` sends it,
        iterating yields trimmed ``TextDelta``s, ``response`` is the CodeCompletion."""
        from ._code import open_stream

        core = self._core
        provider, request, ctx = _code_call(core, "stream_code", model, prefix, suffix, options)
        return open_stream(core, model, provider, request, ctx, ChatStream)


class AsyncClient(
    AsyncUsageReports,
    AsyncFeatures,
    AsyncTokenCalls,
    CacheAccess,
    AsyncPromptAccess,
    AsyncFeedbackCalls,
    _Client,
):
    """Asynchronous client; same arguments and methods as :class:`Client`, awaited.
    Use it as ``async with AsyncClient() as client`` or call ``await client.aclose()``."""

    @staticmethod
    def _new_transport() -> Any:
        from .transport import AsyncTransport  # aiohttp is imported on first use

        return AsyncTransport()

    @keywords(CallOptions)
    async def chat(
        self,
        model: str | None = None,
        messages: MessagesInput | None = None,
        **options: Unpack[CallOptions],
    ) -> ChatResponse:
        """See :meth:`Client.chat`."""
        core = self._core  # read once: a reload during the call does not reach it
        opened = _open(core, "chat", model, messages, options)
        if opened is None:  # prompt=: rendered, then this call again
            return await aprompted_chat(self, *_prompt_call(model, messages, options))
        model, provider, request, ctx, cache, _ = opened
        pipe = core.pipe
        if pipe is not None:
            call = _call(model, provider, request, ctx, cache)
            resp: ChatResponse = with_request_id(await pipe.achat(call), call.state)
        elif (retry := core.retry) is None:
            resp = await provider.achat(request, ctx)
        else:
            start = time.monotonic()
            failed = None
            try:
                resp = await provider.achat(request, ctx)
            except LLMError as exc:
                if not exc.retryable:
                    raise
                failed = exc
            if failed is not None:  # resumed outside ``except``: no chained context
                call = _call(model, provider, request, ctx, None)
                resp = await retry.aresume_chat(call, _terminal_achat, failed, start)
        fmt = options.get("response_format")
        return resp if fmt is None else finish(resp, fmt)

    @keywords(StreamOptions)
    def stream(
        self,
        model: str | None = None,
        messages: MessagesInput | None = None,
        **options: Unpack[StreamOptions],
    ) -> AsyncChatStream:
        """See :meth:`Client.stream`; ``async with`` sends it."""
        core = self._core  # read once: a reload during the stream does not reach it
        opened = _open(core, "stream", model, messages, options, stream=True)
        if opened is None:  # prompt=: rendered, then this call again
            return aprompted_stream(self, *_prompt_call(model, messages, options))  # type: ignore[no-any-return]
        model, provider, request, ctx, cache, resume = opened
        acc = Accumulator(provider.id, request.model)
        fmt = options.get("response_format")
        if resume:  # opt-in: a continuation is a new generation
            source, acc = _resumed(core, model, provider, request, ctx, resume, cache, True)
            return AsyncChatStream(source, acc, response_format=fmt)
        if core.pipe is not None:
            call = _call(model, provider, request, ctx, cache, acc)
            stream_request_id(core.ledger, acc, call.state)  # response.request_id
            return AsyncChatStream(core.pipe.astream(call), acc, response_format=fmt)
        retry = core.retry
        restart: Callable[[LLMError], AsyncIterator[Event]] | None = None
        if retry is not None:
            start = time.monotonic()

            def restart(error: LLMError) -> AsyncIterator[Event]:
                call = _call(model, provider, request, ctx, None)
                return retry.aresume_stream(call, _terminal_astream, error, start)

        reader = getattr(provider, "astream_reader", None)
        if reader is not None:  # an HTTP provider: its read loop runs in the stream's
            return AsyncChatStream(
                None, acc, restart, reader=reader(request, ctx), response_format=fmt
            )
        batches = getattr(provider, "astream_batches", None)
        source = provider.astream(request, ctx) if batches is None else batches(request, ctx)
        return AsyncChatStream(
            source, acc, restart, batched=batches is not None, response_format=fmt
        )

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
        await self._aclose_prompts()
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

    @keywords(CodeOptions)
    async def complete_code(
        self, model: str, prefix: str, suffix: str = "", **options: Unpack[CodeOptions]
    ) -> CodeCompletion:
        """See :meth:`Client.complete_code`."""
        from ._code import acomplete

        core = self._core
        provider, request, ctx = _code_call(core, "complete_code", model, prefix, suffix, options)
        return await acomplete(core, model, provider, request, ctx)

    @keywords(CodeOptions)
    def stream_code(
        self, model: str, prefix: str, suffix: str = "", **options: Unpack[CodeOptions]
    ) -> AsyncCodeStream:
        """:meth:`complete_code` streamed, used like :meth:`stream`: ``async with``
        sends it, ``async for`` yields trimmed ``TextDelta``s, ``await
        get_response()`` is the CodeCompletion."""
        from ._code import open_astream

        core = self._core
        provider, request, ctx = _code_call(core, "stream_code", model, prefix, suffix, options)
        return open_astream(core, model, provider, request, ctx, AsyncChatStream)
