"""Per-user keys (bring your own key): a call made for a user runs with that user's
stored key for the call's provider.

::

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
platform's own).

Shared keys stored in the vault join a provider's pool through
:meth:`KeyVault.shared`, e.g. ``KeyPool("openai", [*env_keys, *vault.shared("openai")])``
in a :class:`~llmswitch.keys.KeyRotation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UserKeyRequiredError
from ..middleware._drive import Layer, Op, Script, Try
from ..middleware.base import OTHER_KEYS_KEY, Call
from ..providers.runtime import Provider
from ..wire import Secret
from .pool import KEY_STATE, USER_KEY_STATE, Binder, bind_http, fingerprint

if TYPE_CHECKING:
    from .vault import KeyVault

__all__ = ["UserKeys"]

_MAX_BOUND = 4096  # bound providers kept (one per user key in use); then start afresh


class UserKeys(Layer):
    """Use the calling user's own stored key (see the module docs). ``bind(provider,
    secret)`` makes the provider that uses a key (default: HTTP providers with the
    endpoint's key replaced)."""

    per_attempt = True

    def __init__(
        self, vault: KeyVault, *, require_user_keys: bool = False, bind: Binder = bind_http
    ) -> None:
        self.vault = vault
        self.require_user_keys = bool(require_user_keys)
        self._bind = bind
        # (provider id, key fingerprint) -> (the provider it was bound from, bound one)
        self._bound: dict[tuple[str, str], tuple[Provider, Provider]] = {}

    def __repr__(self) -> str:
        return f"UserKeys({self.vault!r}, require_user_keys={self.require_user_keys})"

    def script(self, call: Call, stream: bool) -> Script | None:
        user = call.request.user
        if user is None:
            return None
        if not self.vault.loaded:
            return self._load_then(call, user)
        secret = self.vault.lookup(call.provider.id, user)
        if secret is None:
            return self._refuse(call, user) if self.require_user_keys else None
        return self._with_key(call, secret)

    def _load_then(self, call: Call, user: str) -> Script:
        # Only the first call of a process whose vault was never loaded waits here
        # (in a worker thread / awaited on async paths); later calls read the index.
        yield Op(self.vault.load, self.vault.aload)
        secret = self.vault.lookup(call.provider.id, user)
        if secret is not None:
            return (yield from self._with_key(call, secret))
        if self.require_user_keys:
            return (yield from self._refuse(call, user))
        return (yield Try(call))

    def _refuse(self, call: Call, user: str) -> Script:
        raise UserKeyRequiredError(
            f"user {user!r} has no key for provider {call.provider.id!r}, and this "
            "deployment requires users to bring their own: add one with "
            f"`llmswitch keys add {call.provider.id} --user {user}`",
            user=user,
            provider=call.provider.id,
        )
        yield  # a generator: the driver runs it like any script  # pragma: no cover

    def _with_key(self, call: Call, secret: Secret) -> Script:
        fp = fingerprint(secret)
        slot = (call.provider.id, fp)
        held = self._bound.get(slot)
        if held is None or held[0] is not call.provider:
            if len(self._bound) >= _MAX_BOUND:
                self._bound = {}
            held = self._bound[slot] = (call.provider, self._bind(call.provider, secret))
        bound = held[1]
        call.state[USER_KEY_STATE] = bound  # KeyRotation leaves this attempt's key alone
        call.state[KEY_STATE] = "user:…" + fp[-4:]
        call.state[OTHER_KEYS_KEY] = False  # a user's key has no stand-in
        return (yield Try(call.replace(provider=bound)))
