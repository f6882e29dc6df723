"""Key pools: several API keys for one provider, rotated per attempt.

:class:`KeyPool` holds the keys and their state; :class:`KeyRotation` is the
middleware that, for each attempt, picks a usable key of the call's provider and runs
the inner layers with a provider bound to that key::

    pool = KeyPool("openai", [key_a, key_b], strategy="least-used", store="redis://...")
    client = Client(middleware=[KeyRotation(pool), Retry()])

Outcomes: a :class:`RateLimitError` cools the key down for its ``retry_after``
(default ``cooldown``, 60 s); :class:`AuthenticationError`/:class:`PermissionDeniedError`
(401/403) disable it until it is replaced (a new key has a new fingerprint, so it
starts fresh). After either, the same call moves on to the next usable key when there
is one (a stream only before its first event). When no key is usable the call fails
with :class:`RateLimitError` (``retry_after`` = soonest cooldown end) or, when every
key is disabled, :class:`AuthenticationError`.

Keys are never stored or logged. In the store a key is named by a keyed hash
(:meth:`~llmswitch.storage.StateStore.key_id`: HMAC-SHA256 under
``$LLMSWITCH_STATE_SECRET`` or a secret the store generates once), so key names in a
shared Redis reveal nothing that could be brute-forced offline; logs and
:meth:`KeyPool.status` show ``…`` plus the last four hex digits of its SHA-256
fingerprint. Cooldowns and disabled marks live in the
:class:`~llmswitch.storage.StateStore`, so they survive a restart and, with Redis, are
shared by every process; use counts (for ``least-used``) are per process. When the
store fails, ``on_state_error="fail_open"`` (default) picks keys as if none were
cooling (a rate-limited WARNING says so); ``"fail_closed"`` raises
:class:`~llmswitch.errors.StateStoreError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from .._log import get_logger
from .._retry_after import clamp_retry_after
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    LLMError,
    PermissionDeniedError,
    RateLimitError,
    StateStoreError,
)
from ..middleware._drive import Layer, Op, Ops, Script, Try, arun, run, store_op
from ..middleware._signals import Metrics
from ..middleware.base import OTHER_KEYS_KEY, Call
from ..providers.runtime import Provider
from ..storage import StateStore, open_store
from ..storage.base import OnStateError, check_policy, state_failed
from ..wire import Secret

__all__ = ["KeyPool", "KeyRotation", "KeyState", "fingerprint"]

log = get_logger("llmswitch.keys")

Strategy = Literal["round-robin", "least-used"]
KeyStateName = Literal["ok", "cooling", "disabled"]

_DISABLED = "disabled"


def fingerprint(key: str | Secret) -> str:
    """SHA-256 hex digest of ``key``: its identity inside this process (duplicates,
    keys already tried); only its last four digits are shown (logs, status). Stores
    name keys by :meth:`~llmswitch.storage.StateStore.key_id` instead."""
    raw = key.get() if isinstance(key, Secret) else key
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyState:
    """One key as seen now. ``key`` is ``"…"`` plus the fingerprint's last 4 hex digits."""

    key: str
    state: KeyStateName
    cooldown_remaining: float
    uses: int


class _Key:
    __slots__ = ("fingerprint", "label", "read", "secret", "store_key", "uses")

    def __init__(self, secret: Secret, fp: str) -> None:
        self.secret = secret
        self.fingerprint = fp
        self.label = "…" + fp[-4:]
        self.store_key = ""  # named on first use: the store's secret may need a round trip
        self.read: Op | None = None  # reading its state: built once, it is on every pick
        self.uses = 0

    def __repr__(self) -> str:
        return f"<key {self.label}>"


def _parse(raw: str | None, now: float) -> tuple[KeyStateName, float]:
    """Stored value -> (state, cooldown remaining). Values: absent, "disabled" or the
    cooldown's end time (the entry also expires then; the time is for reporting)."""
    if raw is None:
        return "ok", 0.0
    if raw == _DISABLED:
        return "disabled", 0.0
    remaining = float(raw) - now
    return ("cooling", remaining) if remaining > 0 else ("ok", 0.0)


class KeyPool:
    """The keys of one provider (``provider_id`` as in ``"openai/gpt-4o"``).

    ``strategy``: ``"round-robin"`` (default) or ``"least-used"`` (fewest uses in this
    process). ``store``: a :class:`~llmswitch.storage.StateStore` or state URL
    (``"memory://"`` default, ``"redis://..."`` to share cooldowns across processes).
    ``cooldown``: seconds a rate-limited key rests when the provider gave no
    ``retry_after``. ``clock``: wall-clock seconds (shared stores need wall time).
    ``on_state_error``: ``"fail_open"`` (default) or ``"fail_closed"`` (see module docs).
    ``extra``: more keys that come and go while the pool is in use (e.g.
    :meth:`KeyVault.shared <llmswitch.keys.KeyVault.shared>`, the shared keys stored in the
    vault): called on each pick, it joins the pool after ``keys`` (the pool then may start
    with no key of its own). It must return the same tuple object while nothing changed,
    so the usual pick costs one call and an identity test.
    """

    def __init__(
        self,
        provider_id: str,
        keys: Iterable[str | Secret],
        *,
        strategy: Strategy = "round-robin",
        store: StateStore | str | None = None,
        cooldown: float = 60.0,
        prefix: str = "llmswitch:keys:",
        clock: Callable[[], float] = time.time,
        on_state_error: OnStateError = "fail_open",
        extra: Callable[[], tuple[Secret, ...]] | None = None,
    ) -> None:
        self.on_state_error = check_policy(on_state_error)
        if strategy not in ("round-robin", "least-used"):
            raise ConfigurationError(
                f"key pool strategy must be 'round-robin' or 'least-used', not {strategy!r}",
                field="strategy",
            )
        if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or cooldown <= 0:
            raise ConfigurationError("key pool cooldown must be > 0 seconds", field="cooldown")
        self.provider_id = provider_id
        self.strategy: Strategy = strategy
        self.cooldown = float(cooldown)
        self.store = store if isinstance(store, StateStore) else open_store(store)
        self._clock = clock
        self._keys: list[_Key] = []
        seen: set[str] = set()
        for i, key in enumerate(keys):
            secret = key if isinstance(key, Secret) else Secret(key)
            if not isinstance(secret.get(), str) or not secret.get():
                raise ConfigurationError(
                    f"key #{i + 1} of provider {provider_id!r} is empty", field="keys"
                )
            fp = fingerprint(secret)
            if fp in seen:
                raise ConfigurationError(
                    f"key #{i + 1} of provider {provider_id!r} is listed twice", field="keys"
                )
            seen.add(fp)
            self._keys.append(_Key(secret, fp))
        if not self._keys and extra is None:
            raise ConfigurationError(f"key pool for {provider_id!r} has no keys", field="keys")
        self._prefix = f"{prefix}{provider_id}:"
        self._named = False
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._own = tuple(self._keys)
        self._extra = extra
        self._seen: tuple[Secret, ...] = ()

    def _follow(self) -> list[_Key]:
        """The keys now: the pool's own, then ``extra``'s (rebuilt only when it changed;
        a key that stays keeps its use count and store name)."""
        if self._extra is not None:
            got = self._extra()
            if got is not self._seen:
                with self._lock:
                    if got is not self._seen:
                        self._merge(got)
        return self._keys

    def _merge(self, got: tuple[Secret, ...]) -> None:
        held = {k.fingerprint: k for k in self._keys}
        keys = list(self._own)
        seen = {k.fingerprint for k in keys}
        for secret in got:
            fp = fingerprint(secret)
            if fp not in seen:
                seen.add(fp)
                keys.append(held.get(fp) or _Key(secret, fp))
        if any(k.read is None for k in keys):
            self._named = False  # a new key: name it in the store before it is read
        self._keys = keys  # swapped whole: a pick in progress keeps the list it read
        self._seen = got

    def __repr__(self) -> str:
        return f"KeyPool({self.provider_id!r}, {len(self._keys)} keys, {self.strategy!r})"

    def __len__(self) -> int:
        return len(self._follow())

    # ---- choosing

    def _order(self, retrying: bool) -> list[_Key]:
        keys = self._follow() if self._extra is not None else self._keys
        if not keys:
            from ..middleware.groups import key_owner  # a derived endpoint: its provider's keys

            raise ConfigurationError(
                f"provider {self.provider_id!r} has no API key: none is configured and the "
                f"key vault holds no shared key for it (add one: `llmswitch keys add "
                f"{key_owner(self.provider_id)}`)",
                provider=self.provider_id,
            )
        if self.strategy == "least-used":
            return sorted(keys, key=lambda k: k.uses)  # stable: ties keep list order
        if retrying:  # another key for the same call: the turn is not the next call's
            return keys
        start = next(self._turn) % len(keys)
        return keys[start:] + keys[:start]

    def _take(self, key: _Key) -> _Key:
        with self._lock:
            key.uses += 1
        return key

    def _none_usable(self, states: list[tuple[KeyStateName, float]]) -> LLMError:
        cooling = [remaining for state, remaining in states if state == "cooling"]
        n = len(states)
        if cooling:
            soonest = min(cooling)
            return RateLimitError(
                f"every API key of provider {self.provider_id!r} ({n}) is rate-limited "
                f"or disabled; the first is usable again in {soonest:.1f}s",
                retry_after=soonest,
                provider=self.provider_id,
            )
        return AuthenticationError(
            f"every API key of provider {self.provider_id!r} ({n}) was rejected "
            "(401/403); replace them",
            provider=self.provider_id,
        )

    def _name_keys(self) -> Ops:
        """Name each key in the store once (the store's secret may need a round trip)."""
        keys = self._keys
        for key in keys:
            if key.read is None:
                yield from self._name(key)
        # A key that joined meanwhile (``extra``) is named by the next pick.
        self._named = self._keys is keys

    def _name(self, key: _Key) -> Ops:
        key.store_key = self._prefix + (yield store_op(self.store, "key_id", key.secret.get()))
        key.read = store_op(self.store, "get", key.store_key)

    def _blind(self, order: list[_Key], exclude: frozenset[str], exc: StateStoreError) -> _Key:
        """The store failed: apply the policy; failing open, the next key not tried."""
        state_failed("keys", self.on_state_error, exc)
        for key in order:
            if key.fingerprint not in exclude:
                return self._take(key)
        raise self._none_usable([("cooling", 0.0)] * len(order))

    def pick(self, exclude: frozenset[str] = frozenset()) -> _Key:
        """A usable key (not cooling, not disabled, fingerprint not in ``exclude``)."""
        return run(self._pick(exclude))  # type: ignore[no-any-return]

    async def apick(self, exclude: frozenset[str] = frozenset()) -> _Key:
        return await arun(self._pick(exclude))  # type: ignore[no-any-return]

    def _pick(self, exclude: frozenset[str]) -> Ops:
        now = self._clock()
        states: list[tuple[KeyStateName, float]] = []
        order = self._order(bool(exclude))
        try:
            if not self._named:
                yield from self._name_keys()
            for key in order:
                if key.read is None:  # joined (``extra``) while the pool was being named
                    yield from self._name(key)
                state = _parse((yield key.read), now)  # type: ignore[misc]
                if state[0] == "ok":
                    if key.fingerprint not in exclude:
                        return self._take(key)
                    state = ("cooling", 0.0)  # failed this call; its cooldown just ran out
                states.append(state)
        except StateStoreError as exc:
            return self._blind(order, exclude, exc)
        raise self._none_usable(states)

    # ---- outcomes

    def _verdict(self, key: _Key, exc: BaseException) -> tuple[str, float | None] | None:
        """``(value, ttl)`` to store after ``exc``, or ``None`` if it says nothing about
        the key. Logged here, by fingerprint only."""
        if isinstance(exc, RateLimitError):
            # The server's word, clamped again here: the end time is shared through the
            # store with every process, so a 1e12 or inf must never reach it.
            wait = clamp_retry_after(exc.retry_after) or self.cooldown
            if log.isEnabledFor(logging.WARNING):
                log.warning(
                    "keys.cooldown provider=%s key=%s seconds=%.1f",
                    self.provider_id,
                    key.label,
                    wait,
                    extra={
                        "event": "keys.cooldown",
                        "provider": self.provider_id,
                        "key": key.label,
                        "seconds": wait,
                    },
                )
            return repr(self._clock() + wait), wait
        if isinstance(exc, AuthenticationError | PermissionDeniedError):
            status = exc.status_code or type(exc).__name__
            if log.isEnabledFor(logging.ERROR):
                log.error(
                    "keys.disabled provider=%s key=%s status=%s",
                    self.provider_id,
                    key.label,
                    status,
                    extra={
                        "event": "keys.disabled",
                        "provider": self.provider_id,
                        "key": key.label,
                        "status": status,
                    },
                )
            return _DISABLED, None
        return None

    def report(self, key: _Key, exc: BaseException) -> bool:
        """Record a failed attempt with ``key``; whether it changed the key's state."""
        return run(self._report(key, exc))  # type: ignore[no-any-return]

    async def areport(self, key: _Key, exc: BaseException) -> bool:
        return await arun(self._report(key, exc))  # type: ignore[no-any-return]

    def _report(self, key: _Key, exc: BaseException) -> Ops:
        verdict = self._verdict(key, exc)
        if verdict is not None:
            try:
                if not self._named:
                    yield from self._name_keys()
                yield store_op(self.store, "set", key.store_key, verdict[0], verdict[1])
            except StateStoreError as failure:  # report the call's own error, not this
                state_failed("keys", "fail_open", failure)
        return verdict is not None

    def reset(self) -> None:
        """Forget every cooldown and disabled mark of this pool's keys."""
        run(self._reset())

    def _reset(self) -> Ops:
        if not self._named:
            yield from self._name_keys()
        yield store_op(self.store, "delete", *(k.store_key for k in self._keys))

    # ---- observability

    def status(self) -> list[KeyState]:
        """Each key's live state, in list order (fingerprint labels only)."""
        return run(self._status())  # type: ignore[no-any-return]

    async def astatus(self) -> list[KeyState]:
        return await arun(self._status())  # type: ignore[no-any-return]

    def _status(self) -> Ops:
        now = self._clock()
        if not self._named:
            yield from self._name_keys()
        out = []
        for k in self._follow():
            if k.read is None:
                yield from self._name(k)
            state, remaining = _parse((yield k.read), now)  # type: ignore[misc]
            out.append(KeyState(k.label, state, remaining, k.uses))
        return out


Binder = Callable[[Provider, Secret], Provider]


def bind_http(provider: Provider, secret: Secret) -> Provider:
    """Default binder: the same HTTP provider with its endpoint's key swapped."""
    from ..providers.http import HttpProvider

    if not isinstance(provider, HttpProvider):
        raise ConfigurationError(
            f"provider {provider.id!r} is not an HTTP provider; pass KeyRotation(bind=...) "
            "to give it a key",
            provider=provider.id,
        )
    endpoint = dataclasses.replace(provider.endpoint, api_key=secret)
    return HttpProvider(provider.id, provider.adapter, endpoint)


# Which key an attempt used (its label), for layers outside this one.
KEY_STATE = "llmswitch.key"
# The provider a per-user key was bound to (keys/byok.py's UserKeys): an attempt
# running on it already has its key, so the pool does not replace it.
USER_KEY_STATE = "llmswitch.user_key"


class KeyRotation(Layer):
    """Pick a key from the call's provider's :class:`KeyPool` for every attempt; calls
    to providers without a pool pass through. ``bind(provider, secret)`` returns the
    provider using that key (default: HTTP providers with the endpoint key replaced;
    one bound provider is cached per key). ``metrics`` is told of each cooldown."""

    per_attempt = True
    status_section = "key_pools"  # collect_status files status() there

    def __init__(
        self,
        pools: KeyPool | Iterable[KeyPool],
        *,
        bind: Binder = bind_http,
        metrics: Metrics | None = None,
    ) -> None:
        listed = [pools] if isinstance(pools, KeyPool) else list(pools)
        self.pools: dict[str, KeyPool] = {}
        for pool in listed:
            if pool.provider_id in self.pools:
                raise ConfigurationError(
                    f"two key pools for provider {pool.provider_id!r}", field="pools"
                )
            self.pools[pool.provider_id] = pool
        self._bind = bind
        self._metrics = metrics
        # (pool provider id, fingerprint) -> (the provider it was bound from, bound one)
        self._bound: dict[tuple[str, str], tuple[Provider, Provider]] = {}

    def status(self) -> dict[str, list[KeyState]]:
        return run(self._status())  # type: ignore[no-any-return]

    async def astatus(self) -> dict[str, list[KeyState]]:
        return await arun(self._status())  # type: ignore[no-any-return]

    def _status(self) -> Ops:
        out = {}
        for pid, pool in self.pools.items():
            out[pid] = yield from pool._status()
        return out

    def _with_key(self, call: Call, key: _Key, pool: KeyPool) -> Call:
        slot = (call.provider.id, key.fingerprint)
        held = self._bound.get(slot)
        if held is None or held[0] is not call.provider:
            held = self._bound[slot] = (call.provider, self._bind(call.provider, key.secret))
        call.state[KEY_STATE] = key.label
        call.state[OTHER_KEYS_KEY] = len(pool._keys) > 1
        return call.replace(provider=held[1])

    def script(self, call: Call, stream: bool) -> Script | None:
        pool = self.pools.get(call.provider.id)
        if pool is None or call.state.get(USER_KEY_STATE) is call.provider:
            return None
        return self._rotate(pool, call)

    def _rotate(self, pool: KeyPool, call: Call) -> Script:
        """Each try with the next usable key; after a failure that cooled or disabled
        the key, another key while nothing has reached the caller yet."""
        tried: frozenset[str] = frozenset()
        while True:
            key = yield from pool._pick(tried)
            attempt = Try(self._with_key(call, key, pool))
            try:
                return (yield attempt)
            except LLMError as exc:
                changed = yield from pool._report(key, exc)
                if not changed or not self._noted(pool, key, exc) or attempt.started:
                    raise
                tried |= {key.fingerprint}

    def _noted(self, pool: KeyPool, key: _Key, exc: BaseException) -> bool:
        """After a failed attempt that changed ``key``'s state: whether to try another."""
        if self._metrics is not None:
            reason = "rate_limited" if isinstance(exc, RateLimitError) else "rejected"
            self._metrics.key_cooldown(pool.provider_id, key.label, reason)
        return len(pool) > 1
