"""The Redis side of budgets: three Lua scripts, each one atomic round trip.

Per budget and period (a *slot*) three kinds of keys, under ``<prefix><scope>:<stamp>``:

- ``...:spent``: settled spend, an integer of nano-USD (INCRBY), kept until a day after
  the period ends;
- ``...:res``: the reservations of calls in flight, a sorted set of
  ``"<call id>:<nano>"`` scored by the millisecond (Redis server clock) they expire at,
  so a reservation of a process that died stops counting after its TTL;
- ``...:alert:<i>``: present once threshold ``i`` of the period was announced
  (SET NX: one replica wins).

Amounts are Lua numbers (doubles): exact up to 2**53 nano-USD, about 9 million USD.
"""

from __future__ import annotations

__all__ = ["RESERVE_LUA", "SEED_LUA", "SETTLE_LUA"]

# KEYS: per slot its spent and res keys. ARGV: call id, amount (nano, 0 = reserve
# nothing), seeding ("1": a missing spent key is reported instead of read as 0), then per
# slot: limit (-1: never blocks), reservation TTL in ms.
# Returns {0, 0, spent1, reserved1, ...} admitted (reserved on every slot when amount
# > 0); {1, k, spent..., reserved...} refused by slot k (nothing changed); {2, k1, k2...}
# spent keys k1, k2... are missing (nothing changed: seed them, then ask again).
RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount = tonumber(ARGV[2])
local n = #KEYS / 2
local spent, reserved, missing = {}, {}, {}
for k = 1, n do
  local s = redis.call('GET', KEYS[2 * k - 1])
  if not s then
    if ARGV[3] == '1' then missing[#missing + 1] = k end
    s = '0'
  end
  spent[k] = tonumber(s)
  local z = KEYS[2 * k]
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  local r = 0
  for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    r = r + tonumber(string.match(m, ':(%d+)$'))
  end
  reserved[k] = r
end
if #missing > 0 then
  local out = {2}
  for _, k in ipairs(missing) do out[#out + 1] = k end
  return out
end
local blocked = 0
for k = 1, n do
  local limit = tonumber(ARGV[2 + 2 * k])
  if limit >= 0 then
    local used = spent[k] + reserved[k]
    if used >= limit or used + amount > limit then
      blocked = k
      break
    end
  end
end
if blocked == 0 and amount > 0 then
  local member = ARGV[1] .. ':' .. ARGV[2]
  for k = 1, n do
    local ttl = tonumber(ARGV[3 + 2 * k])
    redis.call('ZADD', KEYS[2 * k], now + ttl, member)
    local left = redis.call('PTTL', KEYS[2 * k])
    if left < ttl + 1000 then redis.call('PEXPIRE', KEYS[2 * k], ttl + 1000) end
    reserved[k] = reserved[k] + amount
  end
end
local out = {blocked == 0 and 0 or 1, blocked}
for k = 1, n do
  out[#out + 1] = spent[k]
  out[#out + 1] = reserved[k]
end
return out
"""

# KEYS: per slot its spent key, then per slot the alert keys of its thresholds.
# ARGV: per slot: value to seed (nano), keep ms, number of thresholds, the thresholds
# (nano). A spent key that exists keeps its value; thresholds the seeded value already
# reached are marked announced (they were, by whoever spent it). Returns nothing useful.
SEED_LUA = """
local n = 0
local i = 1
local slots = {}
while i <= #ARGV do
  local count = tonumber(ARGV[i + 2])
  slots[#slots + 1] = i
  i = i + 3 + count
end
local a = #slots
for k, at in ipairs(slots) do
  local value, keep, count = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  if redis.call('SET', KEYS[k], string.format('%d', value), 'NX', 'PX', keep) then
    for j = 1, count do
      a = a + 1
      if value >= tonumber(ARGV[at + 2 + j]) then
        redis.call('SET', KEYS[a], '1', 'NX', 'PX', keep)
      end
    end
  else
    a = a + count
  end
  n = n + 1
end
return n
"""

# KEYS: per slot its spent and res keys, then per slot the alert keys of its thresholds.
# ARGV: call id, amount it reserved, its real cost (nano), then per slot: keep ms,
# number of thresholds, the thresholds (nano).
# Releases the reservation, adds the cost, and claims (SET NX) every threshold the new
# spend reached. Returns {spent1, ..., spentn, then slot, threshold pairs newly claimed}.
SETTLE_LUA = """
local member = ARGV[1] .. ':' .. ARGV[2]
local cost = tonumber(ARGV[3])
local slots = {}
local i = 4
while i <= #ARGV do
  slots[#slots + 1] = i
  i = i + 2 + tonumber(ARGV[i + 1])
end
local n = #slots
local out = {}
local claimed = {}
local a = 2 * n
for k, at in ipairs(slots) do
  redis.call('ZREM', KEYS[2 * k], member)
  local keep, count = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  local spent
  if cost > 0 then
    spent = redis.call('INCRBY', KEYS[2 * k - 1], ARGV[3])
    redis.call('PEXPIRE', KEYS[2 * k - 1], keep)
  else
    spent = tonumber(redis.call('GET', KEYS[2 * k - 1]) or '0')
  end
  out[k] = spent
  for j = 1, count do
    a = a + 1
    if spent >= tonumber(ARGV[at + 1 + j]) then
      if redis.call('SET', KEYS[a], '1', 'NX', 'PX', keep) then
        claimed[#claimed + 1] = k
        claimed[#claimed + 1] = j
      end
    end
  end
end
for _, v in ipairs(claimed) do out[#out + 1] = v end
return out
"""
