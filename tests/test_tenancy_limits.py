"""Per-tenant limits across replicas (two TenantLimiters on two stores sharing Redis
never admit more than the limit) and tenant budgets enforced by the client's budget
layer (a user whose budget is spent is blocked before anything is sent)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from llmswitch import AsyncClient
from llmswitch.errors import BudgetExceededError, QuotaExceeded, RateLimitExceeded
from llmswitch.gateway._principal import Principal
from llmswitch.gateway.tenancy import (
    TenantAuthenticator,
    TenantBudgets,
    TenantLimiter,
    TenantLimits,
    TenantStore,
    budget_layer_for,
    budget_layer_of,
)
from llmswitch.storage import open_store
from llmswitch.storage.sql import Database
from llmswitch.usage import tags
from llmswitch.usage.budgets import Budget
from tests.support.budgets import MAX_TOKENS, MESSAGES, MODEL, call_cost, config, priced_fake
from tests.support.sql import database, database_url  # noqa: F401
from tests.support.state import REDIS_URL, redis_prefix  # noqa: F401

ANA = Principal(key_id="key_000000000001", user="ana", team="ml")


def _levels(*levels: tuple[str, TenantLimits]) -> Any:
    return lambda principal: levels


async def _attempt(limiter: TenantLimiter, estimate: int = 1) -> bool:
    try:
        await limiter.admit(ANA, estimate)
    except (RateLimitExceeded, QuotaExceeded):
        return False
    return True


async def test_two_replicas_sharing_redis_never_admit_more_than_the_limit(
    redis_prefix: str,  # noqa: F811
) -> None:
    levels = _levels(("user:ana", TenantLimits(requests_per_minute=10)),
                     ("team:ml", TenantLimits(requests_per_minute=1000)))  # fmt: skip
    a = TenantLimiter(levels, open_store(REDIS_URL), prefix=redis_prefix)
    b = TenantLimiter(levels, open_store(REDIS_URL), prefix=redis_prefix)
    outcomes = await asyncio.gather(*(_attempt(x) for _ in range(20) for x in (a, b)))
    assert sum(outcomes) == 10
    with pytest.raises(RateLimitExceeded) as refused:
        await b.admit(ANA, 1)
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 60
    await a.aclose()
    await b.aclose()


async def test_tokens_per_minute_reserve_and_settle_across_replicas(
    redis_prefix: str,  # noqa: F811
) -> None:
    levels = _levels(("key:k1", TenantLimits(tokens_per_minute=500)))
    a = TenantLimiter(levels, open_store(REDIS_URL), prefix=redis_prefix)
    b = TenantLimiter(levels, open_store(REDIS_URL), prefix=redis_prefix)
    admitted = [await a.admit(ANA, 100) for _ in range(3)] + [await b.admit(ANA, 100)]
    assert await _attempt(b, 200) is False  # 400 reserved + 200 > 500
    for admission in admitted:  # each used 20 of its 100: 320 refunded
        await (a if admission is not admitted[-1] else b).settle(admission, 20)
    assert await _attempt(b, 400) is True  # 80 + 400 <= 500
    with pytest.raises(RateLimitExceeded, match="larger than"):
        await a.admit(ANA, 501)  # can never fit
    await a.aclose()
    await b.aclose()


async def test_per_day_requests_and_tokens_across_replicas(redis_prefix: str) -> None:  # noqa: F811
    levels = _levels(("user:ana", TenantLimits(requests_per_day=3, tokens_per_day=1000)))
    a = TenantLimiter(levels, open_store(REDIS_URL), prefix=redis_prefix)
    b = TenantLimiter(levels, open_store(REDIS_URL), prefix=redis_prefix)
    outcomes = await asyncio.gather(*(_attempt(x) for _ in range(6) for x in (a, b)))
    assert sum(outcomes) == 3
    with pytest.raises(QuotaExceeded) as refused:
        await a.admit(ANA, 1)
    assert 1 <= refused.value.retry_after <= 86400 + 1  # type: ignore[attr-defined]
    tokens = TenantLimiter(
        _levels(("team:ml", TenantLimits(tokens_per_day=1000))), open_store(REDIS_URL),
        prefix=redis_prefix + "t:",
    )  # fmt: skip
    first = await tokens.admit(ANA, 10)
    await tokens.settle(first, 999)
    second = await tokens.admit(ANA, 10)  # 999 < 1000: still open
    await tokens.settle(second, 5)
    assert await _attempt(tokens, 1) is False  # used up
    await a.aclose()
    await b.aclose()
    await tokens.aclose()


async def test_limits_come_from_the_authenticator_cache(database: Database) -> None:  # noqa: F811
    store = TenantStore(database)
    await store.add_team("ml", limits={"requests_per_minute": 100})
    await store.add_user("ana", team="ml", limits={"requests_per_minute": 2})
    _, key = await store.issue_key("ana")
    _, unlimited_key = await store.issue_key("ana")
    auth = TenantAuthenticator(store)
    limiter = TenantLimiter(auth.levels)  # memory://: one process
    principal = await auth.authenticate(key)
    assert principal is not None
    assert [scope for scope, _ in auth.levels(principal)] == ["user:ana", "team:ml"]
    assert [await _one(limiter, principal) for _ in range(3)] == [True, True, False]
    other = await auth.authenticate(unlimited_key)  # the user's limit covers all its keys
    assert other is not None and await _one(limiter, other) is False
    await auth.aclose()
    await database.aclose()


async def _one(limiter: TenantLimiter, principal: Principal) -> bool:
    try:
        await limiter.admit(principal, 10)
    except RateLimitExceeded:
        return False
    return True


async def test_dynamic_budgets_block_a_user_whose_budget_is_spent(
    database: Database,  # noqa: F811
) -> None:
    store = TenantStore(database)
    cost = call_cost()
    # room for about two calls of this user's, none for the other budgets to matter
    await store.add_user("ana", team="ml", limits={"budget_usd_day": Decimal(cost * 2) / 10**9})
    await store.add_user("bob", team="ml")
    fake = priced_fake()
    base = config(Budget(scope="user:zed", limit_usd=1.0))  # a configured budget stays
    client = AsyncClient(config=base, providers=[fake])
    budgets = TenantBudgets(store, client, interval=3600)
    await budgets.start()
    layer = budget_layer_of(client)
    assert layer is not None
    assert {b.scope for b in layer.budgets} == {"user:zed", "user:ana"}
    spent = 0
    with tags(user="ana", team="ml"):
        with pytest.raises(BudgetExceededError) as blocked:
            for _ in range(10):
                await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
                spent += 1
    assert 1 <= spent <= 2 and fake.calls == spent
    assert blocked.value.scope == "user:ana" and blocked.value.period == "day"
    with tags(user="bob", team="ml"):  # another user of the same team is not blocked
        await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    # raised through the store: applied at once, without a restart
    await store.update_user("ana", limits={"budget_usd_day": "100"})
    for _ in range(200):
        if any(b.limit_nano == 100 * 10**9 for b in layer.budgets):
            break
        await asyncio.sleep(0.01)
    with tags(user="ana", team="ml"):
        await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    # a team budget blocks every member
    await store.update_team("ml", limits={"budget_usd_month": "0"})
    await budgets.refresh()
    with tags(user="bob", team="ml"), pytest.raises(BudgetExceededError) as team_blocked:
        await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert team_blocked.value.scope == "team:ml"
    await budgets.aclose()
    await client.aclose()
    await database.aclose()


async def test_budget_layer_for_a_config_without_budgets(database: Database) -> None:  # noqa: F811
    store = TenantStore(database)
    await store.add_user("ana", limits={"budget_usd_month": "0"})
    base = config()
    client = AsyncClient(
        config=base, providers=[priced_fake()], middleware=[budget_layer_for(base)]
    )
    budgets = TenantBudgets(store, client)
    await budgets.start()
    with tags(user="ana"), pytest.raises(BudgetExceededError):
        await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)  # untagged: no budget
    await budgets.aclose()
    await client.aclose()
    await database.aclose()


async def test_the_layer_settles_chats_and_streams_to_their_real_usage() -> None:
    from llmswitch.errors import ConfigurationError, ProviderUnavailableError
    from llmswitch.gateway.tenancy import TenantLimitLayer
    from llmswitch.middleware.ratelimit import estimate_tokens
    from llmswitch.storage import MemoryStore

    store = MemoryStore()
    limits = TenantLimits(tokens_per_minute=100_000, tokens_per_day=100_000)
    limiter = TenantLimiter(lambda p: ((f"key:{p.key_id}", limits),), store, prefix="t:")
    fake = priced_fake()  # answers with 5 + 100 tokens
    client = AsyncClient(config=config(), providers=[fake], middleware=[TenantLimitLayer(limiter)],
                         max_retries=0)  # fmt: skip

    async def used() -> tuple[float, int]:
        minute = (await store.alog_acquire([("t:key:k1:tpm", 0, 100_000)], 60.0)).uses[0]
        day = await store.aincr_window(
            next(k for k in store._counters if k.endswith("tokens")), 0, 60
        )
        return minute, day

    await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)  # no access key: not limited
    assert not store._counters
    with tags(user="ana", access_key="k1"):
        await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
        assert await used() == (105, 105)
        async with client.stream(MODEL, MESSAGES, max_tokens=MAX_TOKENS) as s:
            async for _ in s:
                pass
        assert await used() == (210, 210)
        fake.reply(error=ProviderUnavailableError("down"))
        with pytest.raises(ProviderUnavailableError):
            await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
        assert await used() == (210, 210), "a failure before any answer is refunded"
        fake.reply("hello there", error_after=2)
        with pytest.raises(ProviderUnavailableError):
            async with client.stream(MODEL, MESSAGES, max_tokens=MAX_TOKENS) as s:
                async for _ in s:
                    pass
        from llmswitch.messages import ChatRequest, Message

        request = ChatRequest(provider="openai", model="gpt-4o-mini",
                              messages=(Message(role="user", content="hello"),))  # fmt: skip
        prompt, _ = estimate_tokens(request, 512)
        assert await used() == (210 + prompt, 210 + prompt), "a broken stream keeps its prompt"
    sync_layer = TenantLimitLayer(limiter)
    with pytest.raises(ConfigurationError):
        sync_layer.chat(None, None)  # type: ignore[arg-type]
    await client.aclose()
