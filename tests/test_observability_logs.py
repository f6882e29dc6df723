"""Structured log events and metrics hooks of the resilience layers, and the ``key``
scope of rate limits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmswitch import Client
from llmswitch.config import Config, Deployment, ModelGroup, load_config
from llmswitch.errors import (
    AllProvidersFailedError,
    AuthenticationError,
    ProviderUnavailableError,
    RateLimitError,
    RateLimitExceeded,
)
from llmswitch.keys import KeyPool, KeyRotation, fingerprint
from llmswitch.middleware import CircuitBreaker, RateLimiter, Retry, Router
from llmswitch.middleware.ratelimit import Limit
from llmswitch.middleware.retry import RetryPolicy
from llmswitch.observability.metrics import PrometheusMetrics
from llmswitch.providers.runtime import Provider
from llmswitch.storage import MemoryStore
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret
from tests.support.state import FakeClock

HI = [{"role": "user", "content": "hi"}]
T0 = 6_000_000.0  # on a minute boundary
KEY_A = "sk-KEYA-QWERTYUIOPASDFGHJKL"
KEY_B = "sk-KEYB-ZXCVBNMQWERTYUIOPLK"


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().split(" ", 1)[0] == name]


def no_key_in(records: list[logging.LogRecord]) -> None:
    for record in records:
        text = record.getMessage() + repr(vars(record))
        for key in (KEY_A, KEY_B):
            for i in range(len(key) - 5):
                assert key[i : i + 6] not in text, f"key material in {text!r}"


def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.002)


# --------------------------------------------------------------------------- router


def routed(*fakes: FakeProvider, metrics: PrometheusMetrics | None = None) -> Client:
    g = ModelGroup(
        name="g",
        deployments=tuple(Deployment(model=f"{f.id}/m") for f in fakes),
        strategy="ordered",
        fallback_on=frozenset({"retryable"}),
    )
    by_id = {f.id: f for f in fakes}
    router = Router([g], by_id.__getitem__, metrics=metrics)
    return Client(
        max_retries=0, config=Config(models={"g": g}), providers=list(fakes), middleware=[router]
    )


def test_router_logs_each_fallback_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    a, b = FakeProvider("a"), FakeProvider("b").default_reply("from b")
    a.reply(error=ProviderUnavailableError("down", status_code=503))
    metrics = PrometheusMetrics()
    caplog.set_level(logging.INFO, logger="llmswitch.router")
    assert routed(a, b, metrics=metrics).chat("g", HI).text == "from b"
    [record] = events(caplog, "router.fallback")
    assert record.levelno == logging.INFO and record.name == "llmswitch.router"
    assert (record.group, record.from_deployment, record.to_deployment, record.error) == (  # type: ignore[attr-defined]
        "g",
        "a/m",
        "b/m",
        "ProviderUnavailableError",
    )
    assert "down" not in record.getMessage()  # error messages are not logged
    assert not events(caplog, "router.exhausted")
    assert 'llmswitch_retries_total{model="m",provider="a",reason="fallback"} 1' in (
        metrics.render()
    )


def test_router_logs_exhausted_group_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    a, b = FakeProvider("a"), FakeProvider("b")
    a.reply(error=ProviderUnavailableError("down", status_code=503))
    b.reply(error=RateLimitError("slow", retry_after=1))
    caplog.set_level(logging.INFO, logger="llmswitch.router")
    with pytest.raises(AllProvidersFailedError):
        routed(a, b).chat("g", HI)
    assert len(events(caplog, "router.fallback")) == 1
    [record] = events(caplog, "router.exhausted")
    assert record.levelno == logging.WARNING
    assert record.group == "g" and record.attempts == 2  # type: ignore[attr-defined]
    assert record.errors == "ProviderUnavailableError,RateLimitError"  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- rate limits


def limited(
    clock: FakeClock, metrics: PrometheusMetrics | None = None, **kw: object
) -> tuple[RateLimiter, FakeProvider, Client]:
    limiter = RateLimiter(
        [Limit("provider", requests_per_minute=1)],
        store=MemoryStore(clock=clock),
        clock=clock,
        metrics=metrics,
        **kw,  # type: ignore[arg-type]
    )
    fake = FakeProvider(default="ok")
    return limiter, fake, Client(providers=[fake], middleware=[limiter])


def test_queue_wait_is_logged_and_measured(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(T0)
    metrics = PrometheusMetrics()
    limiter, fake, client = limited(clock, metrics, max_wait=1000)
    caplog.set_level(logging.INFO, logger="llmswitch.ratelimit")
    client.chat("fake/m", HI)  # uses the minute up, without waiting
    assert not events(caplog, "ratelimit.queued")
    t = threading.Thread(
        target=client.chat, args=("fake/m", HI), kwargs={"metadata": {"priority": "batch"}}
    )
    t.start()
    wait_for(lambda: limiter.waiting() == 1)
    clock.now += 120
    limiter.wake()
    t.join(5)
    assert len(fake.requests) == 2
    [record] = events(caplog, "ratelimit.queued")
    assert record.levelno == logging.INFO
    assert record.waited == 120 and record.priority == 10  # type: ignore[attr-defined]
    assert record.scope == "provider"  # type: ignore[attr-defined]
    body = metrics.render()
    assert "llmswitch_queue_wait_seconds_count 1" in body
    assert "llmswitch_queue_wait_seconds_sum 120" in body


def test_queue_give_up_is_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(T0)
    limiter, fake, client = limited(clock, max_wait=5)
    caplog.set_level(logging.INFO, logger="llmswitch.ratelimit")
    client.chat("fake/m", HI)
    # The minute frees up in 60 s, beyond max_wait: refused at once (issue 7 item 9).
    with pytest.raises(RateLimitExceeded):
        client.chat("fake/m", HI)
    assert len(fake.requests) == 1 and limiter.waiting() == 0
    [record] = events(caplog, "ratelimit.rejected")
    assert record.levelno == logging.WARNING
    assert record.waited == 0 and record.scope == "provider"  # type: ignore[attr-defined]
    assert record.retry_after == pytest.approx(60)  # type: ignore[attr-defined]
    assert not events(caplog, "ratelimit.queued")


# --------------------------------------------------------------------------- keys


def keyed(clock: FakeClock) -> tuple[KeyPool, dict[str, FakeProvider], KeyRotation]:
    fakes = {k: FakeProvider("fake").default_reply(k[3:7]) for k in (KEY_A, KEY_B)}

    def bind(provider: Provider, secret: Secret) -> Provider:
        return fakes[secret.get()]

    pool = KeyPool("fake", [KEY_A, KEY_B], store=MemoryStore(clock), clock=clock)
    return pool, fakes, KeyRotation(pool, bind=bind)


def test_key_cooldown_and_disable_events_name_the_key_by_label_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(T0)
    _, fakes, rotation = keyed(clock)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=5))
    fakes[KEY_B].reply(error=AuthenticationError(f"bad key {KEY_B}", status_code=401))
    client = Client(providers=[FakeProvider("fake")], middleware=[rotation])
    caplog.set_level(logging.DEBUG, logger="llmswitch.keys")
    with pytest.raises(RateLimitError):  # no usable key left
        client.chat("fake/m", HI)
    [cool] = events(caplog, "keys.cooldown")
    [off] = events(caplog, "keys.disabled")
    assert cool.levelno == logging.WARNING and off.levelno == logging.ERROR
    assert cool.key == "…" + fingerprint(KEY_A)[-4:] and cool.seconds == 5  # type: ignore[attr-defined]
    assert off.key == "…" + fingerprint(KEY_B)[-4:] and off.status == 401  # type: ignore[attr-defined]
    assert cool.provider == off.provider == "fake"  # type: ignore[attr-defined]
    no_key_in(caplog.records)


# --------------------------------------------------------------------------- metrics hooks


def test_retry_reports_each_retry_by_error_class() -> None:
    fake = FakeProvider(default="ok")
    fake.reply(error=ProviderUnavailableError("down", status_code=503))
    metrics = PrometheusMetrics()
    retry = Retry(RetryPolicy(attempts=3), sleep=False, metrics=metrics)
    assert Client(providers=[fake], middleware=[retry]).chat("fake/m", HI).text == "ok"
    assert (
        'llmswitch_retries_total{model="m",provider="fake",reason="ProviderUnavailableError"} 1'
        in metrics.render()
    )


def test_breaker_reports_open_half_open_and_closed() -> None:
    clock = FakeClock(T0)
    metrics = PrometheusMetrics()
    fake = FakeProvider(default="ok")
    for _ in range(2):
        fake.reply(error=ProviderUnavailableError("down", status_code=503))
    breaker = CircuitBreaker(
        MemoryStore(clock), min_calls=2, cooldown=10, clock=clock, metrics=metrics
    )
    client = Client(max_retries=0, providers=[fake], middleware=[breaker])
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            client.chat("fake/m", HI)
    name = "llmswitch_breaker_transitions_total"
    assert metrics.value(name, deployment="fake/m", state="open") == 1
    assert metrics.value(name, deployment="fake/m", state="half_open") == 0
    clock.now += 11
    assert client.chat("fake/m", HI).text == "ok"  # the probe
    body = metrics.render()
    for state in ("open", "half_open", "closed"):
        assert f'{name}{{deployment="fake/m",state="{state}"}} 1' in body


# --------------------------------------------------------------------------- key scope


def test_key_scoped_limit_counts_each_key_inside_key_rotation() -> None:
    clock = FakeClock(T0)
    _, _, rotation = keyed(clock)
    limiter = RateLimiter(
        [Limit("key", requests_per_minute=1)], store=MemoryStore(clock), clock=clock, max_wait=0
    )
    client = Client(providers=[FakeProvider("fake")], middleware=[rotation, limiter])
    assert {client.chat("fake/m", HI).text for _ in range(2)} == {"KEYA", "KEYB"}
    with pytest.raises(RateLimitExceeded):
        client.chat("fake/m", HI)  # round robin is back at key A, which used its minute
    labels = {f"fake/…{fingerprint(k)[-4:]}" for k in (KEY_A, KEY_B)}
    assert {s.key for s in limiter.status()} == labels
    assert all(s.used == 1 for s in limiter.status())
    for key in limiter._seen:  # store keys name the key by its label only
        assert KEY_A[3:9] not in key and KEY_B[3:9] not in key


def test_key_scoped_limit_does_not_apply_without_a_key_label() -> None:
    clock = FakeClock(T0)
    limiter = RateLimiter(
        [Limit("key", requests_per_minute=1)], store=MemoryStore(clock), clock=clock, max_wait=0
    )
    fake = FakeProvider(default="ok")
    client = Client(providers=[fake], middleware=[limiter])
    for _ in range(3):
        client.chat("fake/m", HI)
    assert len(fake.requests) == 3 and limiter.status() == []


def test_config_key_limits_sit_inside_the_key_pick(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        '[[limits]]\nscope = "key"\nrequests_per_minute = 1\n\n'
        '[[limits]]\nscope = "user"\nrequests_per_minute = 50\n\n'
        '[providers.openai]\nkeys = ["${A}", "${B}"]\n'
    )
    config = load_config(path, {"A": KEY_A, "B": KEY_B})
    assert [x.scope for x in config.limits] == ["key", "user"]
    client = Client(max_retries=0, config=config)
    assert client._pipeline is not None
    layers = client._pipeline.middleware
    kinds = [type(m) for m in layers]
    assert kinds == [RateLimiter, KeyRotation, RateLimiter]
    outer, inner = layers[0], layers[2]
    assert isinstance(outer, RateLimiter) and isinstance(inner, RateLimiter)
    assert [x.scope for x in outer.limits] == ["user"]
    assert [x.scope for x in inner.limits] == ["key"]


def test_config_key_limits_without_key_pools_add_no_layer(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text('[[limits]]\nscope = "key"\nrequests_per_minute = 1\n')
    client = Client(config=load_config(path, {}))
    assert client._pipeline is None or not any(
        isinstance(m, RateLimiter) for m in client._pipeline.middleware
    )
