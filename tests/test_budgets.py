"""Budgets in one process: blocking before anything is sent, alert-only budgets,
thresholds announced once, scopes, streams, periods, reservations, config."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.config import check_config, json_schema, load_config
from llmswitch.errors import BudgetExceededError, ConfigurationError, ProviderUnavailableError
from llmswitch.usage import tags
from llmswitch.usage.budgets import Budget, period_bounds, to_nano
from llmswitch.usage.budgets_layer import BudgetLayer
from tests.support.budgets import (
    MAX_TOKENS,
    MESSAGES,
    MODEL,
    USAGE,
    RecordingSender,
    call_cost,
    config,
    priced_fake,
    reservation,
)
from tests.support.loopback import Loopback
from tests.support.state import FakeClock


def _client(*budgets: Budget, fake=None, **kw):  # type: ignore[no-untyped-def]
    fake = fake or priced_fake()
    return Client(config=config(*budgets, **kw), providers=[fake]), fake


def _layer(client: Client) -> BudgetLayer:
    pipe = client._core.pipe
    assert pipe is not None
    return next(m for m in pipe.middleware if isinstance(m, BudgetLayer))


def test_a_call_past_a_block_budget_is_refused_before_anything_is_sent() -> None:
    limit = reservation() - 1  # not even one call's estimate fits
    client, fake = _client(Budget(scope="global", limit_usd=limit / 1e9))
    with pytest.raises(BudgetExceededError) as info:
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert fake.calls == 0
    err = info.value
    assert (err.scope, err.period, err.spent_usd, err.limit_usd) == (
        "global",
        "month",
        0.0,
        limit / 1e9,
    )
    assert "budget global per month is used up" in str(err)
    assert (
        err.period_start == period_bounds("month", __import__("time").time())[0] + "-01T00:00:00Z"
    )


def test_spend_settles_to_the_real_cost_and_blocks_once_used_up() -> None:
    cost, held = call_cost(), reservation()
    assert cost <= held  # each call's reservation covers it: the limit holds exactly
    client, fake = _client(Budget(scope="global", limit_usd=(cost * 3 + held - 1) / 1e9))
    for _ in range(3):
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    (status,) = client.budgets()
    assert (status.spent_nano, status.reserved_nano) == (3 * cost, 0)
    with pytest.raises(BudgetExceededError):  # the 4th call's estimate no longer fits
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert fake.calls == 3
    assert client.status()["budgets"]["global per month"]["spent_usd"] == 3 * cost / 1e9


def test_an_alert_budget_never_blocks_and_each_threshold_fires_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cost = call_cost()
    client, fake = _client(Budget(scope="global", limit_usd=cost * 2 / 1e9, action="alert"))
    sender = _layer(client).sender
    with caplog.at_level(logging.WARNING, logger="llmswitch.budgets"):
        for _ in range(6):  # three times the limit
            client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert fake.calls == 6
    alerts = [r for r in caplog.records if getattr(r, "event", None) == "budget.alert"]
    assert [r.threshold for r in alerts] == [0.5, 0.8, 1.0]  # type: ignore[attr-defined]
    assert [r.spent_usd for r in alerts] == [cost / 1e9, cost * 2 / 1e9, cost * 2 / 1e9]  # type: ignore[attr-defined]
    assert sender.delivered == 0  # no webhook configured: the log only


def test_each_scope_counts_the_calls_it_names() -> None:
    big = 1.0
    budgets = [
        Budget(scope=s, limit_usd=big)
        for s in ("user:alice", "user:bob", "team:ml", "key:k1", "provider:openai",
                  "provider:anthropic", "model:gpt-4o-mini", "model:fast", "model:openai/gpt-4o")
    ]  # fmt: skip
    fake = priced_fake()
    from llmswitch.config import Config

    cfg = Config(budgets=tuple(budgets), aliases={"fast": MODEL})
    client = Client(config=cfg, providers=[fake])
    client.chat("fast", MESSAGES, max_tokens=MAX_TOKENS, user="alice")
    with tags(user="bob", team="ml", access_key="k1"):
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS, user="alice")  # tags win
    cost = call_cost()
    spent = {s.scope: s.spent_nano // cost for s in client.budgets()}
    assert spent == {
        "user:alice": 1, "user:bob": 1, "team:ml": 1, "key:k1": 1, "provider:openai": 2,
        "provider:anthropic": 0, "model:gpt-4o-mini": 2, "model:fast": 1, "model:openai/gpt-4o": 0,
    }  # fmt: skip


def test_one_used_up_budget_refuses_and_reserves_on_none_of_the_others() -> None:
    held = reservation()
    client, fake = _client(
        Budget(scope="global", limit_usd=1.0),
        Budget(scope="user:alice", limit_usd=(held - 1) / 1e9),
    )
    with pytest.raises(BudgetExceededError) as info:
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS, user="alice")
    assert info.value.scope == "user:alice"
    assert [(s.spent_nano, s.reserved_nano) for s in client.budgets()] == [(0, 0), (0, 0)]
    client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS, user="bob")  # bob is not alice
    assert fake.calls == 1


def test_reservations_of_calls_in_flight_count_against_the_limit() -> None:
    held = reservation()
    release = threading.Event()
    entered = threading.Event()
    fake = priced_fake()

    def slow(request):  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(10)
        return {"text": "hi", "usage": USAGE}

    fake.respond_with(slow)
    client, _ = _client(Budget(scope="global", limit_usd=(held * 2 - 1) / 1e9), fake=fake)
    worker = threading.Thread(
        target=client.chat, args=(MODEL, MESSAGES), kwargs={"max_tokens": MAX_TOKENS}
    )
    worker.start()
    assert entered.wait(10)
    (status,) = client.budgets()
    assert status.reserved_nano == held
    with pytest.raises(BudgetExceededError):  # the first call's reservation leaves no room
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    release.set()
    worker.join(10)
    (status,) = client.budgets()
    assert (status.spent_nano, status.reserved_nano) == (call_cost(), 0)


def test_streams_settle_to_their_usage_and_failures_before_any_event_cost_nothing() -> None:
    fake = priced_fake()
    budget = Budget(scope="global", limit_usd=1.0)
    client = Client(config=config(budget), providers=[fake], max_retries=0)
    with client.stream(MODEL, MESSAGES, max_tokens=MAX_TOKENS) as s:
        assert "".join(s.text_stream) == "hi"
    fake.reply(error=ProviderUnavailableError("down"))
    with pytest.raises(ProviderUnavailableError):
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    (status,) = client.budgets()
    assert (status.spent_nano, status.reserved_nano) == (call_cost(), 0)


def test_a_stream_cut_after_its_first_event_keeps_its_estimate() -> None:
    fake = priced_fake()
    fake.reply("hello there", error_after=2)
    client = Client(
        config=config(Budget(scope="global", limit_usd=1.0)), providers=[fake], max_retries=0
    )
    with (
        pytest.raises(ProviderUnavailableError),
        client.stream(MODEL, MESSAGES, max_tokens=MAX_TOKENS) as s,
    ):
        for _ in s:
            pass
    (status,) = client.budgets()
    assert (status.spent_nano, status.reserved_nano) == (reservation(), 0)


def test_the_async_client_enforces_the_same_budgets() -> None:
    cost, held = call_cost(), reservation()
    fake = priced_fake()

    async def main() -> None:
        async with AsyncClient(
            config=config(Budget(scope="global", limit_usd=(cost + held - 1) / 1e9)),
            providers=[fake],
        ) as client:
            await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
            with pytest.raises(BudgetExceededError):
                await client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
            (status,) = await client.budgets()
            assert status.spent_nano == cost
            assert (await client.status())["budgets"]["global per month"]["spent_usd"] == cost / 1e9

    asyncio.run(main())
    assert fake.calls == 1


def test_a_new_period_starts_from_zero_and_announces_again() -> None:
    cost, held = call_cost(), reservation()
    day = 86400.0
    clock = FakeClock(1_796_000_000.0 // day * day + day - 60)  # a minute before midnight UTC
    sender = RecordingSender()
    layer = BudgetLayer(
        [Budget(scope="global", period="day", limit_usd=held / 1e9, alert_at=(0.5,))],
        clock=clock, sender=sender,
    )  # fmt: skip
    fake = priced_fake()
    client = Client(providers=[fake], middleware=[layer], max_retries=0)
    client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    with pytest.raises(BudgetExceededError):
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    clock.now += 120  # past midnight: the next day's budget
    client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert [(a["period_start"], a["threshold"]) for a in sender.sent] == [
        ("2026-11-30T00:00:00Z", 0.5), ("2026-12-01T00:00:00Z", 0.5),
    ]  # fmt: skip
    (status,) = layer.budget_status()
    assert (status.period_start, status.spent_nano) == ("2026-12-01T00:00:00Z", cost)


def test_a_reservation_never_settled_expires_after_its_ttl() -> None:
    held = reservation()
    clock = FakeClock(1_796_000_000.0)
    layer = BudgetLayer(
        [Budget(scope="global", limit_usd=(held * 1.5) / 1e9, reservation_ttl=2)], clock=clock
    )
    slot = layer._slot(0, clock.now)
    assert layer.backend.reserve([slot], held, "crashed").blocked is None  # then it "dies"
    assert layer.backend.reserve([slot], held, "next").blocked == 0
    clock.now += 2.5
    assert layer.backend.reserve([slot], held, "next").blocked is None
    assert layer.budget_status()[0].reserved_nano == held


def test_limits_are_exact_nano_usd() -> None:
    assert to_nano(0.1) == 100_000_000
    assert to_nano(250) == 250 * 10**9
    assert to_nano(1e-9) == 1
    with pytest.raises(ConfigurationError, match="more than 9 decimals"):
        to_nano(1e-10)
    b = Budget(scope="team:ml", limit_usd=0.3, alert_at=(0.8, 0.5))
    assert (b.limit_nano, b.alert_at, b.thresholds_nano) == (
        300_000_000,
        (0.5, 0.8),
        (150_000_000, 240_000_000),
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "llmswitch.toml"
    path.write_text(text)
    return path


def test_config_reads_budgets_and_alerts(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[alerts]
webhook = "https://hooks.example.com/budget"
secret = "${HOOK_SECRET}"

[[budgets]]
scope = "team:ml"
limit_usd = 250
alert_at = [0.5, 0.9]

[[budgets]]
scope = "user:alice"
period = "day"
limit_usd = 0.25
action = "alert"
webhook = "http://localhost:9000/alice"
reservation_ttl = 30
""",
    )
    cfg = load_config(path, {"HOOK_SECRET": "s3cret-value"})
    team, alice = cfg.budgets
    assert (team.scope, team.period, team.limit_nano, team.alert_at, team.action) == (
        "team:ml", "month", 250 * 10**9, (0.5, 0.9), "block",
    )  # fmt: skip
    assert (alice.period, alice.action, alice.webhook, alice.reservation_ttl) == (
        "day", "alert", "http://localhost:9000/alice", 30.0,
    )  # fmt: skip
    assert cfg.alerts is not None and cfg.alerts.secret == "s3cret-value"
    assert "s3cret-value" not in repr(cfg)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('scope = "team"\nlimit_usd = 1', "budgets[0].scope: scope must be global or user:NAME"),
        ('scope = "global"', "budgets[0]: a budget needs limit_usd"),
        ('scope = "global"\nlimit_usd = -1', "budgets[0].limit_usd: must be >= 0"),
        (
            'scope = "global"\nlimit_usd = 1\nperiod = "week"',
            "budgets[0].period: must be one of day, month",
        ),
        (
            'scope = "global"\nlimit_usd = 1\naction = "stop"',
            "budgets[0].action: must be one of block, alert",
        ),
        (
            'scope = "global"\nlimit_usd = 1\nalert_at = [0]',
            "budgets[0].alert_at: alert_at must be fractions of the limit, each > 0",
        ),
        (
            'scope = "global"\nlimit_usd = 1\nalert_at = [11]',
            "budgets[0].alert_at: alert_at must be fractions of the limit, each > 0 and <= 10",
        ),
        (
            'scope = "global"\nlimit_usd = 1\nwebhook = "ftp://x"',
            "budgets[0].webhook: must be an http",
        ),
        ('scope = "global"\nlimit_usd = 1\nlimt = 2', "budgets[0].limt: unknown setting"),
        (
            'scope = "global"\nlimit_usd = 0.0000000001',
            "budgets[0].limit_usd: limit_usd has more than 9",
        ),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, f"# budgets\n[[budgets]]\n{body}\n")
    with pytest.raises(ConfigurationError) as info:
        load_config(path)
    text = str(info.value)
    assert text.startswith(f"{path}:"), text
    assert message in text, text


def test_a_scope_budgeted_twice_in_one_period_is_an_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[[budgets]]\nscope = "global"\nlimit_usd = 1\n\n[[budgets]]\nscope = "global"\nlimit_usd = 2\n',
    )
    _, problems = check_config(path)
    assert [str(p) for p in problems] == [
        f"{path}:6: budgets[1].scope: global per month is already budgeted by budgets[0]"
    ]


def test_the_schema_describes_budgets_and_alerts() -> None:
    schema = json_schema()
    props = schema["properties"]
    budget = props["budgets"]["items"]
    assert set(budget["properties"]) == {
        "scope", "period", "limit_usd", "alert_at", "action", "webhook", "reservation_ttl",
    }  # fmt: skip
    assert budget["properties"]["action"]["anyOf"][0]["enum"] == ["block", "alert"]
    assert set(props["alerts"]["properties"]) == {"webhook", "secret"}


def test_a_routed_call_charges_the_group_and_the_deployment_that_answered(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[models.smart]
strategy = "ordered"
[[models.smart.deployments]]
model = "openai/gpt-4o-mini"

[[budgets]]
scope = "model:smart"
limit_usd = 1

[[budgets]]
scope = "provider:openai"
limit_usd = 1

[[budgets]]
scope = "model:openai/gpt-4o-mini"
limit_usd = 1
""",
    )
    fake = priced_fake()
    client = Client(config=path, providers=[fake])
    client.chat("smart", MESSAGES, max_tokens=MAX_TOKENS)
    with client.stream("smart", MESSAGES, max_tokens=MAX_TOKENS) as s:
        assert "".join(s.text_stream) == "hi"
    cost = call_cost()
    assert [(b.scope, b.spent_nano, b.reserved_nano) for b in client.budgets()] == [
        ("model:smart", 2 * cost, 0), ("provider:openai", 2 * cost, 0),
        ("model:openai/gpt-4o-mini", 2 * cost, 0),
    ]  # fmt: skip


_EMBED_MODEL = "openai/text-embedding-3-small"
_VECTORS = (
    b'{"object": "list", "model": "text-embedding-3-small", "data": [{"object": "embedding",'
    b' "index": 0, "embedding": [0.1, 0.2]}], "usage": {"prompt_tokens": 1000,'
    b' "total_tokens": 1000}}'
)


def _embed_cost() -> int:
    from llmswitch.messages import Usage
    from llmswitch.usage.budgets_layer import _usage_cost

    cost = _usage_cost("openai", "text-embedding-3-small", Usage(input_tokens=1000))
    assert cost is not None and cost > 0
    return cost


def _embed_env(loopback: Loopback) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": loopback.url + "/v1"}


def test_embeddings_are_charged_and_refused_once_the_budget_is_used_up(
    loopback: Loopback,
) -> None:
    loopback.route("POST", "/v1/embeddings", _VECTORS)
    cost = _embed_cost()
    budget = Budget(scope="user:erin", limit_usd=(cost * 1.5) / 1e9)
    client = Client(config=config(budget), env=_embed_env(loopback))
    client.embed(_EMBED_MODEL, input="a", user="erin")
    client.embed(_EMBED_MODEL, input="a", user="erin")  # 1 cost spent: still under
    (status,) = client.budgets()
    assert (status.spent_nano, status.reserved_nano) == (2 * cost, 0)
    with pytest.raises(BudgetExceededError) as info:
        client.embed(_EMBED_MODEL, input="a", user="erin")
    assert info.value.scope == "user:erin" and info.value.model == "text-embedding-3-small"
    with tags(user="zed"):  # another user's budget: none
        client.embed(_EMBED_MODEL, input="a")
    assert len(loopback.requests) == 3
    client.close()


async def test_async_embeddings_are_charged_and_refused_the_same_way(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/embeddings", _VECTORS)
    cost = _embed_cost()
    budget = Budget(scope="global", limit_usd=(cost * 0.5) / 1e9)
    client = AsyncClient(config=config(budget), env=_embed_env(loopback))
    try:
        await client.embed(_EMBED_MODEL, input="a")  # the estimate (a token) fits
        with pytest.raises(BudgetExceededError):
            await client.embed(_EMBED_MODEL, input="a")
        assert len(loopback.requests) == 1
    finally:
        await client.aclose()
