"""Per-user keys (bring your own key): a call made for a user runs with that user's
stored key for the call's provider.

A client whose configuration names a KEK adds this layer by itself (see
``llmswitch._vault_wiring``); by hand, for a vault of your own::

    vault = KeyVault()
    vault.load()                                  # or let the first call load it
    client = Client(middleware=[UserKeys(vault)])
    client.chat("openai/gpt-4o-mini", messages=[...], user="alice")   # alice's key

:class:`UserKeys` is a per-attempt layer (it runs once for each deployment a router
tries, so each provider gets the right user's key). For a call with ``user=`` it looks
the key up in the vault's in-memory index (:meth:`KeyVault.lookup`, a dict read; the
call never waits on the database or a KMS) and binds the provider to it for that
attempt; a :class:`~llmswitch.keys.KeyRotation` pool further in then leaves the
attempt alone. A user without a key for the provider, and a call with no ``user``,
get the shared key or pool as before — unless ``require_user_keys``, where a user
without a key fails with :class:`~llmswitch.errors.UserKeyRequiredError` before
anything is sent (calls with no ``user`` still use the shared key: they are the
platform's own). A user whose stored key exists but cannot be opened (altered, another
KEK, the KMS down past ``max_stale``) gets that error (:class:`~llmswitch.errors.KeyDecryptionError`
naming the record, or :class:`~llmswitch.errors.KEKUnavailableError`), never the shared key.

Shared keys stored in the vault join a provider's pool through
:meth:`KeyVault.shared`, e.g. ``KeyPool("openai", env_keys, extra=lambda:
vault.shared("openai"))`` in a :class:`~llmswitch.keys.KeyRotation` (the pool follows
the vault's index as keys are added and removed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Protocol

from ..errors import UserKeyRequiredError
from ..events import Event
from ..messages import ChatResponse
from ..middleware.base import (
    OTHER_KEYS_KEY,
    AsyncChatHandler,
    AsyncStreamHandler,
    Call,
    ChatHandler,
    Middleware,
    StreamHandler,
)
from ..middleware.groups import key_owner
from ..providers.runtime import Provider
from ..wire import Secret
from .pool import KEY_STATE, USER_KEY_STATE, Binder, bind_http, fingerprint

if TYPE_CHECKING:
    from .vault import KeyVault

__all__ = ["UserKeySource", "UserKeys"]


class UserKeySource(Protocol):
    """What :class:`UserKeys` reads: a :class:`~llmswitch.keys.KeyVault`, or anything
    that loads and looks keys up like one (the client's own vault handle)."""

    @property
    def loaded(self) -> bool: ...
    def load(self) -> None: ...
    async def aload(self) -> None: ...
    def lookup(self, provider: str, user: str | None = None) -> Secret | None: ...


_MAX_BOUND = 4096  # bound providers kept (one per user key in use); then start afresh


class UserKeys(Middleware):
    """Use the calling user's own stored key (see the module docs). ``bind(provider,
    secret)`` makes the provider that uses a key (default: HTTP providers with the
    endpoint's key replaced).

    A plain middleware rather than a driver ``Layer``: the decision is made before the
    inner layers run and needs no settling, so the four entry points just hand on the
    rewritten call (about half the per-call cost of running a script)."""

    per_attempt = True

    def __init__(
        self,
        vault: KeyVault | UserKeySource,
        *,
        require_user_keys: bool = False,
        bind: Binder = bind_http,
    ) -> None:
        self.vault = vault
        self.require_user_keys = bool(require_user_keys)
        self._bind = bind
        # (provider id, key) -> (the provider it was bound from, bound one, key label)
        self._bound: dict[tuple[str, Secret], tuple[Provider, Provider, str]] = {}

    def __repr__(self) -> str:
        return f"UserKeys({self.vault!r}, require_user_keys={self.require_user_keys})"

    # Only the first call of a process whose vault was never loaded loads it (awaited
    # on the async paths, where the vault does its I/O off the loop); later calls only
    # read the in-memory index.

    def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
        if not self.vault.loaded and call.request.user is not None:
            self.vault.load()
        return next(self._route(call))

    async def achat(self, call: Call, next: AsyncChatHandler) -> ChatResponse:
        if not self.vault.loaded and call.request.user is not None:
            await self.vault.aload()
        return await next(self._route(call))

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        if not self.vault.loaded and call.request.user is not None:
            self.vault.load()
        return next(self._route(call))

    def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        if not self.vault.loaded and call.request.user is not None:
            return self._astream_loading(call, next)
        return next(self._route(call))

    async def _astream_loading(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        await self.vault.aload()
        inner = next(self._route(call))
        try:
            async for event in inner:
                yield event
        finally:
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()

    def _route(self, call: Call) -> Call:
        """The call as the inner layers should run it: bound to the user's key, as
        is, or refused."""
        user = call.request.user
        if user is None:
            return call
        secret = self.key_for(call.provider.id, user)
        if secret is None:
            return call
        return self._with_key(call, secret)

    def key_for(self, provider_id: str, user: str) -> Secret | None:
        """``user``'s stored key for the provider; ``None``: the shared key/pool serves
        her. Raises :class:`~llmswitch.errors.UserKeyRequiredError` (none, and users
        must bring their own) or her key's own error (stored but cannot be opened)."""
        owner = key_owner(provider_id)  # a model group's derived endpoint: its provider's
        secret = self.vault.lookup(owner, user)
        if secret is None and self.require_user_keys:
            raise UserKeyRequiredError(
                f"user {user!r} has no key for provider {owner!r}, and this "
                "deployment requires users to bring their own: add one with "
                f"`llmswitch keys add {owner} --user {user}`",
                user=user,
                provider=owner,
            )
        return secret

    def bound(self, provider: Provider, secret: Secret) -> tuple[Provider, str]:
        """``provider`` using ``secret`` (cached), and the key's label for logs."""
        # Keyed by the Secret itself (its hash is the cached str hash): no digest per call.
        held = self._bound.get((provider.id, secret))
        if held is None or held[0] is not provider:
            if len(self._bound) >= _MAX_BOUND:
                self._bound = {}
            label = "user:…" + fingerprint(secret)[-4:]
            held = (provider, self._bind(provider, secret), label)
            self._bound[(provider.id, secret)] = held
        return held[1], held[2]

    def _with_key(self, call: Call, secret: Secret) -> Call:
        bound, label = self.bound(call.provider, secret)
        call.state[USER_KEY_STATE] = bound  # KeyRotation leaves this attempt's key alone
        call.state[KEY_STATE] = label
        call.state[OTHER_KEYS_KEY] = False  # a user's key has no stand-in
        return call.replace(provider=bound)
