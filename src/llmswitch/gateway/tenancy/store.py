"""``TenantStore``: teams, users and access keys in the SQL database.

::

    store = TenantStore(open_database())
    await store.add_user("alice", team="ml")                 # the team is made if missing
    record, key = await store.issue_key("alice", name="laptop")
    key                                                       # "lsk-..." shown once
    principal = await store.resolve(key)                      # Principal(user="alice", ...)
    await store.revoke_key(record.id)

Only the SHA-256 of a key is stored (see ``storage/sql/schema.py``); records never carry
the key or its hash. Every change is also written to the audit log. A caller's allowed
models are the intersection of its key's, user's and team's lists (``None`` at a level:
unrestricted there), so a new key may use every configured model until restricted.

The gateway does not ask the store per request: :class:`~.auth.TenantAuthenticator`
caches what :meth:`TenantStore.resolve_row` returns. Listeners registered with
:meth:`TenantStore.subscribe` hear of every change this store makes, so the
authenticator in the same process drops what a revoke or an update made stale at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..._log import get_logger
from ...storage.sql import now_ms
from .._principal import Principal
from . import _sql
from ._sql import KeyRow
from ._types import (
    UNCHANGED,
    AccessKeyRecord,
    TeamRecord,
    TenantError,
    TenantLimits,
    UserRecord,
    check_models,
    check_name,
    hash_key,
    looks_like_key,
    new_key,
    new_key_id,
    to_ms,
)

if TYPE_CHECKING:
    from ...storage.sql import Database
    from ...usage.budgets import Budget

__all__ = ["TenantChange", "TenantStore", "principal_of"]

_log = get_logger("llmswitch.gateway.tenancy")
_MISSING = _sql.MISSING


@dataclass(frozen=True, slots=True)
class TenantChange:
    """What a change may have made stale: these key ids, every key of these users,
    every key of these teams' members."""

    keys: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()


def _allows(allowed: frozenset[str], model: str) -> bool:
    """Whether a list allows ``model`` as :meth:`Principal.allows` reads it
    (``provider/*`` covers every model of that provider)."""
    if model in allowed:
        return True
    provider, sep, _ = model.partition("/")
    return bool(sep) and f"{provider}/*" in allowed


def _intersect(*levels: tuple[str, ...] | None) -> frozenset[str] | None:
    """The models every level allows (``None`` at a level: all of them), keeping
    ``provider/*`` patterns only where both sides allow the whole provider."""
    allowed: frozenset[str] | None = None
    for models in levels:
        if models is None:
            continue
        given = frozenset(models)
        if allowed is None:
            allowed = given
        else:
            current = allowed
            allowed = frozenset(m for m in current if _allows(given, m)) | frozenset(
                m for m in given if _allows(current, m)
            )
    return allowed


def principal_of(row: KeyRow) -> Principal:
    """The caller a key row authenticates as (validity is not checked here)."""
    team = row.team.allowed_models if row.team is not None else None
    return Principal(
        key_id=row.key.id,
        user=row.user.name,
        team=row.user.team,
        allowed_models=_intersect(row.key.allowed_models, row.user.allowed_models, team),
    )


def usable(row: KeyRow, now: datetime | None = None) -> bool:
    """Whether the key authenticates now: not revoked, not expired, user enabled."""
    if row.key.revoked_at is not None or row.user.disabled:
        return False
    expires = row.key.expires_at
    return expires is None or expires > (now or datetime.now(UTC))


def _limits(value: object) -> TenantLimits:
    return TenantLimits.from_json(value)


def _update(value: object, check: Callable[[object], Any]) -> Any:
    return _MISSING if value is UNCHANGED else check(value)


class TenantStore:
    """Teams, users and access keys in ``database`` (see the module docs). ``actor``
    names who changes things in the audit log (e.g. ``"cli:root@host"``, ``"admin"``).
    Safe to share between tasks; one per process and database is enough."""

    def __init__(self, database: Database, *, actor: str = "tenancy") -> None:
        self.database = database
        self.actor = actor
        self._listeners: list[Callable[[TenantChange], None]] = []

    def __repr__(self) -> str:
        return f"TenantStore({self.database.url!r})"

    # ---- change notification

    def subscribe(self, listener: Callable[[TenantChange], None]) -> None:
        """Call ``listener`` after every change this store commits."""
        self._listeners.append(listener)

    def _changed(self, change: TenantChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a listener's bug must not fail the change, which is done
                _log.exception("tenancy.listener_failed")

    # ---- teams

    async def add_team(
        self,
        name: str,
        *,
        allowed_models: Sequence[str] | None = None,
        limits: TenantLimits | dict[str, Any] | None = None,
    ) -> TeamRecord:
        """A new team; :class:`TenantError` (``kind="exists"``) when it exists."""
        name = check_name(name, "name")
        models = check_models(allowed_models)
        team = await self.database.arun(
            _sql.insert_team, name, models, _limits(limits), now_ms(), self.actor
        )
        self._changed(TenantChange(teams=(name,)))
        return team

    async def get_team(self, name: str) -> TeamRecord | None:
        return await self.database.aread(_sql.select_team, name)

    async def list_teams(self) -> list[TeamRecord]:
        return await self.database.aread(_sql.select_teams)

    async def update_team(
        self, name: str, *, allowed_models: Any = UNCHANGED, limits: Any = UNCHANGED
    ) -> TeamRecord:
        """Change what is given (``UNCHANGED``/``...`` leaves a field as it is;
        ``None`` clears it); :class:`TenantError` ``not_found`` for an unknown team."""
        name = check_name(name, "name")
        models = _update(allowed_models, check_models)
        new_limits = _update(limits, _limits)
        team = await self.database.arun(_sql.change_team, name, models, new_limits, self.actor)
        self._changed(TenantChange(teams=(name,)))
        return team

    async def delete_team(self, name: str) -> bool:
        """Delete a team (its members stay, without a team); False if there was none."""
        done = await self.database.arun(_sql.remove_team, name, self.actor)
        if done:
            self._changed(TenantChange(teams=(name,)))
        return done

    # ---- users

    async def add_user(
        self,
        name: str,
        *,
        team: str | None = None,
        allowed_models: Sequence[str] | None = None,
        limits: TenantLimits | dict[str, Any] | None = None,
    ) -> UserRecord:
        """A new user, in ``team`` (made if missing); ``exists`` when the name is taken."""
        name = check_name(name, "name")
        if team is not None:
            team = check_name(team, "team")
        models = check_models(allowed_models)
        user = await self.database.arun(
            _sql.insert_user, name, team, models, _limits(limits), now_ms(), self.actor
        )
        self._changed(TenantChange(users=(name,)))
        return user

    async def get_user(self, name: str) -> UserRecord | None:
        return await self.database.aread(_sql.select_user, name)

    async def list_users(self, team: str | None = None) -> list[UserRecord]:
        return await self.database.aread(_sql.select_users, team)

    async def update_user(
        self,
        name: str,
        *,
        team: Any = UNCHANGED,
        allowed_models: Any = UNCHANGED,
        limits: Any = UNCHANGED,
        disabled: Any = UNCHANGED,
    ) -> UserRecord:
        """Change what is given (``UNCHANGED`` leaves a field as it is; ``team=None``
        takes the user out of its team; a new team name is made if missing);
        ``not_found`` for an unknown user."""
        name = check_name(name, "name")
        new_team = _update(team, lambda t: None if t is None else check_name(t, "team"))
        if disabled is not UNCHANGED and not isinstance(disabled, bool):
            raise TenantError("disabled must be true or false", field="disabled")
        user = await self.database.arun(
            _sql.change_user,
            name,
            new_team,
            _update(allowed_models, check_models),
            _update(limits, _limits),
            _MISSING if disabled is UNCHANGED else disabled,
            now_ms(),
            self.actor,
        )
        self._changed(TenantChange(users=(name,)))
        return user

    async def delete_user(self, name: str) -> bool:
        """Delete a user and its keys (so they stop authenticating); False if none."""
        ids = await self.database.arun(_sql.remove_user, name, self.actor)
        if ids is None:
            return False
        self._changed(TenantChange(keys=tuple(ids), users=(name,)))
        return True

    # ---- keys

    async def issue_key(
        self,
        user: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        allowed_models: Sequence[str] | None = None,
        limits: TenantLimits | dict[str, Any] | None = None,
    ) -> tuple[AccessKeyRecord, str]:
        """A new access key for ``user``: its record and the key itself, which is not
        stored and cannot be shown again. ``not_found`` for an unknown user."""
        user = check_name(user, "user")
        if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 200):
            raise TenantError("name must be 1-200 characters", field="name")
        expires = to_ms(expires_at, "expires_at")
        key, digest, prefix = new_key()
        record = {
            "id": new_key_id(),
            "hash": digest,
            "prefix": prefix,
            "user": user,
            "name": name,
            "allowed_models": _sql._models_json(check_models(allowed_models)),
            "limits": _sql._limits_json(_limits(limits)),
            "expires_at": expires,
            "revoked_at": None,
            "created_at": now_ms(),
            "last_used_at": None,
        }
        found = await self.database.arun(_sql.insert_key, record, self.actor)
        self._changed(TenantChange(keys=(found.id,)))
        return found, key

    async def list_keys(self, user: str | None = None) -> list[AccessKeyRecord]:
        return await self.database.aread(_sql.select_keys, user)

    async def get_key(self, key_id: str) -> AccessKeyRecord | None:
        return await self.database.aread(_sql.select_key, key_id)

    async def has_active_keys(self) -> bool:
        """Whether any key is neither revoked nor expired (``serve`` refuses
        non-loopback binds without one)."""
        return await self.database.aread(_sql.any_active_key, now_ms())

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key (for good); False if unknown or revoked already."""
        done = await self.database.arun(_sql.revoke, key_id, now_ms(), self.actor)
        self._changed(TenantChange(keys=(key_id,)))
        return done

    async def resolve(self, token: str) -> Principal | None:
        """Who ``token`` authenticates as: ``None`` for an unknown, revoked or expired
        key or a disabled user. Asks the database (see the module docs)."""
        row = await self.resolve_row(token)
        return None if row is None or not usable(row) else principal_of(row)

    async def resolve_row(self, token: str) -> KeyRow | None:
        """The key, user and team rows of ``token`` (any state), ``None`` if unknown."""
        if not isinstance(token, str) or not looks_like_key(token):
            return None
        return await self.database.aread(_sql.resolve_hash, hash_key(token))

    async def resolve_hash(self, digest: str) -> KeyRow | None:
        """:meth:`resolve_row` for a key already hashed (the authenticator's refresh)."""
        return await self.database.aread(_sql.resolve_hash, digest)

    async def touch_keys(self, used: Sequence[tuple[str, int]]) -> None:
        """Record ``last_used_at`` (epoch ms) for ``(key id, at)`` pairs."""
        if used:
            await self.database.arun(_sql.touch, list(used))

    # ---- budgets

    async def budgets(self) -> list[Budget]:
        """Every ``budget_usd_day``/``budget_usd_month`` of a team, user or live key, as
        ``block`` budgets on ``team:NAME``, ``user:NAME``, ``key:ID``."""
        from ...usage.budgets import Budget

        out: list[Budget] = []
        for scope, text in await self.database.aread(_sql.budget_rows):
            limits = _sql.parse_limits(text)
            for period, amount in (
                ("day", limits.budget_usd_day),
                ("month", limits.budget_usd_month),
            ):
                if amount is not None:
                    out.append(Budget(scope=scope, period=period, limit_usd=float(amount)))  # type: ignore[arg-type]
        return out
