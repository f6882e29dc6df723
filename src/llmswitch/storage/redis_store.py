"""Redis state: each operation is one round trip, the compound ones atomic Lua scripts.

Imported only when a ``redis://`` URL is opened, so the default path never loads
redis-py. Sliding logs and TTLs use the Redis server's clock (unless the caller passes
``now``), so processes with skewed clocks agree; outcome windows take ``now``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import ConfigurationError, StateStoreError
from .base import (
    SECRET_KEY,
    Admission,
    StateStore,
    WindowEntry,
    display_url,
    keyed_id,
    resolve_secret,
)

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


# Sliding logs: per limit a sorted set of "<ident>:<amount>" members scored by the
# time they were admitted, and its running sum (a string key), so a decision costs
# O(log n) plus the entries that age out (each once). Mirrors MemoryStore.log_acquire.
# KEYS: per limit its log and its sum. ARGV: now ('' = the server's clock, so every
# process agrees), window_s, ident, then amount and limit per limit.
# Returns {wait ("-1" = never), at, sum per limit} as strings (Lua numbers would truncate).
_LOG_LUA = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local w = tonumber(ARGV[2])
local cutoff = now - w
local function weight(m) return tonumber(string.match(m, ':(%d+)$')) end
local n = #KEYS / 2
local sums, pruned = {}, {}
local wait, never = 0, false
for k = 1, n do
  local z, s = KEYS[2 * k - 1], KEYS[2 * k]
  local sum = tonumber(redis.call('GET', s))
  if sum == nil then
    sum = 0
    for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do sum = sum + weight(m) end
  end
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
  if #old > 0 then
    for _, m in ipairs(old) do sum = sum - weight(m) end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
    pruned[k] = true
  end
  if sum < 0 then sum = 0 end
  sums[k] = sum
  local a, l = tonumber(ARGV[2 + 2 * k]), tonumber(ARGV[3 + 2 * k])
  if a > 0 and sum + a > l then
    if a > l then
      never = true
    else
      local need, freed, at, i = sum + a - l, 0, now, 0
      while freed < need and i < 256 do
        local page = redis.call('ZRANGE', z, i, i + 31, 'WITHSCORES')
        if #page == 0 then break end
        for j = 1, #page, 2 do
          freed = freed + weight(page[j])
          at = tonumber(page[j + 1])
          i = i + 1
          if freed >= need then break end
        end
      end
      local t = math.max(at + w - now, 0.000001)
      if t > wait then wait = t end
    end
  end
end
local admit = wait == 0 and not never
local ttl = math.ceil(w * 1000) + 1000
local out = {}
for k = 1, n do
  local z, s = KEYS[2 * k - 1], KEYS[2 * k]
  local amount = ARGV[2 + 2 * k]
  local a = tonumber(amount)
  if admit and a > 0 then
    redis.call('ZADD', z, now, ARGV[3] .. ':' .. amount)
    sums[k] = sums[k] + a
    redis.call('PEXPIRE', z, ttl)
    redis.call('SET', s, string.format('%d', sums[k]), 'PX', ttl)
  elseif pruned[k] then
    if sums[k] > 0 then
      redis.call('SET', s, string.format('%d', sums[k]), 'KEEPTTL')
    else
      redis.call('DEL', s)
    end
  end
  out[k + 2] = string.format('%d', sums[k])
end
if never then out[1] = '-1' else out[1] = string.format('%.17g', wait) end
out[2] = string.format('%.17g', now)
return out
"""

# KEYS: a log and its sum. ARGV: ident, amount it was logged with, delta, window_s.
_LOG_ADJUST_LUA = """
local m = ARGV[1] .. ':' .. ARGV[2]
local at = redis.call('ZSCORE', KEYS[1], m)
if not at then return 0 end
local old = tonumber(ARGV[2])
local new = math.max(old + tonumber(ARGV[3]), 0)
redis.call('ZREM', KEYS[1], m)
local ttl = math.ceil(tonumber(ARGV[4]) * 1000) + 1000
if new > 0 then
  redis.call('ZADD', KEYS[1], at, ARGV[1] .. ':' .. string.format('%d', new))
  redis.call('PEXPIRE', KEYS[1], ttl)
end
local sum = math.max((tonumber(redis.call('GET', KEYS[2])) or old) + new - old, 0)
redis.call('SET', KEYS[2], string.format('%d', sum), 'PX', ttl)
return 1
"""

# KEYS[1]: where the generated secret lives. ARGV[1]: a fresh random one, kept only if
# no process stored one before.
_SECRET_LUA = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
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


def _log_keys(entries: Sequence[WindowEntry]) -> list[str]:
    keys: list[str] = []
    for key, _, _ in entries:
        keys += (key, key + _SUM)
    return keys


def _log_args(
    entries: Sequence[WindowEntry], window_s: float, now: float | None, ident: str
) -> list[Any]:
    args: list[Any] = ["" if now is None else repr(float(now)), repr(float(window_s)), ident]
    for _, amount, limit in entries:
        args += (int(amount), int(limit))
    return args


def _admission(raw: list[Any], entries: Sequence[WindowEntry], ident: str) -> Admission:
    wait = float(raw[0])
    admitted = wait == 0.0 and any(amount > 0 for _, amount, _ in entries)
    return Admission(
        math.inf if wait < 0 else wait,
        tuple(float(u) for u in raw[2:]),
        float(raw[1]),
        ident if admitted else "",
    )


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else value.decode()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000 + 0.999))


_SUM = ":sum"  # suffix of a sliding log's running-sum key
_SCRIPTS = {
    "outcome": _OUTCOME_LUA,
    "incr": _INCR_LUA,
    "log": _LOG_LUA,
    "log_adjust": _LOG_ADJUST_LUA,
    "ewma": _EWMA_LUA,
    "secret": _SECRET_LUA,
}


class RedisStore(StateStore):
    """:class:`StateStore` on a Redis server (``redis://[:password@]host:port/db``,
    ``rediss://`` or ``unix://``). The sync methods use one ``redis.Redis``; the
    async ones a ``redis.asyncio.Redis`` per event loop.

    Every Redis failure is a :class:`~llmswitch.errors.StateStoreError` naming the URL
    (password masked). A command that finds its connection dead (Redis restarted, the
    connection was killed) is retried once on a fresh connection, so the first call
    after a restart succeeds. Defaults, overridable through ``options``: 2 s to connect,
    5 s per command (a hung Redis must not hang every call). ``secret``: the key for
    :meth:`key_id` (default ``$LLMSWITCH_STATE_SECRET``, else one generated and kept in
    Redis under ``llmswitch:secret``)."""

    def __init__(self, url: str, *, secret: str | bytes | None = None, **options: Any) -> None:
        self._url = url
        self._display = display_url(url)
        self._password = urlsplit(url).password
        self._secret = resolve_secret(secret)
        self._options = {
            "decode_responses": True,
            "socket_connect_timeout": 2.0,
            "socket_timeout": 5.0,
            **options,
        }
        sync_options = {"retry": Retry(NoBackoff(), 1), **self._options}
        try:
            self._sync = redis.Redis.from_url(url, **sync_options)
        except ValueError as exc:
            raise ConfigurationError(
                f"invalid Redis URL {self._display!r}: {self._scrub(str(exc))}", field="state"
            ) from None
        self._scripts = {name: self._sync.register_script(lua) for name, lua in _SCRIPTS.items()}
        self._async: tuple[asyncio.AbstractEventLoop, Any, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"RedisStore({self._display!r})"

    # ---- failures

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "****") if self._password else text

    def _error(self, exc: BaseException) -> StateStoreError:
        detail = self._scrub(str(exc)) or "no detail"
        return StateStoreError(
            f"state store {self._display} failed: {type(exc).__name__}: {detail}",
            url=self._display,
        )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            raise self._error(exc) from exc

    def _aclient(self) -> tuple[Any, dict[str, Any]]:
        # An asyncio connection belongs to the loop that opened it; pytest and
        # asyncio.run() each bring a new loop, so keep one client per loop.
        loop = asyncio.get_running_loop()
        held = self._async
        if held is None or held[0] is not loop:
            options = {"retry": AsyncRetry(NoBackoff(), 1), **self._options}
            client = redis.asyncio.Redis.from_url(self._url, **options)
            scripts = {name: client.register_script(lua) for name, lua in _SCRIPTS.items()}
            held = self._async = (loop, client, scripts)
        return held[1], held[2]

    # ---- sync

    def get(self, key: str) -> str | None:
        with self._guard():
            return _text(self._sync.get(key))

    def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        px = _ms(ttl) if ttl is not None else None
        with self._guard():
            return bool(self._sync.set(key, value, px=px, nx=only_if_absent))

    def delete(self, *keys: str) -> None:
        if keys:
            with self._guard():
                self._sync.delete(*keys, *(k + _SUM for k in keys))

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        with self._guard():
            return [_text(v) for v in self._sync.mget(list(keys))]

    def ewma(self, key: str, sample: float, alpha: float) -> float:
        args = [repr(float(sample)), repr(float(alpha))]
        with self._guard():
            return float(self._scripts["ewma"](keys=[key], args=args))

    def incr_window(self, key: str, amount: int, window_s: float) -> int:
        with self._guard():
            return int(self._scripts["incr"](keys=[key], args=[amount, _ms(window_s)]))

    def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        args = ["1" if ok else "0", repr(now), window_s, buckets]
        with self._guard():
            s, f = self._scripts["outcome"](keys=[key], args=args)
        return int(s), int(f)

    def outcomes(self, key: str, now: float, window_s: float, buckets: int) -> tuple[int, int]:
        with self._guard():
            s, f = self._scripts["outcome"](keys=[key], args=["-1", repr(now), window_s, buckets])
        return int(s), int(f)

    def log_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float | None = None
    ) -> Admission:
        ident = os.urandom(8).hex()
        args = _log_args(entries, window_s, now, ident)
        with self._guard():
            raw = self._scripts["log"](keys=_log_keys(entries), args=args)
        return _admission(raw, entries, ident)

    def log_adjust(self, key: str, ident: str, amount: int, delta: int, window_s: float) -> None:
        args: list[Any] = [ident, int(amount), int(delta), repr(float(window_s))]
        with self._guard():
            self._scripts["log_adjust"](keys=[key, key + _SUM], args=args)

    def key_id(self, value: str) -> str:
        if self._secret is None:
            with self._guard():
                raw = self._scripts["secret"](keys=[SECRET_KEY], args=[os.urandom(32).hex()])
            self._secret = str(raw).encode()
        return keyed_id(self._secret, value)

    def close(self) -> None:
        self._sync.close()

    # ---- async

    async def aget(self, key: str) -> str | None:
        client, _ = self._aclient()
        with self._guard():
            return _text(await client.get(key))

    async def aset(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        client, _ = self._aclient()
        px = _ms(ttl) if ttl is not None else None
        with self._guard():
            return bool(await client.set(key, value, px=px, nx=only_if_absent))

    async def adelete(self, *keys: str) -> None:
        if keys:
            client, _ = self._aclient()
            with self._guard():
                await client.delete(*keys, *(k + _SUM for k in keys))

    async def aget_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        client, _ = self._aclient()
        with self._guard():
            return [_text(v) for v in await client.mget(list(keys))]

    async def aewma(self, key: str, sample: float, alpha: float) -> float:
        _, scripts = self._aclient()
        args = [repr(float(sample)), repr(float(alpha))]
        with self._guard():
            return float(await scripts["ewma"](keys=[key], args=args))

    async def aincr_window(self, key: str, amount: int, window_s: float) -> int:
        _, scripts = self._aclient()
        with self._guard():
            return int(await scripts["incr"](keys=[key], args=[amount, _ms(window_s)]))

    async def arecord_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        _, scripts = self._aclient()
        args = ["1" if ok else "0", repr(now), window_s, buckets]
        with self._guard():
            s, f = await scripts["outcome"](keys=[key], args=args)
        return int(s), int(f)

    async def aoutcomes(
        self, key: str, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        _, scripts = self._aclient()
        with self._guard():
            s, f = await scripts["outcome"](keys=[key], args=["-1", repr(now), window_s, buckets])
        return int(s), int(f)

    async def alog_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float | None = None
    ) -> Admission:
        _, scripts = self._aclient()
        ident = os.urandom(8).hex()
        args = _log_args(entries, window_s, now, ident)
        with self._guard():
            raw = await scripts["log"](keys=_log_keys(entries), args=args)
        return _admission(raw, entries, ident)

    async def alog_adjust(
        self, key: str, ident: str, amount: int, delta: int, window_s: float
    ) -> None:
        _, scripts = self._aclient()
        args: list[Any] = [ident, int(amount), int(delta), repr(float(window_s))]
        with self._guard():
            await scripts["log_adjust"](keys=[key, key + _SUM], args=args)

    async def akey_id(self, value: str) -> str:
        if self._secret is None:
            _, scripts = self._aclient()
            with self._guard():
                raw = await scripts["secret"](keys=[SECRET_KEY], args=[os.urandom(32).hex()])
            self._secret = str(raw).encode()
        return keyed_id(self._secret, value)

    async def aclose(self) -> None:
        held, self._async = self._async, None
        if held is not None:
            with contextlib.suppress(redis.RedisError, OSError, RuntimeError):
                await held[1].aclose()
        self._sync.close()
