"""Budget scaffolding: a priced fake provider (FakeProvider named ``openai`` answering
as ``gpt-4o-mini``, so the catalog prices it), the exact cost and reservation of its
calls, a recording alert sender, and ledger rows written straight into SQL."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from typing import Any

from llmswitch.catalog import estimate_request
from llmswitch.config import Config
from llmswitch.messages import ChatRequest, Message, Usage
from llmswitch.testing import FakeProvider
from llmswitch.usage.alerts import AlertSender
from llmswitch.usage.budgets import Budget
from llmswitch.usage.budgets_layer import _usage_cost

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hello"}]
MAX_TOKENS = 100
USAGE = {"input_tokens": 5, "output_tokens": 100}  # within the estimate


def priced_fake(usage: dict[str, int] | None = None, **reply: Any) -> FakeProvider:
    return FakeProvider("openai", default={"text": "hi", "usage": usage or USAGE, **reply})


def call_cost(usage: dict[str, int] | None = None) -> int:
    """nano-USD one call answering with ``usage`` costs."""
    cost = _usage_cost("openai", "gpt-4o-mini", Usage(**(usage or USAGE)))
    assert cost is not None and cost > 0
    return cost


def reservation(max_tokens: int = MAX_TOKENS) -> int:
    """nano-USD the budget layer reserves for one call of MESSAGES."""
    request = ChatRequest(
        provider="openai", model="gpt-4o-mini",
        messages=(Message(role="user", content="hello"),), max_tokens=max_tokens,
    )  # fmt: skip
    high = estimate_request(request).high_nano
    assert high is not None and high > 0
    return high


def config(*budgets: Budget, **kw: Any) -> Config:
    return Config(budgets=budgets, **kw)


class RecordingSender(AlertSender):
    """Keeps every alert payload (and still logs it); sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

    def send(self, payload: dict[str, Any], webhook: str | None) -> None:
        self.sent.append(payload)


_ids = itertools.count(1)


def ledger_rows(database: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (column values over defaults) into ``usage_ledger``."""
    from sqlalchemy import insert

    from llmswitch.storage.sql.schema import usage_ledger

    now = int(time.time() * 1000)
    full = []
    for r in rows:
        values: dict[str, Any] = {c.name: None for c in usage_ledger.c if c.name != "id"}
        values.update(
            request_id=f"seed_{os.getpid()}_{next(_ids)}", attempt=1, at=now,
            provider="openai", model="gpt-4o-mini", status="ok", stream=False,
        )  # fmt: skip
        values.update(r)
        full.append(values)
    database.run(lambda conn: conn.execute(insert(usage_ledger), full))
