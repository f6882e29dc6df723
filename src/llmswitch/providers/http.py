"""A provider reached over HTTP: a sans-I/O adapter, an endpoint, and the client's transport.

Both the async and sync paths live here and differ only in how they wait: a call is
a plan (see :mod:`._plan`) run by a blocking or an async driver, and a stream is one
parser fed by a sync or an async read loop under the deadline rule of
:class:`~.runtime.Deadlines`. Every byte of request building and parsing is the
adapter's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from dataclasses import replace

from ..errors import ConfigurationError, LLMError, LLMTimeoutError, ProviderError, redact
from ..events import Event
from ..fim import CodeRequest
from ..messages import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    EmbedRequest,
    HealthStatus,
    ModelInfo,
    Usage,
)
from ..wire import HttpRequest, HttpResponse, Timeout
from ._hints import public_url
from ._paging import Listing
from ._plan import Fanout, Plan, Send, arun, run
from ._stream_reader import StreamReader, with_usage
from .base import AdapterBase, Endpoint, FimRoute, StreamParser
from .runtime import CallContext, Deadlines

__all__ = ["HttpProvider"]


class HttpProvider:
    """``id`` is the name before the slash in ``"id/model"``."""

    __slots__ = ("_build", "_parse", "_prepare", "adapter", "endpoint", "id")

    def __init__(self, id: str, adapter: AdapterBase, endpoint: Endpoint) -> None:
        self.id = id
        self.adapter = adapter
        self.endpoint = endpoint
        # What achat calls, bound once: the wire's own functions (no adapter method in
        # between), and no prepare step when the endpoint has none.
        self._build, self._parse = adapter.chat_functions()
        self._prepare = None if type(endpoint).prepare is Endpoint.prepare else endpoint.prepare

    def __repr__(self) -> str:
        return f"HttpProvider({self.id!r}, {self.endpoint.base_url!r})"

    # ------------------------------------------------------------------ helpers

    def _fail(
        self,
        exc: LLMError,
        request: ChatRequest | None,
        model: str | None = None,
        *,
        url: str | None = None,
    ) -> LLMError:
        """Fill in which provider/model an error came from, say which base-URL setting
        is likely wrong (``url``: the request's), and scrub our key from it."""
        if exc.provider is None:
            exc.provider = self.id
        if exc.model is None:
            exc.model = request.model if request is not None else model
        if url is not None and isinstance(exc, ProviderError):
            self._hint(exc, url)
        secrets = self.endpoint.secrets()
        if secrets:
            # Providers quote a rejected key back in their message; scrub ours exactly.
            exc.message = redact(exc.message, secrets)
            exc.args = (exc.message,)
            if isinstance(exc, ProviderError) and exc.body:
                exc.body = redact(exc.body, secrets)
        return exc

    def _hint(self, exc: ProviderError, url: str) -> None:
        """A 404, or an answer that is not the provider's, from a base URL with a known
        mistake in it (``.../v1`` for Anthropic, no ``/v1`` for OpenAI...): the message
        names the setting to fix. Real errors from the right URL keep their message."""
        status = exc.status_code
        # Only bytes that did not parse: an error event the server sent is its own word.
        foreign = (
            type(exc) is ProviderError
            and (status is None or 200 <= status < 300)
            and (exc.code == "malformed_response" or exc.message.startswith("malformed"))
        )
        if not (status == 404 or foreign):
            return
        body = exc.body.encode() if exc.body else b""
        hint = self.adapter.base_url_hint(self.endpoint, status, body)
        if hint is None:
            return
        where = public_url(url)
        exc.message = f"404 from {where}: {hint}" if status == 404 else f"{exc.message}; {hint}"
        exc.args = (exc.message,)

    def _wire(self, request: ChatRequest) -> AdapterBase | FimRoute:
        """What builds and parses ``request``: the adapter, or for a code completion
        the adapter's native fill-in-the-middle route when it has one (without one, a
        :class:`CodeRequest` is the chat fallback's messages, sent as any chat)."""
        if isinstance(request, CodeRequest):
            route = self.adapter.fim_route(self.endpoint, request.model)
            if route is not None:
                return route
        return self.adapter

    def _check(self, request: ChatRequest | None, response: HttpResponse) -> None:
        if response.status >= 300:
            raise self.adapter.map_error(request, response)

    def _unsupported(self, what: str, model: str) -> ConfigurationError:
        return ConfigurationError(
            f"provider {self.id!r} has no {what} endpoint",
            field="model",
            provider=self.id,
            model=model,
        )

    # ------------------------------------------------------------------ calls, sync and async

    async def achat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        # The :meth:`_chat` plan, step for step, without its driver: a chat is the
        # hottest call and its plan has a single Send (the driver, its generator and
        # the Send cost about 1.5 us a call). tests/test_http_chat_paths.py holds the
        # two to the same results and errors.
        if request.__class__ is not ChatRequest:  # a code completion: its own route
            return await arun(self._chat(request, ctx.timeout), ctx.transport)
        http = self._build(request, self.endpoint, stream=False)
        prepare = self._prepare
        try:
            response = await ctx.transport.send(
                http if prepare is None else prepare(http), ctx.timeout
            )
            if response.status >= 300:
                raise self.adapter.map_error(request, response)
            return self._parse(request, response)
        except LLMError as exc:
            raise self._fail(exc, request, url=http.url) from None

    def chat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return run(self._chat(request, ctx.timeout), ctx.transport)

    async def alist_models(self, ctx: CallContext) -> list[ModelInfo]:
        return await arun(self._list_models(ctx.timeout), ctx.transport)

    def list_models(self, ctx: CallContext) -> list[ModelInfo]:
        """Every page; each page request gets what is left of the total timeout."""
        return run(self._list_models(ctx.timeout), ctx.transport)

    async def aembed(self, request: EmbedRequest, ctx: CallContext) -> EmbeddingResponse:
        return await arun(self._embed(request, ctx.timeout), ctx.transport)

    def embed(self, request: EmbedRequest, ctx: CallContext) -> EmbeddingResponse:
        return run(self._embed(request, ctx.timeout), ctx.transport)

    async def ahealth(self, ctx: CallContext) -> HealthStatus:
        return await arun(self._health(ctx.timeout), ctx.transport)

    def health(self, ctx: CallContext) -> HealthStatus:
        return run(self._health(ctx.timeout), ctx.transport)

    async def acount_tokens(self, request: ChatRequest, ctx: CallContext) -> int:
        """Input tokens ``request`` would use, counted by the provider."""
        return await arun(self._count_tokens(request, ctx.timeout), ctx.transport)

    def count_tokens(self, request: ChatRequest, ctx: CallContext) -> int:
        return run(self._count_tokens(request, ctx.timeout), ctx.transport)

    # ------------------------------------------------------------------ plans

    def _chat(self, request: ChatRequest, timeout: Timeout) -> Plan[ChatResponse]:
        wire = self._wire(request)
        http = wire.build_request(request, self.endpoint, stream=False)
        try:
            response = yield Send(self.endpoint.prepare(http), timeout)
            self._check(request, response)
            return wire.parse_response(request, response)
        except LLMError as exc:
            raise self._fail(exc, request, url=http.url) from None

    def _list_models(self, timeout: Timeout) -> Plan[list[ModelInfo]]:
        """Every page, within one total timeout (see :class:`Listing`)."""
        adapter, endpoint = self.adapter, self.endpoint
        listing = Listing(timeout)
        cursor: str | None = None
        url: str | None = None
        try:
            while True:
                http = adapter.models_request(endpoint, cursor)
                url = http.url
                response = yield Send(endpoint.prepare(http), listing.page_timeout())
                self._check(None, response)
                # Given the cursor it was asked with: an Ollama show answer names no model.
                models, next_cursor = adapter.parse_models_page(endpoint, response, cursor)
                if listing.add(models, next_cursor, response):
                    return listing.models
                cursor = next_cursor
        except LLMError as exc:
            if isinstance(exc, LLMTimeoutError) and listing.past_deadline():
                exc = listing.expired()
            raise self._fail(exc, None, url=url) from None

    def _embed(self, request: EmbedRequest, timeout: Timeout) -> Plan[EmbeddingResponse]:
        # One adapter can serve model families with different limits (Bedrock: Titan
        # takes one input per request, Cohere 96): it answers per model.
        size = self.adapter.embed_batch_size_for(request.model)
        if size < 1:
            raise self._unsupported("embeddings", request.model)
        inputs = request.inputs
        cuts = range(0, len(inputs), size)
        batches = [replace(request, inputs=inputs[i : i + size]) for i in cuts]
        try:
            # A few batches in flight on the async path: providers rate-limit bursts.
            parts = yield Fanout([self._embed_batch(b, timeout) for b in batches], limit=4)
        except LLMError as exc:
            raise self._fail(exc, None, request.model) from None
        return _merge_embeddings(request, parts)

    def _embed_batch(self, batch: EmbedRequest, timeout: Timeout) -> Plan[EmbeddingResponse]:
        http = self.adapter.build_embed_request(batch, self.endpoint)
        response = yield Send(self.endpoint.prepare(http), timeout)
        self._check(None, response)
        part = self.adapter.parse_embed_response(batch, response)
        if len(part.vectors) != len(batch.inputs):
            # A short answer would silently shift every later vector onto the wrong input.
            raise ProviderError(
                f"sent {len(batch.inputs)} inputs, got {len(part.vectors)} vectors back",
                status_code=response.status,
                body=response.body,
            )
        return part

    def _health(self, timeout: Timeout) -> Plan[HealthStatus]:
        started = time.monotonic()
        own = self.adapter.health_request(self.endpoint)
        probe = own if own is not None else self.adapter.models_request(self.endpoint)
        http = self.endpoint.prepare(probe)
        version: str | None = None
        err: str | None
        try:
            response = yield Send(http, timeout)
        except LLMError as exc:
            latency = time.monotonic() - started
            err = str(self._fail(exc, None))
        else:
            latency = time.monotonic() - started
            err, version = self._probe_answer(http, response, own is not None)
        if err is not None:  # a status line: provider messages and HTML bodies span lines
            err = " ".join(err.split())
        return HealthStatus(
            provider=self.id,
            ok=err is None,
            latency_ms=round(latency * 1000, 2),
            version=version if err is None else None,
            error=err,
        )

    def _probe_answer(
        self, http: HttpRequest, response: HttpResponse, own: bool
    ) -> tuple[str | None, str | None]:
        """The error, or the server version, from a probe answer: a 2xx must also be the
        provider's (a web server at a wrong base URL answers 200 too), checked by the
        adapter's own probe check or, for a model-list probe, its models-answer check."""
        adapter = self.adapter
        try:
            self._check(None, response)
            if own:
                adapter.check_health(response)
            else:
                adapter.check_models_answer(self.endpoint, response)
            return None, adapter.parse_health(response)
        except LLMError as exc:
            return str(self._fail(exc, None, url=http.url)), None

    def _count_tokens(self, request: ChatRequest, timeout: Timeout) -> Plan[int]:
        counting = self.adapter.count_tokens_request(request, self.endpoint)
        if counting is None:
            raise self._unsupported("token counting", request.model)
        http = self.endpoint.prepare(counting)
        try:
            response = yield Send(http, timeout)
            self._check(request, response)
            return self.adapter.parse_count_tokens(response)
        except LLMError as exc:
            raise self._fail(exc, request) from None

    # ------------------------------------------------------------------ streams

    def _stream_start(self, request: ChatRequest) -> tuple[HttpRequest, StreamParser]:
        wire = self._wire(request)
        http = wire.build_request(request, self.endpoint, stream=True)
        return http, wire.stream_parser(request)

    def _refused(
        self, request: ChatRequest, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        return self.adapter.map_error(
            request, HttpResponse(status=status, headers=headers, body=body)
        )

    async def astream(self, request: ChatRequest, ctx: CallContext) -> AsyncIterator[Event]:
        batches = self.astream_batches(request, ctx)
        try:
            async for events in batches:
                for event in events:
                    yield event
        finally:
            await batches.aclose()  # an abandoned stream releases its connection now

    def astream_reader(self, request: ChatRequest, ctx: CallContext) -> StreamReader:
        """The stream as a :class:`~._stream_reader.StreamReader`, for a consumer that
        runs the read loop in its own generator (``AsyncChatStream``, when no middleware
        is in between). :meth:`astream_batches` is built on it, so a subclass changes
        how its streams open here (as the Vertex provider does), not there."""
        return StreamReader(self, request, ctx)

    async def astream_batches(
        self, request: ChatRequest, ctx: CallContext
    ) -> AsyncGenerator[list[Event], None]:
        """:meth:`astream` a network read at a time: each item is the non-empty list
        of events one read completed (the client loops over it in its own generator
        instead of paying an async step per event)."""
        reader = self.astream_reader(request, ctx)
        events = await reader.open()  # raises its errors already failed
        try:
            try:
                if events:
                    yield events
                if not reader.ended:
                    feed = reader.feed
                    async for chunk in reader.chunks:  # type: ignore[union-attr]
                        events = feed(chunk)
                        if events:
                            yield events
                    events = reader.finish()
                    if events:
                        yield events
            except BaseException as exc:
                await reader.exit(exc)
                raise
            await reader.exit(None)
        except LLMError as exc:
            raise reader.fail(exc) from None

    def stream(self, request: ChatRequest, ctx: CallContext) -> Iterator[Event]:
        http, parser = self._stream_start(request)
        timeout = ctx.timeout
        # The deadline rule by read timeouts: each blocking read may wait only until
        # the deadline that applies at that point.
        deadlines = Deadlines(timeout)
        try:
            with ctx.transport.stream(self.endpoint.prepare(http), timeout) as resp:
                if resp.status >= 300:
                    raise self._refused(request, resp.status, resp.headers, resp.read())
                chunks = resp.chunks()
                set_read_timeout = resp.set_read_timeout
                while True:
                    left = deadlines.left()
                    if left is not None:
                        set_read_timeout(left)
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        break
                    except LLMTimeoutError:
                        raise deadlines.expired() from None
                    events = parser.feed(chunk)
                    if events:
                        deadlines.started = True
                        yield from events
                yield from parser.close()
        except LLMError as exc:
            raise with_usage(self._fail(exc, request, url=http.url), parser) from None


def _merge_embeddings(request: EmbedRequest, parts: list[EmbeddingResponse]) -> EmbeddingResponse:
    if len(parts) == 1:
        return parts[0]
    vectors = [v for p in parts for v in p.vectors]
    counts = [p.usage.input_tokens for p in parts]
    tokens = sum(c for c in counts if c is not None) if None not in counts else None
    return EmbeddingResponse(
        vectors=vectors,
        usage=Usage(input_tokens=tokens, output_tokens=0 if tokens is not None else None,
                    total_tokens=tokens),
        model=parts[0].model,
        provider=request.provider,
        raw=[p.raw for p in parts],
    )  # fmt: skip
