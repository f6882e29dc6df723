"""The gateway's metrics collector: request counters and histograms, the rolling
one-minute window (fake clock), the Prometheus rendering, and the library half (tokens,
cost, errors by class) fed by the CallMetrics layer."""

from __future__ import annotations

import re
import time

import pytest

from llmswitch import AsyncClient
from llmswitch import errors as e
from llmswitch.gateway._metrics import CallMetrics, GatewayMetrics
from llmswitch.messages import Usage
from llmswitch.testing import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]
# One Prometheus sample line: name{labels} value
SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+-]+$|^[a-z_]+\{.*\} \+Inf$')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_counts_and_histogram_by_route_and_status() -> None:
    m = GatewayMetrics(clock=Clock())
    m.observe("/v1/chat/completions", 200, 0.004)
    m.observe("/v1/chat/completions", 200, 0.3)
    m.observe("/v1/chat/completions", 429, 0.001)
    m.observe("/healthz", 200, 0.0002)
    m.first_token("/v1/chat/completions", 0.2)
    m.error("/v1/chat/completions", "rate_limit")
    got = samples(m.render())
    route = 'route="/v1/chat/completions"'
    assert got[f'llmswitch_gateway_requests_total{{{route},status="200"}}'] == 2
    assert got[f'llmswitch_gateway_requests_total{{{route},status="429"}}'] == 1
    assert got[f"llmswitch_gateway_request_duration_seconds_count{{{route}}}"] == 3
    # Cumulative buckets: 0.001 and 0.004 are <= 0.005, all three <= 0.5.
    assert got[f'llmswitch_gateway_request_duration_seconds_bucket{{{route},le="0.005"}}'] == 2
    assert got[f'llmswitch_gateway_request_duration_seconds_bucket{{{route},le="0.5"}}'] == 3
    assert got[f'llmswitch_gateway_request_duration_seconds_bucket{{{route},le="+Inf"}}'] == 3
    assert got[f"llmswitch_gateway_time_to_first_token_seconds_count{{{route}}}"] == 1
    assert got[f'llmswitch_gateway_errors_total{{class="rate_limit",{route}}}'] == 1
    assert m.count() == 4 and m.count("/healthz") == 1 and m.count(status=429) == 1


def test_every_family_has_help_and_type_once() -> None:
    m = GatewayMetrics(clock=Clock())
    m.observe("/a", 200, 0.01)
    m.first_token("/a", 0.01)
    m.error("/a", "upstream")
    m.library.call_finished("openai", "gpt-4o", "RateLimitError", 0.5, 0, 0)
    m.library.call_cost("openai", "gpt-4o", 0.25)
    text = m.render({"openai/gpt-4o": {"state": "half_open"}})
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    names = [n for n, _ in types]
    assert len(names) == len(set(names))
    for name, _ in types:
        assert f"# HELP {name} " in text
    assert text.endswith("\n")
    samples(text)  # every sample line is well formed


def test_live_window_rolls_over_one_minute() -> None:
    clock = Clock()
    m = GatewayMetrics(clock=clock)
    for _ in range(30):
        m.observe("/a", 200, 0.010)
    for _ in range(10):
        m.observe("/a", 502, 1.0)
    clock.now += 10
    live = m.live()
    assert live["requests"] == 40 and live["errors"] == 10 and live["rejected"] == 0
    assert live["rps"] == pytest.approx(40 / 11, abs=1e-3)  # 11 seconds since start
    # Log buckets: within ~20 % of the true value.
    assert live["p50_ms"] == pytest.approx(10, rel=0.2)
    assert live["p95_ms"] == pytest.approx(1000, rel=0.2)
    assert live["per_second"][0] == 40 and sum(live["per_second"]) == 40
    clock.now += 55  # the first second is now older than the window
    m.observe("/a", 404, 0.002)
    live = m.live()
    assert live["requests"] == 1 and live["rejected"] == 1 and live["errors"] == 0
    assert live["rps"] == pytest.approx(1 / 60, abs=1e-3)
    assert len(live["per_second"]) == 60
    clock.now += 120
    assert m.live()["requests"] == 0 and m.live()["p50_ms"] is None


def test_in_flight_is_reported_live() -> None:
    m = GatewayMetrics(clock=Clock())
    m.in_flight += 3
    assert m.live()["in_flight"] == 3


def test_observe_is_cheap() -> None:
    # The budget is < 2 µs on a quiet machine; 25 µs is a bound no busy CI box misses.
    m = GatewayMetrics()
    n = 20_000
    started = time.perf_counter()
    for i in range(n):
        m.observe("/v1/chat/completions", 200 if i % 10 else 500, 0.0123)
    assert (time.perf_counter() - started) / n < 25e-6


def test_breaker_gauge_marks_the_current_state() -> None:
    m = GatewayMetrics(clock=Clock())
    got = samples(
        m.render({"openai/gpt-4o": {"state": "open"}, "anthropic/x": {"state": "closed"}})
    )
    assert got['llmswitch_breaker_state{deployment="openai/gpt-4o",state="open"}'] == 1
    assert got['llmswitch_breaker_state{deployment="openai/gpt-4o",state="closed"}'] == 0
    assert got['llmswitch_breaker_state{deployment="anthropic/x",state="closed"}'] == 1


def test_label_values_are_escaped() -> None:
    m = GatewayMetrics(clock=Clock())
    m.observe('/x"y\\z', 200, 0.01)
    assert 'route="/x\\"y\\\\z"' in m.render()


async def test_call_metrics_layer_reports_tokens_cost_and_errors() -> None:
    m = GatewayMetrics(clock=Clock())
    fake = FakeProvider(
        "openai", default={"text": "hi", "usage": Usage(input_tokens=1000, output_tokens=500)}
    )
    async with AsyncClient(providers=[fake], middleware=[CallMetrics(m)], max_retries=0) as client:
        resp = await client.chat("openai/gpt-4o-mini", HELLO)
        async with client.stream("openai/gpt-4o-mini", HELLO) as stream:
            async for _ in stream:
                pass
        fake.reply(error=e.RateLimitError("slow down", provider="openai", status_code=429))
        with pytest.raises(e.RateLimitError):
            await client.chat("openai/gpt-4o-mini", HELLO)
    assert resp.cost and resp.cost > 0
    got = samples(m.render())
    where = 'model="gpt-4o-mini",provider="openai"'
    assert (
        got[f'llmswitch_calls_total{{{where.split(",")[0]},outcome="ok",provider="openai"}}'] == 2
    )
    assert got[f'llmswitch_tokens_total{{direction="input",{where}}}'] == 2000
    assert got[f'llmswitch_tokens_total{{direction="output",{where}}}'] == 1000
    assert got[f"llmswitch_cost_usd_total{{{where}}}"] == pytest.approx(2 * resp.cost)
    assert got['llmswitch_call_errors_total{class="RateLimitError",provider="openai"}'] == 1


def test_the_live_window_keeps_only_its_last_minute() -> None:
    # Nobody reads live() here (no dashboard open): the window must not grow anyway.
    now = [1000.0]
    metrics = GatewayMetrics(clock=lambda: now[0])
    for _ in range(10_000):
        metrics.observe("/v1/chat/completions", 200, 0.001)
        now[0] += 0.1  # ten requests a second for 1000 s
    assert len(metrics.window) <= 61 * 10
    assert metrics.live()["rps"] > 0
