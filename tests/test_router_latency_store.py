"""``lowest-latency`` averages in a shared StateStore: routers sharing a store (memory
or Redis) rank deployments alike, the store's atomic EWMA, and the client wiring from
``[state] url``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.config import Config, Deployment, ModelGroup, load_config
from llmswitch.middleware import Router
from llmswitch.storage import MemoryStore, StateStore, open_store
from llmswitch.testing import FakeProvider
from tests.support.state import REDIS_URL, drop_prefix, redis_or_skip

HI = [{"role": "user", "content": "hi"}]


class Ticks:
    """A clock that returns the given times in turn."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def group(name: str) -> ModelGroup:
    deployments = (Deployment(model="a/m1"), Deployment(model="b/m2"))
    return ModelGroup(name=name, deployments=deployments, strategy="lowest-latency")


def providers() -> list[FakeProvider]:
    out = []
    for pid in ("a", "b"):
        fake = FakeProvider(id=pid)
        fake.default_reply(f"from {pid}")
        out.append(fake)
    return out


def routed(g: ModelGroup, store: StateStore | None, clock: Ticks) -> tuple[Client, Router]:
    fakes = providers()
    by_id = {p.id: p for p in fakes}
    router = Router([g], by_id.__getitem__, clock=clock, alpha=0.5, store=store)
    client = Client(config=Config(models={g.name: g}), providers=fakes, middleware=[router])
    return client, router


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_or_skip()
    shared = open_store(REDIS_URL)
    yield shared
    shared.close()


@pytest.fixture
def name() -> Iterator[str]:
    name = f"test-latency-{uuid.uuid4().hex}"
    yield name
    with contextlib.suppress(Exception):  # Redis not running: nothing was written there
        drop_prefix(f"llmswitch:latency:{name}/")


def test_two_routers_sharing_a_store_agree_on_the_fastest(store: StateStore, name: str) -> None:
    g = group(name)
    # one: a takes 1.0s, then b (unknown, so tried first) takes 0.2s
    one_client, one = routed(g, store, Ticks(0.0, 1.0, 10.0, 10.2))
    assert one_client.chat(name, HI).provider == "a"
    assert one_client.chat(name, HI).provider == "b"
    # two has served nothing itself, yet knows b is fastest; its b call takes 2.0s
    two_client, two = routed(g, store, Ticks(0.0, 2.0))
    assert [d.model for d in two.plan(name)] == ["b/m2", "a/m1"]
    assert two_client.chat(name, HI).provider == "b"
    # 0.2 + 0.5 * (2.0 - 0.2) = 1.1 > 1.0: now both prefer a
    assert two.stats(name)["b/m2"]["latency"] == pytest.approx(1.1)
    assert [d.model for d in one.plan(name)] == ["a/m1", "b/m2"]
    assert one.stats(name)["b/m2"]["latency"] == pytest.approx(1.1)


async def test_async_routers_share_the_store(store: StateStore, name: str) -> None:
    g = group(name)
    fakes = providers()
    by_id = {p.id: p for p in fakes}
    one = Router([g], by_id.__getitem__, clock=Ticks(0.0, 3.0, 10.0, 10.5), store=store)
    config = Config(models={name: g})
    async with AsyncClient(config=config, providers=fakes, middleware=[one]) as client:
        assert (await client.chat(name, HI)).provider == "a"
        chunks = [e async for e in client.stream(name, HI)]  # b, unknown, goes first
        assert chunks
    two = Router([g], by_id.__getitem__, store=store)
    assert [d.model for d in two.plan(name)] == ["b/m2", "a/m1"]
    assert two.stats(name)["a/m1"]["latency"] == pytest.approx(3.0)


def test_without_a_store_routers_keep_their_own_averages(name: str) -> None:
    g = group(name)
    one_client, _ = routed(g, None, Ticks(0.0, 5.0, 10.0, 10.1))
    one_client.chat(name, HI)
    one_client.chat(name, HI)
    _, two = routed(g, None, Ticks())
    assert two.stats(name)["a/m1"]["latency"] is None  # nothing leaks between routers


def test_store_ewma_is_atomic_average_and_get_many_reads_it(store: StateStore, name: str) -> None:
    key = f"llmswitch:latency:{name}/x"
    assert store.get_many([key, f"{key}-none"]) == [None, None]
    assert store.ewma(key, 2.0, 0.25) == 2.0  # the first sample is the average
    assert store.ewma(key, 4.0, 0.25) == pytest.approx(2.5)
    value = store.get_many([f"{key}-none", key])
    assert value[0] is None and float(value[1] or "nan") == pytest.approx(2.5)
    assert store.get_many([]) == []


async def test_store_async_ewma(store: StateStore, name: str) -> None:
    key = f"llmswitch:latency:{name}/y"
    assert await store.aewma(key, 1.0, 0.5) == 1.0
    assert await store.aewma(key, 0.0, 0.5) == pytest.approx(0.5)
    assert [float(v or "nan") for v in await store.aget_many([key])] == [pytest.approx(0.5)]


def test_client_from_config_hands_its_state_store_to_the_router(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        '[state]\nurl = "memory://"\n[breaker]\n'
        '[models.g]\nstrategy = "lowest-latency"\n'
        '[[models.g.deployments]]\nmodel = "a/m1"\n[[models.g.deployments]]\nmodel = "b/m2"\n'
    )
    client = Client(config=load_config(path), providers=providers())
    layers = client._pipeline.middleware if client._pipeline is not None else ()
    router = next(m for m in layers if isinstance(m, Router))
    breaker = next(m for m in layers if type(m).__name__ == "CircuitBreaker")
    assert router._store is not None and router._store is breaker.store  # type: ignore[attr-defined]
    client.chat("g", HI)
    assert router._store.get_many(["llmswitch:latency:g/a/m1"])[0] is not None


def test_a_dead_state_store_leaves_routing_to_local_averages(name: str) -> None:
    """The shared averages only order deployments: a Redis outage must not fail the call
    (issue 7 item 7), sync and async."""
    g = group(name)
    dead = open_store("redis://127.0.0.1:1/0")
    try:
        client, router = routed(g, dead, Ticks(0.0, 1.0, 10.0, 10.2))
        assert client.chat(name, HI).provider == "a"
        assert client.chat(name, HI).provider == "b"  # unknown goes first, as without a store
        assert router.stats(name)["a/m1"]["latency"] == pytest.approx(1.0)

        async def run() -> str:
            fakes = providers()
            by_id = {p.id: p for p in fakes}
            r = Router([g], by_id.__getitem__, clock=Ticks(0.0, 2.0), store=dead)
            config = Config(models={name: g})
            async with AsyncClient(config=config, providers=fakes, middleware=[r]) as ac:
                return (await ac.chat(name, HI)).provider

        assert asyncio.run(run()) == "a"
    finally:
        dead.close()
