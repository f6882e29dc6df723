"""Recommendations from a prompt's analytics: what to promote, a cheaper model, caching.

- **The better variant** (:func:`better_variant`): the primary metric is the mean
  feedback score when every arm has at least ``min_feedback`` scores, else the success
  rate. The arm that beats the baseline by the most with p < ``alpha`` is recommended
  with its confidence (1 - p); a baseline that beats every arm significantly is "keep";
  otherwise "no significant difference yet". A sample-ratio mismatch withholds the
  verdict (the comparison is not trustworthy).
- **A cheaper model** (:func:`cheaper_models`): an arm that ran on a model with a lower
  cost per call than the baseline's and did as well (not significantly worse on
  success rate or score) is the first kind; the second comes from the catalog, via
  :func:`llmswitch.usage.hints.rank`: models with at least the capabilities, context
  window and output room of the one the prompt used, priced on the prompt's own usage.
  Same capabilities is not same quality: that kind is a model worth an experiment.
- **Prompt caching** (:func:`caching`): a version whose fixed prefix (the system part
  and leading message text up to the first template variable) is at least
  ``min_prefix_tokens`` long (1024: OpenAI's and Anthropic's minimum cacheable prefix),
  called at least ``min_calls`` times, on a model with cache-read prices, whose calls
  read little from the cache. The saving is an upper bound: every call's prefix read
  from the cache instead of billed as input (``catalog.cost_nano`` of both), ignoring
  cache writes and expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..messages import Usage
from .analytics import ArmStats, Comparison, PromptAnalytics

__all__ = [
    "CacheAdvice",
    "ModelAdvice",
    "Recommendation",
    "better_variant",
    "caching",
    "cheaper_models",
    "recommend",
    "static_prefix",
    "template_prefix",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    """The verdict on the arms. ``action``: ``promote`` (``arm`` is better: promote it),
    ``keep`` (the baseline is better than every arm), ``wait`` (no significant
    difference yet), ``check`` (sample-ratio mismatch: fix that first)."""

    action: Literal["promote", "keep", "wait", "check"]
    arm: str | None
    metric: str | None
    confidence: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "arm": self.arm, "metric": self.metric,
                "confidence": self.confidence, "reason": self.reason}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelAdvice:
    """A cheaper model: ``kind`` ``"measured"`` (an arm ran on it and did as well) or
    ``"catalog"`` (same capabilities, priced on this prompt's usage)."""

    kind: Literal["measured", "catalog"]
    current: str
    suggested: str
    saving_share: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "current": self.current, "suggested": self.suggested,
                "saving_share": self.saving_share, "reason": self.reason}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheAdvice:
    """Prompt caching worth turning on for ``version`` on ``model``."""

    version: int
    model: str
    prefix_tokens: int
    calls: int
    cached_share: float
    saving_usd: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "model": self.model,
                "prefix_tokens": self.prefix_tokens, "calls": self.calls,
                "cached_share": self.cached_share, "saving_usd": self.saving_usd,
                "reason": self.reason}  # fmt: skip


def _primary(analytics: PromptAnalytics, min_feedback: int) -> str:
    arms = analytics.arms
    if arms and all(a.feedback >= min_feedback for a in arms):
        return "score"
    return "success_rate"


def better_variant(
    analytics: PromptAnalytics, *, alpha: float = 0.05, min_feedback: int = 20
) -> Recommendation | None:
    """The verdict (module docs); ``None`` with fewer than two arms."""
    if len(analytics.arms) < 2:
        return None
    if analytics.srm_warning is not None:
        return Recommendation(action="check", arm=None, metric=None, confidence=None,
                              reason=analytics.srm_warning)  # fmt: skip
    metric = _primary(analytics, min_feedback)
    rows = [c for c in analytics.comparisons if c.metric == metric]
    baseline = rows[0].baseline if rows else analytics.arms[0].label
    winners = [c for c in rows if c.significant(alpha) and c.better]
    losers = [c for c in rows if c.significant(alpha) and c.better is False]
    what = "mean score" if metric == "score" else "success rate"
    if winners:
        best = max(winners, key=lambda c: abs(c.test.difference) if c.test else 0.0)
        assert best.test is not None
        return Recommendation(
            action="promote", arm=best.arm, metric=metric, confidence=best.test.confidence,
            reason=f"{best.arm} beats {baseline} on {what} by {_fmt(metric, best.test.difference)}"
                   f" (p = {best.test.p_value:.3g}, confidence {best.test.confidence:.1%})",
        )  # fmt: skip
    if rows and len(losers) == len(rows):
        weakest = min(c.test.confidence for c in losers if c.test is not None)
        return Recommendation(
            action="keep", arm=baseline, metric=metric, confidence=weakest,
            reason=f"{baseline} beats every other arm on {what} (confidence at least "
                   f"{weakest:.1%})",
        )  # fmt: skip
    tested = [c for c in rows if c.test is not None]
    best_p = min((c.test.p_value for c in tested if c.test is not None), default=None)
    detail = "" if best_p is None else f" (smallest p = {best_p:.3g})"
    return Recommendation(
        action="wait", arm=None, metric=metric,
        confidence=None if best_p is None else 1.0 - best_p,
        reason=f"no significant difference in {what} yet{detail}: keep collecting calls",
    )  # fmt: skip


def _fmt(metric: str, difference: float) -> str:
    if metric == "success_rate":
        return f"{difference * 100:+.1f} points"
    return f"{difference:+.3g}"


def cheaper_models(
    analytics: PromptAnalytics,
    *,
    alpha: float = 0.05,
    catalog_hints: Callable[[], list[Any]] | None = None,
) -> list[ModelAdvice]:
    """Cheaper models (module docs). ``catalog_hints``: a function returning
    :class:`llmswitch.usage.hints.ModelHint` rows for this prompt's usage (the CLI
    passes ``hints(db, prompt=NAME)``); without it only measured advice is given."""
    out: list[ModelAdvice] = []
    arms = {a.label: a for a in analytics.arms}
    base = analytics.arms[0] if analytics.arms else None
    if base is not None and base.cost_per_call_usd:
        worse = _worse_arms(analytics.comparisons, alpha)
        for arm in analytics.arms[1:]:
            cost = arm.cost_per_call_usd
            if cost is None or cost >= base.cost_per_call_usd or arm.label in worse:
                continue
            if set(arm.models) == set(base.models):
                continue  # the same model, cheaper by the prompt: not a model change
            share = 1.0 - cost / base.cost_per_call_usd
            out.append(ModelAdvice(
                kind="measured", current=", ".join(base.models),
                suggested=", ".join(arms[arm.label].models), saving_share=share,
                reason=f"{arm.label} costs {share:.0%} less per call than {base.label} "
                       "and was not significantly worse on success rate or score",
            ))  # fmt: skip
    for hint in catalog_hints() if catalog_hints is not None else []:
        if not hint.alternatives or not hint.priced_nano:
            continue
        best = hint.alternatives[0]
        share = best.saving_nano / hint.priced_nano
        out.append(ModelAdvice(
            kind="catalog", current=f"{hint.provider}/{hint.model}",
            suggested=f"{best.provider}/{best.model}", saving_share=share,
            reason=f"same capabilities, {share:.0%} cheaper on this prompt's usage: "
                   "worth an experiment",
        ))  # fmt: skip
    return out


def _worse_arms(comparisons: tuple[Comparison, ...], alpha: float) -> set[str]:
    return {c.arm for c in comparisons
            if c.metric in ("success_rate", "score") and c.significant(alpha)
            and c.better is False}  # fmt: skip


def static_prefix(template: str) -> str:
    """The text of ``template`` before its first Jinja tag (``{{``, ``{%``, ``{#``):
    the part every rendering shares."""
    cut = min((i for i in (template.find(t) for t in ("{{", "{%", "{#")) if i >= 0),
              default=len(template))  # fmt: skip
    return template[:cut]


def template_prefix(template: Any) -> str:
    """The fixed start of a prompt as sent: its system part, then each message in
    order, up to the first Jinja tag (``template``: a :class:`PromptTemplate`)."""
    parts = [template.system or "", *(m.content for m in template.messages)]
    out = []
    for part in parts:
        fixed = static_prefix(part)
        out.append(fixed)
        if len(fixed) < len(part):
            break
    return "\n".join(p for p in out if p)


def caching(
    analytics: PromptAnalytics,
    prefixes: Mapping[int, str],
    *,
    min_prefix_tokens: int = 1024,
    min_calls: int = 100,
    count: Callable[[str], int] | None = None,
    price: Callable[[str, str, Usage], int | None] | None = None,
) -> list[CacheAdvice]:
    """Caching advice per version (module docs). ``prefixes``: version -> its fixed
    prefix text (:func:`static_prefix` of the system template, then of the first
    message when the system part has no tag). ``count``: tokens of a text (default
    the catalog's offline estimate); ``price``: ``catalog.cost_nano``."""
    from .. import catalog

    if count is None:
        from ..catalog._estimate import estimate_text_tokens

        count = estimate_text_tokens
    cost = price if price is not None else catalog.cost_nano
    calls_by: dict[tuple[int, str, str], list[Any]] = {}
    for call in analytics.calls:
        if call.version is not None:
            calls_by.setdefault((call.version, call.provider, call.model), []).append(call)
    out = []
    for (version, provider, model), calls in sorted(calls_by.items()):
        text = prefixes.get(version)
        if not text or len(calls) < min_calls:
            continue
        tokens = count(text)
        if tokens < min_prefix_tokens:
            continue
        spec = catalog.lookup(provider, model)
        if spec is None or spec.cached_input_price is None:
            continue
        inputs = sum(c.input_tokens for c in calls)
        share = sum(c.cached_input_tokens for c in calls) / inputs if inputs else 0.0
        if share >= 0.5:
            continue  # already mostly read from the cache
        # The prefix alone, billed as input and as a cache read (no output: 0, not unknown).
        plain = cost(provider, model, Usage(input_tokens=tokens, output_tokens=0,
                                            total_tokens=tokens))  # fmt: skip
        cached = cost(provider, model, Usage(input_tokens=tokens, cached_input_tokens=tokens,
                                             output_tokens=0, total_tokens=tokens))  # fmt: skip
        saving = None if plain is None or cached is None else (plain - cached) * len(calls) / 1e9
        money = "" if saving is None else f", up to ${saving:.4f} over these calls"
        out.append(CacheAdvice(
            version=version, model=f"{provider}/{model}", prefix_tokens=tokens,
            calls=len(calls), cached_share=share, saving_usd=saving,
            reason=f"v{version} starts with ~{tokens} fixed tokens sent {len(calls)} times "
                   f"with {share:.0%} read from cache: put the fixed part first and mark it "
                   f"cacheable (cache_control){money}",
        ))  # fmt: skip
    return out


def recommend(
    analytics: PromptAnalytics,
    *,
    prefixes: Mapping[int, str] | None = None,
    catalog_hints: Callable[[], list[Any]] | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """All three kinds, as ``{"variant": Recommendation | None, "models": [...],
    "caching": [...]}``."""
    return {
        "variant": better_variant(analytics, alpha=alpha),
        "models": cheaper_models(analytics, alpha=alpha, catalog_hints=catalog_hints),
        "caching": caching(analytics, prefixes or {}),
    }


def arm_named(analytics: PromptAnalytics, label: str) -> ArmStats | None:
    return next((a for a in analytics.arms if a.label == label), None)
