"""The semantic cache (opt-in): a paraphrase of an earlier question gets its answer.

Plugged into the exact-match :class:`~llmswitch.cache.layer.ResponseCache` through its
:class:`~llmswitch.cache.layer.SemanticHook`: after an exact miss, before the call goes
upstream, the question is embedded and compared with the questions already answered;
the nearest one at or above ``threshold`` (cosine similarity, default 0.95) is served.
Every answer stored after a miss is indexed with its question's vector.

What is embedded: the **last user turn** only (its text). Everything else that changes
the answer is matched exactly, through the *partition* the vector is filed under: the
tenant (user and team, as the exact key), the model (after alias/group resolution),
the system prompt and every earlier turn, tools, tool_choice, response_format,
reasoning, sampling options, extra_body and the embedding model. So "What's the
capital of France?" finds "what is France's capital" only in the same conversation, for
the same tenant, tools and format: never an answer built for another schema or tenant.
A call whose last turn is not a user text message (a tool result, an image) is not
looked up semantically.

The embedding goes through the client's own embed path (its provider, keys and vault),
and each is a usage-ledger row (status ``ok``, priced like any embedding). A miss
therefore adds one embedding call's latency (tens of milliseconds with a hosted model)
to the upstream call: that is why this is opt-in. An embedding that fails is a miss,
logged, never an error.

A hit is an exact-cache hit in every other way (``resp.cached``, ``cache_age``, cost 0,
a ``cached`` ledger row with what it saved) and says how near it was:
``resp.cache_similarity``. Configure it under ``[cache.semantic]``; the vectors live
where the exact entries do (``[cache] url``): see :mod:`.semantic_index`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .._log import get_logger
from ..messages import ChatRequest, TextPart
from ..middleware._drive import Op, Ops
from ..middleware.base import Call
from ..usage._tags import CallTags, call_tags
from ._codec import Entry, response_of
from ._key import _OPTIONS, Uncacheable, _default
from .semantic_index import MemoryIndex, RedisIndex, normalized

__all__ = ["SemanticCache", "SemanticSettings", "SemanticStats", "question_of"]

log = get_logger("llmswitch.cache")
_STATE_KEY = "llmswitch.cache.semantic"  # Call.state: (partition, vector) for the store
_FIELDS = ("cached", "cache_age", "cache_similarity")


@dataclass(frozen=True, slots=True, kw_only=True)
class SemanticSettings:
    """``[cache.semantic]``. ``model``: the embedding model (``provider/model`` or an
    alias). ``threshold``: the cosine similarity at or above which a stored answer is
    served. ``max_entries``: vectors kept per partition (oldest dropped first).
    ``dimensions``: shorter vectors where the model can (``None``: its default)."""

    model: str
    threshold: float = 0.95
    max_entries: int = 1000
    dimensions: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SemanticStats:
    """This process's semantic lookups: ``lookups`` (embedded questions), ``hits``,
    ``misses`` (lookups not served), ``similarity`` (the mean similarity of the hits,
    ``None`` before the first), ``skipped`` (not a user text turn), ``embed_failures``,
    ``entries`` (memory only)."""

    lookups: int
    hits: int
    skipped: int
    embed_failures: int
    entries: int | None
    misses: int = 0
    similarity: float | None = None


def question_of(request: ChatRequest) -> tuple[str, Any] | None:
    """The last user turn's text and what comes before it (matched exactly), or
    ``None`` when the last turn is not a user text message."""
    if not request.messages:
        return None
    last = request.messages[-1]
    if last.role != "user" or last.tool_calls:
        return None
    content = last.content
    if isinstance(content, tuple) and not all(isinstance(p, TextPart) for p in content):
        return None
    text = last.text.strip()
    if not text:
        return None
    return text, (request.system, request.messages[:-1])


def _partition(key: str, request: ChatRequest, context: Any, model: str) -> str:
    """``<user>.<team>.<model>.<digest>``: the exact key's scope and target (its last
    parts: ``<prefix>e:<user>.<team>.<model>.<digest>``, see :mod:`._key`), then a hash
    of everything except the question (see the module docs)."""
    head, team, target, _ = key.rsplit(".", 3)
    scope = f"{head[head.rfind(':') + 1 :]}.{team}.{target}"
    r = request
    body = (
        model, context, r.tools, r.tool_choice, r.temperature, r.max_tokens, r.top_p,
        r.stop, r.response_format, r.reasoning, r.extra_body,
    )  # fmt: skip
    try:
        blob = orjson.dumps(body, default=_default, option=_OPTIONS)
    except TypeError as exc:
        raise Uncacheable(str(exc)) from None
    return f"{scope}.{hashlib.sha256(blob).hexdigest()[:32]}"


class _Counts:
    __slots__ = ("embed_failures", "hits", "lock", "lookups", "similarity_sum", "skipped")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lookups = self.hits = self.skipped = self.embed_failures = 0
        self.similarity_sum = 0.0

    def hit(self, similarity: float) -> None:
        with self.lock:
            self.hits += 1
            self.similarity_sum += similarity

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


Embed = Callable[[str], Any]


class SemanticCache:
    """The :class:`~llmswitch.cache.layer.SemanticHook` of a
    :class:`~llmswitch.cache.layer.ResponseCache`. ``embed``/``aembed``: text -> an
    :class:`~llmswitch.messages.EmbeddingResponse` (the client's embed path: see
    :func:`client_embedders`). ``exact``: the exact cache's backend (where the answers
    are). ``index``: a :class:`~.semantic_index.MemoryIndex` or
    :class:`~.semantic_index.RedisIndex` (default: the one matching ``exact``).
    ``record``: told of each embedding's usage row."""

    def __init__(
        self,
        settings: SemanticSettings,
        *,
        exact: Any,
        embed: Embed,
        aembed: Callable[[str], Any],
        index: Any = None,
        record: Callable[[Any], None] | None = None,
        metrics: Any = None,
    ) -> None:
        """``metrics``: told of each lookup's outcome and similarity
        (``semantic_lookup``, see :class:`~llmswitch.middleware.Metrics`)."""
        self.settings = settings
        self.exact = exact
        if index is None:
            shared = getattr(exact, "shared", False)
            index = (
                RedisIndex(exact, max_entries=settings.max_entries)
                if shared
                else MemoryIndex(max_entries=settings.max_entries)
            )
        self.index = index
        self._embed = embed
        self._aembed = aembed
        self.record = record
        self._counts = _Counts()
        self._report = getattr(metrics, "semantic_lookup", None)
        # Redis: the counters every process adds, for `llmswitch status`.
        self._shared = exact if getattr(exact, "shared", False) else None

    def __repr__(self) -> str:
        return f"SemanticCache({self.settings.model!r}, threshold={self.settings.threshold})"

    # ---------------------------------------------------------------- the hook

    def lookup(self, call: Call, key: str) -> Ops:
        """The stored entry of the nearest earlier question, marked with its
        similarity, or ``None`` (yielding the embedding, search and fetch effects)."""
        question = question_of(call.request)
        if question is None:
            self._counts.add("skipped")
            return None
        text, context = question
        try:
            partition = _partition(key, call.request, context, self.settings.model)
        except Uncacheable:
            self._counts.add("skipped")
            return None
        vector = yield Op(self._vector, self._avector, text, call_tags(call.state))
        if vector is None:
            return None
        call.state[_STATE_KEY] = (partition, vector)
        self._counts.add("lookups")
        index = self.index
        found = yield Op(index.search, index.asearch, partition, vector)
        entry = None
        near, similarity = found if found is not None else ("", 0.0)
        if found is not None and similarity >= self.settings.threshold:
            entry = yield Op(self.exact.get, self.exact.aget, near, False)
            if entry is None:  # expired or invalidated in the exact cache
                yield Op(index.forget, index.aforget, partition, near)
            else:
                self._counts.hit(similarity)
        yield from self._counted(entry is not None, None if found is None else similarity)
        return None if entry is None else _with_similarity(entry, similarity)

    def _counted(self, hit: bool, similarity: float | None) -> Ops:
        outcome = "hit" if hit else "miss"
        if self._report is not None:
            self._report(outcome, similarity)
        shared = self._shared
        if shared is not None:
            counts = {"semantic_lookups": 1}
            if hit and similarity is not None:
                counts["semantic_hits"] = 1
                counts["semantic_similarity_micro"] = round(similarity * 1e6)
            yield Op(shared.count, shared.acount, counts)

    def store(self, call: Call, key: str, entry: Entry, ttl: float) -> Ops:
        """File the question's vector (computed by :meth:`lookup`) under ``key``."""
        held = call.state.pop(_STATE_KEY, None)
        if held is None:
            return
        partition, vector = held
        yield Op(self.index.add, self.index.aadd, partition, key, vector, ttl)

    # ---------------------------------------------------------------- embedding

    def _vector(self, text: str, tags: CallTags) -> array[float] | None:
        started = time.perf_counter()
        try:
            response = self._embed(text)
        except Exception as exc:
            return self._failed(exc)
        return self._unit(response, started, tags)

    async def _avector(self, text: str, tags: CallTags) -> array[float] | None:
        started = time.perf_counter()
        try:
            response = await self._aembed(text)
        except Exception as exc:
            return self._failed(exc)
        return self._unit(response, started, tags)

    def _failed(self, exc: Exception) -> array[float] | None:
        self._counts.add("embed_failures")
        log.warning(
            "cache.semantic.embed_failed model=%s: %s; a miss",
            self.settings.model, type(exc).__name__,
            extra={"event": "cache.semantic.embed_failed"},
        )  # fmt: skip
        return None

    def _unit(self, response: Any, started: float, tags: CallTags) -> array[float] | None:
        if self.record is not None:
            self._record(response, started, tags)
        vectors = getattr(response, "vectors", None)
        if not vectors:
            return None
        return normalized(vectors[0])

    def _record(self, response: Any, started: float, tags: CallTags) -> None:
        from ..usage.middleware import embedding_record

        assert self.record is not None
        try:
            self.record(embedding_record(
                response.provider, response.model, response.usage, user=None,
                at=time.time(), latency=time.perf_counter() - started, tags=tags,
            ))  # fmt: skip
        except Exception:  # the ledger must never fail the call
            log.exception("semantic cache embedding not recorded")

    # ---------------------------------------------------------------- management

    def stats(self) -> SemanticStats:
        c = self._counts
        entries = self.index.entries() if isinstance(self.index, MemoryIndex) else None
        with c.lock:
            mean = round(c.similarity_sum / c.hits, 6) if c.hits else None
            return SemanticStats(
                lookups=c.lookups, hits=c.hits, misses=c.lookups - c.hits, similarity=mean,
                skipped=c.skipped, embed_failures=c.embed_failures, entries=entries,
            )  # fmt: skip

    def clear(self) -> None:
        self.index.clear()


def _with_similarity(entry: Entry, similarity: float) -> Entry:
    """``entry`` whose response carries ``cache_similarity`` (its events, if any, kept:
    a stream hit still replays the stored events)."""
    import dataclasses

    response = dataclasses.replace(response_of(entry), cache_similarity=round(similarity, 6))
    return dataclasses.replace(entry, response=response)


def client_embedders(core: Any, settings: SemanticSettings) -> tuple[Embed, Any]:
    """``embed(text)`` and ``aembed(text)`` through a client core's own embed path (the
    provider it resolves the model to, and its vault key when it has one)."""
    model, dims = settings.model, settings.dimensions

    def embed(text: str) -> Any:
        provider, request, ctx = core.embed_request(model, text, dimensions=dims)
        keyed = core.outside
        if keyed is not None:
            return keyed.call(provider, request.user, lambda p: p.embed(request, ctx))
        return provider.embed(request, ctx)

    async def aembed(text: str) -> Any:
        provider, request, ctx = core.embed_request(model, text, dimensions=dims)
        keyed = core.outside
        if keyed is not None:
            return await keyed.acall(provider, request.user, lambda p: p.aembed(request, ctx))
        return await provider.aembed(request, ctx)

    return embed, aembed
