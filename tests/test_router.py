"""Model groups through the Router: strategy order, fallbacks, streams, sync and async,
and the client wiring (a group name works with nothing but the config)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.config import Config, Deployment, ModelGroup, load_config
from llmswitch.errors import (
    AllProvidersFailedError,
    CircuitOpenError,
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    LLMTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    TransportError,
)
from llmswitch.events import TextDelta
from llmswitch.messages import ChatRequest, ChatResponse
from llmswitch.middleware import Middleware, Pipeline, Router
from llmswitch.middleware.base import Call, ChatHandler
from llmswitch.providers.runtime import CallContext
from llmswitch.testing import FakeProvider
from llmswitch.wire import Timeout
from tests.support.loopback import Loopback, Reply, sse_reply

HI = [{"role": "user", "content": "hi"}]


def group(
    *models: str, strategy: str = "ordered", fallback_on: Any = ("retryable",), **kw: Any
) -> ModelGroup:
    deployments = tuple(Deployment(model=m, **kw.get(m.replace("/", "_"), {})) for m in models)
    return ModelGroup(
        name="g", deployments=deployments, strategy=strategy, fallback_on=frozenset(fallback_on)
    )


def fakes(*ids: str) -> list[FakeProvider]:
    out = []
    for pid in ids:
        fake = FakeProvider(id=pid)
        fake.default_reply(f"from {pid}")
        out.append(fake)
    return out


def routed(g: ModelGroup, providers: list[FakeProvider], **router_kw: Any) -> tuple[Client, Router]:
    by_id = {p.id: p for p in providers}
    router = Router([g], by_id.__getitem__, **router_kw)
    client = Client(
        max_retries=0, config=Config(models={g.name: g}), providers=providers, middleware=[router]
    )
    return client, router


class Scripted:
    """An RNG whose random() returns the given values in turn."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


class Ticks:
    """A clock that returns the given times in turn."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


# --------------------------------------------------------------------------- strategies


def test_ordered_tries_lower_priority_first_then_file_order() -> None:
    g = group("a/m1", "b/m2", "c/m3", b_m2={"priority": -1}, c_m3={"priority": -1})
    client, router = routed(g, fakes("a", "b", "c"))
    assert [d.model for d in router.plan("g")] == ["b/m2", "c/m3", "a/m1"]
    resp = client.chat("g", HI)
    assert resp.text == "from b" and resp.provider == "b" and resp.model == "m2"


def test_weighted_picks_by_weight_then_falls_back_in_priority_order() -> None:
    g = group("a/m1", "b/m2", "c/m3", strategy="weighted", b_m2={"weight": 3})
    # total weight 5: a covers [0, 1), b [1, 4), c [4, 5)
    _, router = routed(g, fakes("a", "b", "c"), rng=Scripted(0.1, 0.3, 0.9))
    assert [d.model for d in router.plan("g")] == ["a/m1", "b/m2", "c/m3"]
    assert [d.model for d in router.plan("g")] == ["b/m2", "a/m1", "c/m3"]
    assert [d.model for d in router.plan("g")] == ["c/m3", "a/m1", "b/m2"]


def test_weighted_spreads_calls_in_proportion() -> None:
    import random

    g = group("a/m1", "b/m2", strategy="weighted", b_m2={"weight": 3})
    providers = fakes("a", "b")
    client, _ = routed(g, providers, rng=random.Random(7))
    for _ in range(400):
        client.chat("g", HI)
    assert 60 < providers[0].calls < 140 and providers[0].calls + providers[1].calls == 400


def test_least_busy_avoids_the_deployment_with_a_stream_in_flight() -> None:
    g = group("a/m1", "b/m2", strategy="least-busy")
    client, router = routed(g, fakes("a", "b"))
    with client.stream("g", HI) as first:
        assert router.stats("g")["a/m1"]["in_flight"] == 1
        assert client.chat("g", HI).provider == "b"
        assert first.response.provider == "a"
    assert {s["in_flight"] for s in router.stats("g").values()} == {0}
    assert client.chat("g", HI).provider == "a"


async def test_least_busy_counts_concurrent_async_calls() -> None:
    g = group("a/m1", "b/m2", "c/m3", strategy="least-busy")
    providers = fakes("a", "b", "c")
    for p in providers:
        p.default_reply(f"from {p.id}", latency=0.05)
    by_id = {p.id: p for p in providers}
    router = Router([g], by_id.__getitem__)
    async with AsyncClient(
        config=Config(models={"g": g}), providers=providers, middleware=[router]
    ) as client:
        answers = await asyncio.gather(*(client.chat("g", HI) for _ in range(3)))
    assert sorted(r.provider for r in answers) == ["a", "b", "c"]
    assert {s["in_flight"] for s in router.stats("g").values()} == {0}


def test_lowest_latency_tries_unknown_first_then_the_fastest_moving_average() -> None:
    g = group("a/m1", "b/m2", strategy="lowest-latency")
    # each call reads the clock when it starts and when it succeeds
    clock = Ticks(0.0, 1.0, 10.0, 10.2, 20.0, 21.2, 30.0, 30.1)
    client, router = routed(g, fakes("a", "b"), clock=clock, alpha=0.5)
    assert client.chat("g", HI).provider == "a"  # both unknown: priority order; a takes 1.0s
    assert client.chat("g", HI).provider == "b"  # b unknown goes first; takes 0.2s
    assert client.chat("g", HI).provider == "b"  # 0.2 < 1.0; this one takes 1.2s
    assert router.stats("g")["b/m2"]["latency"] == pytest.approx(0.7)  # 0.2 + 0.5 * (1.2 - 0.2)
    assert client.chat("g", HI).provider == "b"  # 0.7 < 1.0 still
    assert router.stats("g")["a/m1"]["latency"] == pytest.approx(1.0)


def test_lowest_latency_ignores_failed_calls() -> None:
    g = group("a/m1", "b/m2", strategy="lowest-latency")
    a, b = fakes("a", "b")
    a.reply(error=ProviderUnavailableError("down"))
    client, router = routed(g, [a, b], clock=Ticks(0.0, 5.0, 5.5))
    assert client.chat("g", HI).provider == "b"
    assert router.stats("g")["a/m1"]["latency"] is None
    assert router.stats("g")["b/m2"]["latency"] == pytest.approx(0.5)


def test_lowest_cost_uses_catalog_prices_and_puts_unknown_prices_last() -> None:
    g = group("local/mystery", "openai/gpt-4o", "openai/gpt-4o-mini", strategy="lowest-cost")
    client, router = routed(g, fakes("local", "openai"))
    assert [d.model for d in router.plan("g")] == [
        "openai/gpt-4o-mini", "openai/gpt-4o", "local/mystery",
    ]  # fmt: skip
    assert client.chat("g", HI).model == "gpt-4o-mini"


# --------------------------------------------------------------------------- fallbacks


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("slow down", status_code=429, retry_after=2),
        ProviderUnavailableError("overloaded", status_code=503),
        TransportError("connection reset"),
    ],
)
def test_retryable_errors_fall_back_to_the_next_deployment(error: Exception) -> None:
    a, b = fakes("a", "b")
    a.reply(error=error)
    client, _ = routed(group("a/m1", "b/m2"), [a, b])
    resp = client.chat("g", HI)
    assert resp.text == "from b" and a.calls == 1 and b.calls == 1
    assert b.last_request.model == "m2" and b.last_request.provider == "b"


def test_invalid_request_propagates_without_trying_others() -> None:
    a, b = fakes("a", "b")
    a.reply(error=InvalidRequestError("bad tool schema", status_code=400))
    client, _ = routed(group("a/m1", "b/m2"), [a, b])
    with pytest.raises(InvalidRequestError, match="bad tool schema"):
        client.chat("g", HI)
    assert b.calls == 0


def test_retryable_errors_propagate_when_the_group_does_not_fall_back_on_them() -> None:
    a, b = fakes("a", "b")
    a.reply(error=RateLimitError("slow down", status_code=429))
    client, _ = routed(group("a/m1", "b/m2", fallback_on=["content_filter"]), [a, b])
    with pytest.raises(RateLimitError):
        client.chat("g", HI)
    assert b.calls == 0


def test_an_open_circuit_always_falls_back() -> None:
    a, b = fakes("a", "b")
    a.reply(error=CircuitOpenError("breaker open"))
    client, _ = routed(group("a/m1", "b/m2", fallback_on=[]), [a, b])
    assert client.chat("g", HI).provider == "b"


def _overflow() -> ContextLengthExceededError:
    return ContextLengthExceededError("prompt is too long", status_code=400)


def test_context_length_falls_back_only_when_enabled() -> None:
    a, b = fakes("openai", "anthropic")
    a.reply(error=_overflow())
    client, _ = routed(group("openai/gpt-4o", "anthropic/claude-sonnet-4-5"), [a, b])
    with pytest.raises(ContextLengthExceededError):
        client.chat("g", HI)
    assert b.calls == 0


def test_context_length_skips_deployments_whose_window_is_not_larger() -> None:
    # gpt-4o and gpt-4o-mini: 128k; claude-sonnet-4-5: 200k; local/x: unknown window
    openai, anthropic, local = fakes("openai", "anthropic", "local")
    openai.reply(error=_overflow())
    g = group(
        "openai/gpt-4o", "local/x", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5",
        fallback_on=["retryable", "context_length"],
    )  # fmt: skip
    client, _ = routed(g, [openai, anthropic, local])
    resp = client.chat("g", HI)
    # the larger known window first, then the unknown one; the same-size one never
    assert resp.provider == "anthropic" and openai.calls == 1 and local.calls == 0

    openai.reply(error=_overflow())
    anthropic.reply(error=_overflow())
    assert client.chat("g", HI).provider == "local"
    assert openai.calls == 2  # gpt-4o-mini (same 128k window) was never tried


def test_context_length_with_no_larger_deployment_fails_with_every_error() -> None:
    openai, anthropic = fakes("openai", "anthropic")
    openai.reply(error=_overflow())
    g = group("openai/gpt-4o", "openai/gpt-4o-mini", fallback_on=["context_length"])
    client, _ = routed(g, [openai, anthropic])
    with pytest.raises(AllProvidersFailedError) as info:
        client.chat("g", HI)
    assert [type(e) for e in info.value.errors] == [ContextLengthExceededError]


def test_content_filter_falls_back_only_when_enabled() -> None:
    a, b = fakes("a", "b")
    a.reply(error=ContentFilterError("blocked", status_code=400))
    client, _ = routed(group("a/m1", "b/m2"), [a, b])
    with pytest.raises(ContentFilterError):
        client.chat("g", HI)

    a.reply(error=ContentFilterError("blocked", status_code=400))
    client, _ = routed(group("a/m1", "b/m2", fallback_on=["content_filter"]), [a, b])
    assert client.chat("g", HI).provider == "b"


def test_all_failed_holds_each_attempts_error_in_order_and_names_the_group() -> None:
    a, b, c = fakes("a", "b", "c")
    errors = [
        RateLimitError("a is busy", status_code=429),
        TransportError("b refused the connection"),
        ProviderUnavailableError("c is down", status_code=503),
    ]
    for fake, error in zip((a, b, c), errors, strict=True):
        fake.reply(error=error)
    client, _ = routed(group("a/m1", "b/m2", "c/m3"), [a, b, c])
    with pytest.raises(AllProvidersFailedError) as info:
        client.chat("g", HI)
    failed = info.value
    assert [(type(e), e.message, e.provider) for e in failed.errors] == [
        (RateLimitError, "a is busy", "a"),
        (TransportError, "b refused the connection", "b"),
        (ProviderUnavailableError, "c is down", "c"),
    ]
    assert failed.retryable and failed.model == "g"
    assert "model group 'g'" in str(failed) and "a is busy" in str(failed)


def test_attempt_numbers_count_up_per_deployment() -> None:
    seen: list[tuple[int, str]] = []

    class Inner(Middleware):  # sees what the router sends on: a stand-in for retry/breaker
        def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
            seen.append((call.attempt, call.provider.id))
            return next(call)

    a, b = fakes("a", "b")
    a.reply(error=ProviderUnavailableError("down"))
    g = group("a/m1", "b/m2")
    router = Router([g], {"a": a, "b": b}.__getitem__)
    pipeline = Pipeline([router, Inner()])
    request = ChatRequest(provider="a", model="m1", messages=())
    call = Call(request=request, provider=a, ctx=CallContext(timeout=Timeout()), model="g")
    assert pipeline.chat(call).provider == "b"
    assert seen == [(0, "a"), (1, "b")]


# --------------------------------------------------------------------------- timeouts


class Recording(FakeProvider):
    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.contexts: list[CallContext] = []
        self.default_reply(f"from {id}")

    def chat(self, request: ChatRequest, ctx: CallContext | None = None) -> ChatResponse:
        assert ctx is not None
        self.contexts.append(ctx)
        return super().chat(request, ctx)


def test_deployment_timeout_is_laid_over_the_calls() -> None:
    a, b = Recording("a"), Recording("b")
    a.reply(error=ProviderUnavailableError("down"))
    g = group("a/m1", "b/m2", b_m2={"timeout": {"first_token": 10}})
    by_id = {"a": a, "b": b}
    router = Router([g], by_id.__getitem__)
    client = Client(
        max_retries=0, config=Config(models={"g": g}), providers=[a, b], middleware=[router],
        timeout={"total": 60, "connect": 3},
    )  # fmt: skip
    client.chat("g", HI)
    assert a.contexts[0].timeout.first_token == 30 and a.contexts[0].timeout.total == 60
    assert b.contexts[0].timeout.first_token == 10
    assert (b.contexts[0].timeout.total, b.contexts[0].timeout.connect) == (60, 3)
    assert b.contexts[0].transport is a.contexts[0].transport is not None


def test_a_deployment_first_token_timeout_cuts_a_slow_stream_and_falls_back() -> None:
    a, b = fakes("a", "b")
    a.reply("too slow", latency=0.5)
    client, _ = routed(group("a/m1", "b/m2", a_m1={"timeout": {"first_token": 0.05}}), [a, b])
    with client.stream("g", HI) as stream:
        assert "".join(stream.text_stream) == "from b"
    assert stream.response.provider == "b"


# --------------------------------------------------------------------------- streams


def test_stream_falls_back_before_the_first_event() -> None:
    a, b = fakes("a", "b")
    a.reply(error=RateLimitError("slow down", status_code=429))
    client, _ = routed(group("a/m1", "b/m2"), [a, b])
    with client.stream("g", HI) as stream:
        text = "".join(stream.text_stream)
    assert text == "from b"
    # the answer names the deployment that served it, not the group's primary
    assert stream.response.provider == "b" and stream.response.model == "m2"


def test_stream_error_after_the_first_event_propagates_with_the_partial_answer() -> None:
    a, b = fakes("a", "b")
    a.reply("one two three four", error_after=3)
    client, router = routed(group("a/m1", "b/m2"), [a, b])
    received: list[str] = []
    with pytest.raises(ProviderUnavailableError) as info, client.stream("g", HI) as stream:
        for event in stream:
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert b.calls == 0
    partial = info.value.partial
    assert partial is not None and partial.text == "".join(received) != ""
    assert partial.provider == "a"
    assert router.stats("g")["a/m1"]["in_flight"] == 0


def test_stream_all_failed_before_first_event() -> None:
    a, b = fakes("a", "b")
    a.reply(error=TransportError("reset"))
    b.reply(error=ProviderUnavailableError("down"))
    client, _ = routed(group("a/m1", "b/m2"), [a, b])
    with pytest.raises(AllProvidersFailedError) as info:
        client.stream("g", HI).__enter__()
    assert [type(e) for e in info.value.errors] == [TransportError, ProviderUnavailableError]


def test_abandoned_stream_releases_its_in_flight_count() -> None:
    client, router = routed(group("a/m1", "b/m2", strategy="least-busy"), fakes("a", "b"))
    stream = client.stream("g", HI)
    it: Iterator[Any] = iter(stream)
    next(it)
    assert router.stats("g")["a/m1"]["in_flight"] == 1
    stream.close()
    assert router.stats("g")["a/m1"]["in_flight"] == 0


# --------------------------------------------------------------------------- async


async def test_async_chat_falls_back_and_fails_like_sync() -> None:
    a, b = fakes("a", "b")
    a.reply(error=RateLimitError("slow down", status_code=429))
    g = group("a/m1", "b/m2")
    async with AsyncClient(
        max_retries=0, config=Config(models={"g": g}), providers=[a, b]
    ) as client:
        assert (await client.chat("g", HI)).provider == "b"
        a.reply(error=TransportError("reset"))
        b.reply(error=InvalidRequestError("bad", status_code=400))
        with pytest.raises(InvalidRequestError):
            await client.chat("g", HI)


async def test_async_stream_falls_back_before_first_event_and_keeps_partial_after() -> None:
    a, b = fakes("a", "b")
    a.reply(error=ProviderUnavailableError("down"))
    g = group("a/m1", "b/m2")
    async with AsyncClient(
        max_retries=0, config=Config(models={"g": g}), providers=[a, b]
    ) as client:
        async with client.stream("g", HI) as stream:
            response = await stream.get_response()
        assert response.text == "from b" and response.provider == "b"

        a.reply("alpha beta gamma", error_after=2)
        with pytest.raises(ProviderUnavailableError) as info:
            async with client.stream("g", HI) as stream:
                async for _ in stream:
                    pass
        assert info.value.partial is not None and info.value.partial.provider == "a"
        assert b.calls == 1


async def test_async_all_failed() -> None:
    a, b = fakes("a", "b")
    a.reply(error=RateLimitError("busy", status_code=429))
    b.reply(error=RateLimitError("busy too", status_code=429))
    g = group("a/m1", "b/m2")
    async with AsyncClient(
        max_retries=0, config=Config(models={"g": g}), providers=[a, b]
    ) as client:
        with pytest.raises(AllProvidersFailedError) as info:
            await client.chat("g", HI)
    assert [str(e.message) for e in info.value.errors] == ["busy", "busy too"]


# --------------------------------------------------------------------------- client wiring


TOML = """\
[models.smart]
strategy = "ordered"
[[models.smart.deployments]]
model = "a/first"
[[models.smart.deployments]]
model = "b/second"
timeout = { first_token = 10 }
"""


def test_client_routes_a_group_from_the_config_file_with_no_other_setup(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(TOML)
    a, b = fakes("a", "b")
    a.reply(error=ProviderUnavailableError("down"))
    with Client(max_retries=0, config=path, providers=[a, b]) as client:
        resp = client.chat("smart", HI)
        assert resp.text == "from b" and resp.model == "second"
        # a plain provider/model call is untouched by the router
        assert client.chat("a/direct", HI).model == "direct"
    assert a.last_request.model == "direct"


def test_group_names_do_not_resolve_without_the_config() -> None:
    from llmswitch.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="model group"):
        Client(providers=fakes("a")).chat("smart", HI)


def test_a_users_router_replaces_the_automatic_one(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(TOML)
    a, b = fakes("a", "b")
    a.reply(error=ProviderUnavailableError("down"))
    groups = load_config(path).models
    router = Router(groups, {"a": a, "b": b}.__getitem__)
    client = Client(max_retries=0, config=path, providers=[a, b], middleware=[router])
    assert [type(m) for m in client._pipeline.middleware] == [Router]  # type: ignore[union-attr]
    client.chat("smart", HI)
    assert a.calls == 1 and b.calls == 1  # routed once, not twice


def test_client_without_groups_builds_no_pipeline() -> None:
    client = Client(providers=fakes("a"))
    assert client._pipeline is None


def test_loopback_two_upstreams_first_503_second_200(tmp_path: Path) -> None:
    one, two = Loopback(), Loopback()
    try:
        one.route(
            "POST",
            "/v1/chat/completions",
            Reply(status=503, body=b'{"error": {"message": "overloaded"}}'),
        )
        two.route(
            "POST",
            "/v1/chat/completions",
            b'{"id": "c1", "object": "chat.completion", "model": "m2", "choices": [{"index": 0,'
            b' "message": {"role": "assistant", "content": "hello from two"},'
            b' "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 3,'
            b' "total_tokens": 6}}',
        )
        path = tmp_path / "llmswitch.toml"
        path.write_text(
            f'[providers.one]\nkind = "openai-compatible"\nbase_url = "{one.url}/v1"\n'
            f'[providers.two]\nkind = "openai-compatible"\nbase_url = "{two.url}/v1"\n'
            '[models.smart]\n[[models.smart.deployments]]\nmodel = "one/m1"\n'
            '[[models.smart.deployments]]\nmodel = "two/m2"\n'
        )
        with Client(max_retries=0, config=path) as client:
            resp = client.chat("smart", HI)
        assert resp.text == "hello from two" and resp.provider == "two"
        assert len(one.requests) == 1 and len(two.requests) == 1
        assert one.requests[0].json()["model"] == "m1"  # type: ignore[index]
        assert two.requests[0].json()["model"] == "m2"  # type: ignore[index]
    finally:
        one.close()
        two.close()


def test_loopback_stream_falls_back_to_the_second_upstream(tmp_path: Path) -> None:
    one, two = Loopback(), Loopback()
    try:
        one.route(
            "POST",
            "/v1/chat/completions",
            Reply(status=503, body=b'{"error": {"message": "busy"}}'),
        )
        two.route(
            "POST",
            "/v1/chat/completions",
            sse_reply(
                b'data: {"id":"c1","object":"chat.completion.chunk","model":"m2","choices":'
                b'[{"index":0,"delta":{"role":"assistant","content":"hi there"},'
                b'"finish_reason":null}]}\n\n'
                b'data: {"id":"c1","object":"chat.completion.chunk","model":"m2","choices":'
                b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
                b"data: [DONE]\n\n"
            ),
        )
        path = tmp_path / "llmswitch.toml"
        path.write_text(
            f'[providers.one]\nkind = "openai-compatible"\nbase_url = "{one.url}/v1"\n'
            f'[providers.two]\nkind = "openai-compatible"\nbase_url = "{two.url}/v1"\n'
            '[models.smart]\n[[models.smart.deployments]]\nmodel = "one/m1"\n'
            '[[models.smart.deployments]]\nmodel = "two/m2"\n'
        )

        async def run() -> str:
            async with (
                AsyncClient(max_retries=0, config=path) as client,
                client.stream("smart", HI) as s,
            ):
                return (await s.get_response()).text

        assert asyncio.run(run()) == "hi there"
    finally:
        one.close()
        two.close()


def test_timeout_errors_fall_back_too() -> None:
    a, b = fakes("a", "b")
    a.reply(error=LLMTimeoutError("no first token", phase="first_token"))
    client, _ = routed(group("a/m1", "b/m2"), [a, b])
    assert client.chat("g", HI).provider == "b"


def test_automatic_router_goes_outside_per_attempt_layers(tmp_path: Path) -> None:
    """DESIGN.md order: router, then per deployment retry. Deployment a gets its own
    retries; only when they are used up does the router move on to b."""
    from llmswitch.middleware import Hooks, Retry, RetryPolicy

    path = tmp_path / "llmswitch.toml"
    path.write_text(TOML)
    a, b = fakes("a", "b")
    for _ in range(2):
        a.reply(error=ProviderUnavailableError("down"))
    audit = Hooks()
    retry = Retry(RetryPolicy(attempts=2), sleep=False)
    client = Client(config=path, providers=[a, b], middleware=[audit, retry])
    layers = [type(m).__name__ for m in client._pipeline.middleware]  # type: ignore[union-attr]
    assert layers == ["Hooks", "Router", "Retry"]
    assert client.chat("smart", HI).text == "from b"
    assert (a.calls, b.calls) == (2, 1)  # a retried once, then the fallback
