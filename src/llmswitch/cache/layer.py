"""The response cache layer (:class:`ResponseCache`): exact-match hits, stores, coalescing.

Its place in the onion (DESIGN.md section 3): inside the caller's own layers, outside
budgets, rate limits and the router. So a hit costs no budget, takes no rate-limit
capacity and sends nothing; a miss goes on as if the cache were not there, and what
comes back is stored once it is complete:

- a ``chat()`` answer whose ``finish_reason`` is not ``"error"``;
- a stream's events, in order, once its ``StreamEnd`` arrived (not ``"error"``): a
  stream that failed, was cut short or was closed by its caller is never stored.

Either kind serves both: ``chat()`` from a stored stream gets the response the stream
would have built; a stream from a stored ``chat()`` answer gets the events a parser
emits for it. A hit's response says so: ``resp.cached`` is ``True``, ``resp.cache_age``
the entry's age in seconds, ``resp.cost`` 0.0 (nothing was billed; ``resp.usage`` is
the original answer's); its usage-ledger row has status ``cached``, cost 0 and
``saved_nano``, what the original call cost.

What is cached: calls that do not sample (``temperature=0``), unless ``cache_sampled``
is set or the call passes ``cache=True``/``cache={...}``; an unset temperature counts as
sampling, since every provider's default is above 0. ``cache=False`` bypasses the cache
both ways.

Coalescing (``coalesce``, default on): identical concurrent misses share one upstream
call. In one process the first leads and the others wait for its entry
(:mod:`._flight`); with Redis, across processes too (:mod:`.redis_backend`). A stream
miss is coalesced the same way: the waiters replay the stored stream once the leader's
has finished (they wait the whole answer's time, and save its cost). If the leader
fails, or its answer is not stored, a waiter leads next.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..catalog import cost_nano
from ..events import Event, StreamEnd, StreamStart
from ..messages import ChatResponse
from ..middleware._drive import Layer, Op, Ops, Script, Try
from ..middleware.base import ACCUMULATOR_KEY, Call
from ..usage._record import UsageRecord
from ..usage._tags import CallTags, call_tags
from ..usage.middleware import REQUEST_ID_KEY, new_request_id
from ._codec import Entry, events_of, response_of
from ._flight import Flights
from ._key import Uncacheable, digest, key_pattern, make_key
from ._settings import CACHE_OPTION_KEY, CacheSettings, CallCache

__all__ = ["CacheStats", "ResponseCache", "SemanticHook", "open_backend"]

# Seconds between a waiter's looks at a Redis entry another process is computing.
_POLL_FIRST, _POLL_MAX = 0.02, 0.25


def open_backend(settings: CacheSettings, **options: Any) -> Any:
    """The backend ``settings.url`` names."""
    url = settings.url
    if url == "memory://":
        from .memory import MemoryBackend

        return MemoryBackend(max_entries=settings.max_entries, max_bytes=settings.max_bytes)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_backend import RedisBackend

        return RedisBackend(url, prefix=settings.prefix, **options)
    from ..errors import ConfigurationError
    from ..storage.base import display_url

    raise ConfigurationError(
        f"unknown cache URL {display_url(url)!r} (expected memory:// or redis://host:port/db)",
        field="cache.url",
    )


class SemanticHook(Protocol):
    """A second lookup between an exact-match miss and the upstream call (the semantic
    cache): ``lookup`` yields its effects and returns an :class:`Entry` or ``None``;
    ``store`` is told of every entry stored after a miss."""

    def lookup(self, call: Call, key: str) -> Ops: ...

    def store(self, call: Call, key: str, entry: Entry, ttl: float) -> Ops: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """This process's counts (``hits``, ``misses``, ``coalesced``: misses served by
    another call's answer, ``stores``, ``saved_nano``/``saved_usd``: what the hits
    would have cost, ``bypassed``: calls not cacheable) and the backend's
    ``entries``, ``bytes`` and ``evictions`` (memory: entries dropped for room; Redis:
    the server's evicted keys). ``shared``: with Redis, the counters of every process
    using it."""

    backend: str
    hits: int
    misses: int
    hit_ratio: float | None
    coalesced: int
    stores: int
    bypassed: int
    saved_nano: int
    saved_usd: float
    entries: int | None
    bytes: int | None
    evictions: int | None
    shared: Mapping[str, Any] | None = None


class _Counters:
    __slots__ = ("bypassed", "coalesced", "hits", "lock", "misses", "saved_nano", "stores")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits = self.misses = self.coalesced = self.stores = self.bypassed = 0
        self.saved_nano = 0


class _Recorder:
    """A stream try's ``each``: keeps every event and when it came (ms from the start)."""

    __slots__ = ("clock", "events", "offsets", "start")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.start = clock()
        self.events: list[Event] = []
        self.offsets: list[int] = []

    def add(self, event: Event) -> Event:
        self.events.append(event)
        self.offsets.append(int((self.clock() - self.start) * 1000))
        return event


class _Paced:
    """Stored events replayed at the pace they first came (``offsets``: ms from the
    call's start), blocking or awaiting."""

    __slots__ = ("events", "offsets")

    def __init__(self, events: Sequence[Event], offsets: Sequence[int]) -> None:
        self.events = events
        self.offsets = offsets

    def __iter__(self) -> Iterator[Event]:
        before = 0
        for event, at in zip(self.events, self.offsets, strict=False):
            if at > before:
                time.sleep((at - before) / 1000)
                before = at
            yield event

    async def __aiter__(self) -> AsyncIterator[Event]:
        before = 0
        for event, at in zip(self.events, self.offsets, strict=False):
            if at > before:
                await asyncio.sleep((at - before) / 1000)
                before = at
            yield event


_FIELDS = tuple(f.name for f in dataclasses.fields(ChatResponse))
_SET = object.__setattr__


def _cached(response: ChatResponse, age: float) -> ChatResponse:
    """``response`` marked as a hit (its age, cost 0.0). Copied slot by slot: about a
    tenth of what ``dataclasses.replace`` costs, and a hit is this and a lookup."""
    new = object.__new__(ChatResponse)
    for name in _FIELDS:
        _SET(new, name, getattr(response, name))
    _SET(new, "cached", True)
    _SET(new, "cache_age", age)
    _SET(new, "cost", 0.0)
    return new


class ResponseCache(Layer):
    """Exact-match response cache; see the module docs. ``backend``: a
    :class:`~llmswitch.cache.memory.MemoryBackend` or
    :class:`~llmswitch.cache.redis_backend.RedisBackend` (default: the one
    ``settings.url`` names). ``record``: where a hit's usage row goes (the client passes
    its ledger's ``append``). ``groups``: model group name -> its deployments' models
    (a group's entries are shared by its deployments). ``aliases``: what
    :meth:`invalidate` resolves a model name through. ``metrics``: told of each lookup
    (``cache_lookup(outcome, saved_usd)``). ``wall``: epoch seconds, for entry ages."""

    status_section = "cache"
    is_response_cache = True  # found by the client without importing this module

    def __init__(
        self,
        settings: CacheSettings | None = None,
        *,
        backend: Any = None,
        record: Callable[[UsageRecord], None] | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
        aliases: Mapping[str, str] | None = None,
        metrics: Any = None,
        semantic: SemanticHook | None = None,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings = settings if settings is not None else CacheSettings()
        self.backend = backend if backend is not None else open_backend(settings)
        # A backend with no I/O (memory) is called in place, not through the driver.
        self._inline = bool(getattr(self.backend, "inline", False))
        self.record = record
        self._groups = {
            name: f"group:{name}:{','.join(sorted(models))}"
            for name, models in (groups or {}).items()
        }
        self._aliases = dict(aliases or {})
        self._lookup = getattr(metrics, "cache_lookup", None)
        self.semantic = semantic
        self.wall = wall
        self.clock = clock
        self._flights = Flights()
        self._counts = _Counters()

    def __repr__(self) -> str:
        return f"ResponseCache({self.backend!r})"

    # ---------------------------------------------------------------- the call path

    def script(self, call: Call, stream: bool) -> Script | None:
        option = call.state.get(CACHE_OPTION_KEY)
        if option is False:
            return None
        request = call.request
        if option is None and not self.settings.cache_sampled:
            t = request.temperature
            if t is None or t > 0:  # sampling: each call may answer differently
                self._bypassed()
                return None
        target = self._groups.get(call.model)
        model = call.model if target is not None else f"{request.provider}/{request.model}"
        tags = call_tags(call.state)
        user = tags.user if tags.user is not None else request.user
        try:
            key = make_key(
                self.settings.prefix, user, tags.team, model, digest(request, target or model)
            )
        except Uncacheable:
            self._bypassed()
            return None
        return self._run(call, stream, key, option, user, tags)

    def _bypassed(self) -> None:
        c = self._counts
        with c.lock:
            c.bypassed += 1

    def _run(
        self,
        call: Call,
        stream: bool,
        key: str,
        option: CallCache | None,
        user: str | None,
        tags: CallTags,
    ) -> Script:
        backend = self.backend
        inline = self._inline
        entry = backend.get(key) if inline else (yield Op(backend.get, backend.aget, key))
        if entry is not None:
            return self._hit(call, stream, entry, option, user, tags, "hit")
        self._missed()
        if self.semantic is not None:
            entry = yield from self.semantic.lookup(call, key)
            if entry is not None:
                return self._hit(call, stream, entry, option, user, tags, "semantic")
        flight = None
        token: str | None = None
        if self.settings.coalesce:
            wait = self.settings.lock_timeout
            while True:
                flight, leader = self._flights.claim(key)
                if leader:
                    break
                yield Op(flight.wait, flight.await_, wait)
                entry = flight.entry  # the leader's, in memory (Redis may be down)
                if entry is None:
                    entry = yield Op(backend.get, backend.aget, key, False)
                if entry is not None:
                    return self._hit(call, stream, entry, option, user, tags, "coalesced")
            if backend.shared:
                try:
                    token, entry = yield from self._lock(key)
                except BaseException:
                    self._flights.land(key, flight)
                    raise
                if entry is not None:
                    flight.entry = entry
                    self._flights.land(key, flight)
                    return self._hit(call, stream, entry, option, user, tags, "coalesced")
        recorder = _Recorder(self.clock) if stream else None
        try:
            if recorder is not None:
                result = yield Try(call, each=recorder.add)
            else:
                result = yield Try(call)
            entry = self._entry(call, result, recorder)
            if flight is not None:
                flight.entry = entry  # for this process's waiters, stored or not
            if entry is not None:
                ttl = option.ttl if option is not None and option.ttl else self.settings.ttl
                if inline:
                    stored = backend.set(key, entry, ttl)
                else:
                    stored = yield Op(backend.set, backend.aset, key, entry, ttl)
                if stored:
                    c = self._counts
                    with c.lock:
                        c.stores += 1
                if self.semantic is not None:
                    yield from self.semantic.store(call, key, entry, ttl)
        except BaseException:
            if token is not None:
                yield Op(backend.release, backend.arelease, key, token)
            if flight is not None:
                self._flights.land(key, flight)
            raise
        if token is not None:
            yield Op(backend.release, backend.arelease, key, token)
        if flight is not None:
            self._flights.land(key, flight)
        return result

    def _lock(self, key: str) -> Any:
        """Take the cross-process lock of ``key``, or wait for the entry its holder
        stores: ``(token, None)`` to go upstream, ``(None, entry)`` to serve."""
        backend = self.backend
        timeout = self.settings.lock_timeout
        poll = _POLL_FIRST
        deadline = time.monotonic() + timeout
        while True:
            token = yield Op(backend.claim, backend.aclaim, key, timeout)
            if token is not None:
                return token, None
            while True:
                yield Op(time.sleep, asyncio.sleep, poll)
                poll = min(poll * 1.5, _POLL_MAX)
                entry, locked = yield Op(backend.peek, backend.apeek, key)
                if entry is not None:
                    return None, entry
                if not locked:
                    break  # its holder failed or died: take it over
                if time.monotonic() > deadline:
                    return "", None  # waited long enough: go upstream unlocked

    def _entry(self, call: Call, result: Any, recorder: _Recorder | None) -> Entry | None:
        """What to store of a finished try (``None``: nothing)."""
        if recorder is None:
            if type(result) is not ChatResponse or result.finish_reason == "error":
                return None
            # The response's own cost is cost_nano / 1e9 (catalog.cost_of): exact back.
            cost = result.cost
            return Entry(
                provider=result.provider, model=result.model, created=self.wall(),
                cost_nano=None if cost is None else round(cost * 1e9), response=result,
            )  # fmt: skip
        if type(result) is not StreamEnd or result.finish_reason == "error":
            return None
        acc = call.state.get(ACCUMULATOR_KEY)
        provider = acc.provider if acc is not None else call.provider.id
        model = acc.model if acc is not None else call.request.model
        first = recorder.events[0] if recorder.events else None
        if type(first) is StreamStart and first.model:
            model = first.model
        return Entry(
            provider=provider, model=model, created=self.wall(),
            cost_nano=cost_nano(provider, model, result.usage),
            events=tuple(recorder.events), offsets=tuple(recorder.offsets),
        )  # fmt: skip

    def _missed(self) -> None:
        c = self._counts
        with c.lock:
            c.misses += 1
        if self._lookup is not None:
            self._lookup("miss", 0.0)

    def _hit(
        self,
        call: Call,
        stream: bool,
        entry: Entry,
        option: CallCache | None,
        user: str | None,
        tags: CallTags,
        outcome: str,
    ) -> Any:
        now = self.wall()
        age = max(0.0, now - entry.created)
        saved = entry.cost_nano or 0
        c = self._counts
        with c.lock:
            if outcome == "coalesced":
                c.coalesced += 1
            else:
                c.hits += 1
            c.saved_nano += saved
        if self._lookup is not None:
            self._lookup(outcome, saved / 1e9)
        if self.record is not None:
            self._record_hit(call, stream, entry, user, tags, now)
        if not stream:
            return _cached(response_of(entry), age)
        acc = call.state.get(ACCUMULATOR_KEY)
        if acc is not None:  # stream.response: the cached answer, marked as such
            acc.provider = entry.provider
            acc.cache_age = age
        events = events_of(entry)
        pace = self.settings.replay_pace
        if option is not None and option.replay_pace is not None:
            pace = option.replay_pace
        if pace and entry.offsets:
            return _Paced(events, entry.offsets)
        return events

    def _record_hit(
        self,
        call: Call,
        stream: bool,
        entry: Entry,
        user: str | None,
        tags: CallTags,
        now: float,
    ) -> None:
        assert self.record is not None
        state = call.state
        request_id = state.get(REQUEST_ID_KEY)
        if request_id is None:
            request_id = state[REQUEST_ID_KEY] = new_request_id()
        record = UsageRecord(
            request_id=request_id, attempt=1, at=int(now * 1000), user=user, team=tags.team,
            access_key=tags.access_key, provider=entry.provider, model=entry.model,
            deployment=call.model if call.model in self._groups else None,
            prompt_name=tags.prompt_name, prompt_version=tags.prompt_version,
            prompt_variant=tags.prompt_variant, latency_ms=0, status="cached",
            cost_nano=0, saved_nano=entry.cost_nano, stream=stream,
        )  # fmt: skip
        try:
            self.record(record)
        except Exception:  # the ledger must never fail the call it records
            from .._log import get_logger  # rare: kept off the import

            get_logger("llmswitch.cache").exception("cache hit not recorded")

    # ---------------------------------------------------------------- management

    def _pattern(self, model: str | None, user: str | None, team: str | None) -> str:
        if model is not None:
            model = self._aliases.get(model, model)
        return key_pattern(self.settings.prefix, user=user, team=team, model=model)

    def invalidate(
        self, *, model: str | None = None, user: str | None = None, team: str | None = None
    ) -> int:
        """Drop the entries of ``model`` (``"provider/model"``, an alias or a model
        group), ``user`` and/or ``team`` (those left ``None`` match any; a user or team
        given matches only entries stored under it). Returns how many were dropped."""
        return int(self.backend.delete_matching(self._pattern(model, user, team)))

    async def ainvalidate(
        self, *, model: str | None = None, user: str | None = None, team: str | None = None
    ) -> int:
        return int(await self.backend.adelete_matching(self._pattern(model, user, team)))

    def clear(self) -> int:
        """Drop every entry (with Redis: every entry under this prefix)."""
        return int(self.backend.clear())

    async def aclear(self) -> int:
        return int(await self.backend.aclear())

    def _stats(self, backend: Mapping[str, Any]) -> CacheStats:
        c = self._counts
        with c.lock:
            hits, misses, coalesced = c.hits, c.misses, c.coalesced
            stores, bypassed, saved = c.stores, c.bypassed, c.saved_nano
        looked = hits + misses
        shared = dict(backend) if self.backend.shared else None
        return CacheStats(
            backend=self.backend.url, hits=hits, misses=misses,
            hit_ratio=hits / looked if looked else None, coalesced=coalesced,
            stores=stores, bypassed=bypassed, saved_nano=saved, saved_usd=saved / 1e9,
            entries=backend.get("entries"), bytes=backend.get("bytes"),
            evictions=backend.get("evictions"), shared=shared,
        )  # fmt: skip

    def stats(self) -> CacheStats:
        """Hits, misses, hit ratio, entries, bytes, evictions and saved USD."""
        return self._stats(self.backend.stats())

    async def astats(self) -> CacheStats:
        return self._stats(await self.backend.astats())

    def status(self) -> dict[str, Any]:
        """:meth:`stats` as a dict (``client.status()["cache"]``), with the semantic
        cache's counters under ``"semantic"`` when it is on."""
        return self._with_semantic(dataclasses.asdict(self.stats()))

    async def astatus(self) -> dict[str, Any]:
        return self._with_semantic(dataclasses.asdict(await self.astats()))

    def _with_semantic(self, out: dict[str, Any]) -> dict[str, Any]:
        semantic = self.semantic
        stats = getattr(semantic, "stats", None)
        if stats is not None:
            out["semantic"] = dataclasses.asdict(stats())
        return out

    def close(self) -> None:
        """Close the backend's connections (Redis: the blocking client's pool)."""
        self.backend.close()

    async def aclose(self) -> None:
        """Close the backend's connections, the async client's included."""
        await self.backend.aclose()
