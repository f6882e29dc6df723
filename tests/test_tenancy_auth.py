"""TenantAuthenticator: known keys answered from the cache, also while the database is
unreachable; revocation seen within the ttl (fake clock) and at once in the revoking
process; bad-key floods bounded; bounded memory; last_used_at written off the hot path."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from llmswitch.errors import StorageError
from llmswitch.gateway.tenancy import TenantAuthenticator, TenantStore
from llmswitch.storage.sql import Database, open_database
from tests.support.sql import database, database_url  # noqa: F401
from tests.support.state import FakeClock

# A PostgreSQL nobody listens on: connecting fails at once with a driver error.
UNREACHABLE = "postgresql://nobody@127.0.0.1:9/none"


@pytest.fixture
async def store(database: Database) -> Any:  # noqa: F811
    s = TenantStore(database)
    await s.add_user("ana", team="ml")
    yield s
    await database.aclose()


async def test_known_key_served_while_the_database_is_unreachable(
    store: TenantStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(0.0)
    auth = TenantAuthenticator(store, ttl=30.0, clock=clock)
    record, key = await store.issue_key("ana")
    first = await auth.authenticate(key)
    assert first is not None and first.key_id == record.id
    real = store.database
    store.database = open_database(UNREACHABLE, connect_timeout=2)
    try:
        caplog.set_level(logging.WARNING, logger="llmswitch.gateway.tenancy")
        for step in range(5):
            clock.now += 31.0  # past the ttl: every call tries the database first
            again = await auth.authenticate(key)
            assert again == first, f"step {step}: a database outage became a 401"
        warnings = [r for r in caplog.records if "database_unavailable" in r.getMessage()]
        assert len(warnings) == 1, "the outage is logged once"
        assert key not in caplog.text and key[4:] not in caplog.text
        with pytest.raises(StorageError):  # an unknown key cannot be vouched for
            await auth.authenticate("lsk-" + "x" * 43)
    finally:
        await store.database.aclose()
        store.database = real
    await auth.aclose()


async def test_revocation_by_another_process_seen_after_the_ttl(
    store: TenantStore,
    database: Database,  # noqa: F811
) -> None:
    clock = FakeClock(0.0)
    auth = TenantAuthenticator(store, ttl=30.0, clock=clock)
    record, key = await store.issue_key("ana")
    assert await auth.authenticate(key) is not None
    other = TenantStore(database)  # another replica's store: this cache is not told
    assert await other.revoke_key(record.id)
    clock.now += 10.0
    assert await auth.authenticate(key) is not None  # within the ttl: cached
    clock.now += 21.0
    assert await auth.authenticate(key) is None  # past the ttl: the revoke is seen
    # disabling the user elsewhere is seen the same way
    _, key2 = await store.issue_key("ana")
    assert await auth.authenticate(key2) is not None
    await other.update_user("ana", disabled=True)
    clock.now += 31.0
    assert await auth.authenticate(key2) is None
    await auth.aclose()


async def test_revocation_in_this_process_is_seen_at_once(store: TenantStore) -> None:
    clock = FakeClock(0.0)
    auth = TenantAuthenticator(store, ttl=3600.0, clock=clock)
    record, key = await store.issue_key("ana")
    _, key2 = await store.issue_key("ana")
    assert await auth.authenticate(key) is not None
    assert await auth.authenticate(key2) is not None
    await store.revoke_key(record.id)
    assert await auth.authenticate(key) is None
    assert await auth.authenticate(key2) is not None
    await store.update_user("ana", disabled=True)
    assert await auth.authenticate(key2) is None
    await auth.aclose()


async def test_soft_ttl_refreshes_in_the_background(store: TenantStore) -> None:
    clock = FakeClock(0.0)
    auth = TenantAuthenticator(store, ttl=30.0, clock=clock)
    _, key = await store.issue_key("ana")
    await auth.authenticate(key)
    assert auth.lookups == 1
    for _ in range(50):
        await auth.authenticate(key)
    assert auth.lookups == 1, "a fresh entry never asks the database"
    clock.now += 20.0
    assert await auth.authenticate(key) is not None  # answered at once...
    for _ in range(200):  # ...and refreshed behind it
        if auth.lookups == 2:
            break
        await asyncio.sleep(0.01)
    assert auth.lookups == 2
    await auth.aclose()


async def test_bad_key_flood_is_bounded(store: TenantStore) -> None:
    clock = FakeClock(0.0)
    auth = TenantAuthenticator(store, negative_ttl=5.0, max_negative=50, max_lookups=3, clock=clock)
    for _ in range(300):
        assert await auth.authenticate("sk-not-ours") is None
        assert await auth.authenticate("lsk-short") is None
    assert auth.lookups == 0, "tokens that are not access keys never reach the database"
    bad = "lsk-" + "B" * 43
    assert await asyncio.gather(*(auth.authenticate(bad) for _ in range(200))) == [None] * 200
    for _ in range(200):
        assert await auth.authenticate(bad) is None
    assert auth.lookups == 1, "one lookup for a repeated bad key"
    clock.now += 6.0
    assert await auth.authenticate(bad) is None
    assert auth.lookups == 2, "negative entries expire"

    active = peak = 0
    real = store.resolve_hash

    async def counting(digest: str) -> Any:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.001)
            return await real(digest)
        finally:
            active -= 1

    store.resolve_hash = counting  # type: ignore[method-assign]
    flood = [f"lsk-{i:043d}" for i in range(120)]
    assert set(await asyncio.gather(*(auth.authenticate(k) for k in flood))) == {None}
    assert peak <= 3, "at most max_lookups database lookups at once"
    assert len(auth._negative) <= 50, "the negative cache is bounded"
    await auth.aclose()


async def test_cache_is_bounded_and_last_used_written_once_a_minute(store: TenantStore) -> None:
    clock, wall = FakeClock(0.0), FakeClock(1_900_000_000.0)
    auth = TenantAuthenticator(store, max_entries=3, clock=clock, wall=wall)
    issued = [await store.issue_key("ana") for _ in range(5)]
    touches: list[list[tuple[str, int]]] = []
    real = store.touch_keys

    async def recording(used: Any) -> None:
        touches.append(list(used))
        await real(used)

    store.touch_keys = recording  # type: ignore[method-assign]
    for _ in range(3):
        for _, key in issued:
            assert await auth.authenticate(key) is not None
    assert len(auth) <= 3
    await auth.aclose()  # flushes what is pending
    touched = [key_id for batch in touches for key_id, _ in batch]
    assert sorted(touched) == sorted(r.id for r, _ in issued), "once per key per minute"
    record = await store.get_key(issued[0][0].id)
    assert record is not None and record.last_used_at is not None
    assert int(record.last_used_at.timestamp()) == 1_900_000_000
    # expiry follows the wall clock even for a cached key
    from datetime import UTC, datetime, timedelta

    soon = datetime.fromtimestamp(wall.now, UTC) + timedelta(seconds=60)
    _, expiring = await store.issue_key("ana", expires_at=soon)
    assert await auth.authenticate(expiring) is not None
    wall.now += 61
    assert await auth.authenticate(expiring) is None
    await auth.aclose()
