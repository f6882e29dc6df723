"""``POST /v1/messages`` (JSON or SSE) and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...events import Event
from .._errors import classify
from .._http import Request
from .._response import Response, json_response
from .._routes import Route
from .._stream import StreamResponse, first_then
from ._errors import ANTHROPIC_ERRORS
from ._messages_in import model_of, parse_count_tokens, parse_messages
from ._messages_out import PING, message_json, sse_events
from ._target import target_of

__all__ = ["ROUTES", "count_tokens", "messages"]

# Providers that sign tool calls (Gemini's thought signatures, given with the call's end).
_SIGNING_KINDS = frozenset({"gemini", "vertex"})


async def _events(client: Any, model: str, kwargs: dict[str, Any]) -> AsyncIterator[Event]:
    # The library stream lives inside this generator: closing it (a client disconnect)
    # leaves the ``async with``, which cancels the upstream call and records the usage.
    async with client.stream(model, **kwargs) as stream:
        async for event in stream:
            yield event


def _stream_error(exc: BaseException) -> bytes:
    return ANTHROPIC_ERRORS.event(classify(exc))


async def messages(request: Request) -> Response | StreamResponse:
    """Anthropic Messages in front of any provider (``?beta=true`` and other query
    strings are accepted and ignored)."""
    body = await request.json()
    model = model_of(body)
    request.require_model(model)
    client = request.gateway.client
    target = target_of(client, model)
    call = parse_messages(body, request.headers, target)
    # A tenant's calls run as its key's user: metadata.user_id must not pick another
    # user's stored provider key, quotas or limits (it counts for the admin key and an
    # open gateway only).
    request.bind_user(call.kwargs)
    headers = (("request-id", request.request_id),)
    if not call.stream:
        resp = await client.chat(model, **call.kwargs)
        return json_response(message_json(resp, model), headers=headers)
    # The first event is awaited here: a failure before it is an HTTP error, not a 200.
    first, rest = await first_then(_events(client, model, call.kwargs))
    chunks = sse_events(model, first, rest, defer_tools=bool(target.kinds & _SIGNING_KINDS))
    return StreamResponse(chunks, headers=headers, heartbeat=PING, on_error=_stream_error)


async def count_tokens(request: Request) -> Response:
    """``{"input_tokens": N}``: the provider's count endpoint where it has one (Anthropic,
    Gemini, Bedrock...), OpenAI's tokenizer offline, else the library's estimate."""
    body = await request.json()
    model = model_of(body)
    request.require_model(model)
    client = request.gateway.client
    call = parse_count_tokens(body, request.headers, target_of(client, model))
    count = await client.count_tokens(model, **call.kwargs)
    return json_response(
        {"input_tokens": int(count)}, headers=(("request-id", request.request_id),)
    )


ROUTES: list[Route] = [
    Route("POST", "/v1/messages", messages, errors=ANTHROPIC_ERRORS),
    Route("POST", "/v1/messages/count_tokens", count_tokens, errors=ANTHROPIC_ERRORS),
]
