"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (SSE when ``stream``),
``POST /v1/embeddings``, ``GET /v1/models`` and ``POST /v1/completions`` (legacy
completions; with ``suffix`` a fill-in-the-middle code completion).

A stream's first event is awaited before the response starts, so a failure before it
is an HTTP error in OpenAI's shape, not a 200; after it, a failure is OpenAI's
``data: {"error": ...}`` event. A client that goes away closes the library stream
(``aclose`` of the chunk generator), which cancels the upstream call.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import unquote

from ...errors import TransportError
from ...events import Event, StreamEnd, StreamStart, TextDelta
from .._errors import HttpError, classify
from .._http import Request, Response, StreamResponse, first_then, json_response
from .._routes import Route
from ._chat_in import parse_chat
from ._chat_out import ChunkWriter, chat_id, completion_id, completion_json
from ._errors import OPENAI_ERRORS
from ._other import (
    TextChunks,
    embeddings_json,
    parse_completion,
    parse_embeddings,
)
from ._other import completion_json as text_completion_json
from ._target import Targets

__all__ = ["ROUTES"]

_TARGETS = Targets()


def _error_event(exc: BaseException) -> bytes:
    return OPENAI_ERRORS.event(classify(exc))


async def _events(stream: Any) -> AsyncGenerator[Event, None]:
    """The library stream's events, inside its ``async with`` (closing this generator
    closes the stream and so the upstream call)."""
    async with stream as opened:
        async for event in opened:
            yield event


def _truncated(model: str) -> TransportError:
    provider = model.partition("/")[0] if "/" in model else None
    return TransportError("the upstream stream ended before its end marker", provider=provider)


def _failed(event: Event | None) -> bool:
    """A stream that ended without its end marker (the library's ``finish_reason="error"``)."""
    return event is None or (isinstance(event, StreamEnd) and event.finish_reason == "error")


async def _first_content(events: AsyncGenerator[Event, None]) -> tuple[Event | None, str | None]:
    """The first event after ``StreamStart`` (and the response id the start carried): an
    upstream that opens its stream and then fails is still an HTTP error, which the SDKs
    retry, rather than a 200 with an error event."""
    first, _ = await first_then(events)
    start_id = None
    while isinstance(first, StreamStart):
        start_id = first.id or start_id
        first = await anext(events, None)
    return first, start_id


async def chat_completions(request: Request) -> Response | StreamResponse:
    """``POST /v1/chat/completions``."""
    client = request.gateway.client
    call = parse_chat(await request.json(), lambda model: _TARGETS.of(client, model))
    request.require_model(call.model)
    request.bind_user(call.options)
    created = int(time.time())
    if not call.stream:
        resp = await client.chat(call.model, **call.options)
        return json_response(completion_json(resp, call.model, created))
    events = _events(client.stream(call.model, **call.options))
    first, start_id = await _first_content(events)
    if _failed(first):
        await events.aclose()
        raise _truncated(call.model)
    assert first is not None
    writer = ChunkWriter(chat_id(start_id), call.model, created,
                         include_usage=call.include_usage,
                         hold_tool_calls=call.target.signatures)  # fmt: skip

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield writer.first() + writer.feed(first)
            async for event in events:
                if _failed(event):
                    raise _truncated(call.model)
                data = writer.feed(event)
                if data:
                    yield data
        finally:
            await events.aclose()

    return StreamResponse(chunks(), on_error=_error_event)


async def embeddings(request: Request) -> Response:
    """``POST /v1/embeddings``."""
    client = request.gateway.client
    call = parse_embeddings(await request.json())
    request.require_model(call.model)
    request.bind_user(call.options)
    resp = await client.embed(call.model, call.inputs, **call.options)
    return json_response(embeddings_json(resp, call.model, as_base64=call.base64))


def _visible(request: Request) -> list[dict[str, Any]]:
    principal = request.principal
    return [
        {"id": name, "object": "model", "created": 0, "owned_by": owner}
        for name, owner in _TARGETS.models(request.gateway.client)
        if principal is None or principal.allows(name)
    ]


async def models(request: Request) -> Response:
    """``GET /v1/models``: the model names the caller's key may use."""
    return json_response({"object": "list", "data": _visible(request)})


async def model(request: Request) -> Response:
    """``GET /v1/models/{id}`` (the id may hold slashes: ``openai/gpt-4o``)."""
    wanted = unquote(request.path[len("/v1/models/") :])
    for entry in _visible(request):
        if entry["id"] == wanted:
            return json_response(entry)
    raise HttpError(404, f"the model {wanted!r} does not exist or this key may not use it",
                    code="model_not_found", param="model")  # fmt: skip


async def completions(request: Request) -> Response | StreamResponse:
    """``POST /v1/completions``: ``prompt`` (+ ``suffix``) as a code completion."""
    client = request.gateway.client
    call = parse_completion(await request.json())
    request.require_model(call.model)
    request.bind_user(call.options)
    created = int(time.time())
    cid = completion_id("cmpl-")
    if not call.stream:
        done = await client.complete_code(call.model, call.prefix, call.suffix, **call.options)
        return json_response(text_completion_json(done, cid, call.model, created))
    stream = client.stream_code(call.model, call.prefix, call.suffix, **call.options)
    events = _events(stream)
    first, _ = await _first_content(events)
    if _failed(first):
        await events.aclose()
        raise _truncated(call.model)
    out = TextChunks(cid, call.model, created, include_usage=call.include_usage)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            event: Event | None = first
            while event is not None:
                if _failed(event):
                    raise _truncated(call.model)
                if isinstance(event, TextDelta) and event.text:
                    yield out.text(event.text)
                event = await anext(events, None)
            yield out.end(stream.response)
        finally:
            await events.aclose()

    return StreamResponse(chunks(), on_error=_error_event)


ROUTES: list[Route] = [
    Route("POST", "/v1/chat/completions", chat_completions, errors=OPENAI_ERRORS),
    Route("POST", "/v1/embeddings", embeddings, errors=OPENAI_ERRORS),
    Route("GET", "/v1/models", models, errors=OPENAI_ERRORS),
    Route("GET", "/v1/models/*", model, errors=OPENAI_ERRORS),
    Route("POST", "/v1/completions", completions, errors=OPENAI_ERRORS),
]
