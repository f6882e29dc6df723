"""Redis state: each operation is one round trip, the compound ones atomic Lua scripts.

Imported only when a ``redis://`` URL is opened, so the default path never loads
redis-py. Time comes from the caller (``now``) for windows and from the Redis server
for TTLs, so processes on one host agree without sharing a clock object.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio

from ..errors import ConfigurationError
from .base import StateStore, WindowEntry, display_url

__all__ = ["RedisStore"]

# KEYS[1]: a hash of "<bucket>:s" / "<bucket>:f" counts.
# ARGV: ok ("1" success, "0" failure, "-1" read only), now, window_s, buckets.
_OUTCOME_LUA = """
local window = tonumber(ARGV[3])
local buckets = tonumber(ARGV[4])
local cur = math.floor(tonumber(ARGV[2]) / (window / buckets))
local oldest = cur - buckets + 1
local ok = ARGV[1]
if ok == '1' then
  redis.call('HINCRBY', KEYS[1], cur .. ':s', 1)
elseif ok == '0' then
  redis.call('HINCRBY', KEYS[1], cur .. ':f', 1)
end
local flat = redis.call('HGETALL', KEYS[1])
local s, f = 0, 0
for i = 1, #flat, 2 do
  local field = flat[i]
  local sep = string.find(field, ':', 1, true)
  local idx = tonumber(string.sub(field, 1, sep - 1))
  if idx < oldest then
    redis.call('HDEL', KEYS[1], field)
  elseif string.sub(field, sep + 1) == 's' then
    s = s + tonumber(flat[i + 1])
  else
    f = f + tonumber(flat[i + 1])
  end
end
if ok ~= '-1' then
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
end
return {s, f}
"""

# KEYS[1]: the counter. ARGV: amount, window in ms. The TTL is set by the first
# increment only, so the window is fixed rather than sliding.
_INCR_LUA = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
"""


# Sliding-window counters, each a hash {i: fixed window index, c: current count,
# p: previous count}; mirrors MemoryStore.window_acquire and base.window_wait.
# KEYS: the counters. ARGV: now, window_s, then amount and limit per key.
# Returns {wait ("-1" = never), use per key} as strings (Lua numbers would truncate).
_SLIDE_LUA = """
local now = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local idx = math.floor(now / w)
local elapsed = now - idx * w
local keep = 1 - elapsed / w
local st = {}
local wait = 0
for k = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[k], 'i', 'c', 'p')
  local i, c, p = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if i == nil then
    i, c, p = idx, 0, 0
  elseif i < idx then
    if i == idx - 1 then p = math.max(c, 0) else p = 0 end
    i, c = idx, 0
  end
  st[k] = {i, c, p}
  local a, l = tonumber(ARGV[1 + 2 * k]), tonumber(ARGV[2 + 2 * k])
  local t = 0
  if a > 0 and p * keep + c + a > l then
    if a > l then
      t = -1
    elseif c + a <= l then
      t = math.max(0, w * (1 - (l - c - a) / p) - elapsed)
    else
      t = (w - elapsed) + w * (1 - (l - a) / c)
    end
  end
  if t < 0 or wait < 0 then wait = -1 elseif t > wait then wait = t end
end
local out = {}
local ttl = math.ceil(w * 2000)
for k = 1, #KEYS do
  local s = st[k]
  if wait == 0 then s[2] = s[2] + tonumber(ARGV[1 + 2 * k]) end
  redis.call('HSET', KEYS[k], 'i', s[1], 'c', tostring(s[2]), 'p', tostring(s[3]))
  redis.call('PEXPIRE', KEYS[k], ttl)
  out[k + 1] = tostring(math.max(0, s[3] * keep + s[2]))
end
out[1] = tostring(wait)
return out
"""

# KEYS[1]: a sliding-window counter. ARGV: amount, window_s, at, now.
_ADJUST_LUA = """
local w = tonumber(ARGV[2])
local at = math.floor(tonumber(ARGV[3]) / w)
local idx = math.floor(tonumber(ARGV[4]) / w)
local h = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
local i, c, p = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
if i == nil then
  return 0
elseif i < idx then
  if i == idx - 1 then p = math.max(c, 0) else p = 0 end
  i, c = idx, 0
end
local a = tonumber(ARGV[1])
if at >= i then c = c + a elseif at == i - 1 then p = p + a else return 0 end
redis.call('HSET', KEYS[1], 'i', i, 'c', tostring(c), 'p', tostring(p))
redis.call('PEXPIRE', KEYS[1], math.ceil(w * 2000))
return 1
"""

# KEYS[1]: the average, a string. ARGV: sample, alpha. Returned as a string (a Lua
# number reply would be truncated to an integer).
_EWMA_LUA = """
local sample = tonumber(ARGV[1])
local old = tonumber(redis.call('GET', KEYS[1]))
local avg = sample
if old ~= nil then avg = old + tonumber(ARGV[2]) * (sample - old) end
local text = string.format('%.17g', avg)
redis.call('SET', KEYS[1], text)
return text
"""


def _slide_args(entries: Sequence[WindowEntry], window_s: float, now: float) -> list[Any]:
    args: list[Any] = [repr(now), repr(float(window_s))]
    for _, amount, limit in entries:
        args += (amount, limit)
    return args


def _slide_result(raw: list[Any]) -> tuple[float, tuple[float, ...]]:
    wait = float(raw[0])
    return (math.inf if wait < 0 else wait), tuple(float(u) for u in raw[1:])


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else value.decode()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000 + 0.999))


class RedisStore(StateStore):
    """:class:`StateStore` on a Redis server (``redis://[:password@]host:port/db``,
    ``rediss://`` or ``unix://``). The sync methods use one ``redis.Redis``; the
    async ones a ``redis.asyncio.Redis`` per event loop."""

    def __init__(self, url: str, **options: Any) -> None:
        self._url = url
        self._options = {"decode_responses": True, **options}
        try:
            self._sync = redis.Redis.from_url(url, **self._options)
        except ValueError as exc:
            raise ConfigurationError(
                f"invalid Redis URL {display_url(url)!r}: {exc}", field="state"
            ) from None
        self._outcome = self._sync.register_script(_OUTCOME_LUA)
        self._incr = self._sync.register_script(_INCR_LUA)
        self._slide = self._sync.register_script(_SLIDE_LUA)
        self._adjust = self._sync.register_script(_ADJUST_LUA)
        self._ewma = self._sync.register_script(_EWMA_LUA)
        self._async: tuple[asyncio.AbstractEventLoop, Any, Any, Any] | None = None
        self._aslide: tuple[asyncio.AbstractEventLoop, Any, Any] | None = None
        self._aewma: tuple[asyncio.AbstractEventLoop, Any] | None = None

    def __repr__(self) -> str:
        return f"RedisStore({display_url(self._url)!r})"

    def _aclient(self) -> tuple[Any, Any, Any]:
        # An asyncio connection belongs to the loop that opened it; pytest and
        # asyncio.run() each bring a new loop, so keep one client per loop.
        loop = asyncio.get_running_loop()
        held = self._async
        if held is None or held[0] is not loop:
            client = redis.asyncio.Redis.from_url(self._url, **self._options)
            held = self._async = (
                loop,
                client,
                client.register_script(_OUTCOME_LUA),
                client.register_script(_INCR_LUA),
            )
        return held[1], held[2], held[3]

    # ---- sync

    def get(self, key: str) -> str | None:
        value = self._sync.get(key)
        return value if value is None or isinstance(value, str) else value.decode()

    def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        px = _ms(ttl) if ttl is not None else None
        return bool(self._sync.set(key, value, px=px, nx=only_if_absent))

    def delete(self, *keys: str) -> None:
        if keys:
            self._sync.delete(*keys)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        return [_text(v) for v in self._sync.mget(list(keys))]

    def ewma(self, key: str, sample: float, alpha: float) -> float:
        return float(self._ewma(keys=[key], args=[repr(float(sample)), repr(float(alpha))]))

    def incr_window(self, key: str, amount: int, window_s: float) -> int:
        return int(self._incr(keys=[key], args=[amount, _ms(window_s)]))

    def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        s, f = self._outcome(keys=[key], args=["1" if ok else "0", repr(now), window_s, buckets])
        return int(s), int(f)

    def outcomes(self, key: str, now: float, window_s: float, buckets: int) -> tuple[int, int]:
        s, f = self._outcome(keys=[key], args=["-1", repr(now), window_s, buckets])
        return int(s), int(f)

    def window_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float
    ) -> tuple[float, tuple[float, ...]]:
        keys = [key for key, _, _ in entries]
        return _slide_result(self._slide(keys=keys, args=_slide_args(entries, window_s, now)))

    def window_adjust(self, key: str, amount: int, window_s: float, at: float, now: float) -> None:
        self._adjust(keys=[key], args=[amount, repr(float(window_s)), repr(at), repr(now)])

    def close(self) -> None:
        self._sync.close()

    # ---- async

    async def aget(self, key: str) -> str | None:
        client, _, _ = self._aclient()
        return await client.get(key)  # type: ignore[no-any-return]

    async def aset(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        client, _, _ = self._aclient()
        px = _ms(ttl) if ttl is not None else None
        return bool(await client.set(key, value, px=px, nx=only_if_absent))

    async def adelete(self, *keys: str) -> None:
        if keys:
            client, _, _ = self._aclient()
            await client.delete(*keys)

    async def aget_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        client, _, _ = self._aclient()
        return [_text(v) for v in await client.mget(list(keys))]

    async def aewma(self, key: str, sample: float, alpha: float) -> float:
        client, _, _ = self._aclient()
        loop = asyncio.get_running_loop()
        held = self._aewma
        if held is None or held[0] is not loop:
            held = self._aewma = (loop, client.register_script(_EWMA_LUA))
        args = [repr(float(sample)), repr(float(alpha))]
        return float(await held[1](keys=[key], args=args))

    async def aincr_window(self, key: str, amount: int, window_s: float) -> int:
        _, _, incr = self._aclient()
        return int(await incr(keys=[key], args=[amount, _ms(window_s)]))

    async def arecord_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        _, outcome, _ = self._aclient()
        args = ["1" if ok else "0", repr(now), window_s, buckets]
        s, f = await outcome(keys=[key], args=args)
        return int(s), int(f)

    async def aoutcomes(
        self, key: str, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        _, outcome, _ = self._aclient()
        s, f = await outcome(keys=[key], args=["-1", repr(now), window_s, buckets])
        return int(s), int(f)

    def _aslide_scripts(self) -> tuple[Any, Any]:
        client, _, _ = self._aclient()
        held = self._aslide
        if held is None or held[0] is not asyncio.get_running_loop():
            held = self._aslide = (
                asyncio.get_running_loop(),
                client.register_script(_SLIDE_LUA),
                client.register_script(_ADJUST_LUA),
            )
        return held[1], held[2]

    async def awindow_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float
    ) -> tuple[float, tuple[float, ...]]:
        slide, _ = self._aslide_scripts()
        keys = [key for key, _, _ in entries]
        return _slide_result(await slide(keys=keys, args=_slide_args(entries, window_s, now)))

    async def awindow_adjust(
        self, key: str, amount: int, window_s: float, at: float, now: float
    ) -> None:
        _, adjust = self._aslide_scripts()
        await adjust(keys=[key], args=[amount, repr(float(window_s)), repr(at), repr(now)])

    async def aclose(self) -> None:
        held, self._async = self._async, None
        if held is not None:
            await held[1].aclose()
        self._sync.close()
