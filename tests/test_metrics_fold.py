"""The batched fold of per-call metrics: finished calls are folded by provider and
model, costs by series, and the rendered exposition is exactly what one update per
call gives (counters, float sums included, and every histogram), however calls to
many models and outcomes interleave and wherever a fold (a batch or a read) falls."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch.gateway._metrics import LibraryMetrics
from llmswitch.observability import metrics as m


class OnePerCall(LibraryMetrics):
    """The reference: every call folded on its own, in order, as one update each."""

    def call_finished(self, provider: str, model: str, outcome: str, latency_s: float,
                      input_tokens: int, output_tokens: int) -> None:  # fmt: skip
        with self._lock:
            where = (("model", model), ("provider", provider))
            self._inc("llmswitch_calls_total", (*where, ("outcome", outcome)))
            self._observe("llmswitch_call_duration_seconds", where, latency_s)
            if input_tokens:
                self._inc("llmswitch_tokens_total", (("direction", "input"), *where), input_tokens)
            if output_tokens:
                self._inc(
                    "llmswitch_tokens_total", (("direction", "output"), *where), output_tokens
                )
            if outcome not in ("ok", "cancelled"):
                self._inc(
                    "llmswitch_call_errors_total", (("class", outcome), ("provider", provider))
                )

    def call_cost(self, provider: str, model: str, usd: float) -> None:
        if usd > 0:
            with self._lock:
                labels = (("model", model), ("provider", provider))
                self._inc("llmswitch_cost_usd_total", labels, usd)


call = st.tuples(
    st.sampled_from(["openai", "anthropic"]),
    st.sampled_from(["m1", "m2", "m3"]),
    st.sampled_from(["ok", "ok", "cancelled", "RateLimitError"]),
    st.floats(min_value=0.0, max_value=400.0, allow_nan=False),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0.0, max_value=5.0, allow_nan=False),  # its cost in USD
    st.booleans(),  # read the metrics after it (a fold mid-batch)
)


def _feed(metrics: LibraryMetrics, calls: list[Any]) -> list[str]:
    reads = []
    for provider, model, outcome, latency, inp, out, usd, read in calls:
        metrics.call_finished(provider, model, outcome, latency, inp, out)
        metrics.call_cost(provider, model, usd)
        if read:
            reads.append(metrics.render())
    reads.append(metrics.render())
    return reads


@settings(max_examples=150, deadline=None)
@given(st.lists(call, max_size=60))
def test_batched_fold_renders_what_one_update_per_call_renders(calls: list[Any]) -> None:
    assert _feed(LibraryMetrics(), calls) == _feed(OnePerCall(), calls)


def test_a_full_batch_folds_without_a_read(monkeypatch: Any) -> None:
    monkeypatch.setattr(m, "FOLD_EVERY", 4)
    import llmswitch.gateway._metrics as gm

    monkeypatch.setattr(gm, "FOLD_EVERY", 4)
    metrics = LibraryMetrics()
    for _ in range(9):
        metrics.call_finished("openai", "m", "ok", 0.5, 10, 1)
        metrics.call_cost("openai", "m", 0.25)
        # Nothing read yet: at most a batch waits, the rest is in the series.
        assert len(metrics._finished) < 4 and len(metrics._costs) < 4
    assert metrics.value("llmswitch_calls_total", model="m", outcome="ok", provider="openai") == 9
    assert (
        metrics.value("llmswitch_tokens_total", direction="input", model="m", provider="openai")
        == 90
    )
    assert metrics.value("llmswitch_cost_usd_total", model="m", provider="openai") == 2.25
