"""The tenancy tables' statements, written once over a SQLAlchemy ``Connection`` so the
store runs them with ``Database.arun``/``aread`` (and ``run``/``read`` from sync code).

Every change is written to the audit log in the same transaction (never a key or its
hash: keys are named by id). Row mapping to records happens here too, so the store
stays free of SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from ..._json import dumps_str, loads
from ...storage.sql.audit import write_audit
from ...storage.sql.schema import access_keys, teams, users
from ._types import (
    AccessKeyRecord,
    TeamRecord,
    TenantError,
    TenantLimits,
    UserRecord,
    from_ms,
)

__all__ = ["KeyRow"]

_MISSING: Any = object()


def _models_json(models: tuple[str, ...] | None) -> str | None:
    return None if models is None else dumps_str(list(models))


def _limits_json(limits: TenantLimits) -> str | None:
    data = limits.to_json()
    return dumps_str(data) if data else None


def _models(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    value = loads(text)
    return tuple(str(m) for m in value) if isinstance(value, list) else None


def _limits(text: str | None) -> TenantLimits:
    if not text:
        return TenantLimits()
    try:
        return TenantLimits.from_json(loads(text))
    except (TenantError, ValueError):
        return TenantLimits()  # a row edited by hand into nonsense limits nothing


def _team(row: Any) -> TeamRecord:
    created = from_ms(row.created_at)
    assert created is not None
    return TeamRecord(
        name=row.name,
        allowed_models=_models(row.allowed_models),
        limits=_limits(row.limits),
        created_at=created,
    )


def _user(row: Any) -> UserRecord:
    created = from_ms(row.created_at)
    assert created is not None
    return UserRecord(
        name=row.name,
        team=row.team,
        allowed_models=_models(row.allowed_models),
        limits=_limits(row.limits),
        created_at=created,
        disabled=bool(row.disabled),
    )


_KEY_COLUMNS = (
    access_keys.c.id,
    access_keys.c.user,
    access_keys.c.name,
    access_keys.c.prefix,
    access_keys.c.allowed_models,
    access_keys.c.limits,
    access_keys.c.created_at,
    access_keys.c.expires_at,
    access_keys.c.revoked_at,
    access_keys.c.last_used_at,
)


def _key(row: Any) -> AccessKeyRecord:
    created = from_ms(row.created_at)
    assert created is not None
    return AccessKeyRecord(
        id=row.id,
        user=row.user,
        name=row.name,
        prefix=row.prefix,
        allowed_models=_models(row.allowed_models),
        limits=_limits(row.limits),
        created_at=created,
        expires_at=from_ms(row.expires_at),
        revoked_at=from_ms(row.revoked_at),
        last_used_at=from_ms(row.last_used_at),
    )


def _audit(conn: Connection, actor: str, action: str, subject: str, **detail: Any) -> None:
    write_audit(conn, actor=actor, action=action, subject=subject, detail=detail)


# ---- teams


def insert_team(
    conn: Connection,
    name: str,
    models: tuple[str, ...] | None,
    limits: TenantLimits,
    now: int,
    actor: str,
) -> TeamRecord:
    if conn.execute(select(teams.c.name).where(teams.c.name == name)).first() is not None:
        raise TenantError(f"team {name!r} exists already", field="name", kind="exists")
    try:
        with conn.begin_nested():
            conn.execute(
                teams.insert().values(
                    name=name,
                    allowed_models=_models_json(models),
                    limits=_limits_json(limits),
                    created_at=now,
                )
            )
    except IntegrityError:  # a concurrent add of the same name won
        raise TenantError(f"team {name!r} exists already", field="name", kind="exists") from None
    _audit(conn, actor, "team.add", name, allowed_models=models, limits=limits.to_json())
    found = select_team(conn, name)
    assert found is not None
    return found


def select_team(conn: Connection, name: str) -> TeamRecord | None:
    row = conn.execute(select(teams).where(teams.c.name == name)).first()
    return None if row is None else _team(row)


def select_teams(conn: Connection) -> list[TeamRecord]:
    return [_team(r) for r in conn.execute(select(teams).order_by(teams.c.name))]


def change_team(conn: Connection, name: str, models: Any, limits: Any, actor: str) -> TeamRecord:
    values: dict[str, Any] = {}
    if models is not _MISSING:
        values["allowed_models"] = _models_json(models)
    if limits is not _MISSING:
        values["limits"] = _limits_json(limits)
    if values:
        done = conn.execute(update(teams).where(teams.c.name == name).values(**values))
        if done.rowcount:
            _audit(conn, actor, "team.update", name, **_shown(models, limits))
    found = select_team(conn, name)
    if found is None:
        raise TenantError(f"no team {name!r}", field="name", kind="not_found")
    return found


def remove_team(conn: Connection, name: str, actor: str) -> bool:
    # Members stay, without a team (their keys keep working under their own settings).
    conn.execute(update(users).where(users.c.team == name).values(team=None))
    done = conn.execute(delete(teams).where(teams.c.name == name)).rowcount > 0
    if done:
        _audit(conn, actor, "team.delete", name)
    return done


def _shown(models: Any, limits: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if models is not _MISSING:
        out["allowed_models"] = models
    if limits is not _MISSING:
        out["limits"] = limits.to_json()
    return out


def _ensure_team(conn: Connection, team: str, now: int, actor: str) -> None:
    if conn.execute(select(teams.c.name).where(teams.c.name == team)).first() is not None:
        return
    try:
        with conn.begin_nested():
            conn.execute(teams.insert().values(name=team, created_at=now))
    except IntegrityError:  # made by a concurrent writer: as good
        return
    _audit(conn, actor, "team.add", team, implicit=True)


# ---- users


def insert_user(
    conn: Connection,
    name: str,
    team: str | None,
    models: tuple[str, ...] | None,
    limits: TenantLimits,
    now: int,
    actor: str,
) -> UserRecord:
    if conn.execute(select(users.c.name).where(users.c.name == name)).first() is not None:
        raise TenantError(f"user {name!r} exists already", field="name", kind="exists")
    if team is not None:
        _ensure_team(conn, team, now, actor)
    try:
        with conn.begin_nested():
            conn.execute(
                users.insert().values(
                    name=name,
                    team=team,
                    allowed_models=_models_json(models),
                    limits=_limits_json(limits),
                    created_at=now,
                    disabled=False,
                )
            )
    except IntegrityError:
        raise TenantError(f"user {name!r} exists already", field="name", kind="exists") from None
    _audit(conn, actor, "user.add", name, team=team, allowed_models=models, limits=limits.to_json())
    found = select_user(conn, name)
    assert found is not None
    return found


def select_user(conn: Connection, name: str) -> UserRecord | None:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    return None if row is None else _user(row)


def select_users(conn: Connection, team: str | None) -> list[UserRecord]:
    query = select(users).order_by(users.c.name)
    if team is not None:
        query = query.where(users.c.team == team)
    return [_user(r) for r in conn.execute(query)]


def change_user(
    conn: Connection,
    name: str,
    team: Any,
    models: Any,
    limits: Any,
    disabled: Any,
    now: int,
    actor: str,
) -> UserRecord:
    values: dict[str, Any] = {}
    shown = _shown(models, limits)
    if team is not _MISSING:
        if team is not None:
            _ensure_team(conn, team, now, actor)
        values["team"] = team
        shown["team"] = team
    if models is not _MISSING:
        values["allowed_models"] = _models_json(models)
    if limits is not _MISSING:
        values["limits"] = _limits_json(limits)
    if disabled is not _MISSING:
        values["disabled"] = bool(disabled)
        shown["disabled"] = bool(disabled)
    if values:
        done = conn.execute(update(users).where(users.c.name == name).values(**values))
        if done.rowcount:
            _audit(conn, actor, "user.update", name, **shown)
    found = select_user(conn, name)
    if found is None:
        raise TenantError(f"no user {name!r}", field="name", kind="not_found")
    return found


def remove_user(conn: Connection, name: str, actor: str) -> list[str] | None:
    """Delete ``name`` and its keys (which revokes them); the key ids, ``None`` when
    there was no such user."""
    ids = [r[0] for r in conn.execute(select(access_keys.c.id).where(access_keys.c.user == name))]
    conn.execute(delete(access_keys).where(access_keys.c.user == name))
    if not conn.execute(delete(users).where(users.c.name == name)).rowcount:
        return None
    _audit(conn, actor, "user.delete", name, revoked_keys=ids)
    return ids


# ---- keys


def insert_key(conn: Connection, record: dict[str, Any], actor: str) -> AccessKeyRecord:
    if select_user(conn, record["user"]) is None:
        raise TenantError(f"no user {record['user']!r}", field="user", kind="not_found")
    conn.execute(access_keys.insert().values(**record))
    _audit(
        conn,
        actor,
        "access_key.issue",
        record["id"],
        user=record["user"],
        name=record["name"],
        expires_at=record["expires_at"],
    )
    found = select_key(conn, record["id"])
    assert found is not None
    return found


def select_key(conn: Connection, key_id: str) -> AccessKeyRecord | None:
    row = conn.execute(select(*_KEY_COLUMNS).where(access_keys.c.id == key_id)).first()
    return None if row is None else _key(row)


def select_keys(conn: Connection, user: str | None) -> list[AccessKeyRecord]:
    query = select(*_KEY_COLUMNS).order_by(
        access_keys.c.user, access_keys.c.created_at, access_keys.c.id
    )
    if user is not None:
        query = query.where(access_keys.c.user == user)
    return [_key(r) for r in conn.execute(query)]


def any_active_key(conn: Connection, now: int) -> bool:
    t = access_keys
    query = (
        select(t.c.id)
        .where(t.c.revoked_at.is_(None), (t.c.expires_at.is_(None)) | (t.c.expires_at > now))
        .limit(1)
    )
    return conn.execute(query).first() is not None


def revoke(conn: Connection, key_id: str, now: int, actor: str) -> bool:
    t = access_keys
    done = conn.execute(
        update(t).where(t.c.id == key_id, t.c.revoked_at.is_(None)).values(revoked_at=now)
    ).rowcount
    if done:
        _audit(conn, actor, "access_key.revoke", key_id)
    return bool(done)


def touch(conn: Connection, used: Sequence[tuple[str, int]]) -> None:
    """Set ``last_used_at`` of each ``(key id, epoch ms)`` (never moving it back)."""
    t = access_keys
    for key_id, at in used:
        conn.execute(
            update(t)
            .where(t.c.id == key_id, (t.c.last_used_at.is_(None)) | (t.c.last_used_at < at))
            .values(last_used_at=at)
        )


# ---- resolving a key


@dataclass(frozen=True, slots=True)
class KeyRow:
    """What resolving a key reads: the key, its user and its user's team, joined."""

    key: AccessKeyRecord
    user: UserRecord
    team: TeamRecord | None


def resolve_hash(conn: Connection, digest: str) -> KeyRow | None:
    k, u, t = access_keys, users, teams
    query = (
        select(
            *_KEY_COLUMNS,
            k.c.hash,
            u.c.team.label("u_team"),
            u.c.allowed_models.label("u_models"),
            u.c.limits.label("u_limits"),
            u.c.created_at.label("u_created"),
            u.c.disabled.label("u_disabled"),
            t.c.name.label("t_name"),
            t.c.allowed_models.label("t_models"),
            t.c.limits.label("t_limits"),
            t.c.created_at.label("t_created"),
        )
        .join(u, u.c.name == k.c.user)
        .outerjoin(t, t.c.name == u.c.team)
        .where(k.c.hash == digest)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    key = _key(row)
    user_created = from_ms(row.u_created)
    assert user_created is not None
    user = UserRecord(
        name=row.user,
        team=row.u_team,
        allowed_models=_models(row.u_models),
        limits=_limits(row.u_limits),
        created_at=user_created,
        disabled=bool(row.u_disabled),
    )
    team = None
    if row.t_name is not None:
        team_created = from_ms(row.t_created)
        assert team_created is not None
        team = TeamRecord(
            name=row.t_name,
            allowed_models=_models(row.t_models),
            limits=_limits(row.t_limits),
            created_at=team_created,
        )
    return KeyRow(key, user, team)


def budget_rows(conn: Connection) -> list[tuple[str, str]]:
    """``(scope, limits JSON)`` of every team, user and key that has limits set."""
    out: list[tuple[str, str]] = []
    for kind, table, ident in (
        ("team", teams, teams.c.name),
        ("user", users, users.c.name),
        ("key", access_keys, access_keys.c.id),
    ):
        query = select(ident, table.c.limits).where(table.c.limits.is_not(None))
        if kind == "key":
            query = query.where(access_keys.c.revoked_at.is_(None))
        out += [(f"{kind}:{name}", limits) for name, limits in conn.execute(query)]
    return out


def parse_limits(text: str) -> TenantLimits:
    return _limits(text)


MISSING = _MISSING
