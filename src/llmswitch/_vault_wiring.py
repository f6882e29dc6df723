"""The key vault, wired into a client by its configuration.

A client whose configuration names a key-encryption key (``[keys] kek``,
``$LLMSWITCH_KEK``, or ``$LLMSWITCH_MASTER_KEY`` alone) opens the vault of
``[storage] database_url`` / ``$LLMSWITCH_DATABASE_URL`` / the default SQLite file,
and its pipeline gets two per-attempt layers, after the router (so each deployment a
router tries gets its own provider's key):

- :class:`~llmswitch.keys.UserKeys`: a call with ``user=`` runs with that user's
  stored key for the provider (``[keys] require_user_keys``: a user without one gets
  :class:`~llmswitch.errors.UserKeyRequiredError` before anything is sent);
- :class:`VaultKeyRotation`: the stored shared keys join the provider's key pool (the
  ``keys = [...]`` of ``llmswitch.toml``, else the provider's own key from the
  environment), following the vault's index as keys are added and removed; a provider
  with no key but a stored one is built anyway and always gets a stored key.

**When the index loads.** :class:`VaultHandle` opens and loads the vault in a
background thread started with the client (the SQL toolkit, driver and KMS client
are imported there, never on ``import llmswitch`` and never on the event loop). A
call that needs the vault before it is loaded (a call with ``user=``, or a provider
whose only key is in the vault) waits for that first load, on the async paths by
awaiting a future the opening thread resolves (no worker thread per waiting call), for
at most :data:`LOAD_WAIT` seconds; calls that do not need it run at
once with the keys they have. After the first load the vault's own background
refresh keeps the index fresh and a call only reads two dicts.

A client without a KEK imports nothing of this (``_core`` tests three settings).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._log import get_logger
from .errors import ConfigurationError, KeyVaultError, LLMError
from .keys.byok import UserKeys
from .keys.pool import USER_KEY_STATE, Binder, KeyPool, KeyRotation, _Key, bind_http
from .middleware._drive import Op, Ops, Script, arun, run
from .middleware.base import Call, Middleware
from .middleware.breaker import CircuitBreaker
from .middleware.groups import key_owner
from .middleware.retry import Retry
from .providers.runtime import Provider
from .wire import Secret

if TYPE_CHECKING:
    from .config import Config
    from .keys.vault import KeyVault

__all__ = [
    "LOAD_WAIT",
    "OutsideCalls",
    "StoredKey",
    "VaultHandle",
    "VaultKeyRotation",
    "no_key",
    "settings_key",
    "wire_layers",
]

_T = TypeVar("_T")

log = get_logger("llmswitch.keys.vault")

LOAD_WAIT = 30.0  # seconds a call that needs the vault waits for its first load
RETRY_OPEN = 5.0  # seconds between attempts to open a vault that failed to open

# What a vault is opened from: a reload keeps the vault when these are unchanged.
_ENV = (
    "LLMSWITCH_KEK", "LLMSWITCH_MASTER_KEY", "LLMSWITCH_GCP_KMS_ENDPOINT",
    "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL",  # where the AWS KMS client connects
    "LLMSWITCH_MASTER_KEY_PREVIOUS", "LLMSWITCH_DATABASE_URL", "LLMSWITCH_HOME",
)  # fmt: skip


def settings_key(config: Config, env: Mapping[str, str]) -> tuple[Any, ...]:
    """What the vault of ``config`` depends on (kept private: it holds key material)."""
    return (
        config.database_url, config.kek, config.key_cache_ttl, config.key_refresh,
        *(env.get(name) for name in _ENV),
    )  # fmt: skip


class VaultHandle:
    """The client's vault, opened and loaded in a background thread (module docs).
    Reads like a loaded :class:`~llmswitch.keys.KeyVault` (``loaded``, ``load``,
    ``aload``, ``lookup``, ``shared``) so :class:`UserKeys` takes it as is."""

    def __init__(self, config: Config, env: Mapping[str, str], key: tuple[Any, ...]) -> None:
        self.key = key
        self.loaded = False  # set once, by the opening thread, after the first load
        self.vault: KeyVault | None = None
        self._error: LLMError | None = None
        self._tried = threading.Event()  # the first attempt ended (loaded or failed)
        # Async waiters for that: each a future on its own loop, resolved from the opening
        # thread (call_soon_threadsafe), so a waiting call holds no worker thread.
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._waiters_lock = threading.Lock()
        # Until when calls do not wait (monotonic): a wait for the first load ran out.
        self._stalled_until = 0.0
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self._shut = False
        # The thread holds the handle weakly (a client never closed must not live on in
        # it, retrying every RETRY_OPEN seconds); collecting the handle stops it.
        self._thread = threading.Thread(
            target=_open, args=(weakref.ref(self), self._closed, config, dict(env)),
            name="llmswitch-vault-open", daemon=True,
        )  # fmt: skip
        weakref.finalize(self, self._closed.set)
        self._thread.start()

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "failed" if self._error else "loading"
        return f"<VaultHandle {state} {self.vault!r}>"

    def _failed(self, exc: Exception) -> None:
        """One attempt to open failed: calls that need the vault get ``exc``."""
        error = (
            exc
            if isinstance(exc, LLMError)
            else KeyVaultError(f"the key vault could not be opened: {type(exc).__name__}")
        )
        if self._error is None:
            log.warning(
                "vault.open_failed: %s; calls that need the vault fail until it "
                "opens (retrying every %.0fs)", error, RETRY_OPEN,
                extra={"event": "vault.open_failed"},
            )  # fmt: skip
        self._error = error
        self._tried_now()

    def _opened(self, vault: KeyVault) -> None:
        with self._close_lock:  # close() takes self.vault under this lock
            shut = self._shut
            if not shut:
                self.vault = vault
        if shut:  # closed while loading: nobody else will close it
            vault.close(wait=False)
            self._error = KeyVaultError("the key vault was closed while it was opening")
            self._tried_now()  # calls still waiting on this configuration: no key here
            return
        self.loaded = True
        self._error = None
        self._tried_now()

    def _tried_now(self) -> None:
        """The first attempt ended: wake the waiters, blocking and async."""
        with self._waiters_lock:
            self._tried.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits there
                loop.call_soon_threadsafe(_wake, future)

    @property
    def failed(self) -> bool:
        """The vault could not be opened (so far): calls that need it get the reason."""
        return not self.loaded and self._error is not None

    def _ready(self) -> None:
        if self.loaded:
            return
        if self._error is not None:
            raise self._error
        raise KeyVaultError(f"the key vault is still loading after {LOAD_WAIT:.0f}s")

    def _patience(self) -> float:
        """Seconds a call may wait for the first load now: :data:`LOAD_WAIT`, or none
        for :data:`LOAD_WAIT` seconds after a wait ran out. So one call waits once
        however many times its key is read (a router's attempts, a failed request's
        scrubbing), and calls behind a stuck database fail at once instead of queueing."""
        return 0.0 if time.monotonic() < self._stalled_until else LOAD_WAIT

    def _ran_out(self) -> None:
        self._stalled_until = time.monotonic() + LOAD_WAIT

    def load(self) -> None:
        """Wait (boundedly) for the first load; raise why it failed."""
        if not self.loaded:
            patience = self._patience()
            if patience and not self._tried.wait(patience):
                self._ran_out()
        self._ready()

    async def aload(self) -> None:
        if not self.loaded:
            patience = self._patience()
            if patience and not await self._atried(patience):
                self._ran_out()
        self._ready()

    async def _atried(self, patience: float) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._waiters_lock:
            if self._tried.is_set():
                return True
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, patience)
        except TimeoutError:
            return False
        else:
            return True
        finally:
            with self._waiters_lock, contextlib.suppress(ValueError):
                self._waiters.remove((loop, future))

    def lookup(self, provider: str, user: str | None = None) -> Secret | None:
        vault = self.vault
        return vault.lookup(provider, user) if vault is not None else None

    def shared(self, provider: str) -> tuple[Secret, ...]:
        vault = self.vault
        return vault.shared(provider) if vault is not None else ()

    def _closing(self) -> KeyVault | None:
        """Once only: the vault to close. Its last index stays readable (calls still in
        flight on a replaced configuration keep their keys); it just stops refreshing."""
        with self._close_lock:
            if self._shut:
                return None
            self._shut = True
            return self.vault

    def close(self) -> None:
        """Stop opening/refreshing and close the database. Never waits (a reload may
        call it on the event loop): an open in progress closes what it opened when it
        ends, and a refresh in progress ends on its own."""
        self._closed.set()
        vault = self._closing()
        if vault is not None:
            vault.close(wait=False)

    async def aclose(self) -> None:
        self._closed.set()
        vault = self._closing()
        if vault is not None:
            await vault.aclose(wait=False)


def _open(
    ref: weakref.ref[VaultHandle], closed: threading.Event, config: Config, env: dict[str, str]
) -> None:
    """The opening thread: retries until the vault opens, the handle is closed, or the
    handle is collected (held only while handing it a result)."""
    from .keys.kek import keyring
    from .keys.vault import KeyVault

    while not closed.is_set():
        vault: KeyVault | None = None
        try:
            ring = keyring(config.kek, env, source=kek_origin(config, env))
            vault = KeyVault.from_config(config, env=env, kek=ring)
            vault.load()  # reads and decrypts, then starts the vault's own refresher
        except Exception as exc:  # a failed open must not kill the thread silently
            if vault is not None:
                vault.close()
            handle = ref()
            if handle is None:
                return
            handle._failed(exc)
            del handle
            closed.wait(RETRY_OPEN)
            continue
        handle = ref()
        if handle is None:  # collected while it was opening
            vault.close(wait=False)
            return
        handle._opened(vault)
        return


def kek_origin(config: Config, env: Mapping[str, str]) -> str | None:
    """Where the KEK in force was set, for its errors: ``LLMSWITCH_KEK``, or
    ``[keys] kek`` with the file and line (an ``[env.NAME]`` overlay's line when the
    overlay sets it); ``None`` for ``local:`` implied by ``LLMSWITCH_MASTER_KEY``."""
    from .keys.kek import kek_source

    where = kek_source(config.kek, env)
    if where != "[keys] kek" or config.path is None:
        return where
    from .config._toml_lines import key_lines

    try:
        lines = key_lines(config.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return f"{where} ({config.path})"
    at = lines.get(("env", config.overlay, "keys", "kek")) if config.overlay else None
    at = at or lines.get(("keys", "kek"))
    return f"{where} ({config.path}:{at})" if at else f"{where} ({config.path})"


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a waiter that gave up has cancelled it
        future.set_result(None)


def no_key(pid: str, missing: str) -> ConfigurationError:
    """No key configured and none stored: what to set, or what to store."""
    return ConfigurationError(
        f"{missing}; or store one in the key vault: `llmswitch keys add {key_owner(pid)}`",
        provider=pid,
    )


class StoredKey(Secret):
    """The API key of a provider configured only by the vault: the newest stored shared
    key, read at each request. The pipeline's :class:`VaultKeyRotation` binds a key of
    its own to every chat/stream attempt, and :class:`OutsideCalls` one to ``embed``,
    ``count_tokens``, ``list_models`` and ``health``; this serves whatever uses the
    provider directly, and waits for the vault's first load like any call that needs it."""

    __slots__ = ("_handle", "_missing", "_pid")

    def __init__(self, handle: VaultHandle, pid: str, missing: str) -> None:
        super().__init__("")  # never compared or hashed by value: identity below
        self._handle = handle
        self._pid = pid
        self._missing = missing  # the build's "not configured: set X" message

    def get(self) -> str:
        if not self._handle.loaded:
            self._handle.load()
        keys = self._handle.shared(key_owner(self._pid))
        if not keys:
            raise no_key(self._pid, self._missing)
        return keys[0].get()

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)


class _VaultExtra:
    """A pool's ``extra`` once the vault joins it: the caller's own ``extra`` (kept: a
    ``KeyPool(extra=...)`` passed in ``middleware=``), then the vault's shared keys. It
    returns the same tuple while neither part changed, as :class:`KeyPool` expects."""

    __slots__ = ("_last", "own", "vault")

    def __init__(
        self,
        own: Callable[[], tuple[Secret, ...]] | None,
        vault: Callable[[], tuple[Secret, ...]],
    ) -> None:
        self.own = own
        self.vault = vault
        self._last: tuple[Any, Any, tuple[Secret, ...]] = (None, None, ())

    def __call__(self) -> tuple[Secret, ...]:
        own = self.own() if self.own is not None else ()
        vault = self.vault()
        last = self._last
        if own is last[0] and vault is last[1]:
            return last[2]
        both = own + vault if own and vault else own or vault  # duplicates: the pool drops
        self._last = (own, vault, both)  # one swap: a concurrent reader sees old or new
        return both


class VaultKeyRotation(KeyRotation):
    """:class:`KeyRotation` whose pools follow the vault's shared keys: a configured
    pool gets the stored shared keys after its own; a provider without a configured
    pool gets one when the vault holds shared keys for it (its own key first); a
    provider built only because the vault may hold its key (``vault_only``) always
    rotates over the stored keys, waiting for the vault's first load if needed."""

    def __init__(
        self,
        pools: list[KeyPool],
        *,
        handle: VaultHandle,
        vault_only: Mapping[str, str],
        store: Callable[[], Any],
        bind: Binder = bind_http,
        metrics: Any = None,
    ) -> None:
        super().__init__(pools, bind=bind, metrics=metrics)
        self._handle = handle
        self._vault_only = vault_only  # the core's: grows as such providers are built
        self._store = store
        self._making = threading.Lock()
        for pool in self.pools.values():
            own = pool._extra
            if isinstance(own, _VaultExtra):  # adopted before (a reload): a new vault part
                own = own.own
            pool._extra = _VaultExtra(own, self._shared_of(pool.provider_id))

    def _shared_of(self, pid: str) -> Callable[[], tuple[Secret, ...]]:
        shared, owner = self._handle.shared, key_owner(pid)  # derived endpoints: their provider's
        return lambda: shared(owner)

    @classmethod
    def adopt(cls, rotation: KeyRotation, **options: Any) -> VaultKeyRotation:
        """The same pools (configured ones), now following the vault too."""
        return cls(
            list(rotation.pools.values()), bind=rotation._bind, metrics=rotation._metrics,
            **options,
        )  # fmt: skip

    def script(self, call: Call, stream: bool) -> Script | None:
        provider = call.provider
        if call.state.get(USER_KEY_STATE) is provider:
            return None  # runs with the user's own key
        pool = self.pools.get(provider.id)
        if pool is None:
            if provider.id in self._vault_only:
                return self._vault_keyed(call)
            if not self._handle.shared(key_owner(provider.id)):
                return None
            pool = self._pool(provider)
        return self._rotate(pool, call)

    def _vault_keyed(self, call: Call) -> Script:
        pool = yield from self.stored_pool(call.provider)
        return (yield from self._rotate(pool, call))

    def stored_pool(self, provider: Provider) -> Ops:
        """The pool of a ``vault_only`` provider, after the vault's first load; or the
        provider's "no key" error when the vault holds none for it."""
        if not self._handle.loaded:
            try:
                yield Op(self._handle.load, self._handle.aload)
            except LLMError as exc:
                if not self._handle.failed:
                    raise  # still loading: it may hold the key
                # It cannot hold a key now: the provider's own "set X" comes first.
                pid = provider.id
                missing = self._vault_only.get(pid, f"provider {pid!r} has no API key")
                raise ConfigurationError(
                    f"{missing}; or store one in the key vault, which cannot be opened: "
                    f"{exc.message}",
                    provider=pid,
                ) from None
        pool = self._pool(provider)
        if not len(pool):
            pid = provider.id
            raise no_key(pid, self._vault_only.get(pid, f"provider {pid!r} has no API key"))
        return pool

    def bound(self, provider: Provider, key: _Key) -> Provider:
        """``provider`` using ``key`` (the bound provider cached as attempts do)."""
        slot = (provider.id, key.fingerprint)
        held = self._bound.get(slot)
        if held is None or held[0] is not provider:
            held = self._bound[slot] = (provider, self._bind(provider, key.secret))
        return held[1]

    def _pool(self, provider: Provider) -> KeyPool:
        with self._making:
            pool = self.pools.get(provider.id)
            if pool is None:
                own: list[Secret] = []
                if provider.id not in self._vault_only:
                    key = getattr(getattr(provider, "endpoint", None), "api_key", None)
                    if isinstance(key, Secret):
                        own.append(key)
                pool = KeyPool(
                    provider.id, own, store=self._store(), extra=self._shared_of(provider.id)
                )
                self.pools = {**self.pools, provider.id: pool}  # readers never lock
        return pool


def wire_layers(
    layers: list[Middleware],
    *,
    handle: VaultHandle,
    require_user_keys: bool,
    vault_only: Mapping[str, str],
    store: Callable[[], Any],
) -> list[Middleware]:
    """``layers`` with UserKeys and a VaultKeyRotation in place: a KeyRotation already
    there is adopted (its pools follow the vault), else both go just before the
    breaker/retry layers (after the router: per attempt), else at the end. A UserKeys
    the caller brought is kept as is."""
    out = list(layers)
    at = next((i for i, m in enumerate(out) if isinstance(m, KeyRotation)), None)
    options: dict[str, Any] = {"handle": handle, "vault_only": vault_only, "store": store}
    if at is not None:
        out[at] = VaultKeyRotation.adopt(out[at], **options)  # type: ignore[arg-type]
    else:
        at = next((i for i, m in enumerate(out) if isinstance(m, CircuitBreaker | Retry)), len(out))
        out.insert(at, VaultKeyRotation([], **options))
    if not any(isinstance(m, UserKeys) for m in out):
        out.insert(at, UserKeys(handle, require_user_keys=require_user_keys))
    return out


class OutsideCalls:
    """The key of a call that runs outside the pipeline (``embed``, ``count_tokens``,
    ``list_models``, ``health``) on a vault-wired client, chosen as the pipeline's
    layers choose a chat attempt's: a call with ``user=`` runs with her stored key, or
    fails before anything is sent, as :class:`UserKeys` decides (its ``key_for``);
    anything else with the provider's own key (configured only by the vault: its
    :class:`StoredKey`, once the vault's first load is done)."""

    def __init__(self, users: UserKeys, rotation: VaultKeyRotation) -> None:
        self.users = users
        self.rotation = rotation

    def call(self, provider: Provider, user: str | None, fn: Callable[[Any], _T]) -> _T:
        """``fn(provider bound to the chosen key)``."""
        return run(self._script(provider, user, fn, fn))  # type: ignore[no-any-return]

    async def acall(
        self, provider: Provider, user: str | None, fn: Callable[[Any], Awaitable[_T]]
    ) -> _T:
        """``await fn(provider bound to the chosen key)``; waits happen off the loop."""
        return await arun(self._script(provider, user, fn, fn))  # type: ignore[no-any-return]

    def _script(
        self, provider: Provider, user: str | None, fn: Callable[..., Any], afn: Callable[..., Any]
    ) -> Ops:
        if user is not None:
            source = self.users.vault
            if not source.loaded:
                yield Op(source.load, source.aload)
            secret = self.users.key_for(provider.id, user)
            if secret is not None:
                return (yield Op(fn, afn, self.users.bound(provider, secret)[0]))
        rotation = self.rotation
        if provider.id not in rotation._vault_only:
            return (yield Op(fn, afn, provider))  # its own key, as without a vault
        # Configured by the vault alone: a usable stored key of the pool chat uses
        # (cooling and disabled keys skipped); a 401/403/429 marks the key there and,
        # when the pool has another, the call tries that one, as an attempt would.
        pool = yield from rotation.stored_pool(provider)
        tried: frozenset[str] = frozenset()
        while True:
            key = yield from pool._pick(tried)
            try:
                return (yield Op(fn, afn, rotation.bound(provider, key)))
            except LLMError as exc:
                changed = yield from pool._report(key, exc)
                if not changed or len(pool) <= 1:
                    raise
                tried |= {key.fingerprint}
