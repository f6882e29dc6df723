"""The key vault: provider keys stored encrypted in the SQL database.

::

    vault = KeyVault()                    # $LLMSWITCH_DATABASE_URL, $LLMSWITCH_KEK / _MASTER_KEY
    record = vault.add("openai", secret, user="alice", label="alice's")   # no secret inside
    vault.list(provider="openai")         # records: id, provider, user, label, fingerprint...
    vault.add("openai", new_secret, replace=record.id, window=86400)      # both work for a day
    vault.remove(record.id)
    vault.rotate(progress=print)          # re-wrap everything under the current KEK

    vault.load()                          # the in-memory index, refreshed in the background
    vault.lookup("openai", "alice")       # -> Secret | None: a dict read, no I/O
    vault.shared("openai")                # -> tuple[Secret, ...]: the shared keys

Each operation has an async twin (``aadd``, ``alist``, ``aremove``, ``aget``,
``arotate``, ``aload``, ``aclose``). Both run the same code: every operation is one
generator of effects (:mod:`llmswitch.middleware._drive`'s ``Op``) — a database
function run by ``Database.run``/``read`` or ``arun``/``aread``, and KEK work (KMS
clients block) run directly or in a worker thread (``asyncio.to_thread``), so the
event loop never waits on a database or a KMS.

Records are sealed as :mod:`.envelope` describes. Nothing is stored without a KEK
(:class:`~llmswitch.errors.KeyVaultError`). Every add, replace, remove and per-record
rotation writes an ``audit_log`` row in the same transaction, with fingerprints only.

**Lookups never wait.** :meth:`load` reads every record and decrypts the usable ones
(active, or retiring within their window) into an index of two dicts that are
swapped whole, so :meth:`lookup` and :meth:`shared` are plain dict reads. A daemon
thread refreshes it every ``refresh`` seconds (a key added from the CLI shows up in a
running process); a refresh that finds the table unchanged (one aggregate query) and
nothing due reads no rows. A decrypted secret is reused for ``cache_ttl`` seconds, then
decrypted again; when the KEK (a KMS) cannot be reached at that moment, the cached
secret keeps serving until it is ``max_stale`` seconds old, with one WARNING per
outage, not one per call; when the database cannot be read, the last index stays.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._log import get_logger
from ..errors import (
    ConfigurationError,
    KEKUnavailableError,
    KeyDecryptionError,
    KeyVaultError,
    LLMError,
)
from ..middleware._drive import Op, Ops, arun, run
from ..wire import Secret
from . import _records as rec
from .envelope import RecordRef, fingerprint, open_envelope, reseal, seal
from .kek import KEK, KeyRing, keyring

if TYPE_CHECKING:
    from ..storage.sql import Database

__all__ = ["KeyRecord", "KeyVault", "RotationProgress", "RotationReport", "VaultSettings"]

KeyRecord = rec.KeyRecord
log = get_logger("llmswitch.keys.vault")
_BATCH = 100  # records per rotation read: bounded memory however large the vault
MAX_WINDOW = 366 * 86400  # seconds a replaced key may stay usable


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationProgress:
    """One record handled by :meth:`KeyVault.rotate`: ``outcome`` is ``"rewrapped"``,
    ``"changed"`` (someone else re-wrapped or removed it meanwhile) or ``"failed"``."""

    done: int
    total: int
    record_id: str
    outcome: str
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationReport:
    """What a rotation did; ``failed`` holds ``(record id, error message)`` pairs."""

    kek_id: str
    rewrapped: int
    changed: int
    failed: tuple[tuple[str, str], ...]
    pending: int  # records still not under the current KEK afterwards


class VaultSettings(Protocol):
    """What :meth:`KeyVault.from_config` reads: a loaded ``llmswitch.toml``
    (:class:`~llmswitch.config.Config`; declared here, the config layer is above)."""

    @property
    def database_url(self) -> str | None: ...
    @property
    def kek(self) -> str | None: ...
    @property
    def key_cache_ttl(self) -> float | None: ...
    @property
    def key_refresh(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class _Cached:
    fingerprint: str
    secret: Secret
    at: float  # when it was decrypted (vault clock, seconds)


class _Index:
    """What lookups read; replaced whole on each refresh (readers never lock).
    ``failed``: users whose stored key for a provider exists but cannot be opened now
    (and who have no other usable one) -> the error their calls get."""

    __slots__ = ("failed", "shared", "users")

    def __init__(
        self,
        users: dict[tuple[str, str], Secret],
        shared: dict[str, tuple[Secret, ...]],
        failed: dict[tuple[str, str], KeyVaultError] | None = None,
    ) -> None:
        self.users = users
        self.shared = shared
        self.failed = failed or {}


def _user_key_failed(exc: KeyVaultError, provider: str, user: str) -> KeyVaultError:
    """A fresh error for each call of a user whose key cannot be opened (one instance
    raised again and again would keep growing its traceback)."""
    message = f"the stored key of user {user!r} for provider {provider!r}: {exc.message}"
    if isinstance(exc, KeyDecryptionError):
        return KeyDecryptionError(message, record_id=exc.record_id, provider=provider)
    if isinstance(exc, KEKUnavailableError):
        return KEKUnavailableError(message, kek=exc.kek, provider=provider)
    return KeyVaultError(message, provider=provider)


def _thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def in_thread(*args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    return in_thread


def _check_seconds(value: float, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds", field=name)
    if not (value >= 0 if allow_zero else value > 0) or value != value or value == float("inf"):
        raise ConfigurationError(f"{name} must be a finite number of seconds > 0", field=name)
    return float(value)


class KeyVault:
    """Provider keys, encrypted at rest (see the module docs).

    ``database``: a :class:`~llmswitch.storage.sql.Database`, a URL, or ``None``
    (``$LLMSWITCH_DATABASE_URL``, else the SQLite file under ``$LLMSWITCH_HOME``).
    ``kek``: a KEK URI (``[keys] kek``), a :class:`~.kek.KeyRing`, or ``None``
    (``$LLMSWITCH_KEK``, else ``local:`` when ``$LLMSWITCH_MASTER_KEY`` is set, else
    none: reading works for nothing and storing is refused). ``refresh``: seconds
    between background index refreshes (``0``: never; call :meth:`refresh`).
    ``cache_ttl``/``max_stale``: seconds a decrypted secret is reused / kept serving
    while the KEK is unreachable. ``actor``: who the audit log names.
    """

    def __init__(
        self,
        database: Database | str | None = None,
        *,
        kek: str | KeyRing | None = None,
        env: Mapping[str, str] | None = None,
        refresh: float = 5.0,
        cache_ttl: float = 300.0,
        max_stale: float = 3600.0,
        actor: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from ..storage.sql import Database, open_database

        environ = os.environ if env is None else env
        self.refresh_every = _check_seconds(refresh, "refresh", allow_zero=True)
        self.cache_ttl = _check_seconds(cache_ttl, "cache_ttl")
        self.max_stale = max(_check_seconds(max_stale, "max_stale"), self.cache_ttl)
        self.ring = kek if isinstance(kek, KeyRing) else keyring(kek, environ)
        self._owns_db = not isinstance(database, Database)
        self.db: Database = (
            database if isinstance(database, Database) else open_database(database, environ)
        )
        self.actor = actor or f"client:pid {os.getpid()}"
        self._clock = clock
        self._index = _Index({}, {})
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()  # one refresh at a time
        self._warned_kek = False
        self._warned_db = False
        self._loaded = False
        self._signature: tuple[int, ...] | None = None  # of the table the index was built from
        self._next_due = 0.0  # when the index must be rebuilt even if the table is unchanged
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(
        cls, config: VaultSettings, *, env: Mapping[str, str] | None = None, **options: Any
    ) -> KeyVault:
        """The vault a loaded ``llmswitch.toml`` describes: ``[storage] database_url``
        (else ``$LLMSWITCH_DATABASE_URL``, else the default SQLite file), ``[keys] kek``
        (else the environment's), ``cache_ttl`` and ``refresh``; ``options`` as for the
        constructor (they win)::

            vault = KeyVault.from_config(load_config())
        """
        from ..storage.sql import open_database

        environ = os.environ if env is None else env
        if "database" not in options:
            field = "[storage] database_url" if config.database_url else "database_url"
            options["database"] = open_database(config.database_url, environ, field=field)
            owned = True
        else:
            owned = False
        if config.key_cache_ttl is not None:
            options.setdefault("cache_ttl", config.key_cache_ttl)
        if config.key_refresh is not None:
            options.setdefault("refresh", config.key_refresh)
        options.setdefault("kek", config.kek)
        vault = cls(env=environ, **options)
        vault._owns_db = owned
        return vault

    def __repr__(self) -> str:
        return f"KeyVault({self.db.url!r}, kek={self.ring.name!r})"

    # ---- effects, each with its blocking and awaitable form

    def _read(self, fn: Callable[..., Any], *args: Any) -> Op:
        return Op(self.db.read, self.db.aread, fn, *args)

    def _write(self, fn: Callable[..., Any], *args: Any) -> Op:
        return Op(self.db.run, self.db.arun, fn, *args)

    @staticmethod
    def _kek(fn: Callable[..., Any], *args: Any) -> Op:
        """KEK work: a KMS round trip, so a worker thread on the async path."""
        return Op(fn, _thread(fn), *args)

    # ---- changing the vault

    def add(
        self,
        provider: str,
        secret: str | Secret,
        *,
        user: str | None = None,
        label: str | None = None,
        replace: str | None = None,
        window: float | None = None,
    ) -> KeyRecord:
        """Encrypt and store ``secret`` for ``provider`` (``user``'s own key, or shared).
        ``replace=ID``: the new key takes over from key ``ID``, which stays usable
        (status ``"retiring"``) for ``window`` seconds (default 0: retired at once).
        Returns the stored record (no secret in it)."""
        return run(self._add(provider, secret, user, label, replace, window))  # type: ignore[no-any-return]

    async def aadd(
        self,
        provider: str,
        secret: str | Secret,
        *,
        user: str | None = None,
        label: str | None = None,
        replace: str | None = None,
        window: float | None = None,
    ) -> KeyRecord:
        return await arun(self._add(provider, secret, user, label, replace, window))  # type: ignore[no-any-return]

    def _add(
        self,
        provider: str,
        secret: str | Secret,
        user: str | None,
        label: str | None,
        replace: str | None,
        window: float | None,
    ) -> Ops:
        provider = rec.check_provider(provider)
        user = rec.check_text(user, "user")
        label = rec.check_text(label, "label")
        raw = rec.check_secret(secret.get() if isinstance(secret, Secret) else secret)
        replacing: tuple[str, int] | None = None
        if replace is not None:
            seconds = 0.0 if window is None else _check_seconds(window, "window", True)
            if seconds > MAX_WINDOW:  # a transition, not a second life (and fits the column)
                raise ConfigurationError(
                    f"window must be at most {MAX_WINDOW // 86400} days", field="window"
                )
            replacing = (rec.check_id(replace), int((self._clock() + seconds) * 1000))
        elif window is not None:
            raise ConfigurationError("window applies only with replace=ID", field="window")
        self.ring.require()  # before anything else: never plaintext at rest
        ref = RecordRef(id=rec.new_id(), provider=provider, owner=user)
        envelope = yield self._kek(seal, raw, ref, self.ring)
        fp = fingerprint(raw)
        record = yield self._write(rec.insert_key, ref, label, fp, envelope, replacing, self.actor)
        if self._loaded:  # usable in this process at once, not at the next refresh
            # In a thread on async paths: a background refresh may hold the lock.
            yield self._kek(self._seed, record.id, fp, Secret(raw))
            yield from self._load()
        return record

    def _seed(self, key_id: str, fp: str, secret: Secret) -> None:
        with self._lock:
            self._cache[key_id] = _Cached(fp, secret, self._clock())

    def remove(self, key_id: str) -> KeyRecord:
        """Delete key ``key_id``; returns what was removed."""
        return run(self._remove(key_id))  # type: ignore[no-any-return]

    async def aremove(self, key_id: str) -> KeyRecord:
        return await arun(self._remove(key_id))  # type: ignore[no-any-return]

    def _remove(self, key_id: str) -> Ops:
        record = yield self._write(rec.remove_key, rec.check_id(key_id), self.actor)
        if self._loaded:  # this process stops using it now, not at the next refresh
            yield from self._load()
        return record

    def rotate(
        self, progress: Callable[[RotationProgress], object] | None = None
    ) -> RotationReport:
        """Re-wrap every record not under the current KEK, one compare-and-set per
        record: online (lookups go on), and resumable (a crash leaves each record
        either old or new; run it again). A KEK outage stops it with
        :class:`~llmswitch.errors.KEKUnavailableError`; records that do not open are
        reported in ``failed`` and left as they are."""
        return run(self._rotate(progress))  # type: ignore[no-any-return]

    async def arotate(
        self, progress: Callable[[RotationProgress], object] | None = None
    ) -> RotationReport:
        return await arun(self._rotate(progress))  # type: ignore[no-any-return]

    def _rotate(self, progress: Callable[[RotationProgress], object] | None) -> Ops:
        current: KEK = self.ring.require()
        current_id = yield self._kek(current.current_id)
        total = yield self._read(rec.count_pending, current_id)
        done = rewrapped = changed = 0
        failed: builtins.list[tuple[str, str]] = []
        after = ""
        while True:
            batch = yield self._read(rec.pending_rotation, current_id, after, _BATCH)
            if not batch:
                break
            for stored in batch:
                record = stored.record
                after = record.id
                error = None
                try:
                    new = yield self._kek(
                        reseal, stored.envelope, record.ref, self.ring, current, record.fingerprint
                    )
                except KeyDecryptionError as exc:
                    error = exc.message
                    failed.append((record.id, exc.message))
                    outcome = "failed"
                else:
                    ok = yield self._write(
                        rec.swap_envelope, record.id, stored.envelope, new, self.actor
                    )
                    outcome = "rewrapped" if ok else "changed"
                    rewrapped += ok
                    changed += not ok
                done += 1
                if progress is not None:
                    progress(
                        RotationProgress(
                            done=done,
                            total=max(total, done),
                            record_id=record.id,
                            outcome=outcome,
                            error=error,
                        )
                    )
        pending = yield self._read(rec.count_pending, current_id)
        return RotationReport(
            kek_id=current_id,
            rewrapped=rewrapped,
            changed=changed,
            failed=tuple(failed),
            pending=pending,
        )

    # ---- reading the vault

    def list(self, *, provider: str | None = None, user: str | None = None) -> list[KeyRecord]:
        """The stored records (no secrets), by provider, user, age."""
        return self.db.read(rec.list_keys, provider, user)

    async def alist(
        self, *, provider: str | None = None, user: str | None = None
    ) -> builtins.list[KeyRecord]:
        return await self.db.aread(rec.list_keys, provider, user)

    def record(self, key_id: str) -> KeyRecord:
        """One record (no secret)."""
        return self.db.read(rec.get_stored, rec.check_id(key_id)).record

    def get(self, key_id: str) -> Secret:
        """Decrypt key ``key_id`` now (a KEK round trip; not for the call path)."""
        return run(self._get(key_id))  # type: ignore[no-any-return]

    async def aget(self, key_id: str) -> Secret:
        return await arun(self._get(key_id))  # type: ignore[no-any-return]

    def _get(self, key_id: str) -> Ops:
        stored = yield self._read(rec.get_stored, rec.check_id(key_id))
        record = stored.record
        raw = yield self._kek(
            open_envelope, stored.envelope, record.ref, self.ring, record.fingerprint
        )
        return Secret(raw)

    # ---- the hot path

    @property
    def loaded(self) -> bool:
        return self._loaded

    def lookup(self, provider: str, user: str | None = None) -> Secret | None:
        """``user``'s own key for ``provider``, or ``None`` (no user, or no key stored).
        A user whose stored key cannot be opened now (altered or wrapped by another KEK:
        :class:`~llmswitch.errors.KeyDecryptionError` naming the record; the KMS down
        past ``max_stale``: :class:`~llmswitch.errors.KEKUnavailableError`) gets that
        error, never ``None``: her calls must not fall back to the shared key. A dict
        read: needs :meth:`load` first."""
        if user is None:
            return None
        index = self._index
        secret = index.users.get((provider, user))
        if secret is None and index.failed:
            failed = index.failed.get((provider, user))
            if failed is not None:
                raise _user_key_failed(failed, provider, user)
        return secret

    def shared(self, provider: str) -> tuple[Secret, ...]:
        """The shared (no user) keys of ``provider`` usable now, newest first."""
        return self._index.shared.get(provider, ())

    def load(self) -> None:
        """Read and decrypt the index now, then keep it fresh in a daemon thread."""
        run(self._load(strict=True))
        self._start()

    async def aload(self) -> None:
        await arun(self._load(strict=True))
        self._start()

    def refresh(self) -> None:
        """Rebuild the index now (what the background thread does; never raises: a
        failure is logged once and the previous index stays)."""
        run(self._load())

    async def arefresh(self) -> None:
        await arun(self._load())

    def _load(self, strict: bool = False) -> Ops:
        try:
            # One aggregate first: when nothing changed and nothing is due (a cached
            # secret to decrypt again, a window to close), the rows are not read at
            # all, so an idle refresh of a large vault costs one small query.
            signature = yield self._read(rec.table_signature)
            unchanged = self._loaded and signature == self._signature
            if unchanged and not strict and self._clock() < self._next_due:
                return None
            rows = yield self._read(rec.all_stored)
        except LLMError as exc:
            if strict:
                raise
            if not self._warned_db:
                self._warned_db = True
                log.warning(
                    "vault.refresh_failed: cannot read the key vault (%s); the keys "
                    "loaded before keep serving",
                    exc,
                    extra={"event": "vault.refresh_failed"},
                )
            return None
        if self._warned_db:
            self._warned_db = False
            log.info("vault.refresh_recovered", extra={"event": "vault.refresh_recovered"})
        yield self._kek(self._rebuild, rows)
        # Read before the rows: a change in between only costs one more rebuild.
        self._signature = signature
        self._loaded = True
        return None

    def _rebuild(self, rows: builtins.list[rec.StoredKey]) -> None:
        """Decrypt what the cache does not hold and swap the index (runs in a worker
        thread on async paths: it may call the KMS)."""
        with self._lock:
            now = self._clock()
            now_ms = int(now * 1000)
            cache: dict[str, _Cached] = {}
            outage: KEKUnavailableError | None = None
            usable: builtins.list[tuple[rec.KeyRecord, Secret]] = []
            failed: builtins.list[tuple[rec.KeyRecord, KeyVaultError]] = []
            due = float("inf")
            for stored in rows:
                record = stored.record
                if not record.usable(now_ms):
                    continue
                held = self._cache.get(record.id)
                if held is not None and held.fingerprint != record.fingerprint:
                    held = None
                if held is None or now - held.at >= self.cache_ttl:
                    try:
                        raw = open_envelope(
                            stored.envelope, record.ref, self.ring, record.fingerprint
                        )
                    except KEKUnavailableError as exc:
                        outage = exc
                        due = now  # try the KEK again at the next refresh
                        if held is None or now - held.at >= self.max_stale:
                            failed.append((record, exc))
                            continue
                    except KeyDecryptionError as exc:
                        log.error(
                            "vault.undecryptable %s", exc.message,
                            extra={"event": "vault.undecryptable", "key_id": record.id},
                        )  # fmt: skip
                        failed.append((record, exc))
                        continue
                    else:
                        held = _Cached(record.fingerprint, Secret(raw), now)
                cache[record.id] = held
                usable.append((record, held.secret))
                due = min(due, held.at + self.cache_ttl)
                if record.retire_at is not None:
                    due = min(due, record.retire_at / 1000)
            self._cache = cache
            self._next_due = due
            self._index = _build_index(usable, failed)
            self._kek_outage(outage)

    def _kek_outage(self, outage: KEKUnavailableError | None) -> None:
        if outage is None:
            if self._warned_kek:
                self._warned_kek = False
                log.info("vault.kek_recovered", extra={"event": "vault.kek_recovered"})
        elif not self._warned_kek:
            self._warned_kek = True
            log.warning(
                "vault.kek_unavailable: %s; cached keys keep serving for up to %.0fs",
                outage.message,
                self.max_stale,
                extra={"event": "vault.kek_unavailable"},
            )

    # ---- background refresh and closing

    def _start(self) -> None:
        if self.refresh_every <= 0 or self._thread is not None:
            return
        self._stop.clear()
        # The thread holds the vault weakly: a vault nobody closed (its client was
        # garbage collected) is collected, and its finalizer stops the thread.
        self._thread = threading.Thread(
            target=_refresh_loop, args=(weakref.ref(self), self._stop, self.refresh_every),
            name="llmswitch-vault-refresh", daemon=True,
        )  # fmt: skip
        weakref.finalize(self, self._stop.set)
        self._thread.start()

    def _stop_thread(self, wait: bool = True) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            if wait:
                thread.join(timeout=30)

    def close(self, *, wait: bool = True) -> None:
        """Stop refreshing; close the database if the vault opened it. ``wait=False``:
        do not wait for a refresh in progress (it ends on its own, its result unused)."""
        self._stop_thread(wait)
        if self._owns_db:
            self.db.close()

    async def aclose(self, *, wait: bool = True) -> None:
        if wait:
            await asyncio.to_thread(self._stop_thread)
        else:
            self._stop_thread(wait=False)
        if self._owns_db:
            await self.db.aclose()

    def __enter__(self) -> KeyVault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> KeyVault:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _refresh_loop(ref: weakref.ref[KeyVault], stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        vault = ref()
        if vault is None:
            return
        try:
            vault.refresh()
        except Exception:  # never let the thread die; refresh logs its own failures
            log.exception("vault.refresh_crashed", extra={"event": "vault.refresh_crashed"})
        del vault  # held only while refreshing


def _build_index(
    usable: list[tuple[rec.KeyRecord, Secret]],
    failed: list[tuple[rec.KeyRecord, KeyVaultError]],
) -> _Index:
    # Active before retiring, then newest first: a user's replacement wins over the
    # key it replaces; both stay in the shared tuple during the window.
    def rank(item: tuple[rec.KeyRecord, Secret]) -> tuple[int, int]:
        record = item[0]
        return (0 if record.status == rec.ACTIVE else 1, -record.created_at)

    users: dict[tuple[str, str], Secret] = {}
    shared: dict[str, list[Secret]] = {}
    for record, secret in sorted(usable, key=rank):
        if record.user is None:
            shared.setdefault(record.provider, []).append(secret)
        else:
            users.setdefault((record.provider, record.user), secret)
    # A user's key that cannot be opened fails her calls, unless another of hers opens.
    broken = {
        (record.provider, record.user): exc
        for record, exc in failed
        if record.user is not None and (record.provider, record.user) not in users
    }
    return _Index(users, {p: tuple(s) for p, s in shared.items()}, broken)
