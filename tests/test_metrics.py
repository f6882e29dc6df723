"""Metrics: the Prometheus exposition text and the middleware that feeds it."""

from __future__ import annotations

import re

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import ProviderUnavailableError, RateLimitError
from llmswitch.keys import KeyPool, KeyRotation
from llmswitch.middleware import MetricsMiddleware
from llmswitch.observability import NoMetrics, PrometheusMetrics
from llmswitch.observability.metrics import Metrics
from llmswitch.providers.runtime import Provider
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret

HI = [{"role": "user", "content": "hi"}]

_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? (-?[0-9.e+-]+|\+Inf|NaN)$'
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse the exposition text strictly: every line a comment or ``name{labels} value``;
    every sample's family declared by a ``# TYPE`` line before it."""
    assert text.endswith("\n")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        name, labels = m.group(1), frozenset(_LABEL.findall(m.group(3) or ""))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or types.get(family) == "histogram", line
        samples[(name, labels)] = float(m.group(4))
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_exposition_parses_and_counters_increase() -> None:
    m = PrometheusMetrics()
    assert m.render() == ""
    m.call_finished("openai", "gpt-4o", "ok", 0.3, 10, 5)
    first = parse(m.render())
    m.call_finished("openai", "gpt-4o", "ok", 1.7, 20, 7)
    m.call_finished("openai", "gpt-4o", "RateLimitError", 0.05, 0, 0)
    m.retry("openai", "gpt-4o", "RateLimitError")
    m.breaker_transition("openai/gpt-4o", "open")
    m.key_cooldown("openai", "…a1b2", "rate_limited")
    m.queue_wait(0.02)
    s = parse(m.render())
    where = {"provider": "openai", "model": "gpt-4o"}
    assert value(first, "llmswitch_calls_total", outcome="ok", **where) == 1
    assert value(s, "llmswitch_calls_total", outcome="ok", **where) == 2
    assert value(s, "llmswitch_calls_total", outcome="RateLimitError", **where) == 1
    assert value(s, "llmswitch_tokens_total", direction="input", **where) == 30
    assert value(s, "llmswitch_tokens_total", direction="output", **where) == 12
    assert value(s, "llmswitch_retries_total", reason="RateLimitError", **where) == 1
    assert (
        value(s, "llmswitch_breaker_transitions_total", deployment="openai/gpt-4o", state="open")
        == 1
    )
    assert (
        value(
            s,
            "llmswitch_key_cooldowns_total",
            provider="openai",
            key="…a1b2",
            reason="rate_limited",
        )
        == 1
    )
    assert value(s, "llmswitch_queue_wait_seconds_count") == 1


def test_histogram_buckets_are_cumulative() -> None:
    m = PrometheusMetrics(latency_buckets=(0.5, 1, 5))
    for latency in (0.1, 0.7, 0.9, 3, 99):
        m.call_finished("p", "m", "ok", latency, 0, 0)
    s = parse(m.render())
    where = {"provider": "p", "model": "m"}
    buckets = [
        value(s, "llmswitch_call_duration_seconds_bucket", le=le, **where)
        for le in ("0.5", "1", "5", "+Inf")
    ]
    assert buckets == [1, 3, 4, 5]
    assert value(s, "llmswitch_call_duration_seconds_count", **where) == 5
    assert value(s, "llmswitch_call_duration_seconds_sum", **where) == pytest.approx(103.7)


def test_label_values_are_escaped() -> None:
    m = PrometheusMetrics()
    m.call_finished('we"ird\\', "line\nbreak", "ok", 0.1, 0, 0)
    s = parse(m.render())
    assert (
        value(
            s, "llmswitch_calls_total", provider='we\\"ird\\\\', model="line\\nbreak", outcome="ok"
        )
        == 1
    )


def test_no_metrics_satisfies_the_protocol() -> None:
    sink: Metrics = NoMetrics()
    sink.call_finished("p", "m", "ok", 0.1, 1, 1)
    assert PrometheusMetrics().value("llmswitch_calls_total") == 0


# --------------------------------------------------------------------------- middleware


def test_middleware_records_ok_and_error_calls() -> None:
    fake = FakeProvider("fake")
    fake.reply("hello there", usage={"input_tokens": 11, "output_tokens": 3})
    fake.reply(error=RateLimitError("slow", retry_after=1))
    metrics = PrometheusMetrics()
    client = Client(max_retries=0, providers=[fake], middleware=[MetricsMiddleware(metrics)])
    client.chat("fake/m", HI)
    with pytest.raises(RateLimitError):
        client.chat("fake/m", HI)
    s = parse(metrics.render())
    where = {"provider": "fake", "model": "m"}
    assert value(s, "llmswitch_calls_total", outcome="ok", **where) == 1
    assert value(s, "llmswitch_calls_total", outcome="RateLimitError", **where) == 1
    assert value(s, "llmswitch_tokens_total", direction="input", **where) == 11
    assert value(s, "llmswitch_tokens_total", direction="output", **where) == 3
    assert value(s, "llmswitch_call_duration_seconds_count", **where) == 2


def test_middleware_records_streams_at_end_and_on_error() -> None:
    fake = FakeProvider("fake")
    fake.reply("one two three", usage={"input_tokens": 4, "output_tokens": 6}, latency=0.02)
    fake.reply("one two three four", error_after=2)
    fake.reply("never read to the end")
    metrics = PrometheusMetrics()
    client = Client(providers=[fake], middleware=[MetricsMiddleware(metrics)])
    with client.stream("fake/m", HI) as stream:
        assert stream.response.text == "one two three"
    with pytest.raises(ProviderUnavailableError), client.stream("fake/m", HI) as stream:
        list(stream)
    with client.stream("fake/m", HI) as stream:
        next(iter(stream))  # the caller walks away
    s = parse(metrics.render())
    where = {"provider": "fake", "model": "m"}
    assert value(s, "llmswitch_calls_total", outcome="ok", **where) == 1
    assert value(s, "llmswitch_calls_total", outcome="ProviderUnavailableError", **where) == 1
    assert value(s, "llmswitch_calls_total", outcome="cancelled", **where) == 1
    assert value(s, "llmswitch_tokens_total", direction="output", **where) == 6
    # the finished stream took at least its scripted latency
    assert value(s, "llmswitch_call_duration_seconds_bucket", le="0.1", **where) >= 1
    assert value(s, "llmswitch_call_duration_seconds_sum", **where) >= 0.02


async def test_async_middleware_chat_and_stream() -> None:
    fake = FakeProvider("fake")
    fake.reply("a", usage={"input_tokens": 1, "output_tokens": 2})
    fake.reply("b c", usage={"input_tokens": 3, "output_tokens": 4})
    fake.reply(error=RateLimitError("slow"))
    metrics = PrometheusMetrics()
    async with AsyncClient(
        max_retries=0, providers=[fake], middleware=[MetricsMiddleware(metrics)]
    ) as client:
        await client.chat("fake/m", HI)
        async with client.stream("fake/m", HI) as stream:
            await stream.get_response()
        with pytest.raises(RateLimitError):
            async with client.stream("fake/m", HI) as stream:
                await stream.get_response()
    assert metrics.value("llmswitch_calls_total", provider="fake", model="m", outcome="ok") == 2
    assert (
        metrics.value("llmswitch_tokens_total", provider="fake", model="m", direction="output") == 6
    )
    assert (
        metrics.value("llmswitch_calls_total", provider="fake", model="m", outcome="RateLimitError")
        == 1
    )


def test_key_rotation_reports_cooldowns() -> None:
    a, b = FakeProvider("fake"), FakeProvider("fake").default_reply("ok")
    a.reply(error=RateLimitError("slow", retry_after=5))
    fakes = {"sk-KEYA-QWERTYUIOP": a, "sk-KEYB-ZXCVBNMLKJ": b}

    def bind(provider: Provider, secret: Secret) -> Provider:
        return fakes[secret.get()]

    metrics = PrometheusMetrics()
    pool = KeyPool("fake", list(fakes))
    mw = KeyRotation(pool, bind=bind, metrics=metrics)
    Client(providers=[FakeProvider("fake")], middleware=[mw]).chat("fake/m", HI)
    label = pool.status()[0].key
    assert (
        metrics.value(
            "llmswitch_key_cooldowns_total", provider="fake", key=label, reason="rate_limited"
        )
        == 1
    )


def test_queued_call_metrics_are_all_counted_across_threads() -> None:
    """Per-call updates are queued and folded in batches: whatever the batch size, a
    read sees every call, including calls from many threads at once."""
    import threading

    from llmswitch.observability.metrics import FOLD_EVERY

    metrics = PrometheusMetrics()
    metrics.call_finished("openai", "m", "ok", 0.2, 3, 4)
    assert metrics.value("llmswitch_calls_total", model="m", outcome="ok", provider="openai") == 1
    per_thread = FOLD_EVERY * 3 + 7

    def work() -> None:
        for _ in range(per_thread):
            metrics.call_finished("openai", "m", "ok", 0.2, 3, 4)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = 1 + 6 * per_thread
    samples = parse(metrics.render())
    key = frozenset({("model", "m"), ("outcome", "ok"), ("provider", "openai")})
    assert samples[("llmswitch_calls_total", key)] == calls
    tokens = frozenset({("direction", "output"), ("model", "m"), ("provider", "openai")})
    assert samples[("llmswitch_tokens_total", tokens)] == 4 * calls
    count = frozenset({("model", "m"), ("provider", "openai")})
    assert samples[("llmswitch_call_duration_seconds_count", count)] == calls
