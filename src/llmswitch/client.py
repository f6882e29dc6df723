"""``Client`` and ``AsyncClient``: resolve the model, validate the request, hand it to
the provider over the client's pooled transport.

Both share :class:`_Core` (configuration, provider lookup, validation); they differ
only in the transport they own and whether they await.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._client_args import (
    check_max_retries,
    check_middleware,
    check_providers,
    unknown_argument,
)
from .config import Config, ProviderConfig, load_config, snapshot_env
from .errors import ConfigurationError, LLMError
from .events import Accumulator, Event
from .messages import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    EmbedRequest,
    HealthStatus,
    ModelInfo,
    to_messages,
    to_reasoning,
    to_response_format,
    to_tool_choice,
    to_tools,
)
from .middleware.base import (
    ACCUMULATOR_KEY,
    Call,
    Middleware,
    Pipeline,
    _terminal_achat,
    _terminal_astream,
    _terminal_chat,
    _terminal_stream,
)
from .providers.runtime import CallContext, Provider
from .wire import to_timeout

if TYPE_CHECKING:
    from .middleware.retry import Retry
    from .providers.ollama import PullProgress

__all__ = ["AsyncChatStream", "AsyncClient", "ChatStream", "Client"]

_OPTIONS = (
    "system", "tools", "tool_choice", "temperature", "max_tokens", "top_p", "stop",
    "response_format", "reasoning", "user", "metadata", "timeout", "extra_body", "extra_headers",
)  # fmt: skip
_EMBED_OPTIONS = ("dimensions", "input_type", "user", "timeout", "extra_body", "extra_headers")


def _unknown_option(
    options: Mapping[str, Any], known: tuple[str, ...] = _OPTIONS
) -> ConfigurationError:
    import difflib

    name = sorted(options)[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigurationError(f"unknown option {name!r}{hint}", field=name)


# Retries of a retryable error when the client is given none (as the official SDKs).
DEFAULT_MAX_RETRIES = 2


def _number(value: Any, name: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigurationError(f"{name} must be a number from {lo} to {hi}", field=name)
    return float(value)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(s, str) and s for s in value):
        return tuple(value)
    raise ConfigurationError("stop must be a string or a list of non-empty strings", field="stop")


class _Core:
    """What the sync and async clients share: configuration and request validation."""

    def __init__(
        self,
        config: str | os.PathLike[str] | Config | None,
        providers: Iterable[Provider | ProviderConfig],
        timeout: Any,
        env: Mapping[str, str] | None,
        transport: Any,
        max_retries: Any = None,
    ) -> None:
        self.transport = transport
        if env is not None and not isinstance(env, Mapping):
            raise ConfigurationError("env must be a dict of environment variables", field="env")
        if config is not None and not isinstance(config, str | os.PathLike | Config):
            raise ConfigurationError(
                "config must be a path to llmswitch.toml or a Config", field="config"
            )
        providers = check_providers(providers)
        retries = check_max_retries(max_retries)
        # Read once, now, as the official SDKs do: a later change to the environment
        # does not move a client built before it (only the variables providers read).
        self.env: Mapping[str, str] = snapshot_env(os.environ if env is None else env)
        source = os.environ if env is None else env  # ${VAR} in the file: any variable
        self.config = config if isinstance(config, Config) else load_config(config, source)
        self.timeout = to_timeout(timeout)
        if retries is not None and self.config.retry is not None:
            # An explicit max_retries overrides [retry] attempts; 0 turns it off.
            policy = (
                dataclasses.replace(self.config.retry, attempts=retries + 1) if retries else None
            )
            self.config = dataclasses.replace(self.config, retry=policy)
        self.max_retries = DEFAULT_MAX_RETRIES if retries is None else retries
        # The default retry layer when the client has no other middleware: its first try
        # runs without it (see Client.chat), so the call path stays as cheap as before.
        self.retry: Retry | None = None
        self._providers: dict[str, Provider] = {}
        declared: dict[str, ProviderConfig] = {}
        for p in providers:
            if isinstance(p, ProviderConfig):
                declared[p.id] = p
            else:
                self._providers[p.id] = p
        if declared:
            self.config = dataclasses.replace(
                self.config, providers={**self.config.providers, **declared}
            )
        self._lock = threading.Lock()
        self._contexts: dict[str, CallContext] = {}

    def provider(self, pid: str) -> Provider:
        provider = self._providers.get(pid)
        if provider is None:
            from .providers.registry import build_provider

            with self._lock:
                provider = self._providers.get(pid)
                if provider is None:
                    provider = self._providers[pid] = build_provider(pid, self.config, self.env)
        return provider

    def resolve(self, model: Any) -> tuple[Provider, str]:
        if not isinstance(model, str) or not model:
            raise ConfigurationError("model must be a non-empty string", field="model")
        target = self.config.aliases.get(model, model)
        pid, sep, name = target.partition("/")
        if not sep or not pid or not name:
            group = self.config.models.get(model)
            if group is None:
                raise ConfigurationError(
                    f"model {model!r} must be '<provider>/<model>', an alias or a model group "
                    "from llmswitch.toml",
                    field="model",
                )
            # The router picks the deployment per call; the primary one stands in for
            # validation and anything that does not route (embed, count_tokens).
            pid, _, name = group.primary.model.partition("/")
            pid = group.primary.endpoint or pid  # its own base_url/api_key: derived provider
        return self.provider(pid), name

    def _default_retry(self, layers: Sequence[Middleware]) -> Retry | None:
        """A Retry of ``max_retries`` retries, unless retries are off or already there
        (the user's own Retry, or ``[retry]`` from llmswitch.toml): never two layers."""
        if self.max_retries == 0 or self.config.retry is not None:
            return None
        from .middleware.retry import Retry, RetryPolicy

        if any(isinstance(m, Retry) for m in layers):
            return None
        # The default retries stay within the call's total timeout, so
        # Client(timeout={"total": 3}) ends after about 3 s, retries included.
        return Retry(RetryPolicy(attempts=self.max_retries + 1), within_timeout=True)

    def pipeline(self, middleware: Any) -> Pipeline | None:
        """User middleware plus, when the config has model groups and the user brought
        no router, a Router placed just outside the first per-attempt layer (docs/architecture.md:
        router, then per attempt key pick -> breaker -> retry); ``None`` when there is
        nothing to wrap. With resilience settings in the config (``[retry]``, ``[breaker]``,
        ``[[limits]]``, ``[[quotas]]``, key pools, deployment ``rpm``/``tpm``) the whole
        default stack is built from them instead (see :mod:`llmswitch.middleware._stack`)."""
        middleware = check_middleware(middleware)
        if self.config.resilient:
            from .middleware._stack import build_stack

            layers = build_stack(self.config, self.provider, middleware)
        else:
            layers = list(middleware)
            if self.config.models:
                from .middleware.router import Router  # only clients with model groups need it

                if not any(isinstance(m, Router) for m in layers):
                    at = next((i for i, m in enumerate(layers) if m.per_attempt), len(layers))
                    layers.insert(at, Router(self.config.models, self.provider))
        retry = self._default_retry(layers)
        if retry is not None:
            if not layers:  # the fast path: no pipeline, the client resumes with it on failure
                self.retry = retry
                return None
            layers.append(retry)  # innermost: the last per-attempt layer (docs/architecture.md)
        return Pipeline(layers) if layers else None

    def context(self, pid: str, timeout: Any) -> CallContext:
        """Per-call settings: the call's timeout over the provider's over the client's."""
        if timeout is None:  # the common case: one shared context per provider
            ctx = self._contexts.get(pid)
            if ctx is None:
                ctx = self._contexts[pid] = self._context(pid, None)
            return ctx
        return self._context(pid, timeout)

    def _context(self, pid: str, timeout: Any) -> CallContext:
        pc = self.config.providers.get(pid)
        base = pc.timeout if pc is not None and pc.timeout is not None else self.timeout
        return CallContext(timeout=to_timeout(timeout, base), transport=self.transport)

    def request(
        self,
        model: Any,
        messages: Any,
        *,
        system: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
        temperature: Any = None,
        max_tokens: Any = None,
        top_p: Any = None,
        stop: Any = None,
        response_format: Any = None,
        reasoning: Any = None,
        user: Any = None,
        metadata: Any = None,
        timeout: Any = None,
        extra_body: Any = None,
        extra_headers: Any = None,
        **unknown: Any,
    ) -> tuple[Provider, ChatRequest, CallContext]:
        if unknown:
            raise _unknown_option(unknown)
        provider, name = self.resolve(model)
        tool_list = to_tools(tools) if tools is not None else ()
        if system is not None and not isinstance(system, str):
            raise ConfigurationError("system must be a string", field="system")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ConfigurationError("max_tokens must be a positive integer", field="max_tokens")
        if user is not None and not isinstance(user, str):
            raise ConfigurationError("user must be a string", field="user")
        if metadata is not None or extra_body is not None or extra_headers is not None:
            for field_name, value in (
                ("metadata", metadata), ("extra_body", extra_body), ("extra_headers", extra_headers)
            ):  # fmt: skip
                if value is not None and not isinstance(value, Mapping):
                    raise ConfigurationError(f"{field_name} must be a dict", field=field_name)
        request = ChatRequest(
            provider=provider.id,
            model=name,
            messages=to_messages(messages),
            system=system,
            tools=tool_list,
            tool_choice=to_tool_choice(tool_choice, tool_list) if tool_choice is not None else None,
            temperature=_number(temperature, "temperature", 0, 2)
            if temperature is not None
            else None,
            max_tokens=max_tokens,
            top_p=_number(top_p, "top_p", 0, 1) if top_p is not None else None,
            stop=_stop(stop) if stop is not None else (),
            response_format=to_response_format(response_format)
            if response_format is not None
            else None,
            reasoning=to_reasoning(reasoning) if reasoning is not None else None,
            user=user,
            metadata=metadata,
            extra_body=extra_body,
            extra_headers=extra_headers,
        )
        return provider, request, self.context(provider.id, timeout)

    def embed_request(
        self,
        model: Any,
        input: Any,
        *,
        dimensions: Any = None,
        input_type: Any = None,
        user: Any = None,
        timeout: Any = None,
        extra_body: Any = None,
        extra_headers: Any = None,
        **unknown: Any,
    ) -> tuple[Any, EmbedRequest, CallContext]:
        if unknown:
            raise _unknown_option(unknown, _EMBED_OPTIONS)
        provider, name = self.resolve(model)
        inputs = (input,) if isinstance(input, str) else input
        if not isinstance(inputs, list | tuple) or not inputs:
            raise ConfigurationError("input must be a string or a non-empty list", field="input")
        for i, text in enumerate(inputs):
            if not isinstance(text, str) or not text:
                raise ConfigurationError("must be a non-empty string", field=f"input[{i}]")
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise ConfigurationError("dimensions must be a positive integer", field="dimensions")
        for field_name, value in (("input_type", input_type), ("user", user)):
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"{field_name} must be a string", field=field_name)
        embedder = getattr(provider, "embed", None)
        if embedder is None:
            raise ConfigurationError(
                f"provider {provider.id!r} has no embeddings", field="model", provider=provider.id
            )
        request = EmbedRequest(
            provider=provider.id,
            model=name,
            inputs=tuple(inputs),
            dimensions=dimensions,
            input_type=input_type,
            user=user,
            extra_body=extra_body,
            extra_headers=extra_headers,
        )
        return provider, request, self.context(provider.id, timeout)


def _counter(provider: Provider, method: str, request: ChatRequest) -> Any:
    counter = getattr(provider, method, None)
    if counter is None:
        raise ConfigurationError(
            f"provider {provider.id!r} cannot count tokens",
            field="model",
            provider=provider.id,
            model=request.model,
        )
    return counter


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

    def __init__(
        self,
        *,
        config: str | os.PathLike[str] | Config | None = None,
        providers: Iterable[Provider | ProviderConfig] = (),
        timeout: Any = None,
        env: Mapping[str, str] | None = None,
        middleware: Sequence[Middleware] = (),
        max_retries: int | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise unknown_argument(type(self), unknown)
        self._transport = self._new_transport()
        self._core = _Core(config, providers, timeout, env, self._transport, max_retries)
        self._pipeline = self._core.pipeline(middleware)
        self._retry = self._core.retry

    @staticmethod
    def _new_transport() -> Any:
        raise NotImplementedError


class Client(_Client):
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
    Misused arguments raise :class:`ConfigurationError` here, not at the first call.
    """

    @staticmethod
    def _new_transport() -> Any:
        from .transport import SyncTransport  # urllib3 is imported on first use

        return SyncTransport()

    def chat(self, model: str, messages: Any, **options: Any) -> ChatResponse:
        """One complete answer. Options: see the README (system, tools, tool_choice, ...)."""
        provider, request, ctx = self._core.request(model, messages, **options)
        if self._pipeline is not None:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            return self._pipeline.chat(call)
        retry = self._retry
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

    def stream(self, model: str, messages: Any, **options: Any) -> ChatStream:
        provider, request, ctx = self._core.request(model, messages, **options)
        acc = Accumulator(provider.id, request.model)
        if self._pipeline is not None:
            call = Call(
                request=request, provider=provider, ctx=ctx, model=model,
                state={ACCUMULATOR_KEY: acc},
            )  # fmt: skip
            return ChatStream(self._pipeline.stream(call), acc)
        retry = self._retry
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
        provider, request, ctx = self._core.embed_request(model, input, **options)
        return provider.embed(request, ctx)  # type: ignore[no-any-return]

    def count_tokens(self, model: str, messages: Any, **options: Any) -> int:
        """Input tokens the provider counts for this request (messages, system, tools);
        takes the options of :meth:`chat`. Providers without a counting endpoint raise
        ConfigurationError."""
        provider, request, ctx = self._core.request(model, messages, **options)
        counter = _counter(provider, "count_tokens", request)
        return counter(request, ctx)  # type: ignore[no-any-return]

    def list_models(self, provider: str, *, timeout: Any = None) -> list[ModelInfo]:
        """Models the provider offers right now (live listing)."""
        return self._core.provider(provider).list_models(self._core.context(provider, timeout))

    def health(self, provider: str, *, timeout: Any = None) -> HealthStatus:
        """Probe the provider live: reachable, credentials accepted, round-trip time."""
        p = self._core.provider(provider)
        probe = getattr(p, "health", None)
        if probe is None:
            return HealthStatus(provider=provider, ok=True, latency_ms=0.0)
        return probe(self._core.context(provider, timeout))  # type: ignore[no-any-return]

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

    def status(self) -> dict[str, Any]:
        """Live state of this client's middleware: breakers, key pools, and any layer
        with a ``status()`` (see :func:`llmswitch.observability.collect_status`)."""
        from .observability.status import collect_status

        return collect_status(self._pipeline.middleware if self._pipeline is not None else ())

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Event]:
        # One generator step per event (an async __anext__ adds a coroutine per event).
        if self._events is None:
            self._events = self._iterate()
        return self._events  # type: ignore[no-any-return]

    def __anext__(self) -> Any:  # an awaitable of the next event
        return self.__aiter__().__anext__()

    async def _iterate(self) -> AsyncIterator[Event]:
        await self._start()
        add = self._acc.add
        pending, self._pending = self._pending, []
        for event in pending:
            add(event)
            yield event
        try:
            if self._batched:
                async for events in self._source:
                    for event in events:
                        add(event)
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


class AsyncClient(_Client):
    """Asynchronous client; same arguments and methods as :class:`Client`, awaited.
    Use it as ``async with AsyncClient() as client`` or call ``await client.aclose()``."""

    @staticmethod
    def _new_transport() -> Any:
        from .transport import AsyncTransport  # aiohttp is imported on first use

        return AsyncTransport()

    async def chat(self, model: str, messages: Any, **options: Any) -> ChatResponse:
        provider, request, ctx = self._core.request(model, messages, **options)
        if self._pipeline is not None:
            call = Call(request=request, provider=provider, ctx=ctx, model=model)
            return await self._pipeline.achat(call)
        retry = self._retry
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

    def stream(self, model: str, messages: Any, **options: Any) -> AsyncChatStream:
        provider, request, ctx = self._core.request(model, messages, **options)
        acc = Accumulator(provider.id, request.model)
        if self._pipeline is not None:
            call = Call(
                request=request, provider=provider, ctx=ctx, model=model,
                state={ACCUMULATOR_KEY: acc},
            )  # fmt: skip
            return AsyncChatStream(self._pipeline.astream(call), acc)
        retry = self._retry
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
        provider, request, ctx = self._core.embed_request(model, input, **options)
        return await provider.aembed(request, ctx)  # type: ignore[no-any-return]

    async def count_tokens(self, model: str, messages: Any, **options: Any) -> int:
        provider, request, ctx = self._core.request(model, messages, **options)
        counter = _counter(provider, "acount_tokens", request)
        return await counter(request, ctx)  # type: ignore[no-any-return]

    async def list_models(self, provider: str, *, timeout: Any = None) -> list[ModelInfo]:
        return await self._core.provider(provider).alist_models(
            self._core.context(provider, timeout)
        )

    async def health(self, provider: str, *, timeout: Any = None) -> HealthStatus:
        p = self._core.provider(provider)
        probe = getattr(p, "ahealth", None)
        if probe is None:
            return HealthStatus(provider=provider, ok=True, latency_ms=0.0)
        return await probe(self._core.context(provider, timeout))  # type: ignore[no-any-return]

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

    async def status(self) -> dict[str, Any]:
        """Live state of this client's middleware (see :meth:`Client.status`)."""
        from .observability.status import acollect_status

        layers = self._pipeline.middleware if self._pipeline is not None else ()
        return await acollect_status(layers)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
