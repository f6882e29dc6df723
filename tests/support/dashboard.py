"""The dashboard's test scaffolding: a ledger holding known rows (spread over the last
days, two providers, users and teams, one unpriced call, one row outside 30 days), a
client over it with a budget, a breaker and a response cache, and the app serving the
dashboard's routes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmswitch import AsyncClient
from llmswitch.gateway import GatewaySettings, Route, create_app
from llmswitch.gateway.app import Gateway
from llmswitch.gateway.dashboard import Dashboard
from llmswitch.storage.sql import open_database
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret
from tests.support.ledger_rows import insert_rows, row

ADMIN_KEY = "adm-dashboard-test-" + "k" * 24
DAY_MS = 86_400_000
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hello"}]


@dataclass(frozen=True)
class Ledger:
    """What the seeded ledger holds (nano-USD), for the assertions."""

    url: str
    rows: tuple[dict[str, Any], ...]

    def cost(self, since_ms: int = 0, **match: Any) -> int:
        return sum(
            r["cost_nano"] or 0
            for r in self.rows
            if r["at"] >= since_ms and all(r[k] == v for k, v in match.items())
        )

    def calls(self, since_ms: int = 0) -> int:
        return sum(1 for r in self.rows if r["at"] >= since_ms)


def seed_ledger(tmp_path: Path, *, experiment: bool = False) -> Ledger:
    """A SQLite database with known ledger rows (times relative to now); ``experiment``:
    also prompt ``greet`` (two versions), experiment ``tone`` on it and 12 calls of it."""
    url = f"sqlite:///{tmp_path / 'llmswitch.db'}"
    now = int(time.time() * 1000) - 60_000
    rows = (
        row(now, provider="openai", model="gpt-4o-mini", user="alice", team="ml",
            cost_nano=1_500_000),
        row(now - DAY_MS, provider="openai", model="gpt-4o", user="bob", team="ml",
            cost_nano=2_250_000, input_tokens=400, output_tokens=40),
        row(now - 2 * DAY_MS, provider="anthropic", model="claude-sonnet-4-5", user="alice",
            team="research", cost_nano=3_000_001, input_tokens=900, output_tokens=90),
        row(now - 3 * DAY_MS, provider="openai", model="gpt-4o-mini", cost_nano=None),
        row(now - 60 * DAY_MS, provider="anthropic", model="claude-sonnet-4-5", user="carol",
            team="research", cost_nano=9_000_000),
    )  # fmt: skip
    if experiment:
        rows += tuple(
            row(now - 2 * DAY_MS, provider="openai", model="gpt-4o-mini", user=f"u{i}",
                team="ml", prompt_name="greet", prompt_version=1 + i % 2,
                prompt_variant=f"tone:{'ab'[i % 2]}", latency_ms=300 + 40 * i - 150 * (i % 2),
                cost_nano=20_000 - 5_000 * (i % 2))
            for i in range(12)
        )  # fmt: skip
    db = open_database(url)
    try:
        insert_rows(db, *rows)
        if experiment:
            from llmswitch.prompts import PromptStore

            store = PromptStore(db)
            store.add("greet", "Hello {{ name }}")
            store.add("greet", "Hi there, {{ name }}!")
            variants = [{"name": "a", "version": 1}, {"name": "b", "version": 2}]
            store.experiments.start("greet", variants, id="tone")
    finally:
        db.close()
    return Ledger(url, rows)


def write_config(tmp_path: Path, url: str, *, limit_usd: float = 0.01) -> Path:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f"""
[storage]
database_url = "{url}"

[breaker]
min_calls = 10

[cache]
url = "memory://"

[[budgets]]
scope = "global"
period = "month"
limit_usd = {limit_usd}
alert_at = [0.5, 0.8, 1.0]
action = "alert"
"""
    )
    return path


def make_client(tmp_path: Path, url: str, **kw: Any) -> AsyncClient:
    fake = FakeProvider("openai", default={"text": "hi", "usage": {"input_tokens": 5,
                                                                   "output_tokens": 100}})  # fmt: skip
    return AsyncClient(config=write_config(tmp_path, url, **kw), providers=[fake])


def make_app(
    client: AsyncClient,
    *,
    dashboard: Dashboard | None = None,
    admin_key: str | None = ADMIN_KEY,
    extra: Sequence[Route] = (),
) -> Gateway:
    settings = GatewaySettings(admin_key=Secret(admin_key) if admin_key else None)
    routes = [*(dashboard or Dashboard()).routes(), *extra]
    return create_app(client, settings=settings, routes=routes)


def month_start_ms() -> int:
    now = datetime.now(UTC)
    return int(datetime(now.year, now.month, 1, tzinfo=UTC).timestamp() * 1000)


def day_start_ms() -> int:
    now = datetime.now(UTC)
    return int(datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() * 1000)
