"""Prompt analytics: per version and experiment variant, from the usage ledger.

``analyze(database, "greet")`` reads the ledger rows of prompt ``greet`` (joined to
``prompt_feedback`` on ``request_id``) and sums them per **call** (a request id: its
retries and fallbacks are one call; the call failed when its last attempt did, its
latency is the sum of its attempts', its tokens and cost the sums) into one
:class:`ArmStats` per (version, variant): calls, errors, latency p50/p95, tokens and
cost per call, feedback count and mean score.

How it computes: one bounded SQL query (the newest ``limit`` rows in the range, 100 000
by default; ``rows_read``/``truncated`` say whether the limit cut), then Python over
those rows. Percentiles and rank tests need the individual values, which SQL would
give on PostgreSQL (``percentile_cont``) but not on SQLite; a bounded read keeps both
dialects on one code path and the memory use fixed.

With an experiment (given, or the prompt's active one) the arms are its variants, and
:class:`Comparison` rows test each variant against the first (the control):
success rate (two-proportion z-test), latency (Mann-Whitney U: latencies are skewed),
cost per call and feedback score (Welch's t-test); plus the sample-ratio-mismatch
check of the observed split against the weights (:mod:`._stats`). Without one, each
version is compared with the oldest version in the range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._stats import TestResult, mann_whitney, percentile, sample_ratio_mismatch, two_proportion
from ._stats import welch as welch_test

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.sql import Database
    from .experiments import Experiment

__all__ = [
    "SRM_ALARM",
    "ArmStats",
    "CallRow",
    "Comparison",
    "PromptAnalytics",
    "analyze",
    "summarize",
]

DEFAULT_LIMIT = 100_000
SRM_ALARM = 0.001  # the usual threshold: a p this small is not chance


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRow:
    """One call (all attempts of one request id), as the analytics see it."""

    request_id: str
    at: int
    version: int | None
    variant: str | None
    provider: str
    model: str
    ok: bool
    latency_ms: int | None
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_nano: int | None
    score: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmStats:
    """One version (or experiment variant): its calls summed. Per-call figures are
    means over the calls that have them (``cost_per_call_usd`` over priced calls)."""

    version: int | None
    variant: str | None
    models: tuple[str, ...]
    calls: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    input_tokens_per_call: float
    output_tokens_per_call: float
    cached_input_tokens: int
    cost_nano: int
    unpriced_calls: int
    feedback: int
    score_mean: float | None
    weight: float | None = None  # the experiment's configured weight of this arm

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def cost_per_call_usd(self) -> float | None:
        priced = self.calls - self.unpriced_calls
        return self.cost_nano / priced / 1e9 if priced else None

    @property
    def label(self) -> str:
        if self.variant is not None:
            return self.variant.rpartition(":")[2]
        return f"v{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "version": self.version,
            "variant": self.variant,
            "models": list(self.models),
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "input_tokens_per_call": self.input_tokens_per_call,
            "output_tokens_per_call": self.output_tokens_per_call,
            "cost_per_call_usd": self.cost_per_call_usd,
            "cost_usd": self.cost_nano / 1e9,
            "unpriced_calls": self.unpriced_calls,
            "feedback": self.feedback,
            "score_mean": self.score_mean,
            "weight": self.weight,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """One arm against the baseline on one metric (``success_rate``, ``latency_ms``,
    ``cost_usd``, ``score``); ``better``: whether the arm is better on it (lower
    latency and cost, higher success and score), ``None`` when the test could not run."""

    baseline: str
    arm: str
    metric: str
    test: TestResult | None

    @property
    def better(self) -> bool | None:
        if self.test is None:
            return None
        lower_wins = self.metric in ("latency_ms", "cost_usd")
        return (self.test.difference < 0) if lower_wins else (self.test.difference > 0)

    def significant(self, alpha: float = 0.05) -> bool:
        return self.test is not None and self.test.p_value < alpha

    def as_dict(self) -> dict[str, Any]:
        test = self.test
        return {
            "baseline": self.baseline,
            "arm": self.arm,
            "metric": self.metric,
            "test": None if test is None else test.name,
            "difference": None if test is None else test.difference,
            "p_value": None if test is None else test.p_value,
            "better": self.better,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptAnalytics:
    """What :func:`analyze` found. ``srm_p``: the sample-ratio-mismatch p-value
    (experiments only), ``srm_warning`` set when it is below :data:`SRM_ALARM`."""

    prompt: str
    experiment: Experiment | None
    arms: tuple[ArmStats, ...]
    comparisons: tuple[Comparison, ...]
    srm_p: float | None
    rows_read: int
    truncated: bool
    calls: tuple[CallRow, ...] = field(default=(), repr=False)

    @property
    def srm_warning(self) -> str | None:
        if self.srm_p is None or self.srm_p >= SRM_ALARM:
            return None
        observed = ", ".join(f"{a.label} {a.calls}" for a in self.arms)
        weights = ", ".join(f"{a.label} {a.weight:g}" for a in self.arms if a.weight is not None)
        return (
            f"sample ratio mismatch (p = {self.srm_p:.2g}): calls split {observed}, "
            f"weights say {weights}; assignment or logging is off, so the comparison "
            "is not trustworthy until that is explained"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "experiment": None if self.experiment is None else self.experiment.as_dict(),
            "arms": [a.as_dict() for a in self.arms],
            "comparisons": [c.as_dict() for c in self.comparisons],
            "srm_p": self.srm_p,
            "srm_warning": self.srm_warning,
            "rows_read": self.rows_read,
            "truncated": self.truncated,
        }


# ---- reading the ledger


def _read(
    conn: Connection,
    prompt: str,
    since_ms: int | None,
    until_ms: int | None,
    variant_prefix: str | None,
    limit: int,
) -> list[Any]:  # RowMappings
    from sqlalchemy import select

    from ..storage.sql.schema import prompt_feedback as f
    from ..storage.sql.schema import usage_ledger as t

    query = (
        select(
            t.c.request_id, t.c.attempt, t.c.at, t.c.prompt_version, t.c.prompt_variant,
            t.c.provider, t.c.model, t.c.status, t.c.latency_ms, t.c.input_tokens,
            t.c.output_tokens, t.c.cached_input_tokens, t.c.cost_nano, f.c.score,
        )
        .select_from(t.outerjoin(f, f.c.request_id == t.c.request_id))
        .where(t.c.prompt_name == prompt)
    )  # fmt: skip
    if since_ms is not None:
        query = query.where(t.c.at >= since_ms)
    if until_ms is not None:
        query = query.where(t.c.at <= until_ms)
    if variant_prefix is not None:
        query = query.where(t.c.prompt_variant.startswith(variant_prefix, autoescape=True))
    query = query.order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
    return list(conn.execute(query).mappings())


def calls_of(rows: Sequence[Mapping[str, Any]]) -> list[CallRow]:
    """The ledger's attempt rows folded into calls (module docs); oldest first."""
    by_request: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append(row)
    out = []
    for request_id, attempts in by_request.items():
        attempts.sort(key=lambda r: r["attempt"])
        last = attempts[-1]
        latencies = [r["latency_ms"] for r in attempts if r["latency_ms"] is not None]
        costs = [r["cost_nano"] for r in attempts]
        score = next((r["score"] for r in attempts if r["score"] is not None), None)
        out.append(
            CallRow(
                request_id=request_id,
                at=int(attempts[0]["at"]),
                version=last["prompt_version"],
                variant=last["prompt_variant"],
                provider=last["provider"],
                model=last["model"],
                ok=last["status"] in ("ok", "cached"),
                latency_ms=sum(latencies) if latencies else None,
                input_tokens=sum(int(r["input_tokens"] or 0) for r in attempts),
                output_tokens=sum(int(r["output_tokens"] or 0) for r in attempts),
                cached_input_tokens=sum(int(r["cached_input_tokens"] or 0) for r in attempts),
                cost_nano=None if any(c is None for c in costs) else sum(costs),
                score=None if score is None else float(score),
            )
        )
    out.sort(key=lambda c: (c.at, c.request_id))
    return out


# ---- summing (sans-I/O)


def _arm(version: int | None, variant: str | None, calls: list[CallRow], weight: float | None
         ) -> ArmStats:  # fmt: skip
    latencies = sorted(float(c.latency_ms) for c in calls if c.latency_ms is not None)
    scores = [c.score for c in calls if c.score is not None]
    n = len(calls)
    return ArmStats(
        version=version,
        variant=variant,
        models=tuple(sorted({f"{c.provider}/{c.model}" for c in calls})),
        calls=n,
        errors=sum(1 for c in calls if not c.ok),
        latency_p50_ms=percentile(latencies, 0.5),
        latency_p95_ms=percentile(latencies, 0.95),
        input_tokens_per_call=sum(c.input_tokens for c in calls) / n if n else 0.0,
        output_tokens_per_call=sum(c.output_tokens for c in calls) / n if n else 0.0,
        cached_input_tokens=sum(c.cached_input_tokens for c in calls),
        cost_nano=sum(c.cost_nano for c in calls if c.cost_nano is not None),
        unpriced_calls=sum(1 for c in calls if c.cost_nano is None),
        feedback=len(scores),
        score_mean=sum(scores) / len(scores) if scores else None,
        weight=weight,
    )


def compare(base: list[CallRow], arm: list[CallRow], base_label: str, arm_label: str
            ) -> list[Comparison]:  # fmt: skip
    """``arm`` against ``base`` on every metric (see :class:`Comparison`)."""
    ok_a, ok_b = sum(c.ok for c in base), sum(c.ok for c in arm)

    def values(calls: list[CallRow], name: str) -> list[float]:
        picked = (getattr(c, name) for c in calls)
        return [float(v) for v in picked if v is not None]

    tests = {
        "success_rate": two_proportion(ok_a, len(base), ok_b, len(arm)),
        "latency_ms": mann_whitney(values(base, "latency_ms"), values(arm, "latency_ms")),
        "cost_usd": _scaled(welch_test(values(base, "cost_nano"), values(arm, "cost_nano"))),
        "score": welch_test(values(base, "score"), values(arm, "score")),
    }
    return [Comparison(baseline=base_label, arm=arm_label, metric=m, test=t)
            for m, t in tests.items()]  # fmt: skip


def _scaled(test: TestResult | None) -> TestResult | None:
    """A nano-USD difference as USD."""
    if test is None:
        return None
    return TestResult(name=test.name, statistic=test.statistic, p_value=test.p_value,
                      difference=test.difference / 1e9)  # fmt: skip


def summarize(
    prompt: str,
    calls: list[CallRow],
    experiment: Experiment | None = None,
    *,
    rows_read: int = 0,
    truncated: bool = False,
) -> PromptAnalytics:
    """The analytics of ``calls`` (sans-I/O; :func:`analyze` reads them)."""
    groups: dict[tuple[int | None, str | None], list[CallRow]] = {}
    arms: list[ArmStats] = []
    comparisons: list[Comparison] = []
    srm_p = None
    if experiment is not None:
        tagged = {experiment.tag(v): v for v in experiment.variants}
        per_variant: dict[str, list[CallRow]] = {tag: [] for tag in tagged}
        for call in calls:
            if call.variant in per_variant:
                per_variant[call.variant].append(call)
        for tag, variant in tagged.items():
            arms.append(_arm(variant.version, tag, per_variant[tag], variant.weight))
        control = experiment.variants[0]
        base = per_variant[experiment.tag(control)]
        for variant in experiment.variants[1:]:
            comparisons += compare(base, per_variant[experiment.tag(variant)],
                                   control.name, variant.name)  # fmt: skip
        srm_p = sample_ratio_mismatch([a.calls for a in arms], [v.weight for v in tagged.values()])
    else:
        for call in calls:
            groups.setdefault((call.version, call.variant), []).append(call)
        keys = sorted(groups, key=lambda k: (k[0] is None, k[0] or 0, k[1] or ""))
        arms = [_arm(version, variant, groups[(version, variant)], None)
                for version, variant in keys]  # fmt: skip
        if len(keys) > 1:
            base_key = keys[0]
            for key, stats in zip(keys[1:], arms[1:], strict=True):
                comparisons += compare(groups[base_key], groups[key], arms[0].label, stats.label)
    return PromptAnalytics(
        prompt=prompt, experiment=experiment, arms=tuple(arms),
        comparisons=tuple(comparisons), srm_p=srm_p, rows_read=rows_read,
        truncated=truncated, calls=tuple(calls),
    )  # fmt: skip


def analyze(
    database: Database,
    prompt: str,
    *,
    experiment: Experiment | None = None,
    since: Any = None,
    until: Any = None,
    limit: int = DEFAULT_LIMIT,
    recover: bool = True,
) -> PromptAnalytics:
    """The analytics of ``prompt`` over ``since``..``until`` (as for
    :func:`llmswitch.usage.report`: dates, ``7d``, epoch ms...), restricted to
    ``experiment``'s calls when given. ``recover``: first move rows a killed process
    left in the local journal into the ledger."""
    from ..usage.report import parse_time

    since_ms = parse_time(since, field="since")
    until_ms = parse_time(until, field="until", end=True)
    if recover:
        from ..usage.ledger import recover_journal

        recover_journal(database)
    prefix = None if experiment is None else f"{experiment.id}:"
    rows = database.read(_read, prompt, since_ms, until_ms, prefix, limit)
    return summarize(
        prompt, calls_of(rows), experiment, rows_read=len(rows), truncated=len(rows) >= limit
    )
