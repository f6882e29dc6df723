"""A provider reached over HTTP: a sans-I/O adapter, an endpoint, and the client's transport.

Both the async and sync paths live here and differ only in how they wait; every
byte of request building and parsing is the adapter's, shared by both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

from ..errors import ConfigurationError, LLMError, LLMTimeoutError, ProviderError, redact
from ..events import Event
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
from .base import Adapter, EmbeddingAdapter, Endpoint
from .runtime import CallContext

__all__ = ["HttpProvider"]


class HttpProvider:
    """``id`` is the name before the slash in ``"id/model"``."""

    __slots__ = ("adapter", "endpoint", "id")

    def __init__(self, id: str, adapter: Adapter, endpoint: Endpoint) -> None:
        self.id = id
        self.adapter = adapter
        self.endpoint = endpoint

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
        rule = getattr(self.adapter, "base_url_hint", None)
        if rule is None or not (status == 404 or foreign):
            return
        body = exc.body.encode() if exc.body else b""
        hint = rule(self.endpoint, status, body)
        if hint is None:
            return
        where = public_url(url)
        exc.message = f"404 from {where}: {hint}" if status == 404 else f"{exc.message}; {hint}"
        exc.args = (exc.message,)

    def _check(self, request: ChatRequest | None, response: HttpResponse) -> None:
        if response.status >= 300:
            raise self.adapter.map_error(request, response)

    def _models_page(
        self, response: HttpResponse, cursor: str | None
    ) -> tuple[list[ModelInfo], str | None]:
        # An adapter whose pages do not say what was asked (Ollama's /api/show answer
        # names no model) also gets the cursor its page was requested with.
        page = getattr(self.adapter, "parse_models_page", None)
        if page is not None:
            return page(self.endpoint, response, cursor)  # type: ignore[no-any-return]
        return self.adapter.parse_models(self.endpoint, response)

    # ------------------------------------------------------------------ async

    async def achat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        http = self.adapter.build_request(request, self.endpoint, stream=False)
        try:
            response = await ctx.transport.send(self.endpoint.prepare(http), ctx.timeout)
            self._check(request, response)
            return self.adapter.parse_response(request, response)
        except LLMError as exc:
            raise self._fail(exc, request, url=http.url) from None

    async def astream(self, request: ChatRequest, ctx: CallContext) -> AsyncIterator[Event]:
        adapter = self.adapter
        http = adapter.build_request(request, self.endpoint, stream=True)
        parser = adapter.stream_parser(request)
        timeout = ctx.timeout
        budget = timeout.first_token
        try:
            async with AsyncExitStack() as stack:
                # The first-token timer covers sending the request and reading until
                # the first event exists. It is never held across a yield: the
                # caller's time between events is its own.
                timer = asyncio.timeout(budget)
                events: list[Event] = []
                ended = False
                try:
                    async with timer:
                        resp = await stack.enter_async_context(
                            ctx.transport.stream(self.endpoint.prepare(http), timeout)
                        )
                        if resp.status >= 300:
                            body = await resp.read()
                            raise adapter.map_error(
                                request,
                                HttpResponse(status=resp.status, headers=resp.headers, body=body),
                            )
                        chunks = resp.chunks().__aiter__()
                        while not events:
                            try:
                                chunk = await chunks.__anext__()
                            except StopAsyncIteration:
                                events, ended = parser.close(), True
                                break
                            events = parser.feed(chunk)
                except TimeoutError:
                    if not timer.expired():
                        raise  # aiohttp's own (total) timeout, reported by the transport
                    raise LLMTimeoutError(
                        f"no first token within {budget}s", phase="first_token", timeout=budget
                    ) from None
                for event in events:
                    yield event
                if ended:
                    return
                async for chunk in chunks:
                    for event in parser.feed(chunk):
                        yield event
                for event in parser.close():
                    yield event
        except LLMError as exc:
            raise self._fail(exc, request, url=http.url) from None

    async def alist_models(self, ctx: CallContext) -> list[ModelInfo]:
        """Every page, under one timer for the total timeout (see :class:`Listing`)."""
        listing = Listing(ctx.timeout)
        cursor: str | None = None
        url: str | None = None
        timer = asyncio.timeout_at(_loop_deadline(listing.deadline))
        try:
            async with timer:
                while True:
                    http = self.adapter.models_request(self.endpoint, cursor)
                    url = http.url
                    response = await ctx.transport.send(self.endpoint.prepare(http), ctx.timeout)
                    self._check(None, response)
                    models, next_cursor = self._models_page(response, cursor)
                    if listing.add(models, next_cursor, response):
                        return listing.models
                    cursor = next_cursor
        except TimeoutError:
            if not timer.expired():
                raise
            raise self._fail(listing.expired(), None) from None
        except LLMError as exc:
            if isinstance(exc, LLMTimeoutError) and listing.past_deadline():
                exc = listing.expired()
            raise self._fail(exc, None, url=url) from None

    # ------------------------------------------------------------------ sync

    def chat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        http = self.adapter.build_request(request, self.endpoint, stream=False)
        try:
            response = ctx.transport.send(self.endpoint.prepare(http), ctx.timeout)
            self._check(request, response)
            return self.adapter.parse_response(request, response)
        except LLMError as exc:
            raise self._fail(exc, request, url=http.url) from None

    def stream(self, request: ChatRequest, ctx: CallContext) -> Iterator[Event]:
        adapter = self.adapter
        http = adapter.build_request(request, self.endpoint, stream=True)
        parser = adapter.stream_parser(request)
        timeout = ctx.timeout
        start = time.monotonic()
        total_deadline = start + timeout.total if timeout.total is not None else None
        first_deadline = start + timeout.first_token if timeout.first_token is not None else None
        try:
            with ctx.transport.stream(self.endpoint.prepare(http), timeout) as resp:
                if resp.status >= 300:
                    raise adapter.map_error(
                        request,
                        HttpResponse(status=resp.status, headers=resp.headers, body=resp.read()),
                    )
                chunks = resp.chunks()
                got_first = False
                while True:
                    deadline = (
                        total_deadline if got_first else _earliest(first_deadline, total_deadline)
                    )
                    if deadline is not None:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise _sync_timeout(got_first, first_deadline, total_deadline, timeout)
                        resp.set_read_timeout(remaining)
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        break
                    except LLMTimeoutError:
                        raise _sync_timeout(
                            got_first, first_deadline, total_deadline, timeout
                        ) from None
                    events = parser.feed(chunk)
                    if events:
                        got_first = True
                        yield from events
                yield from parser.close()
        except LLMError as exc:
            raise self._fail(exc, request, url=http.url) from None

    def list_models(self, ctx: CallContext) -> list[ModelInfo]:
        """Every page; each page request gets what is left of the total timeout."""
        listing = Listing(ctx.timeout)
        cursor: str | None = None
        url: str | None = None
        try:
            while True:
                http = self.adapter.models_request(self.endpoint, cursor)
                url = http.url
                timeout = listing.page_timeout()
                response = ctx.transport.send(self.endpoint.prepare(http), timeout)
                self._check(None, response)
                models, next_cursor = self._models_page(response, cursor)
                if listing.add(models, next_cursor, response):
                    return listing.models
                cursor = next_cursor
        except LLMError as exc:
            if isinstance(exc, LLMTimeoutError) and listing.past_deadline():
                exc = listing.expired()
            raise self._fail(exc, None, url=url) from None

    # ------------------------------------------------------------------ embeddings

    def _embedder(self, request: EmbedRequest) -> EmbeddingAdapter:
        adapter = self.adapter
        if not hasattr(adapter, "build_embed_request"):
            raise ConfigurationError(
                f"provider {self.id!r} has no embeddings endpoint",
                field="model",
                provider=self.id,
                model=request.model,
            )
        return adapter  # type: ignore[return-value]

    def _embed_batches(self, request: EmbedRequest) -> list[EmbedRequest]:
        adapter = self._embedder(request)
        # One adapter can serve model families with different limits (Bedrock: Titan
        # takes one input per request, Cohere 96): it may answer per model.
        size_for = getattr(adapter, "embed_batch_size_for", None)
        size = max(1, size_for(request.model) if size_for else adapter.embed_batch_size)
        inputs = request.inputs
        return [replace(request, inputs=inputs[i : i + size]) for i in range(0, len(inputs), size)]

    def _embed_part(self, batch: EmbedRequest, response: HttpResponse) -> EmbeddingResponse:
        self._check(None, response)
        part = self._embedder(batch).parse_embed_response(batch, response)
        if len(part.vectors) != len(batch.inputs):
            # A short answer would silently shift every later vector onto the wrong input.
            raise ProviderError(
                f"sent {len(batch.inputs)} inputs, got {len(part.vectors)} vectors back",
                status_code=response.status,
                body=response.body,
            )
        return part

    async def aembed(self, request: EmbedRequest, ctx: CallContext) -> EmbeddingResponse:
        batches = self._embed_batches(request)
        adapter = self._embedder(request)
        limit = asyncio.Semaphore(4)  # a few batches in flight; providers rate-limit bursts

        async def one(batch: EmbedRequest) -> EmbeddingResponse:
            http = adapter.build_embed_request(batch, self.endpoint)
            async with limit:
                response = await ctx.transport.send(self.endpoint.prepare(http), ctx.timeout)
            return self._embed_part(batch, response)

        try:
            parts = await asyncio.gather(*(one(b) for b in batches))
        except LLMError as exc:
            raise self._fail(exc, None, request.model) from None
        return _merge_embeddings(request, list(parts))

    def embed(self, request: EmbedRequest, ctx: CallContext) -> EmbeddingResponse:
        batches = self._embed_batches(request)
        adapter = self._embedder(request)
        parts: list[EmbeddingResponse] = []
        try:
            for batch in batches:
                http = adapter.build_embed_request(batch, self.endpoint)
                response = ctx.transport.send(self.endpoint.prepare(http), ctx.timeout)
                parts.append(self._embed_part(batch, response))
        except LLMError as exc:
            raise self._fail(exc, None, request.model) from None
        return _merge_embeddings(request, parts)

    # ------------------------------------------------------------------ health

    def _health_request(self) -> HttpRequest:
        probe = getattr(self.adapter, "health_request", None)
        http = probe(self.endpoint) if probe else self.adapter.models_request(self.endpoint)
        return self.endpoint.prepare(http)

    def _probe_answer(self, response: HttpResponse) -> str | None:
        """The server version from a 2xx probe answer; raises when the answer is not the
        provider's (a web server at a wrong base URL answers 200 too). An adapter with
        its own probe checks its answer with ``check_health``; one probed with the model
        list, with ``check_models_answer`` (else the page must parse)."""
        adapter = self.adapter
        if hasattr(adapter, "health_request"):
            check = getattr(adapter, "check_health", None)
            if check is not None:
                check(response)
        else:
            check = getattr(adapter, "check_models_answer", None)
            if check is not None:
                check(response)
            else:
                self._models_page(response, None)
        parse = getattr(adapter, "parse_health", None)
        return parse(response) if parse is not None else None  # type: ignore[no-any-return]

    def _health_result(
        self, http: HttpRequest, response: HttpResponse | None, started: float, err: str | None
    ) -> HealthStatus:
        latency = (time.monotonic() - started) * 1000
        version = None
        if err is None and response is not None:
            try:
                if response.status >= 300:
                    raise self.adapter.map_error(None, response)
                version = self._probe_answer(response)
            except LLMError as exc:
                err = str(self._fail(exc, None, url=http.url))
        if err is not None:  # a status line: provider messages and HTML bodies span lines
            err = " ".join(err.split())
        return HealthStatus(
            provider=self.id,
            ok=err is None,
            latency_ms=round(latency, 2),
            version=version if err is None else None,
            error=err,
        )

    async def ahealth(self, ctx: CallContext) -> HealthStatus:
        started = time.monotonic()
        http = self._health_request()
        try:
            response = await ctx.transport.send(http, ctx.timeout)
        except LLMError as exc:
            return self._health_result(http, None, started, str(self._fail(exc, None)))
        return self._health_result(http, response, started, None)

    def health(self, ctx: CallContext) -> HealthStatus:
        started = time.monotonic()
        http = self._health_request()
        try:
            response = ctx.transport.send(http, ctx.timeout)
        except LLMError as exc:
            return self._health_result(http, None, started, str(self._fail(exc, None)))
        return self._health_result(http, response, started, None)

    # ------------------------------------------------------------------ token counting

    def _count_request(self, request: ChatRequest) -> tuple[Any, HttpRequest]:
        counter = getattr(self.adapter, "count_tokens_request", None)
        if counter is None:
            raise ConfigurationError(
                f"provider {self.id!r} has no token counting endpoint",
                field="model",
                provider=self.id,
                model=request.model,
            )
        return self.adapter, self.endpoint.prepare(counter(request, self.endpoint))

    async def acount_tokens(self, request: ChatRequest, ctx: CallContext) -> int:
        """Input tokens ``request`` would use, counted by the provider."""
        adapter, http = self._count_request(request)
        try:
            response = await ctx.transport.send(http, ctx.timeout)
            self._check(request, response)
            return adapter.parse_count_tokens(response)  # type: ignore[no-any-return]
        except LLMError as exc:
            raise self._fail(exc, request) from None

    def count_tokens(self, request: ChatRequest, ctx: CallContext) -> int:
        adapter, http = self._count_request(request)
        try:
            response = ctx.transport.send(http, ctx.timeout)
            self._check(request, response)
            return adapter.parse_count_tokens(response)  # type: ignore[no-any-return]
        except LLMError as exc:
            raise self._fail(exc, request) from None


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


def _loop_deadline(deadline: float | None) -> float | None:
    """A ``time.monotonic()`` deadline on the running loop's clock."""
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _sync_timeout(
    got_first: bool, first: float | None, total: float | None, timeout: Timeout
) -> LLMTimeoutError:
    """Which limit a blocking read ran into: the first-token one while no event has
    arrived and it is the earlier deadline, else the total one."""
    if not got_first and first is not None and (total is None or first <= total):
        return LLMTimeoutError(
            f"no first token within {timeout.first_token}s",
            phase="first_token",
            timeout=timeout.first_token,
        )
    return LLMTimeoutError(
        f"total timeout after {timeout.total}s", phase="total", timeout=timeout.total
    )
