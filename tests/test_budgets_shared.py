"""Budgets shared through Redis and seeded from the SQL ledger, and the alert webhook:
thresholds announced once across clients, counters started from what the ledger holds,
signed webhook posts retried on 5xx, calls never waiting for them."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from llmswitch import Client
from llmswitch.errors import BudgetExceededError
from llmswitch.usage.alerts import SIGNATURE_HEADER, AlertSender, verify_signature
from llmswitch.usage.budgets import AlertSettings, Budget
from llmswitch.usage.budgets_layer import BudgetLayer
from tests.support.budgets import (
    MAX_TOKENS,
    MESSAGES,
    MODEL,
    RecordingSender,
    call_cost,
    ledger_rows,
    priced_fake,
    reservation,
)
from tests.support.loopback import Loopback, Reply, closed_port
from tests.support.state import REDIS_URL


def _client(layer: BudgetLayer) -> Client:
    return Client(providers=[priced_fake()], middleware=[layer], max_retries=0)


def test_two_clients_on_one_redis_share_the_budget_and_announce_each_threshold_once(
    redis_prefix: str,
) -> None:
    cost, held = call_cost(), reservation()
    limit = cost * 10 + held - 1  # room for exactly 10 calls' reservations at the end
    budget = Budget(scope="team:ml", limit_usd=limit / 1e9, alert_at=(0.25, 0.5, 0.75, 1.0))
    senders = [RecordingSender(), RecordingSender()]
    layers = [
        BudgetLayer([budget], state=REDIS_URL, prefix=redis_prefix, sender=s) for s in senders
    ]
    clients = [_client(layer) for layer in layers]
    done: list[bool] = []
    lock = threading.Lock()

    def work(client: Client) -> None:
        from llmswitch.usage import tags

        with tags(team="ml"):
            for _ in range(15):
                try:
                    client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
                    ok = True
                except BudgetExceededError:
                    ok = False
                with lock:
                    done.append(ok)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert done.count(True) == 10  # every reservation covers its call: exactly 10 fit
    statuses = [layer.budget_status()[0] for layer in layers]
    assert {(s.spent_nano, s.reserved_nano) for s in statuses} == {(10 * cost, 0)}
    announced = sorted(a["threshold"] for s in senders for a in s.sent)
    assert announced == [0.25, 0.5, 0.75]  # 1.0 would need the 11th call
    with pytest.raises(BudgetExceededError):
        from llmswitch.usage import tags

        with tags(team="ml"):
            clients[0].chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)


def test_a_redis_reservation_of_a_call_that_never_settles_expires(redis_prefix: str) -> None:
    held = reservation()
    layer = BudgetLayer(
        [Budget(scope="global", limit_usd=held * 1.5 / 1e9, reservation_ttl=1)],
        state=REDIS_URL, prefix=redis_prefix,
    )  # fmt: skip
    slot = layer._slot(0, time.time())
    assert layer.backend.reserve([slot], held, "crashed").blocked is None
    assert layer.backend.reserve([slot], held, "next").blocked == 0
    deadline = time.monotonic() + 10
    while layer.budget_status()[0].reserved_nano and time.monotonic() < deadline:
        time.sleep(0.1)
    assert layer.budget_status()[0].reserved_nano == 0
    assert layer.backend.reserve([slot], held, "next").blocked is None


@pytest.mark.parametrize("state", ["memory", "redis"])
def test_a_missing_counter_starts_from_the_ledger(
    state: str, database: Any, redis_prefix: str
) -> None:
    cost = call_cost()
    now_ms = int(time.time() * 1000)
    ledger_rows(
        database,
        [
            {"user": "alice", "cost_nano": 700_000},
            {"user": "alice", "cost_nano": None},  # unknown price: counts 0
            {"user": "alice", "cost_nano": 1_000_000, "at": now_ms - 40 * 86400 * 1000},  # older
            {"user": "bob", "cost_nano": 5_000_000},
        ],
    )
    sender = RecordingSender()
    budget = Budget(scope="user:alice", limit_usd=0.002, alert_at=(0.25, 0.375))
    layer = BudgetLayer(
        [budget], state=REDIS_URL if state == "redis" else None, prefix=redis_prefix,
        database=database, sender=sender,
    )  # fmt: skip
    assert layer.budget_status()[0].spent_nano == 700_000
    client = _client(layer)
    client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS, user="alice")
    assert layer.budget_status()[0].spent_nano == 700_000 + cost
    # 0.25 (500,000 nano) was passed by the seeded spend: announced by whoever spent it;
    # 0.375 (750,000) by this call
    assert 700_000 + cost >= 750_000
    assert [a["threshold"] for a in sender.sent] == [0.375]


def _hook(loopback: Loopback, *replies: Reply) -> str:
    loopback.route("POST", "/hook", *replies)
    return f"{loopback.url}/hook"


def _alerting_layer(webhook: str, secret: str | None = "hook-secret", **kw: Any) -> BudgetLayer:
    budget = Budget(scope="global", limit_usd=call_cost() / 1e9, alert_at=(1.0,), action="alert")
    sender = AlertSender(secret, backoff=0.01, max_backoff=0.05, **kw)
    return BudgetLayer(
        [budget], alerts=AlertSettings(webhook=webhook, secret=secret), sender=sender
    )


def test_the_webhook_gets_a_signed_payload_retried_after_5xx(loopback: Loopback) -> None:
    webhook = _hook(loopback, Reply(status=500), Reply(status=503), Reply(status=204))
    layer = _alerting_layer(webhook)
    _client(layer).chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert layer.sender.flush(10)
    posts = [r for r in loopback.requests if r.path == "/hook"]
    assert len(posts) == 3 and layer.sender.delivered == 1
    assert len({p.body for p in posts}) == 1  # the same bytes each try
    body = posts[-1].body
    headers = {k.lower(): v for k, v in posts[-1].headers.items()}
    assert verify_signature("hook-secret", body, headers[SIGNATURE_HEADER.lower()])
    assert not verify_signature("other-secret", body, headers[SIGNATURE_HEADER.lower()])
    payload = json.loads(body)
    assert {k: payload[k] for k in ("scope", "period", "threshold", "spent_usd", "limit_usd")} == {
        "scope": "global", "period": "month", "threshold": 1.0,
        "spent_usd": call_cost() / 1e9, "limit_usd": call_cost() / 1e9,
    }  # fmt: skip
    assert payload["budget"] == {
        "scope": "global", "period": "month", "limit_usd": call_cost() / 1e9,
        "alert_at": [1.0], "action": "alert",
    }  # fmt: skip
    assert payload["period_start"].endswith("-01T00:00:00Z") and payload["at"].endswith("Z")


def test_a_4xx_is_not_retried_and_no_secret_means_no_signature(loopback: Loopback) -> None:
    webhook = _hook(loopback, Reply(status=400))
    layer = _alerting_layer(webhook, secret=None)
    _client(layer).chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert layer.sender.flush(10)
    (post,) = [r for r in loopback.requests if r.path == "/hook"]
    assert SIGNATURE_HEADER.lower() not in {k.lower() for k in post.headers}
    assert layer.sender.failed == 1


def test_a_connection_failure_is_retried_until_given_up() -> None:
    layer = _alerting_layer(f"http://127.0.0.1:{closed_port()}/hook", attempts=3)
    _client(layer).chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert layer.sender.flush(10)
    assert (layer.sender.delivered, layer.sender.failed) == (0, 1)


def test_calls_never_wait_for_a_slow_webhook(loopback: Loopback) -> None:
    webhook = _hook(loopback, Reply(status=200, delay=5))
    layer = _alerting_layer(webhook)
    client = _client(layer)
    started = time.monotonic()
    for _ in range(3):
        client.chat(MODEL, MESSAGES, max_tokens=MAX_TOKENS)
    assert time.monotonic() - started < 2.5  # the post takes 5 s, in the background
    layer.close()
