"""Prompt analytics on seeded ledger rows (SQLite and PostgreSQL): per-arm numbers,
calls folded from attempts, feedback joined, comparisons, the SRM warning and the
recommendations."""

from __future__ import annotations

import pytest

from llmswitch import catalog
from llmswitch.prompts.analytics import CallRow, analyze, summarize
from llmswitch.prompts.experiments import Experiment, Variant
from llmswitch.prompts.feedback import feedback
from llmswitch.prompts.recommend import better_variant, caching, cheaper_models, static_prefix
from llmswitch.storage.sql import Database
from tests.support.ledger_rows import insert_rows, row


def _experiment(weights: tuple[float, float] = (50, 50)) -> Experiment:
    return Experiment(
        id="tone", prompt="greet", status="running", created_at=0, updated_at=0,
        variants=(Variant(name="a", version=1, weight=weights[0]),
                  Variant(name="b", version=2, weight=weights[1])),
    )  # fmt: skip


def test_numbers_per_arm_from_the_ledger(database: Database) -> None:
    rows = []
    for i in range(10):  # arm a: latency 100..190 ms, cost 1000..1009, one error
        rows.append(row(request_id=f"a{i}", prompt_name="greet", prompt_version=1,
                        prompt_variant="tone:a", latency_ms=100 + 10 * i, cost_nano=1000 + i,
                        status="error" if i == 0 else "ok"))  # fmt: skip
    for i in range(10):  # arm b: 50..95 ms, cost 500
        rows.append(
            row(
                request_id=f"b{i}",
                prompt_name="greet",
                prompt_version=2,
                prompt_variant="tone:b",
                latency_ms=50 + 5 * i,
                cost_nano=500,
            )
        )
    # A retried call in arm b: two attempts, one call; it failed, then succeeded.
    rows.append(
        row(
            request_id="b-retry",
            attempt=1,
            prompt_name="greet",
            prompt_version=2,
            prompt_variant="tone:b",
            latency_ms=30,
            status="error",
            cost_nano=0,
        )
    )
    rows.append(
        row(
            request_id="b-retry",
            attempt=2,
            prompt_name="greet",
            prompt_version=2,
            prompt_variant="tone:b",
            latency_ms=70,
            cost_nano=500,
        )
    )
    rows.append(row(request_id="other", prompt_name="other", prompt_version=1))
    rows.append(row(request_id="unpriced", prompt_name="greet", prompt_version=2,
                    prompt_variant="tone:b", latency_ms=60, cost_nano=None))  # fmt: skip
    insert_rows(database, *rows)
    feedback(database, "a1", 2)
    feedback(database, "a2", 4)
    feedback(database, "b1", 5)

    found = analyze(database, "greet", experiment=_experiment(), recover=False)
    a, b = found.arms
    assert (a.label, a.calls, a.errors, a.error_rate) == ("a", 10, 1, 0.1)
    assert a.latency_p50_ms == pytest.approx(145.0)
    assert a.latency_p95_ms == pytest.approx(185.5)
    assert a.cost_per_call_usd == pytest.approx(1004.5 / 1e9)
    assert (a.feedback, a.score_mean) == (2, 3.0)
    assert (b.calls, b.errors, b.unpriced_calls) == (12, 0, 1)  # the retry is one ok call
    assert b.cost_per_call_usd == pytest.approx(5500 / 11 / 1e9)
    assert (b.feedback, b.score_mean) == (1, 5.0)
    assert b.input_tokens_per_call == pytest.approx(1300 / 12)  # the retry: 2 x 100
    assert found.rows_read == 23 and not found.truncated
    by_metric = {c.metric: c for c in found.comparisons}
    assert by_metric["latency_ms"].better is True and by_metric["latency_ms"].significant()
    assert by_metric["cost_usd"].better is True
    assert found.srm_p is not None and found.srm_warning is None  # 10 vs 12 on 50/50

    limited = analyze(database, "greet", experiment=_experiment(), recover=False, limit=5)
    assert limited.truncated and limited.rows_read == 5
    plain = analyze(database, "greet", recover=False)  # by version without the experiment
    assert [(x.version, x.variant) for x in plain.arms] == [(1, "tone:a"), (2, "tone:b")]


def _calls(label: str, version: int, n: int, ok: int, **extra: object) -> list[CallRow]:
    out = []
    for i in range(n):
        fields: dict[str, object] = {
            "request_id": f"{label}{i}", "at": i, "version": version,
            "variant": f"tone:{label}", "provider": "openai", "model": "gpt-4o",
            "ok": i < ok, "latency_ms": 100, "input_tokens": 2000, "output_tokens": 10,
            "cached_input_tokens": 0, "cost_nano": 1000,
        }  # fmt: skip
        fields.update(extra)
        out.append(CallRow(**fields))  # type: ignore[arg-type]
    return out


def test_srm_warning_withholds_the_verdict() -> None:
    calls = _calls("a", 1, 600, 590) + _calls("b", 2, 400, 399)
    found = summarize("greet", calls, _experiment())
    assert found.srm_p is not None and found.srm_p < 0.001
    assert found.srm_warning is not None and "sample ratio mismatch" in found.srm_warning
    verdict = better_variant(found)
    assert verdict is not None and verdict.action == "check"


def test_verdicts_promote_keep_wait() -> None:
    # b succeeds 98 % against a's 80 % over 500 calls each: promote b.
    found = summarize("greet", _calls("a", 1, 500, 400) + _calls("b", 2, 500, 490), _experiment())
    verdict = better_variant(found)
    assert verdict is not None
    assert (verdict.action, verdict.arm, verdict.metric) == ("promote", "b", "success_rate")
    assert verdict.confidence is not None and verdict.confidence > 0.999
    # The other way round: keep the control.
    found = summarize("greet", _calls("a", 1, 500, 490) + _calls("b", 2, 500, 400), _experiment())
    verdict = better_variant(found)
    assert verdict is not None and (verdict.action, verdict.arm) == ("keep", "a")
    # 20 calls each, 19 vs 18 successes: no significant difference yet.
    found = summarize("greet", _calls("a", 1, 20, 19) + _calls("b", 2, 20, 18), _experiment())
    verdict = better_variant(found)
    assert verdict is not None and verdict.action == "wait"


def test_scores_decide_once_every_arm_has_enough_feedback() -> None:
    import dataclasses

    a_calls = [dataclasses.replace(c, score=float(2 + i % 3)) for i, c in
               enumerate(_calls("a", 1, 40, 40))]  # fmt: skip
    b_calls = [dataclasses.replace(c, score=float(3 + i % 3)) for i, c in
               enumerate(_calls("b", 2, 40, 40))]  # fmt: skip
    verdict = better_variant(summarize("greet", a_calls + b_calls, _experiment()))
    assert verdict is not None
    assert (verdict.action, verdict.arm, verdict.metric) == ("promote", "b", "score")


def test_a_cheaper_model_that_did_as_well() -> None:
    a = _calls("a", 1, 100, 95)
    b = _calls("b", 1, 100, 96, model="gpt-4o-mini", cost_nano=100)
    advice = cheaper_models(summarize("greet", a + b, _experiment()))
    assert len(advice) == 1
    assert (advice[0].kind, advice[0].suggested) == ("measured", "openai/gpt-4o-mini")
    assert advice[0].saving_share == pytest.approx(0.9)
    # Significantly worse: not advised.
    worse = _calls("b", 1, 100, 50, model="gpt-4o-mini", cost_nano=100)
    assert cheaper_models(summarize("greet", a + worse, _experiment())) == []


def test_caching_advice_for_a_long_fixed_prefix() -> None:
    assert static_prefix("You are {{ role }}.") == "You are "
    assert static_prefix("no tags") == "no tags"
    calls = _calls("a", 1, 200, 200)
    found = summarize("greet", calls)
    long_text = "Policy. " * 2000
    advice = caching(found, {1: long_text}, count=lambda text: len(text) // 4)
    assert len(advice) == 1
    assert advice[0].prefix_tokens == 4000 and advice[0].calls == 200
    spec = catalog.lookup("openai", "gpt-4o")
    assert spec is not None and spec.input_price and spec.cached_input_price
    per_token = (spec.input_price - spec.cached_input_price) / 1e6  # USD per token saved
    assert advice[0].saving_usd == pytest.approx(4000 * 200 * per_token)
    assert caching(found, {1: "short"}, count=len) == []  # under 1024 tokens
    cached = _calls("a", 1, 200, 200, cached_input_tokens=1800)
    assert caching(summarize("greet", cached), {1: long_text}, count=len) == []
