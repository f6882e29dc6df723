"""Cost-saving hints: cheaper models with the same capabilities for the same usage,
ranked by saving, and the prompt-cache figures; and the chart's series."""

from __future__ import annotations

import importlib
import json
from datetime import date
from typing import Any

import pytest

from llmswitch.catalog import ModelSpec
from llmswitch.messages import Usage
from llmswitch.storage.sql import Database, open_database
from llmswitch.usage._chart import MAX_SERIES, series
from llmswitch.usage.hints import hints, rank
from tests.support.cli import run
from tests.support.ledger_rows import insert_rows, row

# USD per million tokens: input, cached input (None: no caching), output.
PRICES: dict[tuple[str, str], tuple[float, float | None, float]] = {
    ("p", "big"): (10.0, 1.0, 30.0),
    ("p", "mid"): (3.0, 0.3, 15.0),
    ("p", "small"): (0.5, None, 1.5),
    ("q", "vision-less"): (0.1, None, 0.2),
    ("q", "tiny-context"): (0.1, None, 0.2),
    ("q", "dear"): (50.0, None, 100.0),
    ("q", "embedder"): (0.01, None, 0.0),
}
SPECS = {
    ("p", "big"): dict(context_window=200_000, supports_tools=True, supports_vision=True),
    ("p", "mid"): dict(context_window=200_000, supports_tools=True, supports_vision=True),
    ("p", "small"): dict(context_window=128_000, supports_tools=True, supports_vision=True,
                         max_output_tokens=8192),
    ("q", "vision-less"): dict(context_window=1_000_000, supports_tools=True),
    ("q", "tiny-context"): dict(context_window=4_096, supports_tools=True, supports_vision=True),
    ("q", "dear"): dict(context_window=1_000_000, supports_tools=True, supports_vision=True),
    ("q", "embedder"): dict(context_window=1_000_000, supports_tools=True, supports_vision=True,
                            supports_chat=False),
}  # fmt: skip
POOL = sorted(SPECS)


def lookup(provider: str, model: str) -> ModelSpec | None:
    if (provider, model) not in SPECS:
        return None
    inp, cached, out = PRICES[(provider, model)]
    return ModelSpec(provider=provider, model=model, input_price=inp, output_price=out,
                     cached_input_price=cached, **SPECS[(provider, model)])  # fmt: skip


def price(provider: str, model: str, usage: Usage) -> int | None:
    """Nano-USD, the textbook formula (cached tokens are part of input)."""
    if (provider, model) not in PRICES:
        return None
    inp, cached_price, out = PRICES[(provider, model)]
    cached = usage.cached_input_tokens or 0
    if cached and cached_price is None:
        return None  # the real catalog may refuse to price cache reads it has no price for
    fresh = (usage.input_tokens or 0) - cached
    micro = fresh * inp + cached * (cached_price or 0) + (usage.output_tokens or 0) * out
    return round(micro * 1000)


def used(provider: str, model: str, **counts: int) -> dict[str, Any]:
    base = dict(calls=1, input_tokens=0, output_tokens=0, cached_input_tokens=0,
                cache_write_tokens=0, reasoning_tokens=0, cost_nano=None)  # fmt: skip
    return {"provider": provider, "model": model, **base, **counts}


def test_cheaper_models_with_the_same_capabilities_cheapest_first() -> None:
    rows = [used("p", "big", calls=10, input_tokens=1_000_000, output_tokens=100_000)]
    (hint,) = rank(rows, {("p", "big"): (20_000, 2_000)}, POOL, lookup, price)
    assert hint.priced_nano == 13_000_000_000  # 1M x $10 + 0.1M x $30
    # vision-less lacks vision, tiny-context is too small for a 20k call, dear costs more.
    assert [(a.model, a.cost_nano, a.saving_nano) for a in hint.alternatives] == [
        ("small", 650_000_000, 12_350_000_000),
        ("mid", 4_500_000_000, 8_500_000_000),
    ]
    as_json = hint.as_dict()
    assert as_json["alternatives"][0] == {
        "provider": "p", "model": "small", "cost_usd": 0.65, "saving_usd": 12.35,
        "saving_share": 12.35 / 13,
    }  # fmt: skip
    json.dumps(as_json)  # JSON-ready


def test_limits_and_longest_output_exclude_candidates() -> None:
    rows = [used("p", "big", input_tokens=1000, output_tokens=1000)]
    # The longest call wrote 10k tokens: small has 8192 at most, tiny-context's 4k
    # window is too small for the call.
    (hint,) = rank(rows, {("p", "big"): (12_000, 10_000)}, POOL, lookup, price, limit=5)
    assert [a.model for a in hint.alternatives] == ["mid"]
    (hint,) = rank(rows, {("p", "big"): (3000, 100)}, POOL, lookup, price, limit=5)
    assert [a.model for a in hint.alternatives] == ["tiny-context", "small", "mid"]
    (hint,) = rank(rows, {("p", "big"): (3000, 100)}, POOL, lookup, price, limit=1)
    assert [a.model for a in hint.alternatives] == ["tiny-context"]


def test_cached_tokens_priced_as_input_where_there_is_no_cache_price() -> None:
    rows = [used("p", "big", input_tokens=1_000_000, cached_input_tokens=800_000)]
    (hint,) = rank(rows, {("p", "big"): (5000, 0)}, POOL, lookup, price)
    assert hint.priced_nano == 2_800_000_000  # 0.2M x $10 + 0.8M x $1
    assert hint.cached_share == 0.8
    small = next(a for a in hint.alternatives if a.model == "small")
    assert small.cost_nano == 500_000_000  # all 1M at $0.50: no cache price there


def test_caching_upper_bound() -> None:
    rows = [used("p", "mid", input_tokens=1_000_000, cached_input_tokens=250_000)]
    (hint,) = rank(rows, {}, POOL, lookup, price)
    assert hint.caching_supported is True and hint.cached_share == 0.25
    # All 750k uncached tokens read from cache instead: 750k x ($3 - $0.30).
    assert hint.caching_saving_nano == 2_025_000_000
    (small,) = rank([used("p", "small", input_tokens=10)], {}, POOL, lookup, price)
    assert small.caching_supported is False and small.caching_saving_nano is None


def test_ranking_biggest_saving_first_and_unknown_models() -> None:
    rows = [
        used("p", "mid", input_tokens=1000, output_tokens=1000),
        used("p", "big", input_tokens=1_000_000),
        used("x", "unknown", input_tokens=5),
    ]
    found = rank(rows, {}, POOL, lookup, price)
    assert [h.model for h in found] == ["big", "mid", "unknown"]
    unknown = found[-1]
    assert unknown.alternatives == () and unknown.priced_nano is None
    assert unknown.caching_supported is None


def test_hints_from_the_ledger(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("llmswitch.usage.hints")

    monkeypatch.setattr(module, "_pricer", lambda: price)
    monkeypatch.setattr("llmswitch.catalog.lookup", lookup)
    insert_rows(
        database,
        row(provider="p", model="big", input_tokens=500_000, output_tokens=50_000),
        row(provider="p", model="big", input_tokens=500_000, output_tokens=50_000,
            at="2026-11-02T10:00"),
        row(provider="p", model="big", input_tokens=150_000, output_tokens=0, user="eve"),
    )  # fmt: skip
    # The 550k-token call fits no candidate's context window; eve's 150k does "small".
    (hint,) = hints(database, recover=False, candidates=POOL)
    assert hint.calls == 3 and hint.input_tokens == 1_150_000
    assert hint.alternatives == ()
    (hint,) = hints(database, recover=False, candidates=POOL, user="eve")
    assert [a.model for a in hint.alternatives] == ["mid"]  # 150k > small's 128k window
    assert hints(database, recover=False, since="2026-12-01") == []


def test_long_context_tiers_apply_per_call_not_to_the_sum(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module("llmswitch.usage.hints")

    def tiered(provider: str, model: str, usage: Usage) -> int:
        # $1 per million input tokens, $2 for a call with more than 200k.
        rate = 2 if (usage.input_tokens or 0) > 200_000 else 1
        return (usage.input_tokens or 0) * rate * 1000

    monkeypatch.setattr(module, "_pricer", lambda: tiered)
    monkeypatch.setattr("llmswitch.catalog.lookup", lookup)
    calls = [row(provider="p", model="big", input_tokens=100_000, output_tokens=0)] * 9
    calls = [dict(c, request_id=f"tier-{i}") for i, c in enumerate(calls)]
    calls.append(row(provider="p", model="big", input_tokens=300_000, output_tokens=0))
    insert_rows(database, *calls)
    (hint,) = hints(database, recover=False, candidates=[])
    # 9 x 100k at $1/M + 300k at $2/M; the 1.2M sum at $2/M would be $2.40.
    assert hint.priced_nano == 900_000_000 + 600_000_000
    assert hint.input_tokens == 1_200_000


def test_cli_hints_json(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module("llmswitch.usage.hints")

    monkeypatch.setattr(module, "_pricer", lambda: price)
    monkeypatch.setattr(module, "_catalog_models", lambda: POOL)
    monkeypatch.setattr("llmswitch.catalog.lookup", lookup)
    with open_database(database_url) as db:
        insert_rows(db, row(provider="p", model="big", input_tokens=1000, output_tokens=10))
    url = database_url
    code, out, _ = run(capsys, "usage", "--hints", "--format", "json", "--database-url", url)
    assert code == 0
    (hint,) = json.loads(out)
    assert (hint["model"], hint["alternatives"][0]["model"]) == ("big", "tiny-context")
    code, out, _ = run(capsys, "usage", "--hints", "--database-url", url)
    assert code == 0
    assert "p/big: 1 call," in out and "q/tiny-context would have cost" in out
    assert "Same capabilities is not same quality" in out


def test_chart_series_fill_days_and_fold_small_groups() -> None:
    rows = [
        {"day": "2026-11-01", "model": "a", "cost_nano": 2_000_000_000},
        {"day": "2026-11-03", "model": "a", "cost_nano": 1_000_000_000},
        {"day": "2026-11-03", "model": "b", "cost_nano": None},  # unpriced: adds 0
    ]
    days, spent = series(rows, ("model",))
    assert days == [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    assert spent == {"a": [2.0, 0.0, 1.0], "b": [0.0, 0.0, 0.0]}
    many = [{"day": "2026-11-01", "model": f"m{i}", "cost_nano": i} for i in range(12)]
    _, spent = series(many, ("model",))
    assert len(spent) == MAX_SERIES and "other" in spent
    assert "m11" in spent and "m0" not in spent
    assert series([], ()) == ([], {})
