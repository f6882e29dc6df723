"""The state-store interface shared by the breaker, limits, key cooldowns
and the router's latency stats.

Operations are algorithm-level (a rolling outcome window, a fixed-window counter, a
sliding log, a small value with a TTL) rather than raw get/put, so the Redis backend
can do each in one atomic round trip and the memory backend in one lock acquisition.
Every operation has a sync and an ``a``-prefixed async form: ``Client`` uses one,
``AsyncClient`` the other, against the same state.

Keys are plain strings; callers namespace them (e.g. ``llmswitch:breaker:<deployment>``).
Each key is used with one kind of operation only. Names derived from secrets (API
keys) go through :meth:`StateStore.key_id`, an HMAC keyed by the deployment's secret.

Failures of a remote store are :class:`~llmswitch.errors.StateStoreError` (never a
driver exception); each layer's ``on_state_error`` policy (:data:`OnStateError`)
decides what a call does then, see :func:`state_failed`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode

from .._log import get_logger
from ..errors import ConfigurationError, StateStoreError

__all__ = [
    "SECRET_ENV",
    "Admission",
    "OnStateError",
    "StateStore",
    "check_policy",
    "display_url",
    "state_failed",
]

# One admission request: (key, amount to add, limit for that key).
WindowEntry = tuple[str, int, int]

SECRET_ENV = "LLMSWITCH_STATE_SECRET"
# Where a Redis store keeps the secret it generated, shared by every process using it.
SECRET_KEY = "llmswitch:secret"

OnStateError = Literal["fail_open", "fail_closed"]
POLICIES: tuple[str, ...] = ("fail_open", "fail_closed")

log = get_logger("llmswitch.state")
_WARN_EVERY = 30.0  # seconds between "failing open" warnings per layer and store
_warned: dict[tuple[str, str], float] = {}


class Admission(NamedTuple):
    """A sliding-log decision: ``wait`` 0.0 = admitted (``inf``: never fits); ``uses``
    per entry after the decision; ``at`` the timestamp it was logged under (the
    store's clock unless the caller passed ``now``); ``ident`` names the logged entries
    for :meth:`StateStore.log_adjust` (``""`` when nothing was logged)."""

    wait: float
    uses: tuple[float, ...]
    at: float
    ident: str


def check_policy(value: object, field: str = "on_state_error") -> OnStateError:
    """``value`` as a policy, or a :class:`ConfigurationError` naming ``field``."""
    if value not in POLICIES:
        raise ConfigurationError(
            f"{field} must be 'fail_open' or 'fail_closed', not {value!r}", field=field
        )
    return value  # type: ignore[return-value]


def state_failed(layer: str, policy: OnStateError, exc: StateStoreError) -> None:
    """Apply ``policy`` after the store failed under ``layer``: ``fail_closed`` re-raises
    ``exc``; ``fail_open`` returns (the caller proceeds as if the store allowed the call)
    after a WARNING naming the layer and the masked URL — at most one per layer and
    store every 30 s, so an outage does not log once per call."""
    if policy == "fail_closed":
        raise exc
    now = time.monotonic()
    slot = (layer, exc.url)
    last = _warned.get(slot)
    if last is not None and now - last < _WARN_EVERY:
        return
    _warned[slot] = now
    log.warning(
        "state.fail_open layer=%s url=%s: %s; proceeding without shared state",
        layer,
        exc.url,
        exc.message,
        extra={"event": "state.fail_open", "layer": layer, "url": exc.url},
    )


def resolve_secret(secret: str | bytes | None) -> bytes | None:
    """The configured state secret (argument, else ``$LLMSWITCH_STATE_SECRET``)."""
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
    if secret is None:
        return None
    return secret.encode() if isinstance(secret, str) else secret


def keyed_id(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``secret``, 16 bytes as hex: a name for a secret
    value that cannot be reversed or brute-forced offline without the secret."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def display_url(url: str) -> str:
    """``url`` with its password (in the userinfo or a ``password=`` query parameter)
    masked as ``****``, for logs, errors and reprs. Split by hand rather than with
    ``urlsplit``: a malformed URL (an unclosed ``[`` of an IPv6 host, a port out of
    range) is what an error message shows, so this must never raise on one."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # The authority ends where the path, the query or the fragment begins.
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:****@{host}"
    tail, hash_, fragment = tail.partition("#")
    path, mark, query = tail.partition("?")
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "****" if k == "password" else v) for k, v in pairs])
    return f"{scheme}://{netloc}{path}{mark}{query}{hash_}{fragment}"


class StateStore(ABC):
    """Shared mutable state behind one interface; see :func:`~llmswitch.storage.open_store`."""

    #: The async methods only call the sync ones and never suspend (an in-process
    #: store): the layers' async paths then call the sync methods directly, without a
    #: coroutine per operation. A subclass whose async methods await must leave it False.
    inline: ClassVar[bool] = False

    # ---- small values

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The value stored at ``key``, or ``None`` when absent or expired."""

    @abstractmethod
    def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        """Store ``value`` (expiring after ``ttl`` seconds when given). With
        ``only_if_absent`` nothing is written if the key exists; returns whether it was."""

    @abstractmethod
    def delete(self, *keys: str) -> None:
        """Remove ``keys`` (of any kind); missing keys are ignored."""

    @abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The values at ``keys`` (small values or moving averages) in one read;
        ``None`` for each absent or expired one."""

    @abstractmethod
    def ewma(self, key: str, sample: float, alpha: float) -> float:
        """Fold ``sample`` into the exponentially weighted moving average at ``key``
        (``avg + alpha * (sample - avg)``; the first sample becomes the average),
        atomically; return the new average. :meth:`get_many` reads it as a string."""

    # ---- counters

    @abstractmethod
    def incr_window(self, key: str, amount: int, window_s: float) -> int:
        """Add ``amount`` to a fixed-window counter and return the new total. The
        window starts at the first increment and the counter vanishes ``window_s``
        seconds later."""

    @abstractmethod
    def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        """Count one success (``ok``) or failure at time ``now`` in a rolling window of
        ``window_s`` seconds split into ``buckets`` time buckets; return the window's
        ``(successes, failures)`` including this one."""

    @abstractmethod
    def outcomes(self, key: str, now: float, window_s: float, buckets: int) -> tuple[int, int]:
        """``(successes, failures)`` in the rolling window at ``now``, recording nothing."""

    @abstractmethod
    def log_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float | None = None
    ) -> Admission:
        """Sliding-log admission for several limits at once, atomically. Each key holds
        a log of (time, amount) entries; an entry counts while it is less than
        ``window_s`` seconds old. When every ``(key, amount, limit)`` fits (logged sum +
        ``amount`` <= ``limit``) one entry per key is logged and ``wait`` is 0.0;
        otherwise nothing changes and ``wait`` is the seconds until all would fit if
        nobody else consumed (``inf``: ``amount > limit``). So no span of ``window_s``
        seconds ever admits more than ``limit``. ``now`` defaults to the store's clock
        (the Redis server's, shared by every process). ``amount`` 0 only reads."""

    @abstractmethod
    def log_adjust(self, key: str, ident: str, amount: int, delta: int, window_s: float) -> None:
        """Change the entry ``ident`` (logged with ``amount``) of the log at ``key`` by
        ``delta`` (negative to refund), without checking the limit; a no-op once the
        entry has aged out."""

    @abstractmethod
    def key_id(self, value: str) -> str:
        """A short keyed hash (HMAC-SHA256, 16 bytes hex) of ``value`` for key names:
        keyed by ``$LLMSWITCH_STATE_SECRET`` / the ``secret`` option, else by a random
        secret the store generates once (Redis: kept in the store, so every process
        sharing it agrees; memory: per process)."""

    def close(self) -> None:
        """Release connections (no-op for in-memory state)."""
        return None

    # ---- async forms

    @abstractmethod
    async def aget(self, key: str) -> str | None: ...

    @abstractmethod
    async def aset(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool: ...

    @abstractmethod
    async def adelete(self, *keys: str) -> None: ...

    @abstractmethod
    async def aget_many(self, keys: Sequence[str]) -> list[str | None]: ...

    @abstractmethod
    async def aewma(self, key: str, sample: float, alpha: float) -> float: ...

    @abstractmethod
    async def aincr_window(self, key: str, amount: int, window_s: float) -> int: ...

    @abstractmethod
    async def arecord_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]: ...

    @abstractmethod
    async def aoutcomes(
        self, key: str, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]: ...

    @abstractmethod
    async def alog_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float | None = None
    ) -> Admission: ...

    @abstractmethod
    async def alog_adjust(
        self, key: str, ident: str, amount: int, delta: int, window_s: float
    ) -> None: ...

    @abstractmethod
    async def akey_id(self, value: str) -> str: ...

    async def aclose(self) -> None:
        self.close()
