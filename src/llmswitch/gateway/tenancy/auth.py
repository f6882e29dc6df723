"""``TenantAuthenticator``: the gateway's ``Authenticator`` over a :class:`TenantStore`,
answering from an in-process cache.

- A known key is answered from memory: its rows are kept by key hash with the time
  they were read. After ``ttl / 2`` a hit starts a refresh in the background (the hit
  is served at once); past ``ttl`` the refresh is awaited, so a key revoked by another
  process stops working within ``ttl`` seconds, and at once in the process that
  revoked it (the store tells the cache). If the database cannot be reached the cached
  rows keep being served (a database outage never turns known keys into 401s) and
  refreshed in the background every few seconds, so no request waits on a dead
  database; the outage is logged once, never with a key.
- Unknown keys are remembered for ``negative_ttl`` seconds, tokens that do not look
  like access keys never reach the database, and at most ``max_lookups`` lookups of
  uncached keys run at once, so a flood of bad keys cannot hammer the database.
- Both caches are bounded (least recently used entries go first).
- ``last_used_at`` is written off the hot path, in batches, at most once a minute per
  key.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ..._log import get_logger
from ...errors import StorageError
from .._principal import Principal
from ._sql import KeyRow
from ._types import TenantLimits, hash_key, looks_like_key
from .store import TenantChange, TenantStore, principal_of

__all__ = ["TenantAuthenticator"]

_log = get_logger("llmswitch.gateway.tenancy")
_TOUCH_EVERY_S = 60.0
_RETRY_S = 5.0  # between refresh tries of a cached key while the database is down


@dataclass(slots=True)
class _Entry:
    digest: str
    row: KeyRow
    principal: Principal
    levels: tuple[tuple[str, TenantLimits], ...]  # ("key:ID" | "user:N" | "team:N", limits)
    fetched_at: float
    live: bool  # neither revoked nor its user disabled
    expires: float  # epoch seconds (inf: never)
    refreshing: bool = False


def _levels(row: KeyRow) -> tuple[tuple[str, TenantLimits], ...]:
    out = [(f"key:{row.key.id}", row.key.limits), (f"user:{row.user.name}", row.user.limits)]
    if row.team is not None:
        out.append((f"team:{row.team.name}", row.team.limits))
    return tuple((scope, limits) for scope, limits in out if not limits.empty)


class TenantAuthenticator:
    """See the module docs. ``clock``: monotonic seconds for the cache ages; ``wall``:
    epoch seconds for key expiry and ``last_used_at`` (fake clocks in tests)."""

    def __init__(
        self,
        store: TenantStore,
        *,
        ttl: float = 30.0,
        negative_ttl: float = 5.0,
        max_entries: int = 100_000,
        max_negative: int = 10_000,
        max_lookups: int = 8,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl = float(ttl)
        self.negative_ttl = float(negative_ttl)
        self._max_entries = max_entries
        self._max_negative = max_negative
        self._clock = clock
        self._wall = wall
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_id: dict[str, _Entry] = {}
        self._negative: OrderedDict[str, float] = OrderedDict()  # digest -> expires at
        self._inflight: dict[str, asyncio.Future[KeyRow | None]] = {}
        self._lookups = asyncio.Semaphore(max_lookups)
        self._tasks: set[asyncio.Task[None]] = set()
        self._touched: dict[str, float] = {}  # key id -> wall time last recorded
        self._pending: dict[str, int] = {}  # key id -> epoch ms to record
        self._flushing = False
        self._outage = False
        self._generation = 0  # bumped by every invalidation
        self.lookups = 0  # database lookups made (for tests and status)
        self._keys_exist: tuple[bool, float] | None = None  # (answer, when asked)
        store.subscribe(self.invalidate)

    # ---- the Authenticator protocol

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of ``token``, or ``None`` (unknown, revoked, expired, disabled)."""
        if not isinstance(token, str) or not looks_like_key(token):
            return None
        digest = hash_key(token)
        now = self._clock()
        entry = self._entries.get(digest)
        # The dict lookup is by hash, so the secret itself is never compared; the
        # constant-time check below guards against a (theoretical) hash-table mix-up.
        if entry is not None and hmac.compare_digest(entry.digest, digest):
            self._entries.move_to_end(digest)
            age = now - entry.fetched_at
            if age >= self.ttl and not self._outage:
                entry = await self._refresh(entry)
            elif age >= self.ttl / 2 and not entry.refreshing:
                # (also past the ttl during an outage: no caller waits on a dead database)
                entry.refreshing = True
                self._spawn(self._background(entry))
        else:
            until = self._negative.get(digest)
            if until is not None:
                if until > now:
                    return None
                del self._negative[digest]
            row = await self._lookup(digest)
            if row is None:
                self._remember_unknown(digest)
                return None
            entry = self._put(digest, row)
        if entry is None:
            return None
        return self._answer(entry)

    async def keys_exist(self) -> bool:
        """Whether any access key is usable (cached for ``negative_ttl`` seconds): a
        loopback gateway is open until the first key exists. On a database error the
        last answer stands, else ``True`` (closed is the safe side)."""
        now = self._clock()
        known = self._keys_exist
        if known is not None and (known[0] or now - known[1] < self.negative_ttl):
            return known[0]  # once keys exist the gateway stays closed
        try:
            exists = await self.store.has_active_keys()
        except StorageError:
            return True if known is None else known[0]
        self._keys_exist = (exists, now)
        return exists

    async def aclose(self) -> None:
        """Write the pending ``last_used_at`` times and stop the background work."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()

    # ---- what the limiter reads

    def levels(self, principal: Principal) -> tuple[tuple[str, TenantLimits], ...]:
        """The limits that apply to ``principal`` (its key's, user's and team's, those
        set), from the cache: ``()`` for a principal this cache does not know."""
        if principal.key_id is None:
            return ()
        entry = self._by_id.get(principal.key_id)
        return entry.levels if entry is not None else ()

    # ---- invalidation

    def invalidate(self, change: TenantChange | None = None) -> None:
        """Drop the cached keys ``change`` may have made stale (``None``: all)."""
        self._generation += 1
        if self._keys_exist is not None and not self._keys_exist[0]:
            self._keys_exist = None  # a key may have been issued: ask again
        if change is None:
            self._entries.clear()
            self._by_id.clear()
            return
        keys, users, teams = set(change.keys), set(change.users), set(change.teams)
        for digest, e in list(self._entries.items()):
            if (
                e.row.key.id in keys
                or e.row.user.name in users
                or (e.row.user.team is not None and e.row.user.team in teams)
            ):
                self._drop(digest)

    def __len__(self) -> int:
        return len(self._entries)

    # ---- internals

    def _answer(self, entry: _Entry) -> Principal | None:
        wall = self._wall()
        if not entry.live or wall >= entry.expires:
            return None
        key_id = entry.row.key.id
        if wall - self._touched.get(key_id, -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
            self._touched[key_id] = wall
            if len(self._touched) > max(self._max_entries, 10_000):
                self._touched.clear()  # only rate-limits the writes: forgetting is safe
            self._pending[key_id] = int(wall * 1000)
            if not self._flushing:
                self._flushing = True
                self._spawn(self._flush())
        return entry.principal

    def _put(self, digest: str, row: KeyRow) -> _Entry:
        old = self._entries.get(digest)
        if old is not None:
            self._by_id.pop(old.row.key.id, None)
        expires = row.key.expires_at
        entry = _Entry(
            digest, row, principal_of(row), _levels(row), self._clock(),
            live=row.key.revoked_at is None and not row.user.disabled,
            expires=math.inf if expires is None else expires.timestamp(),
        )  # fmt: skip
        self._entries[digest] = entry
        self._entries.move_to_end(digest)
        self._by_id[row.key.id] = entry
        while len(self._entries) > self._max_entries:
            oldest = next(iter(self._entries))
            self._drop(oldest)
        return entry

    def _drop(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None and self._by_id.get(entry.row.key.id) is entry:
            del self._by_id[entry.row.key.id]

    def _remember_unknown(self, digest: str) -> None:
        self._negative[digest] = self._clock() + self.negative_ttl
        self._negative.move_to_end(digest)
        while len(self._negative) > self._max_negative:
            self._negative.popitem(last=False)

    async def _lookup(self, digest: str) -> KeyRow | None:
        """The rows of ``digest`` from the database: one lookup per digest at a time,
        at most ``max_lookups`` at once. A database failure propagates (an unknown key
        cannot be vouched for)."""
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[KeyRow | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            async with self._lookups:
                generation = self._generation
                self.lookups += 1
                row = await self.store.resolve_hash(digest)
                if self._generation != generation:  # a change landed meanwhile: read it
                    self.lookups += 1
                    row = await self.store.resolve_hash(digest)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning
            raise
        else:
            future.set_result(row)
            self._recovered()
            return row
        finally:
            del self._inflight[digest]

    async def _refresh(self, entry: _Entry) -> _Entry | None:
        """Read ``entry`` again; on a database failure keep serving it (and retry after
        ``ttl / 2``); ``None`` when the key no longer exists."""
        try:
            row = await self._lookup(entry.digest)
        except StorageError as exc:
            self._unavailable(exc)
            # Served as it is; the next background try in a few seconds, not per request.
            entry.fetched_at = self._clock() - self.ttl / 2 + min(_RETRY_S, self.ttl / 2)
            entry.refreshing = False
            return entry
        if row is None:
            self._drop(entry.digest)
            return None
        return self._put(entry.digest, row)

    async def _background(self, entry: _Entry) -> None:
        await self._refresh(entry)

    def _unavailable(self, exc: StorageError) -> None:
        if not self._outage:
            self._outage = True
            _log.warning(
                "tenancy.database_unavailable url=%s: %s; serving cached access keys",
                self.store.database.url,
                type(exc).__name__,
                extra={"event": "tenancy.database_unavailable"},
            )

    def _recovered(self) -> None:
        if self._outage:
            self._outage = False
            _log.info("tenancy.database_available", extra={"event": "tenancy.database_available"})

    async def _flush(self) -> None:
        try:
            while self._pending:
                used, self._pending = list(self._pending.items()), {}
                try:
                    await self.store.touch_keys(used)
                except StorageError as exc:  # bookkeeping only: never fails a call
                    self._unavailable(exc)
                    return
        finally:
            self._flushing = False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
