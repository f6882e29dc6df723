"""Teams, users and access keys (the tenancy store), with their allowed models,
limits and budgets: ``/admin/teams``, ``/admin/users``, ``/admin/keys``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import StringConstraints

from ..tenancy._types import (
    UNCHANGED,
    AccessKeyRecord,
    TeamRecord,
    TenantLimits,
    UserRecord,
)
from ._api import Operation
from ._call import AdminCall, not_found
from ._models import (
    TENANT_NAME,
    AccessKey,
    IssuedKey,
    KeyIssue,
    LimitsIn,
    Team,
    TeamCreate,
    TeamUpdate,
    TenantName,
    User,
    UserCreate,
    UserUpdate,
    _In,
)

__all__ = ["OPERATIONS"]

KEY_ID = r"^key_[0-9a-f]{12}$"


class NamePath(_In):
    name: Annotated[str, StringConstraints(pattern=TENANT_NAME)]


class KeyPath(_In):
    key_id: Annotated[str, StringConstraints(pattern=KEY_ID)]


class UsersQuery(_In):
    team: TenantName | None = None


class KeysQuery(_In):
    user: TenantName | None = None


# ---- conversions


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def limits_out(limits: TenantLimits) -> dict[str, Any]:
    return {
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "requests_per_day": limits.requests_per_day,
        "tokens_per_day": limits.tokens_per_day,
        "budget_usd_day": _usd(limits.budget_usd_day),
        "budget_usd_month": _usd(limits.budget_usd_month),
    }


def limits_in(limits: LimitsIn | None) -> TenantLimits | None:
    if limits is None:
        return None
    return TenantLimits.from_json(limits.model_dump(exclude_none=True))


def _models(models: tuple[str, ...] | None) -> list[str] | None:
    return None if models is None else list(models)


def team_out(team: TeamRecord) -> Team:
    return Team.model_validate({
        "name": team.name, "allowed_models": _models(team.allowed_models),
        "limits": limits_out(team.limits), "created_at": team.created_at,
    })  # fmt: skip


def user_out(user: UserRecord) -> User:
    return User.model_validate({
        "name": user.name, "team": user.team, "allowed_models": _models(user.allowed_models),
        "limits": limits_out(user.limits), "created_at": user.created_at,
        "disabled": user.disabled,
    })  # fmt: skip


def _key_fields(key: AccessKeyRecord) -> dict[str, Any]:
    return {
        "id": key.id, "user": key.user, "name": key.name, "prefix": key.prefix,
        "status": key.status(datetime.now(UTC)), "allowed_models": _models(key.allowed_models),
        "limits": limits_out(key.limits), "created_at": key.created_at,
        "expires_at": key.expires_at, "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
    }  # fmt: skip


def key_out(key: AccessKeyRecord) -> AccessKey:
    return AccessKey.model_validate(_key_fields(key))


def _changes(call: AdminCall, *names: str) -> dict[str, Any]:
    """The update's arguments: a field not sent stays ``UNCHANGED``."""
    out: dict[str, Any] = {}
    for name in names:
        if name not in call.sent:
            out[name] = UNCHANGED
        elif name == "limits":
            out[name] = limits_in(call.body.limits)
        else:
            out[name] = getattr(call.body, name)
    return out


# ---- teams


async def list_teams(call: AdminCall) -> list[Team]:
    return [team_out(t) for t in await call.services.tenants.list_teams()]


async def create_team(call: AdminCall) -> Team:
    body: TeamCreate = call.body
    team = await call.services.tenants.add_team(
        body.name, allowed_models=body.allowed_models, limits=limits_in(body.limits)
    )
    return team_out(team)


async def get_team(call: AdminCall) -> Team:
    team = await call.services.tenants.get_team(call.params.name)
    if team is None:
        raise not_found(f"no team {call.params.name!r}", "name")
    return team_out(team)


async def update_team(call: AdminCall) -> Team:
    store = call.services.tenants
    if await store.get_team(call.params.name) is None:
        raise not_found(f"no team {call.params.name!r}", "name")
    team = await store.update_team(call.params.name, **_changes(call, "allowed_models", "limits"))
    return team_out(team)


async def delete_team(call: AdminCall) -> None:
    if not await call.services.tenants.delete_team(call.params.name):
        raise not_found(f"no team {call.params.name!r}", "name")


# ---- users


async def list_users(call: AdminCall) -> list[User]:
    users = await call.services.tenants.list_users(team=call.query.team)
    return [user_out(u) for u in users]


async def create_user(call: AdminCall) -> User:
    body: UserCreate = call.body
    user = await call.services.tenants.add_user(
        body.name, team=body.team, allowed_models=body.allowed_models,
        limits=limits_in(body.limits),
    )  # fmt: skip
    return user_out(user)


async def get_user(call: AdminCall) -> User:
    user = await call.services.tenants.get_user(call.params.name)
    if user is None:
        raise not_found(f"no user {call.params.name!r}", "name")
    return user_out(user)


async def update_user(call: AdminCall) -> User:
    store = call.services.tenants
    if await store.get_user(call.params.name) is None:
        raise not_found(f"no user {call.params.name!r}", "name")
    changes = _changes(call, "team", "allowed_models", "limits", "disabled")
    return user_out(await store.update_user(call.params.name, **changes))


async def delete_user(call: AdminCall) -> None:
    if not await call.services.tenants.delete_user(call.params.name):
        raise not_found(f"no user {call.params.name!r}", "name")


# ---- access keys


async def list_keys(call: AdminCall) -> list[AccessKey]:
    return [key_out(k) for k in await call.services.tenants.list_keys(user=call.query.user)]


async def issue_key(call: AdminCall) -> IssuedKey:
    body: KeyIssue = call.body
    store = call.services.tenants
    if await store.get_user(body.user) is None:
        raise not_found(f"no user {body.user!r}", "user")
    record, key = await store.issue_key(
        body.user, name=body.name, expires_at=body.expires_at,
        allowed_models=body.allowed_models, limits=limits_in(body.limits),
    )  # fmt: skip
    return IssuedKey.model_validate({**_key_fields(record), "key": key})


async def get_key(call: AdminCall) -> AccessKey:
    key = await call.services.tenants.get_key(call.params.key_id)
    if key is None:
        raise not_found(f"no access key {call.params.key_id}", "key_id")
    return key_out(key)


async def revoke_key(call: AdminCall) -> AccessKey:
    store = call.services.tenants
    key_id = call.params.key_id
    if await store.get_key(key_id) is None:
        raise not_found(f"no access key {key_id}", "key_id")
    await store.revoke_key(key_id)  # False when revoked already: the same end state
    found = await store.get_key(key_id)
    if found is None:  # deleted meanwhile (its user was)
        raise not_found(f"no access key {key_id}", "key_id")
    return key_out(found)


_T = "tenants"
OPERATIONS = [
    Operation(method="GET", path="/admin/teams", summary="List teams", tag=_T,
              handler=list_teams, response=list[Team]),
    Operation(method="POST", path="/admin/teams", summary="Create a team", tag=_T,
              handler=create_team, body=TeamCreate, response=Team, status=201),
    Operation(method="GET", path="/admin/teams/{name}", summary="Get a team", tag=_T,
              handler=get_team, params=NamePath, response=Team),
    Operation(method="PATCH", path="/admin/teams/{name}",
              summary="Change a team's allowed models or limits", tag=_T,
              handler=update_team, params=NamePath, body=TeamUpdate, response=Team),
    Operation(method="DELETE", path="/admin/teams/{name}",
              summary="Delete a team (its users stay, without a team)", tag=_T,
              handler=delete_team, params=NamePath, status=204),
    Operation(method="GET", path="/admin/users", summary="List users", tag=_T,
              handler=list_users, query=UsersQuery, response=list[User]),
    Operation(method="POST", path="/admin/users", summary="Create a user", tag=_T,
              handler=create_user, body=UserCreate, response=User, status=201),
    Operation(method="GET", path="/admin/users/{name}", summary="Get a user", tag=_T,
              handler=get_user, params=NamePath, response=User),
    Operation(method="PATCH", path="/admin/users/{name}",
              summary="Change a user's team, allowed models, limits or disabled flag",
              tag=_T, handler=update_user, params=NamePath, body=UserUpdate, response=User),
    Operation(method="DELETE", path="/admin/users/{name}",
              summary="Delete a user and its access keys", tag=_T,
              handler=delete_user, params=NamePath, status=204),
    Operation(method="GET", path="/admin/keys", summary="List access keys (never the keys)",
              tag=_T, handler=list_keys, query=KeysQuery, response=list[AccessKey]),
    Operation(method="POST", path="/admin/keys",
              summary="Issue an access key: the key is in this answer only", tag=_T,
              handler=issue_key, body=KeyIssue, response=IssuedKey, status=201),
    Operation(method="GET", path="/admin/keys/{key_id}", summary="Get an access key's record",
              tag=_T, handler=get_key, params=KeyPath, response=AccessKey),
    Operation(method="DELETE", path="/admin/keys/{key_id}",
              summary="Revoke an access key (for good); answers its record", tag=_T,
              handler=revoke_key, params=KeyPath, response=AccessKey),
]  # fmt: skip
