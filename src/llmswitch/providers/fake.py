"""A provider that answers from a script, for tests and keyless runs.

Public as :mod:`llmswitch.testing` (``FakeProvider``, ``FakeReply``, ``ReplySpec``,
``NoScriptedReplyError``); it lives here so the provider registry can build the
``fake`` provider without importing the test kit. Usage is described there.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeAlias, get_args

from .._json import dumps_str
from ..errors import ConfigurationError, LLMError, LLMTimeoutError, ProviderUnavailableError
from ..events import (
    Accumulator,
    Event,
    ReasoningDelta,
    RefusalDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from ..messages import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    ModelInfo,
    ToolCall,
    Usage,
    _to_arguments,
)
from ..wire import DEFAULT_TIMEOUT, Timeout
from .runtime import CallContext, Deadlines, timeout_error

__all__ = ["FakeProvider", "FakeReply", "NoScriptedReplyError", "ReplySpec"]

_FINISH_REASONS: frozenset[str] = frozenset(get_args(FinishReason))
_WORD_RE = re.compile(r"\s*\S+|\s+")
_ARGS_FRAGMENT = 8  # characters per tool-argument fragment: roughly a few tokens


class NoScriptedReplyError(ConfigurationError, AssertionError):
    """The FakeProvider was called more often than it was scripted for.

    Both a :class:`ConfigurationError` (so it flows through the client like any
    llmswitch error) and an ``AssertionError`` (so pytest reports a failed test)."""


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeReply:
    """One scripted answer. Build it with :meth:`FakeProvider.reply` (which accepts
    dicts for tool calls and usage) or directly.

    A tool call with an empty ``id`` gets a generated one (``call_<provider>_<n>``).
    ``error`` without ``error_after`` is raised before any event; with it, after that
    many events (``StreamStart`` counts; ``StreamEnd`` is never sent) — and when only
    ``error_after`` is set the error is a :class:`ProviderUnavailableError`.
    ``latency`` is the time to the first event, ``chunk_delay`` the time between events.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None
    refusal: str | None = None
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    error: BaseException | type[BaseException] | None = None
    error_after: int | None = None
    latency: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise _bad("text", "must be a string")
        if self.finish_reason is not None and self.finish_reason not in _FINISH_REASONS:
            allowed = ", ".join(sorted(_FINISH_REASONS))
            raise _bad("finish_reason", f"unknown value {self.finish_reason!r} ({allowed})")
        err = self.error
        if err is not None and not (
            isinstance(err, BaseException)
            or (isinstance(err, type) and issubclass(err, BaseException))
        ):
            raise _bad("error", "must be an exception instance or class")
        for name in ("latency", "chunk_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise _bad(name, "must be a number of seconds >= 0")
        if self.error_after is not None and (
            isinstance(self.error_after, bool)
            or not isinstance(self.error_after, int)
            or self.error_after < 0
        ):
            raise _bad("error_after", "must be an event count >= 0")
        if self.chunk_size is not None and (
            not isinstance(self.chunk_size, int) or self.chunk_size < 1
        ):
            raise _bad("chunk_size", "must be an integer >= 1")


ReplySpec: TypeAlias = str | FakeReply | Mapping[str, Any] | ChatResponse | BaseException
"""What ``replies=``, ``default=`` and a :meth:`FakeProvider.respond_with` function may
give: text, a :class:`FakeReply`, a dict of :meth:`FakeProvider.reply` arguments, a
``ChatResponse`` to replay, or an exception to raise."""

_Responder: TypeAlias = Callable[[ChatRequest], Any]
_REPLY_FIELDS = frozenset(f.name for f in fields(FakeReply))


def _bad(field: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"FakeReply.{field}: {problem}", field=field)


def _to_tool_call(raw: Any, where: str) -> ToolCall:
    if isinstance(raw, ToolCall):
        return raw
    if not isinstance(raw, Mapping):
        raise _bad(where, "a tool call must be a dict or ToolCall")
    fn = raw["function"] if isinstance(raw.get("function"), Mapping) else raw
    name, call_id = fn.get("name"), raw.get("id") or ""
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.name", "a tool call needs a name")
    if not isinstance(call_id, str):
        raise _bad(f"{where}.id", "must be a string")
    return ToolCall(
        id=call_id,
        name=name,
        arguments=_to_arguments(fn.get("arguments"), f"FakeReply.{where}.arguments"),
        signature=raw.get("signature"),
    )


def _to_usage(raw: Any) -> Usage | None:
    if raw is None or isinstance(raw, Usage):
        return raw
    if not isinstance(raw, Mapping):
        raise _bad("usage", "must be a Usage or a dict of token counts")
    unknown = set(raw) - {f.name for f in fields(Usage)}
    if unknown:
        raise _bad(f"usage.{sorted(unknown)[0]}", "unknown usage field")
    counts = dict(raw)
    if counts.get("total_tokens") is None and None not in (
        counts.get("input_tokens"), counts.get("output_tokens")
    ):  # fmt: skip
        counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return Usage(**counts)


def _make_reply(text: str | None = None, **kw: Any) -> FakeReply:
    unknown = set(kw) - _REPLY_FIELDS
    if unknown:
        raise _bad(sorted(unknown)[0], "unknown reply option")
    calls = kw.pop("tool_calls", None) or ()
    if isinstance(calls, Mapping | str | bytes) or not isinstance(calls, Iterable):
        raise _bad("tool_calls", "must be a list of tool calls")
    return FakeReply(
        text=text or "",
        tool_calls=tuple(_to_tool_call(c, f"tool_calls[{i}]") for i, c in enumerate(calls)),
        usage=_to_usage(kw.pop("usage", None)),
        **kw,
    )


def _to_reply(spec: Any) -> FakeReply:
    if isinstance(spec, FakeReply):
        return spec
    if isinstance(spec, str):
        return FakeReply(text=spec)
    if isinstance(spec, BaseException) or (
        isinstance(spec, type) and issubclass(spec, BaseException)
    ):
        return FakeReply(error=spec)
    if isinstance(spec, ChatResponse):
        return FakeReply(
            text=spec.text,
            tool_calls=spec.tool_calls,
            reasoning=spec.reasoning,
            refusal=spec.refusal,
            usage=spec.usage,
            finish_reason=spec.finish_reason,
            id=spec.id,
        )
    if isinstance(spec, Mapping):
        return _make_reply(**spec)
    raise ConfigurationError(
        f"a FakeProvider reply must be text, a FakeReply, a dict of reply() options, a "
        f"ChatResponse or an exception, got {type(spec).__name__}",
        field="reply",
    )


# --------------------------------------------------------------------------- helpers


def _chunks(text: str, size: int | None) -> list[str]:
    if size is not None:
        return [text[i : i + size] for i in range(0, len(text), size)]
    return _WORD_RE.findall(text)


def _tokens(chars: int) -> int:
    return -(-chars // 4) if chars > 0 else 0


def _estimate_input(request: ChatRequest) -> int:
    chars, images = len(request.system or ""), 0
    for m in request.messages:
        chars += 16  # role and framing: a few tokens per message on every provider
        if isinstance(m.content, str):
            chars += len(m.content)
        elif m.content:
            for p in m.content:
                if isinstance(p, ImagePart):
                    images += 1
                else:
                    chars += len(p.text)
        for c in m.tool_calls:
            chars += len(c.name) + len(dumps_str(c.arguments))
    for t in request.tools:
        chars += len(t.name) + len(t.description or "") + len(dumps_str(dict(t.parameters)))
    return _tokens(chars) + 85 * images  # 85: OpenAI's low-detail image cost


def _instantiate(
    err: BaseException | type[BaseException], provider: str, model: str
) -> BaseException:
    if isinstance(err, type):
        try:
            exc = err(f"scripted {err.__name__} from FakeProvider")
        except TypeError:
            exc = err()
    else:
        # A copy per raise: a default reply's error is raised many times, and a raised
        # exception accumulates a traceback and context.
        try:
            exc = copy.copy(err)
        except Exception:
            exc = err
    if isinstance(exc, LLMError):
        exc.provider = exc.provider or provider
        exc.model = exc.model or model
    return exc


_Step: TypeAlias = tuple[float, Event | BaseException]


# --------------------------------------------------------------------------- provider


class FakeProvider:
    """A :class:`~llmswitch.providers.runtime.Provider` that answers from a script.

    ``replies`` queues replies (see :data:`ReplySpec`); ``default`` answers once the
    queue is empty (a reply, or a function of the request). ``models`` is what
    ``list_models`` returns (``ModelInfo`` objects or model ids). ``requests`` records
    every ChatRequest received, in order, for assertions.
    """

    def __init__(
        self,
        id: str = "fake",
        *,
        replies: Iterable[ReplySpec] = (),
        default: ReplySpec | _Responder | None = None,
        models: Sequence[ModelInfo | str] = (),
    ) -> None:
        self.id = id
        self.requests: list[ChatRequest] = []
        self.models: list[ModelInfo | str] = list(models)
        self._queue: deque[FakeReply] = deque(_to_reply(r) for r in replies)
        self._default: FakeReply | _Responder | None = None
        self._lock = threading.Lock()
        self._responses = itertools.count(1)
        self._call_ids = itertools.count(1)
        if callable(default) and not isinstance(default, type):
            self._default = default  # a responder
        elif default is not None:
            self._default = _to_reply(default)

    # ---- scripting

    def reply(
        self,
        text: str | None = None,
        *,
        tool_calls: Iterable[ToolCall | Mapping[str, Any]] | None = None,
        reasoning: str | None = None,
        refusal: str | None = None,
        usage: Usage | Mapping[str, int | None] | None = None,
        finish_reason: FinishReason | None = None,
        error: BaseException | type[BaseException] | None = None,
        error_after: int | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_size: int | None = None,
        id: str | None = None,
        times: int = 1,
    ) -> FakeProvider:
        """Queue a reply (``times`` times); returns the provider, so calls chain.

        Tool calls are ``{"name", "arguments", "id"?}`` dicts (OpenAI's
        ``{"function": {...}}`` shape works too) or :class:`ToolCall` objects."""
        spec = _make_reply(
            text, tool_calls=tool_calls, reasoning=reasoning, refusal=refusal, usage=usage,
            finish_reason=finish_reason, error=error, error_after=error_after,
            latency=latency, chunk_delay=chunk_delay, chunk_size=chunk_size, id=id,
        )  # fmt: skip
        if not isinstance(times, int) or times < 1:
            raise ConfigurationError("times must be an integer >= 1", field="times")
        with self._lock:
            self._queue.extend([spec] * times)
        return self

    def default_reply(self, text: str | None = None, **options: Any) -> FakeProvider:
        """Answer every call with this reply once the queue is empty (same options as
        :meth:`reply`, without ``times``)."""
        spec = _make_reply(text, **options)
        with self._lock:
            self._default = spec
        return self

    def respond_with(self, fn: Callable[[ChatRequest], ReplySpec]) -> FakeProvider:
        """Once the queue is empty, answer each call with ``fn(request)``: text, a
        FakeReply, a dict of reply options, a ChatResponse or an exception to raise."""
        if not callable(fn):
            raise ConfigurationError("respond_with needs a function of the request", field="fn")
        with self._lock:
            self._default = fn
        return self

    @property
    def pending(self) -> int:
        """Queued replies not used yet."""
        return len(self._queue)

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def last_request(self) -> ChatRequest:
        if not self.requests:
            raise AssertionError(f"FakeProvider {self.id!r} has not been called")
        return self.requests[-1]

    def assert_all_used(self) -> None:
        """Fail when scripted replies were never asked for (the code made fewer calls)."""
        if self._queue:
            raise AssertionError(
                f"FakeProvider {self.id!r}: {len(self._queue)} scripted repl"
                f"{'y was' if len(self._queue) == 1 else 'ies were'} never used "
                f"({self.calls} call{'' if self.calls == 1 else 's'} made)"
            )

    def reset(self) -> None:
        """Forget queued replies, the default and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._default = None
            self.requests.clear()

    def __repr__(self) -> str:
        return f"FakeProvider(id={self.id!r}, pending={self.pending}, calls={self.calls})"

    # ---- Provider protocol

    async def achat(self, request: ChatRequest, ctx: CallContext | None = None) -> ChatResponse:
        wait, answer = self._answer(request, ctx)
        await asyncio.sleep(wait)
        return answer()

    def chat(self, request: ChatRequest, ctx: CallContext | None = None) -> ChatResponse:
        wait, answer = self._answer(request, ctx)
        if wait > 0:
            time.sleep(wait)
        return answer()

    def astream(self, request: ChatRequest, ctx: CallContext | None = None) -> AsyncIterator[Event]:
        # The reply is taken now, not on first iteration, so replies match call order.
        return self._aiter(self._paced(self._take(request), request, self._timeout(ctx)))

    def stream(self, request: ChatRequest, ctx: CallContext | None = None) -> Iterator[Event]:
        return self._iter(self._paced(self._take(request), request, self._timeout(ctx)))

    async def alist_models(self, ctx: CallContext | None = None) -> list[ModelInfo]:
        return self.list_models(ctx)

    def list_models(self, ctx: CallContext | None = None) -> list[ModelInfo]:
        return [
            m if isinstance(m, ModelInfo) else ModelInfo(id=m, provider=self.id)
            for m in self.models
        ]

    # ---- internals

    @staticmethod
    def _timeout(ctx: CallContext | None) -> Timeout:
        return ctx.timeout if ctx is not None else DEFAULT_TIMEOUT

    def _take(self, request: ChatRequest) -> list[_Step]:
        """Record the request and turn the next reply into timed steps. Problems with
        the script become a step too, so they surface where a real provider's would."""
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            spec: FakeReply | _Responder | None = (
                self._queue.popleft() if self._queue else self._default
            )
        try:
            if spec is None:
                raise NoScriptedReplyError(
                    f"FakeProvider {self.id!r} has no reply left for call #{number}: script "
                    "more with fake.reply(...), or answer every further call with "
                    "fake.default_reply(...) or fake.respond_with(fn)",
                    provider=self.id,
                    model=request.model,
                )
            reply = spec if isinstance(spec, FakeReply) else _to_reply(spec(request))
            return self._plan(reply, request)
        except Exception as exc:  # raised to the consumer when it reads the answer
            return [(0.0, exc)]

    def _plan(self, reply: FakeReply, request: ChatRequest) -> list[_Step]:
        if reply.error is not None and reply.error_after is None:
            return [(reply.latency, _instantiate(reply.error, self.id, request.model))]
        events = self._events(reply, request)
        delays = itertools.chain((reply.latency,), itertools.repeat(reply.chunk_delay))
        steps: list[_Step] = list(zip(delays, events, strict=False))
        if reply.error_after is not None:
            # The error takes StreamEnd's place: a failed stream never finishes cleanly.
            keep = min(reply.error_after, len(events) - 1)
            cause = reply.error
            if cause is None:
                cause = ProviderUnavailableError(
                    f"scripted interruption after {keep} stream events", code="fake_interrupted"
                )
            error = _instantiate(cause, self.id, request.model)
            steps = [*steps[:keep], (reply.latency if keep == 0 else reply.chunk_delay, error)]
        return steps

    def _events(self, reply: FakeReply, request: ChatRequest) -> list[Event]:
        size = reply.chunk_size
        events: list[Event] = [
            StreamStart(reply.id or f"{self.id}-{next(self._responses)}", request.model)
        ]
        index = 0
        if reply.reasoning:
            events.extend(ReasoningDelta(index, c) for c in _chunks(reply.reasoning, size))
            index += 1
        if reply.text:
            events.extend(TextDelta(index, c) for c in _chunks(reply.text, size))
            index += 1
        if reply.refusal:
            events.extend(RefusalDelta(index, c) for c in _chunks(reply.refusal, size))
            index += 1
        out_chars = len(reply.reasoning or "") + len(reply.text) + len(reply.refusal or "")
        for call in reply.tool_calls:
            if not call.id:
                call = ToolCall(
                    id=f"call_{self.id}_{next(self._call_ids)}",
                    name=call.name,
                    arguments=call.arguments,
                    signature=call.signature,
                )
            arguments = dumps_str(call.arguments)
            out_chars += len(call.name) + len(arguments)
            events.append(ToolCallStart(index, call.id, call.name))
            events.extend(
                ToolCallDelta(index, f) for f in _chunks(arguments, size or _ARGS_FRAGMENT)
            )
            events.append(ToolCallEnd(index, call))
            index += 1
        usage = reply.usage
        if usage is None:
            prompt, completion = _estimate_input(request), max(_tokens(out_chars), 1)
            usage = Usage(
                input_tokens=prompt,
                output_tokens=completion,
                total_tokens=prompt + completion,
                reasoning_tokens=_tokens(len(reply.reasoning)) if reply.reasoning else None,
            )
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        events.append(StreamEnd(finish, usage, raw_finish_reason=finish))
        return events

    def _answer(
        self, request: ChatRequest, ctx: CallContext | None
    ) -> tuple[float, Callable[[], ChatResponse]]:
        """How long a non-streamed answer takes (it arrives at once, after the time the
        stream would take, or at the total timeout), and the answer or error then."""
        delay, events, error = 0.0, list[Event](), None
        for d, item in self._take(request):
            delay += d
            if isinstance(item, BaseException):
                events, error = [], item
                break
            events.append(item)
        timeout = self._timeout(ctx)
        wait, phase = Deadlines(timeout, streaming=False).cap(delay)

        def answer() -> ChatResponse:
            if phase is not None:
                raise self._timed_out(phase, timeout, request)
            if error is not None:
                raise error
            acc = Accumulator(self.id, request.model)
            for event in events:
                acc.add(event)
            return acc.snapshot()

        return wait, answer

    def _timed_out(self, phase: str, timeout: Timeout, request: ChatRequest) -> LLMTimeoutError:
        exc = timeout_error(phase, timeout)
        exc.provider, exc.model = self.id, request.model
        return exc

    def _paced(
        self, steps: list[_Step], request: ChatRequest, timeout: Timeout
    ) -> Iterator[float | Event]:
        """The stream as the time to wait before each event, then the event: a delay
        beyond the deadline that applies waits only until it, then times out."""
        deadlines = Deadlines(timeout)  # from the first read, as a real stream's
        for delay, item in steps:
            wait, phase = deadlines.cap(delay)
            yield float(wait)  # a scripted delay may be an int
            if phase is not None:
                raise self._timed_out(phase, timeout, request)
            if isinstance(item, BaseException):
                raise item
            deadlines.started = True
            yield item

    @staticmethod
    def _iter(paced: Iterator[float | Event]) -> Iterator[Event]:
        for item in paced:
            if isinstance(item, float):
                if item > 0:
                    time.sleep(item)
            else:
                yield item

    @staticmethod
    async def _aiter(paced: Iterator[float | Event]) -> AsyncIterator[Event]:
        for item in paced:
            if isinstance(item, float):
                await asyncio.sleep(item)  # also yields to the loop, like a real socket read
            else:
                yield item
