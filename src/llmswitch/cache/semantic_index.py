"""Where the semantic cache keeps its vectors: this process, or Redis.

Each *partition* (a tenant, a model and everything besides the question that changes
the answer: see :mod:`.semantic`) holds at most ``max_entries`` vectors, the oldest
dropped first. A vector points at an exact-match entry by its key, so the answer itself
is stored once (by the exact cache, with its TTL) and an entry that expired or was
invalidated there is simply a miss here.

Search is brute force: the cosine similarity of the (unit-length) query with every
vector of the partition. Plain Redis has no vector search (that is the RediSearch
module), so the Redis index fetches the whole partition in one round trip (``HGETALL``)
and scans it here. With numpy installed (not a dependency) the scan is one matrix
product; without it, dot products in Python (``math.sumprod`` on Python 3.12+, in C;
``sum(map(mul, ...))`` before). See ``bench/cache_semantic.py`` for the figures.

Vectors are stored as packed little-endian float32 with their expiry (epoch seconds,
a float64) in front.
"""

from __future__ import annotations

import math
import operator
import struct
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MemoryIndex", "RedisIndex", "normalized", "pack", "unpack"]

_np: Any
try:  # optional: a matrix product instead of Python loops
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is installed with the dev extras
    _np = None

_sumprod = getattr(math, "sumprod", None)  # Python 3.12+: a dot product in C


def _dot(a: array[float], b: array[float]) -> float:
    if _sumprod is not None:
        return float(_sumprod(a, b))
    return float(sum(map(operator.mul, a, b)))


_EXPIRY = struct.Struct("<d")
_MAX_PARTITIONS = 4096  # memory: partitions kept (least recently used dropped first)


def normalized(vector: Sequence[float]) -> array[float] | None:
    """``vector`` scaled to length 1 as float32 (``None``: empty or all zeros)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if not norm or not math.isfinite(norm):
        return None
    return array("f", [x / norm for x in vector])


def pack(vector: array[float], expires: float) -> bytes:
    return _EXPIRY.pack(expires) + vector.tobytes()


def unpack(value: bytes) -> tuple[float, array[float]]:
    vector = array("f")
    vector.frombytes(value[_EXPIRY.size :])
    return _EXPIRY.unpack_from(value)[0], vector


def _best(
    query: array[float], keys: Sequence[str], vectors: Sequence[array[float]]
) -> tuple[str, float] | None:
    """The key of the vector nearest ``query`` and its cosine similarity (all unit
    length, so the dot product); vectors of another dimension are skipped."""
    size = len(query)
    same = [i for i, v in enumerate(vectors) if len(v) == size]
    if not same:
        return None
    if _np is not None:
        blob = b"".join(vectors[i].tobytes() for i in same)
        return _best_of_matrix(query, [keys[i] for i in same], _matrix(blob, size))
    dot = _dot
    best_i, best = -1, -2.0
    for i in same:
        score = dot(query, vectors[i])
        if score > best:
            best_i, best = i, score
    return keys[best_i], best


def _matrix(blob: bytes, size: int) -> Any:
    return _np.frombuffer(blob, dtype=_np.float32).reshape(-1, size)


def _best_of_matrix(query: array[float], keys: Sequence[str], matrix: Any) -> tuple[str, float]:
    scores = matrix @ _np.frombuffer(query, dtype=_np.float32)
    at = int(scores.argmax())
    return keys[at], float(scores[at])


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


class _Partition:
    # ``packed``: (vector size, keys, numpy matrix) of the last search, reused until
    # the partition changes: a search is then one matrix-vector product.
    __slots__ = ("expires", "packed", "vectors")

    def __init__(self) -> None:
        self.vectors: OrderedDict[str, array[float]] = OrderedDict()
        self.expires: dict[str, float] = {}
        self.packed: tuple[int, list[str], Any] | None = None


class MemoryIndex:
    """Vectors in this process: per partition an insertion-ordered dict, at most
    ``max_entries``; at most 4,096 partitions. ``wall``: epoch seconds (injectable)."""

    shared = False

    def __init__(self, *, max_entries: int = 1000, wall: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.wall = wall
        self._lock = threading.Lock()
        self._parts: OrderedDict[str, _Partition] = OrderedDict()

    def search(self, partition: str, query: array[float]) -> tuple[str, float] | None:
        with self._lock:
            part = self._parts.get(partition)
            if part is None:
                return None
            self._parts.move_to_end(partition)
            now = self.wall()
            for key in [k for k, at in part.expires.items() if at <= now]:
                del part.vectors[key], part.expires[key]
                part.packed = None
            packed = part.packed
            if _np is not None and packed is not None and packed[0] == len(query):
                return _best_of_matrix(query, packed[1], packed[2]) if packed[1] else None
            keys = list(part.vectors)
            vectors = list(part.vectors.values())
            if _np is not None:
                size = len(query)
                same = [k for k, v in zip(keys, vectors, strict=True) if len(v) == size]
                blob = b"".join(v.tobytes() for v in vectors if len(v) == size)
                packed = part.packed = (size, same, _matrix(blob, size))
                return _best_of_matrix(query, same, packed[2]) if same else None
        return _best(query, keys, vectors)

    def add(self, partition: str, key: str, vector: array[float], ttl: float) -> None:
        with self._lock:
            part = self._parts.get(partition)
            if part is None:
                part = self._parts[partition] = _Partition()
                if len(self._parts) > _MAX_PARTITIONS:
                    self._parts.popitem(last=False)
            self._parts.move_to_end(partition)
            part.vectors.pop(key, None)
            part.vectors[key] = vector
            part.packed = None
            part.expires[key] = self.wall() + ttl
            while len(part.vectors) > self.max_entries:
                oldest, _ = part.vectors.popitem(last=False)
                del part.expires[oldest]

    def forget(self, partition: str, key: str) -> None:
        with self._lock:
            part = self._parts.get(partition)
            if part is not None and part.vectors.pop(key, None) is not None:
                del part.expires[key]
                part.packed = None

    def entries(self) -> int:
        with self._lock:
            return sum(len(p.vectors) for p in self._parts.values())

    def clear(self) -> None:
        with self._lock:
            self._parts.clear()

    async def asearch(self, partition: str, query: array[float]) -> tuple[str, float] | None:
        return self.search(partition, query)

    async def aadd(self, partition: str, key: str, vector: array[float], ttl: float) -> None:
        self.add(partition, key, vector, ttl)

    async def aforget(self, partition: str, key: str) -> None:
        self.forget(partition, key)


# KEYS: the partition's hash, its order list. ARGV: field, packed vector, cap, ttl ms.
# The list keeps insertion order (LREM first: a re-stored field moves to the end).
_ADD_LUA = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
local over = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[3])
for _ = 1, over do
  local old = redis.call('LPOP', KEYS[2])
  if old then redis.call('HDEL', KEYS[1], old) end
end
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return over
"""


class RedisIndex:
    """Vectors in Redis, next to the exact entries: partition ``P`` is the hash
    ``<prefix>s:P`` (field: the entry's key, value: expiry + float32 vector) and its
    order list ``<prefix>so:P``; both expire with the partition's newest vector. A
    search is one ``HGETALL``, an add one script. Uses the connections (and the outage
    rule: a failure is a miss or a no-op, logged once per 30 s) of ``backend``, the
    exact cache's :class:`~llmswitch.cache.redis_backend.RedisBackend`."""

    shared = True

    def __init__(
        self, backend: Any, *, max_entries: int = 1000, wall: Callable[[], float] = time.time
    ) -> None:
        self.backend = backend
        self.prefix = backend.prefix
        self.max_entries = max_entries
        self.wall = wall
        self._add = backend._sync.register_script(_ADD_LUA)
        self._aadd: tuple[Any, Any] | None = None

    def _keys(self, partition: str) -> list[str]:
        return [f"{self.prefix}s:{partition}", f"{self.prefix}so:{partition}"]

    def _found(self, raw: Any, query: array[float]) -> tuple[str, float] | None:
        if not raw:
            return None
        now = self.wall()
        if _np is not None:  # one join, the expiries and vectors read as one record array
            width = _EXPIRY.size + 4 * len(query)
            items = [(f, v) for f, v in raw.items() if len(v) == width]
            if not items:
                return None
            kind = _np.dtype([("e", "<f8"), ("v", "<f4", (len(query),))])
            rows = _np.frombuffer(b"".join(v for _, v in items), dtype=kind)
            live = _np.flatnonzero(rows["e"] > now)
            if not len(live):
                return None
            names = [_text(items[i][0]) for i in live]
            return _best_of_matrix(query, names, rows["v"][live])
        keys: list[str] = []
        vectors: list[array[float]] = []
        for field, value in raw.items():
            try:
                expires, vector = unpack(value)
            except (struct.error, ValueError):  # damaged or another version's
                continue
            if expires > now:
                keys.append(_text(field))
                vectors.append(vector)
        return _best(query, keys, vectors)

    def _args(self, key: str, vector: array[float], ttl: float) -> list[Any]:
        return [key, pack(vector, self.wall() + ttl), self.max_entries, max(1, int(ttl * 1000))]

    def search(self, partition: str, query: array[float]) -> tuple[str, float] | None:
        raw = None
        with self.backend._guard():
            raw = self.backend._sync.hgetall(self._keys(partition)[0])
        return self._found(raw, query)

    def add(self, partition: str, key: str, vector: array[float], ttl: float) -> None:
        with self.backend._guard():
            self._add(keys=self._keys(partition), args=self._args(key, vector, ttl))

    def forget(self, partition: str, key: str) -> None:
        keys = self._keys(partition)
        with self.backend._guard():
            self.backend._sync.pipeline().hdel(keys[0], key).lrem(keys[1], 0, key).execute()

    def _ascript(self) -> Any:
        client, _ = self.backend._aclient()
        held = self._aadd
        if held is None or held[0] is not client:
            held = self._aadd = (client, client.register_script(_ADD_LUA))
        return held[1]

    async def asearch(self, partition: str, query: array[float]) -> tuple[str, float] | None:
        raw = None
        with self.backend._guard():
            client, _ = self.backend._aclient()
            raw = await client.hgetall(self._keys(partition)[0])
        return self._found(raw, query)

    async def aadd(self, partition: str, key: str, vector: array[float], ttl: float) -> None:
        with self.backend._guard():
            await self._ascript()(keys=self._keys(partition), args=self._args(key, vector, ttl))

    async def aforget(self, partition: str, key: str) -> None:
        keys = self._keys(partition)
        with self.backend._guard():
            client, _ = self.backend._aclient()
            await client.pipeline().hdel(keys[0], key).lrem(keys[1], 0, key).execute()

    def clear(self) -> None:
        with self.backend._guard():
            sync = self.backend._sync
            names = list(sync.scan_iter(match=f"{self.prefix}s*:*", count=1000))
            if names:
                sync.delete(*names)
