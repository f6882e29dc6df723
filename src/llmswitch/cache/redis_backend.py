"""The Redis cache: entries shared by every process using the server.

Each entry is a hash ``{v: value, c: what the original call cost}`` with a TTL; the
value is the encoded entry (:mod:`._codec`), zlib-compressed above 512 bytes. A hit is
one round trip: one script reads the entry and counts the hit (and what it saved) in
``<prefix>stats``, shared by every process, which is what ``llmswitch status`` shows.
A store is one round trip too (a ``MULTI`` of HSET, PEXPIRE and a counter).

Coalescing across processes: the first process to miss takes ``<prefix>l:<key>`` with
``SET NX PX`` (held at most ``lock_timeout``); the others poll the entry and the lock
(one script per poll) until the entry appears, or the lock is gone without it (its
holder failed, or died and the lock expired): then one of them takes it over.

A Redis outage makes every operation a miss (lookups find nothing, stores and locks do
nothing), never an error; one WARNING per 30 s says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._log import get_logger
from ..storage.base import display_url
from ._codec import Entry, decode, encode
from ._key import key_pattern

__all__ = ["RedisBackend"]

log = get_logger("llmswitch.cache")
_WARN_EVERY = 30.0
_COMPRESS_ABOVE = 512
_SCAN_LIMIT = 100_000  # stats() counts at most this many entries

# KEYS: the entry, the stats hash. ARGV[1]: "1" to count the lookup.
_GET_LUA = """
local v = redis.call('HMGET', KEYS[1], 'v', 'c')
if ARGV[1] == '1' then
  if v[1] then
    redis.call('HINCRBY', KEYS[2], 'hits', 1)
    if v[2] and v[2] ~= '' then redis.call('HINCRBY', KEYS[2], 'saved_nano', v[2]) end
  else
    redis.call('HINCRBY', KEYS[2], 'misses', 1)
  end
end
return v[1]
"""
# KEYS: the entry, its lock. Returns {value or '', lock exists}.
_PEEK_LUA = """
local v = redis.call('HGET', KEYS[1], 'v')
return {v or '', redis.call('EXISTS', KEYS[2])}
"""
# KEYS: the lock. ARGV: the holder's token. Deletes it only if still that holder's.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SCRIPTS = {"get": _GET_LUA, "peek": _PEEK_LUA, "release": _RELEASE_LUA}


def _pack(entry: Entry) -> bytes:
    raw = encode(entry)
    return b"z" + zlib.compress(raw, 1) if len(raw) > _COMPRESS_ABOVE else b"j" + raw


def _unpack(value: bytes) -> Entry:
    body = memoryview(value)[1:]
    return decode(zlib.decompress(body) if value[:1] == b"z" else bytes(body))


def _name(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000 + 0.999))


class RedisBackend:
    """``redis://``, ``rediss://`` or ``unix://``. The sync operations use one
    ``redis.Redis``, the async ones a ``redis.asyncio.Redis`` per event loop; both with
    ``decode_responses=False`` (values are bytes), 1 s to connect and 2 s per command
    (a slow cache must not hold a call long), overridable through ``options``."""

    shared = True
    inline = False  # network I/O: the layer yields its calls to the sync/async driver

    def __init__(self, url: str, *, prefix: str = "llmswitch:cache:", **options: Any) -> None:
        self._url = url
        self.url = display_url(url)
        self.prefix = prefix
        self._stats_key = prefix + "stats"
        self._options = {
            "decode_responses": False,
            "socket_connect_timeout": 1.0,
            "socket_timeout": 2.0,
            **options,
        }
        from ..errors import ConfigurationError

        try:
            self._sync = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **self._options)
        except ValueError as exc:
            raise ConfigurationError(
                f"invalid Redis URL {self.url!r}: {type(exc).__name__}", field="cache.url"
            ) from None
        self._scripts = {n: self._sync.register_script(s) for n, s in _SCRIPTS.items()}
        self._async: tuple[asyncio.AbstractEventLoop, Any, dict[str, Any]] | None = None
        self._warned = -_WARN_EVERY
        self.failures = 0  # operations that failed (each a miss or a no-op)

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, prefix={self.prefix!r})"

    def lock_key(self, key: str) -> str:
        return self.prefix + "l:" + key[len(self.prefix) + 2 :]

    # ---- failures

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY:
            self._warned = now
            log.warning(
                "cache.unavailable url=%s: %s; serving without the cache",
                self.url, type(exc).__name__,
                extra={"event": "cache.unavailable", "url": self.url},
            )  # fmt: skip

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def _aclient(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        held = self._async
        if held is None or held[0] is not loop:
            client = redis.asyncio.Redis.from_url(
                self._url, retry=AsyncRetry(NoBackoff(), 1), **self._options
            )
            scripts = {n: client.register_script(s) for n, s in _SCRIPTS.items()}
            held = self._async = (loop, client, scripts)
        return held[1], held[2]

    def _decoded(self, value: Any) -> Entry | None:
        if not value:
            return None
        try:
            return _unpack(value)
        except (ValueError, zlib.error):  # another version's entry, or damaged: a miss
            return None

    # ---- sync

    def get(self, key: str, count: bool = True) -> Entry | None:
        value = None
        with self._guard():
            value = self._scripts["get"](keys=[key, self._stats_key], args=["1" if count else "0"])
        return self._decoded(value)

    def set(self, key: str, entry: Entry, ttl: float) -> bool:
        try:
            value = _pack(entry)
        except TypeError:
            return False
        cost = "" if entry.cost_nano is None else str(entry.cost_nano)
        with self._guard():
            pipe = self._sync.pipeline(transaction=True)
            pipe.hset(key, mapping={"v": value, "c": cost})
            pipe.pexpire(key, _ms(ttl))
            pipe.hincrby(self._stats_key, "stores", 1)
            pipe.execute()
            return True
        return False

    def peek(self, key: str) -> tuple[Entry | None, bool]:
        with self._guard():
            value, locked = self._scripts["peek"](keys=[key, self.lock_key(key)])
            return self._decoded(value), bool(locked)
        return None, False

    def claim(self, key: str, ttl: float) -> str | None:
        """The lock's token when this process now holds it, else ``None``; during an
        outage every process is its own holder (a token, so the call goes on)."""
        token = os.urandom(8).hex()
        with self._guard():
            return (
                token if self._sync.set(self.lock_key(key), token, nx=True, px=_ms(ttl)) else None
            )
        return token

    def release(self, key: str, token: str) -> None:
        with self._guard():
            self._scripts["release"](keys=[self.lock_key(key)], args=[token])

    def delete_matching(self, pattern: str) -> int:
        gone = 0
        with self._guard():
            batch: list[bytes] = []
            for k in self._sync.scan_iter(match=pattern, count=1000):
                batch.append(k)
                if len(batch) >= 1000:
                    gone += self._sync.delete(*batch)
                    batch = []
            if batch:
                gone += self._sync.delete(*batch)
        return gone

    def clear(self) -> int:
        return self.delete_matching(key_pattern(self.prefix))

    def stats(self) -> dict[str, Any]:
        """The counters every process sharing this server and prefix added, and the
        entries and bytes stored now (walked with SCAN: for operators, not the call path)."""
        out: dict[str, Any] = {"url": self.url, "prefix": self.prefix}
        with self._guard():
            raw = self._sync.hgetall(self._stats_key)
            counts = {_name(k): int(v) for k, v in raw.items()}
            entries = size = 0
            keys: list[bytes] = []
            for k in self._sync.scan_iter(match=key_pattern(self.prefix), count=1000):
                keys.append(k)
                if len(keys) >= 1000:
                    size += self._sizes(keys)
                    entries += len(keys)
                    keys = []
                if entries >= _SCAN_LIMIT:
                    break
            if keys:
                size += self._sizes(keys)
                entries += len(keys)
            out.update(
                hits=counts.get("hits", 0), misses=counts.get("misses", 0),
                stores=counts.get("stores", 0), saved_nano=counts.get("saved_nano", 0),
                entries=entries, bytes=size,
            )  # fmt: skip
            if counts.get("semantic_lookups"):  # [cache.semantic] on this server and prefix
                hits = counts.get("semantic_hits", 0)
                micro = counts.get("semantic_similarity_micro", 0)
                out["semantic"] = {
                    "lookups": counts["semantic_lookups"], "hits": hits,
                    "misses": counts["semantic_lookups"] - hits,
                    "similarity": round(micro / hits / 1e6, 6) if hits else None,
                }  # fmt: skip
            info = self._sync.info("stats")
            out["evictions"] = int(info.get("evicted_keys", 0))  # the server's, all keys
        return out

    def _sizes(self, keys: list[bytes]) -> int:
        pipe = self._sync.pipeline(transaction=False)
        for k in keys:
            pipe.hstrlen(k, "v")
        return sum(int(n) for n in pipe.execute())

    def count(self, counts: Mapping[str, int]) -> None:
        """Add ``counts`` to the shared counters (the semantic cache's)."""
        with self._guard():
            pipe = self._sync.pipeline(transaction=False)
            for name, n in counts.items():
                pipe.hincrby(self._stats_key, name, n)
            pipe.execute()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._sync.close()

    # ---- async

    async def aget(self, key: str, count: bool = True) -> Entry | None:
        value = None
        with self._guard():
            _, scripts = self._aclient()
            value = await scripts["get"](keys=[key, self._stats_key], args=["1" if count else "0"])
        return self._decoded(value)

    async def aset(self, key: str, entry: Entry, ttl: float) -> bool:
        try:
            value = _pack(entry)
        except TypeError:
            return False
        cost = "" if entry.cost_nano is None else str(entry.cost_nano)
        with self._guard():
            client, _ = self._aclient()
            pipe = client.pipeline(transaction=True)
            pipe.hset(key, mapping={"v": value, "c": cost})
            pipe.pexpire(key, _ms(ttl))
            pipe.hincrby(self._stats_key, "stores", 1)
            await pipe.execute()
            return True
        return False

    async def apeek(self, key: str) -> tuple[Entry | None, bool]:
        with self._guard():
            _, scripts = self._aclient()
            value, locked = await scripts["peek"](keys=[key, self.lock_key(key)])
            return self._decoded(value), bool(locked)
        return None, False

    async def aclaim(self, key: str, ttl: float) -> str | None:
        token = os.urandom(8).hex()
        with self._guard():
            client, _ = self._aclient()
            got = await client.set(self.lock_key(key), token, nx=True, px=_ms(ttl))
            return token if got else None
        return token

    async def arelease(self, key: str, token: str) -> None:
        with self._guard():
            _, scripts = self._aclient()
            await scripts["release"](keys=[self.lock_key(key)], args=[token])

    async def adelete_matching(self, pattern: str) -> int:
        return await asyncio.to_thread(self.delete_matching, pattern)

    async def aclear(self) -> int:
        return await asyncio.to_thread(self.clear)

    async def astats(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.stats)

    async def acount(self, counts: Mapping[str, int]) -> None:
        with self._guard():
            client, _ = self._aclient()
            pipe = client.pipeline(transaction=False)
            for name, n in counts.items():
                pipe.hincrby(self._stats_key, name, n)
            await pipe.execute()

    async def aclose(self) -> None:
        held, self._async = self._async, None
        if held is not None:
            with contextlib.suppress(Exception):
                await held[1].aclose()
        self.close()
