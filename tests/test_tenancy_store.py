"""TenantStore on SQLite and PostgreSQL: teams, users and access keys; key format and
hash-only storage, expiry, revoke, disabled users, allowed-model intersection."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, text

from llmswitch.gateway.tenancy import TenantError, TenantLimits, TenantStore
from llmswitch.storage.sql import Database
from llmswitch.storage.sql.audit import read_audit
from tests.support.sql import database, database_url  # noqa: F401

KEY_RE = re.compile(r"lsk-[A-Za-z0-9_-]{32,}")


@pytest.fixture
async def store(database: Database) -> Any:  # noqa: F811
    yield TenantStore(database, actor="test")
    await database.aclose()


async def test_teams_crud_and_validation(store: TenantStore) -> None:
    team = await store.add_team("ml", allowed_models=["openai/gpt-4o-mini"],
                                limits={"requests_per_minute": 5})  # fmt: skip
    assert team.name == "ml" and team.allowed_models == ("openai/gpt-4o-mini",)
    assert team.limits == TenantLimits(requests_per_minute=5)
    assert team.created_at.tzinfo is UTC
    with pytest.raises(TenantError) as exists:
        await store.add_team("ml")
    assert exists.value.kind == "exists" and exists.value.field == "name"
    for bad in ("", "a" * 65, "has space", "semi;colon", "slash/x"):
        with pytest.raises(TenantError) as invalid:
            await store.add_team(bad)
        assert invalid.value.field == "name" and invalid.value.kind == "invalid"
    with pytest.raises(TenantError) as bad_limit:
        await store.add_team("x", limits={"requests_per_minute": 0})
    assert bad_limit.value.field == "limits.requests_per_minute"
    with pytest.raises(TenantError) as unknown:
        await store.add_team("x", limits={"rpm": 1})
    assert unknown.value.field == "limits.rpm"
    updated = await store.update_team("ml", limits=TenantLimits(budget_usd_day=Decimal("1.5")))
    assert updated.allowed_models == ("openai/gpt-4o-mini",)  # unchanged
    assert updated.limits.budget_usd_day == Decimal("1.5")
    cleared = await store.update_team("ml", allowed_models=None)
    assert cleared.allowed_models is None and cleared.limits.budget_usd_day == Decimal("1.5")
    with pytest.raises(TenantError) as missing:
        await store.update_team("nope", limits=None)
    assert missing.value.kind == "not_found"
    assert [t.name for t in await store.list_teams()] == ["ml"]
    await store.add_user("ana", team="ml")
    assert await store.delete_team("ml") is True
    assert await store.delete_team("ml") is False
    user = await store.get_user("ana")
    assert user is not None and user.team is None  # members stay, teamless


async def test_users_and_implicit_team(store: TenantStore) -> None:
    user = await store.add_user("bob@example.com", team="data")
    assert user.team == "data" and not user.disabled
    assert await store.get_team("data") is not None
    await store.add_user("carol")
    assert [u.name for u in await store.list_users()] == ["bob@example.com", "carol"]
    assert [u.name for u in await store.list_users(team="data")] == ["bob@example.com"]
    with pytest.raises(TenantError) as exists:
        await store.add_user("carol")
    assert exists.value.kind == "exists"
    moved = await store.update_user("carol", team="ops", disabled=True)
    assert moved.team == "ops" and moved.disabled
    assert (await store.update_user("carol", disabled=False)).team == "ops"
    with pytest.raises(TenantError):
        await store.update_user("carol", disabled="yes")
    with pytest.raises(TenantError) as missing:
        await store.update_user("nobody", disabled=True)
    assert missing.value.kind == "not_found"
    assert await store.get_user("nobody") is None


async def test_key_format_hash_only_and_resolve(store: TenantStore, database: Database) -> None:  # noqa: F811
    await store.add_user("ana", team="ml")
    record, key = await store.issue_key("ana", name="laptop")
    assert KEY_RE.fullmatch(key), "lsk- + 32 or more URL-safe characters"
    assert re.fullmatch(r"key_[0-9a-f]{12}", record.id)
    assert record.prefix == key[4:12] and record.name == "laptop"
    assert key not in repr(record) and hashlib.sha256(key.encode()).hexdigest() not in repr(record)
    principal = await store.resolve(key)
    assert principal is not None
    assert (principal.key_id, principal.user, principal.team) == (record.id, "ana", "ml")
    assert principal.allowed_models is None  # a new key may use every model

    def dump(conn: Connection) -> str:
        rows = []
        for table in ("access_keys", "users", "teams", "audit_log"):
            rows += [repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {table}"))]
        return "\n".join(rows)

    stored = await database.aread(dump)
    assert key not in stored and key[4:] not in stored  # the plaintext never at rest
    assert hashlib.sha256(key.encode()).hexdigest() in stored  # only its hash
    assert await store.resolve(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert await store.resolve("not-a-key") is None
    assert await store.resolve("lsk-short") is None
    assert [k.id for k in await store.list_keys("ana")] == [record.id]
    assert (await store.get_key(record.id)) == record
    with pytest.raises(TenantError) as missing:
        await store.issue_key("nobody")
    assert missing.value.kind == "not_found" and missing.value.field == "user"


async def test_expiry_revoke_and_disabled(store: TenantStore) -> None:
    await store.add_user("ana")
    past = datetime.now(UTC) - timedelta(seconds=1)
    expired, old = await store.issue_key("ana", expires_at=past)
    assert expired.status() == "expired" and await store.resolve(old) is None
    assert await store.has_active_keys() is False
    later = datetime.now(UTC) + timedelta(days=1)
    live, key = await store.issue_key("ana", expires_at=later)
    assert await store.has_active_keys() is True
    assert live.status() == "active" and await store.resolve(key) is not None
    await store.update_user("ana", disabled=True)
    assert await store.resolve(key) is None
    await store.update_user("ana", disabled=False)
    assert await store.resolve(key) is not None
    assert await store.revoke_key(live.id) is True
    assert await store.revoke_key(live.id) is False
    assert await store.resolve(key) is None
    got = await store.get_key(live.id)
    assert got is not None and got.status() == "revoked" and got.revoked_at is not None
    _, other = await store.issue_key("ana")
    assert await store.delete_user("ana") is True
    assert await store.resolve(other) is None and await store.list_keys("ana") == []
    assert await store.delete_user("ana") is False


async def test_allowed_models_intersect(store: TenantStore) -> None:
    await store.add_team("ml", allowed_models=["a", "b", "c"])
    await store.add_user("ana", team="ml", allowed_models=["b", "c", "d"])
    _, key = await store.issue_key("ana", allowed_models=["c", "b", "x"])
    principal = await store.resolve(key)
    assert principal is not None and principal.allowed_models == frozenset({"b", "c"})
    assert principal.allows("b") and not principal.allows("a") and not principal.allows("x")
    await store.add_user("bob", team="ml", allowed_models=["openai/*", "anthropic/claude"])
    _, wild = await store.issue_key("bob", allowed_models=["openai/gpt-4o", "anthropic/*"])
    await store.update_team("ml", allowed_models=None)
    bob = await store.resolve(wild)
    assert bob is not None
    assert bob.allowed_models == frozenset({"openai/gpt-4o", "anthropic/claude"})


async def test_budgets_and_audit(store: TenantStore, database: Database) -> None:  # noqa: F811
    await store.add_team("ml", limits={"budget_usd_month": "100"})
    await store.add_user("ana", team="ml", limits={"budget_usd_day": 0.25})
    record, _ = await store.issue_key("ana", limits={"budget_usd_day": "1", "requests_per_day": 9})
    found = {(b.scope, b.period, b.limit_nano) for b in await store.budgets()}
    assert found == {
        ("team:ml", "month", 100 * 10**9), ("user:ana", "day", 250_000_000),
        (f"key:{record.id}", "day", 10**9),
    }  # fmt: skip
    await store.revoke_key(record.id)
    assert all(not b.scope.startswith("key:") for b in await store.budgets())
    actions = [e.action for e in await database.aread(lambda c: read_audit(c, limit=50))]
    assert {"team.add", "user.add", "access_key.issue", "access_key.revoke"} <= set(actions)


async def test_concurrent_adds_of_one_name(database_url: str) -> None:  # noqa: F811
    from llmswitch.storage.sql import open_database

    dbs = [open_database(database_url) for _ in range(4)]
    await dbs[0].aupgrade()
    stores = [TenantStore(db) for db in dbs]

    async def add(store: TenantStore) -> str:
        try:
            await store.add_user("same", team="shared")
        except TenantError as exc:
            return exc.kind
        return "added"

    outcomes = await asyncio.gather(*(add(s) for s in stores))
    assert sorted(outcomes) == ["added", "exists", "exists", "exists"]
    assert [t.name for t in await stores[0].list_teams()] == ["shared"]
    for db in dbs:
        await db.aclose()
