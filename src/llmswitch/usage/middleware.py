"""The recording layer: one ledger row per attempt that reached the provider.

DESIGN.md puts usage accounting outermost, and it is, in what it identifies: the
request id is made once per client call and kept in ``Call.state``, which every layer
of the onion shares, so all the rows of one call (router fallbacks, retries) carry the
same ``request_id`` with ``attempt`` = 1, 2, ... But the rows themselves are per
attempt, so the layer sits *innermost*, right around the provider: it sees each try
that was actually sent (not those a breaker or a rate limit refused), with the
deployment the router picked. No extra outer layer is needed for the id: the first
attempt makes it.

What a row holds for each outcome:

- ``ok``: the response's (or the stream's ``StreamEnd``) usage and its cost.
- ``error``: the error's class name and the usage of what it delivered (a stream's
  ``partial``, or the counts its parser had seen, ``LLMError.stream_usage``), else no
  tokens and cost 0: nothing billable came back, but prompt analytics count failures
  too. A stream that had delivered events costs ``None`` (unknown) without usage,
  never 0.
- ``cancelled``: the caller closed the stream (``close()``, ``aclose()``, ``break``,
  or dropped it to the garbage collector) before its end: the usage received so far
  (providers report usage at the end, so usually none, cost unknown).
- ``broken``: the stream ended without its ``StreamEnd``, or with one whose
  ``finish_reason`` is ``"error"``, or the connection dropped or stalled after events
  had arrived (a ``TransportError`` or ``LLMTimeoutError`` mid-stream). Parsers that
  saw usage before the end (Anthropic's ``message_start`` input and cache counts, a
  Gemini chunk's ``usageMetadata``) report it in that ``StreamEnd`` or on the error
  (``stream_usage``), so the row carries and is priced from what was received.

The cost is the response's own: a chat answer's ``resp.cost`` (already computed by the
parser, so the ledger and ``resp.cost`` always agree), a provider-reported cost
(``Usage.reported_cost_nano``) as given, and otherwise ``catalog.cost_nano`` of the
provider, model and usage at the attempt's start time: integer nano-USD, ``None``
when a price or count is unknown. That last one is computed by the ledger's writer
thread (``ledger.price``), not here (a price lookup costs more than the whole append),
except for usage the row's columns cannot carry (Anthropic's 1-hour cache writes,
``Usage.cache_write_1h_tokens``), priced here from the full usage.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from .. import catalog
from ..errors import LLMTimeoutError, TransportError
from ..events import StreamEnd
from ..messages import ChatResponse, Usage
from ..middleware._drive import Layer, Script, Try
from ..middleware.base import Call
from ._record import UsageRecord, UsageStatus
from ._tags import CallTags, call_tags, current_tags

__all__ = [
    "ATTEMPT_KEY",
    "REQUEST_ID_KEY",
    "UsageRecorder",
    "attach_request_id",
    "embedding_record",
    "given_request_id",
    "new_request_id",
    "restore_request_id",
    "stream_request_id",
    "with_request_id",
]

# Call.state keys: the call's request id (a layer outside may set its own, e.g. the
# gateway's X-Request-Id, before the first attempt) and the attempts counted so far.
REQUEST_ID_KEY = "llmswitch.request_id"
ATTEMPT_KEY = "llmswitch.usage_attempt"

# Unique across processes and cheap: a random per-process prefix and a counter
# (uuid4 per call costs more than the whole ledger append).
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)
_NO_USAGE = Usage()


# The id a caller outside the library chose for the calls made in this context (the
# gateway's X-Request-Id), so its access log, its response header and the ledger agree.
_GIVEN_ID: ContextVar[str | None] = ContextVar("llmswitch_request_id", default=None)


def new_request_id() -> str:
    """The request id given for this context (:func:`given_request_id`), else a fresh
    one: 16 random hex digits of this process, then a counter."""
    given = _GIVEN_ID.get()
    if given is not None:
        return given
    return f"{_PREFIX}{next(_COUNTER):x}"


def given_request_id(request_id: str | None) -> Token[str | None]:
    """Use ``request_id`` for the calls made in this context from now on (``None``:
    fresh ones again); returns the token :func:`restore_request_id` takes."""
    return _GIVEN_ID.set(request_id)


def restore_request_id(token: Token[str | None]) -> None:
    _GIVEN_ID.reset(token)


def attach_request_id(response: ChatResponse, request_id: str) -> ChatResponse:
    """``response`` carrying ``request_id`` (``resp.request_id``, what feedback names).

    A response fresh from the call (no id yet) gets it set in place: a copy costs more
    than the whole ledger append, and nobody has seen the object yet. One that already
    carries an id is an object handed out before (a provider or middleware returning
    a shared response): that one is copied, so the earlier holder keeps its id."""
    if response.request_id is None:
        object.__setattr__(response, "request_id", request_id)
        return response
    if response.request_id == request_id:
        return response
    import dataclasses

    return dataclasses.replace(response, request_id=request_id)


def with_request_id(response: ChatResponse, state: dict[str, Any]) -> ChatResponse:
    """``response`` carrying the call's request id from ``Call.state``, if one was made
    (by this layer or the response cache): ``client.chat`` returns this."""
    request_id = state.get(REQUEST_ID_KEY)
    return response if request_id is None else attach_request_id(response, request_id)


def stream_request_id(ledger: object, acc: Any, state: dict[str, Any]) -> None:
    """A stream of a client that records usage (``ledger`` not ``None``) gets its
    request id up front, in ``Call.state`` (the rows use it) and on its accumulator
    (``stream.response.request_id``): the stream's response is built from that."""
    if ledger is not None:
        acc.request_id = state[REQUEST_ID_KEY] = new_request_id()


class UsageRecorder(Layer):
    """Appends one :class:`UsageRecord` per attempt to ``sink`` (``Ledger.append``)."""

    per_attempt = True

    def __init__(
        self,
        sink: Callable[[UsageRecord], None],
        *,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.wall = wall

    def script(self, call: Call, stream: bool) -> Script:
        return self._attempt(call, stream)

    def _attempt(self, call: Call, stream: bool) -> Script:
        state = call.state
        request_id = state.get(REQUEST_ID_KEY)
        if request_id is None:
            request_id = state[REQUEST_ID_KEY] = new_request_id()
        number = state[ATTEMPT_KEY] = state.get(ATTEMPT_KEY, 0) + 1
        at = self.wall()
        start = self.clock()
        attempt = Try(call, self.clock)
        status: UsageStatus = "ok"
        error: str | None = None
        usage: Usage = _NO_USAGE
        cost: int | None = None
        try:
            result = yield attempt
        except GeneratorExit:
            status = "cancelled"
            raise
        except BaseException as exc:
            status, error = "error", type(exc).__name__
            partial = getattr(exc, "partial", None)
            if isinstance(partial, ChatResponse):
                usage = partial.usage
            else:  # the counts the stream's parser had seen before the failure
                seen = getattr(exc, "stream_usage", None)
                if isinstance(seen, Usage):
                    usage = seen
            delivered = stream and attempt.started
            if delivered and isinstance(exc, TransportError | LLMTimeoutError):
                status = "broken"  # the connection dropped or stalled mid-stream
            if usage is _NO_USAGE and not delivered:
                cost = 0  # nothing billable came back
            raise
        else:
            if type(result) is StreamEnd:
                usage = result.usage
                if result.finish_reason == "error":  # cut short; the parser's counts so far
                    status = "broken"
            elif type(result) is ChatResponse:
                usage = result.usage
                if result.cost is not None:  # the parser's exact price: resp.cost's
                    cost = round(result.cost * 1e9)
            elif stream:  # ended without its StreamEnd
                status = "broken"
            return result
        finally:
            end = self.clock()
            first = attempt.first_at
            self._record(
                call, request_id, number, at, usage, status, error, stream, cost,
                latency=end - start,
                ttft=None if first is None else first - start,
            )  # fmt: skip

    def _record(
        self,
        call: Call,
        request_id: str,
        number: int,
        at: float,
        usage: Usage,
        status: UsageStatus,
        error: str | None,
        stream: bool,
        cost: int | None,
        *,
        latency: float,
        ttft: float | None,
    ) -> None:
        request = call.request
        provider = call.provider.id
        tags = call_tags(call.state)
        if cost is None:
            cost = _cost_here(provider, request.model, usage, at)
        asked = call.model
        record = UsageRecord(
            request_id=request_id,
            attempt=number,
            at=int(at * 1000),
            user=tags.user if tags.user is not None else request.user,
            team=tags.team,
            access_key=tags.access_key,
            provider=provider,
            model=request.model,
            deployment=asked if asked != f"{provider}/{request.model}" else None,
            prompt_name=tags.prompt_name,
            prompt_version=tags.prompt_version,
            prompt_variant=tags.prompt_variant,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            latency_ms=round(latency * 1000),
            ttft_ms=None if ttft is None else round(ttft * 1000),
            status=status,
            error=error,
            cost_nano=cost,
            stream=stream,
        )
        try:
            self.sink(record)
        except Exception:  # the ledger must never fail the call it records
            from .._log import get_logger  # rare: kept off the import

            get_logger("llmswitch.usage").exception("usage row not recorded")


def embedding_record(
    provider: str,
    model: str,
    usage: Usage,
    *,
    user: str | None,
    at: float,
    latency: float,
    error: BaseException | None = None,
    tags: CallTags | None = None,
    deployment: str | None = None,
) -> UsageRecord:
    """The ledger row of one embeddings attempt (``embed`` of the clients, the semantic
    cache's lookups), filed under ``tags`` (default: those in force); priced by the
    ledger's writer from its input tokens. A failed attempt is an error row that cost
    nothing (an embeddings call is billed only when it answers). ``deployment``: the
    name the caller asked for, when it is not ``provider/model`` (an alias, a group)."""
    if tags is None:
        tags = current_tags()
    return UsageRecord(
        request_id=new_request_id(),
        at=int(at * 1000),
        user=tags.user if tags.user is not None else user,
        team=tags.team,
        access_key=tags.access_key,
        provider=provider,
        model=model,
        deployment=deployment,
        prompt_name=tags.prompt_name,
        prompt_version=tags.prompt_version,
        prompt_variant=tags.prompt_variant,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        latency_ms=round(latency * 1000),
        status="ok" if error is None else "error",
        error=None if error is None else type(error).__name__,
        cost_nano=None if error is None else 0,
    )


def _cost_here(provider: str, model: str, usage: Usage, at: float) -> int | None:
    """The cost only the full usage can say, on the call path: a provider-reported cost
    as given, 1-hour cache writes priced now (the row's columns lose the split). Else
    ``None``: the ledger's writer prices the row from its columns, off the call path
    (and an unknown price stays ``None``)."""
    if usage.reported_cost_nano is not None:
        return usage.reported_cost_nano
    if not usage.cache_write_1h_tokens:
        return None
    from datetime import UTC, datetime

    try:
        return catalog.cost_nano(provider, model, usage, at=datetime.fromtimestamp(at, UTC))
    except Exception:  # a pricing bug must not cost the row: the writer tries again
        return None
