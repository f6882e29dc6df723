"""The response cache through a client, in memory: what is a hit and what is not, what a
hit says about itself, scope isolation, TTL and the LRU bounds (fake clock), streams
replayed as the same events, chat and stream served from each other, failed and
cancelled streams never stored, per-call ``cache=``, invalidation and stats."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.cache import CacheSettings, ResponseCache
from llmswitch.cache._codec import Entry, decode, encode, events_of, response_of
from llmswitch.cache.memory import MemoryBackend
from llmswitch.catalog import cost_nano
from llmswitch.config import Config, load_config
from llmswitch.errors import ConfigurationError, ProviderUnavailableError
from llmswitch.messages import Usage
from llmswitch.testing import FakeProvider
from llmswitch.usage import UsageRecord, tags

HI = [{"role": "user", "content": "Hi"}]
USAGE = {"input_tokens": 1000, "output_tokens": 200}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    settings: CacheSettings | None = None, *, clock: Clock | None = None, **kw: Any
) -> tuple[FakeProvider, Client, ResponseCache, list[UsageRecord]]:
    """An OpenAI-priced fake behind a client with a memory cache; the hit rows it records."""
    settings = settings or CacheSettings()
    fake = FakeProvider("openai")
    fake.default_reply("Paris is the capital of France.", usage=USAGE)
    rows: list[UsageRecord] = []
    backend = MemoryBackend(
        max_entries=settings.max_entries, max_bytes=settings.max_bytes,
        **({"clock": clock} if clock else {}),
    )  # fmt: skip
    cache = ResponseCache(
        settings, backend=backend, record=rows.append, **({"wall": clock} if clock else {}), **kw
    )
    return fake, Client(providers=[fake], middleware=[cache], max_retries=0), cache, rows


def test_a_repeated_deterministic_call_is_served_from_the_cache() -> None:
    fake, client, cache, rows = make()
    first = client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    second = client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    assert fake.calls == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text and second.usage == first.usage
    assert second.cost == 0.0 and first.cost is not None and first.cost > 0
    assert second.cache_age is not None and 0 <= second.cache_age < 60
    expected = cost_nano("openai", "gpt-4o-mini", Usage(**USAGE))
    assert expected
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stores, stats.entries) == (1, 1, 1, 1)
    assert stats.hit_ratio == 0.5 and stats.saved_nano == expected
    assert stats.saved_usd == pytest.approx(expected / 1e9)
    [row] = rows  # the hit's ledger row: nothing billed, what it saved
    assert (row.status, row.cost_nano, row.saved_nano) == ("cached", 0, expected)
    assert (row.provider, row.model, row.stream, row.input_tokens) == (
        "openai", "gpt-4o-mini", False, None,
    )  # fmt: skip


def test_what_changes_the_answer_changes_the_key() -> None:
    fake, client, cache, _ = make()
    model = "openai/gpt-4o-mini"
    base: dict[str, Any] = {"messages": HI, "temperature": 0}
    variants: list[dict[str, Any]] = [
        {},
        {"messages": [{"role": "user", "content": "Hi!"}]},
        {"system": "Be terse."},
        {"max_tokens": 50},
        {"top_p": 0.5},
        {"stop": ["\n"]},
        {"response_format": "json"},
        {"tools": [{"name": "f", "parameters": {"type": "object", "properties": {}}}]},
        {"extra_body": {"seed": 1}},
        {"extra_body": {"seed": 2}},
    ]
    for v in variants:
        client.chat(model, **{**base, **v})
    assert fake.calls == len(variants)
    # ...and what does not: metadata, extra headers, the timeout.
    client.chat(model, **base, metadata={"trace": "x"}, extra_headers={"X-Trace": "1"}, timeout=9)
    client.chat("openai/gpt-4o", **base)  # another model: a miss
    assert fake.calls == len(variants) + 1
    assert cache.stats().hits == 1


def test_tenants_never_see_each_others_answers() -> None:
    fake, client, _, _ = make()
    ask = {"messages": HI, "temperature": 0}
    client.chat("openai/gpt-4o-mini", **ask, user="alice")
    client.chat("openai/gpt-4o-mini", **ask, user="bob")
    with tags(user="alice"):
        assert client.chat("openai/gpt-4o-mini", **ask).cached  # the tag is the user
    with tags(team="ml"):
        assert not client.chat("openai/gpt-4o-mini", **ask).cached
    with tags(team="ops"):
        assert not client.chat("openai/gpt-4o-mini", **ask).cached
    assert not client.chat("openai/gpt-4o-mini", **ask).cached  # nobody: its own scope
    assert fake.calls == 5


def test_sampled_calls_are_not_cached_unless_asked() -> None:
    fake, client, cache, _ = make()
    for _ in range(2):
        client.chat("openai/gpt-4o-mini", messages=HI)  # unset: the provider default > 0
        client.chat("openai/gpt-4o-mini", messages=HI, temperature=0.7)
    assert fake.calls == 4 and cache.stats().bypassed == 4
    # per call: cache=True opts in; [cache] cache_sampled = true opts every call in
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0.7, cache=True)
    assert client.chat("openai/gpt-4o-mini", messages=HI, temperature=0.7, cache=True).cached
    fake2, client2, _, _ = make(CacheSettings(cache_sampled=True))
    client2.chat("openai/gpt-4o-mini", messages=HI)
    assert client2.chat("openai/gpt-4o-mini", messages=HI).cached and fake2.calls == 1


def test_cache_false_neither_reads_nor_writes() -> None:
    fake, client, cache, _ = make()
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0, cache=False)
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    assert not client.chat("openai/gpt-4o-mini", messages=HI, temperature=0, cache=False).cached
    assert fake.calls == 3 and cache.stats().stores == 1


def test_per_call_ttl_and_the_settings_ttl_on_a_fake_clock() -> None:
    clock = Clock()
    fake, client, _, _ = make(CacheSettings(ttl=100), clock=clock)
    ask = {"messages": HI, "temperature": 0}
    client.chat("openai/gpt-4o-mini", **ask)
    clock.now += 99
    hit = client.chat("openai/gpt-4o-mini", **ask)
    assert hit.cached and hit.cache_age == pytest.approx(99)
    clock.now += 2
    assert not client.chat("openai/gpt-4o-mini", **ask).cached  # expired at 100 s
    short = {"messages": [{"role": "user", "content": "short"}], "temperature": 0}
    client.chat("openai/gpt-4o-mini", **short, cache={"ttl": 5})
    clock.now += 4
    assert client.chat("openai/gpt-4o-mini", **short).cached
    clock.now += 2
    assert not client.chat("openai/gpt-4o-mini", **short).cached
    assert fake.calls == 4


def test_lru_bounded_by_entries_and_by_bytes() -> None:
    backend = MemoryBackend(max_entries=3, max_bytes=10_000)
    entry = Entry(provider="p", model="m", created=0.0, cost_nano=1, response=None, events=())
    for k in "abcd":
        assert backend.set(k, entry, 60)
    assert backend.get("a") is None and backend.stats()["evictions"] == 1
    backend.get("b")  # used: c is now the least recent
    backend.set("e", entry, 60)
    assert backend.get("c") is None and backend.get("b") is not None
    big = Entry(provider="p", model="m", created=0.0, cost_nano=1, response=None, events=())
    size = len(encode(big)) + 1
    by_bytes = MemoryBackend(max_entries=100, max_bytes=size * 2 + 1)
    for k in "xyz":
        by_bytes.set(k, big, 60)
    stats = by_bytes.stats()
    assert stats["entries"] == 2 and stats["bytes"] <= size * 2 + 1 and stats["evictions"] == 1
    assert by_bytes.get("x") is None
    assert not MemoryBackend(max_bytes=10).set("k", big, 60)  # larger than the bound itself


def test_a_stream_hit_replays_the_same_events_and_says_it_is_cached() -> None:
    fake, client, _, rows = make()
    fake.reply("One two three four five.", reasoning="thinking", usage=USAGE)
    ask = {"messages": HI, "temperature": 0}
    with client.stream("openai/gpt-4o-mini", **ask) as s:
        first = list(s)
    assert not s.response.cached
    with client.stream("openai/gpt-4o-mini", **ask) as s:
        again = list(s)
    assert again == first and [type(e) for e in again] == [type(e) for e in first]
    assert s.response.cached and s.response.cost == 0.0
    assert s.response.text == "One two three four five." and s.response.reasoning == "thinking"
    assert fake.calls == 1 and rows[-1].stream and rows[-1].status == "cached"
    # chat() from the stored stream: what the stream built
    resp = client.chat("openai/gpt-4o-mini", **ask)
    assert resp.cached and resp.text == "One two three four five." and fake.calls == 1


def test_a_stream_is_served_from_a_stored_chat_answer() -> None:
    fake, client, _, _ = make()
    fake.reply(
        "Calling.", tool_calls=[{"name": "get", "arguments": {"city": "Paris"}}], usage=USAGE
    )
    ask = {"messages": HI, "temperature": 0}
    original = client.chat("openai/gpt-4o-mini", **ask)
    with client.stream("openai/gpt-4o-mini", **ask) as s:
        kinds = [e.kind for e in s]
    replayed = s.response
    assert fake.calls == 1 and replayed.cached
    assert kinds[0] == "start" and kinds[-1] == "end" and "tool_call_end" in kinds
    assert (replayed.text, replayed.tool_calls, replayed.finish_reason, replayed.usage) == (
        original.text, original.tool_calls, original.finish_reason, original.usage,
    )  # fmt: skip


def test_failed_and_cancelled_streams_are_never_stored() -> None:
    fake, client, cache, _ = make()
    ask = {"messages": HI, "temperature": 0}
    fake.reply("one two three four", error_after=3)
    with pytest.raises(ProviderUnavailableError), client.stream("openai/gpt-4o-mini", **ask) as s:
        list(s)
    with client.stream("openai/gpt-4o-mini", **ask) as s:  # closed after its first event
        next(iter(s))
    fake.reply("cut short", finish_reason="error")
    client.chat("openai/gpt-4o-mini", **ask)
    assert cache.stats().stores == 0 and cache.stats().entries == 0
    with client.stream("openai/gpt-4o-mini", **ask) as s:  # a complete one is
        list(s)
    assert cache.stats().stores == 1 and fake.calls == 4


def test_paced_replay_keeps_the_original_gaps() -> None:
    fake, client, _, _ = make(CacheSettings(replay_pace=True))
    fake.reply("a b c d", chunk_size=2, chunk_delay=0.05)
    ask = {"messages": HI, "temperature": 0}
    with client.stream("openai/gpt-4o-mini", **ask) as s:
        list(s)
    import time

    start = time.perf_counter()
    with client.stream("openai/gpt-4o-mini", **ask) as s:
        list(s)
    paced = time.perf_counter() - start
    start = time.perf_counter()
    with client.stream("openai/gpt-4o-mini", **ask, cache={"replay_pace": False}) as s:
        list(s)
    at_once = time.perf_counter() - start
    assert s.response.cached and paced >= 0.1 and at_once < paced


async def test_async_chat_and_stream_hits_and_paced_async_replay() -> None:
    fake = FakeProvider("openai")
    fake.default_reply("Hello from async.", usage=USAGE, chunk_delay=0.06, chunk_size=6)
    cache = ResponseCache(CacheSettings(replay_pace=True))
    async with AsyncClient(providers=[fake], middleware=[cache], max_retries=0) as client:
        ask = {"messages": HI, "temperature": 0}
        assert not (await client.chat("openai/gpt-4o-mini", **ask)).cached
        assert (await client.chat("openai/gpt-4o-mini", **ask)).cached
        other = {"messages": [{"role": "user", "content": "s"}], "temperature": 0}
        async with client.stream("openai/gpt-4o-mini", **other) as s:
            first = [e async for e in s]
        ticks = 0

        async def tick() -> None:  # the loop stays free during a paced replay
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        async with client.stream("openai/gpt-4o-mini", **other) as s:
            again = [e async for e in s]
        ticker.cancel()
        assert again == first and s.response.cached and ticks >= 3
        assert fake.calls == 2
        assert (await client.cache.astats()).hits == 2  # type: ignore[union-attr]


def test_invalidate_by_model_user_team_and_clear() -> None:
    _, client, cache, _ = make(aliases={"mini": "openai/gpt-4o-mini"})
    ask = {"messages": HI, "temperature": 0}
    client.chat("openai/gpt-4o-mini", **ask, user="alice")
    client.chat("openai/gpt-4o-mini", **ask, user="bob")
    client.chat("openai/gpt-4o", **ask, user="alice")
    with tags(team="ml"):
        client.chat("openai/gpt-4o", **ask)
    assert cache.invalidate(user="bob") == 1
    assert cache.invalidate(team="ml") == 1
    assert cache.invalidate(model="mini") == 1  # an alias resolves
    assert cache.stats().entries == 1
    assert client.cache is cache and cache.clear() == 1 and cache.stats().entries == 0


def test_config_section_builds_the_cache_in_its_onion_place(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text("[cache]\nttl = 60\nmax_entries = 5\n\n[retry]\nattempts = 2\n")
    config = load_config(path)
    assert config.cache == CacheSettings(ttl=60.0, max_entries=5)
    fake = FakeProvider("openai")
    fake.default_reply("ok")
    client = Client(config=config, providers=[fake])
    names = [type(m).__name__ for m in client._pipeline.middleware]  # type: ignore[union-attr]
    assert names.index("ResponseCache") < names.index("Retry")
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    assert client.chat("openai/gpt-4o-mini", messages=HI, temperature=0).cached
    assert client.status()["cache"]["hits"] == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('url = "ftp://x"', "memory:// or redis://"),
        ("ttl = 0", "ttl"),
        ("max_entries = 0", "max_entries"),
        ("colour = 1", "colour"),
    ],
)
def test_cache_section_is_validated(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(f"[cache]\n{line}\n")
    with pytest.raises(ConfigurationError, match=message) as err:
        load_config(path)
    assert "llmswitch.toml:2" in str(err.value)


def test_cache_option_is_checked() -> None:
    fake = FakeProvider("openai")
    fake.default_reply("ok")
    plain = Client(providers=[fake])
    plain.chat("openai/gpt-4o-mini", messages=HI, cache=False)  # nothing to bypass: fine
    with pytest.raises(ConfigurationError, match=r"\[cache\]"):
        plain.chat("openai/gpt-4o-mini", messages=HI, cache=True)
    _, client, _, _ = make()
    for bad, field in (({"ttl": -1}, "cache.ttl"), ({"tll": 1}, "cache.tll"), ("yes", "cache")):
        with pytest.raises(ConfigurationError) as err:
            client.chat("openai/gpt-4o-mini", messages=HI, cache=bad)  # type: ignore[arg-type]
        assert err.value.field == field


def test_entries_round_trip_through_their_encoding() -> None:
    fake = FakeProvider("openai")
    fake.reply("text", reasoning="why", tool_calls=[{"name": "f", "arguments": {"a": [1]}}])
    events = tuple(fake.stream(Client(providers=[fake])._core.request("openai/m", HI)[1]))
    entry = Entry(provider="openai", model="m", created=5.0, cost_nano=7, events=events,
                  offsets=tuple(range(len(events))))  # fmt: skip
    back = decode(encode(entry))
    assert back.events == events and back.offsets == entry.offsets and back.cost_nano == 7
    as_response = Entry(provider="openai", model="m", created=5.0, cost_nano=None,
                        response=response_of(entry))  # fmt: skip
    assert decode(encode(as_response)).response == as_response.response
    rebuilt = Entry(provider="openai", model="m", created=0, cost_nano=None,
                    events=events_of(as_response))  # fmt: skip
    assert response_of(rebuilt) == response_of(entry)


def test_a_model_group_shares_entries_whatever_deployment_answers(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        '[cache]\n\n[models.fast]\nstrategy = "weighted"\n'
        'deployments = [{model = "a/m"}, {model = "b/m"}]\n'
    )
    a, b = FakeProvider("a"), FakeProvider("b")
    a.default_reply("from a")
    b.default_reply("from b")
    client = Client(config=load_config(path), providers=[a, b], max_retries=0)
    first = client.chat("fast", messages=HI, temperature=0)
    for _ in range(3):
        assert client.chat("fast", messages=HI, temperature=0).text == first.text
    assert a.calls + b.calls == 1
    assert not client.chat("a/m", messages=HI, temperature=0).cached  # the group's own key


def test_no_cache_section_means_no_layer() -> None:
    fake = FakeProvider("openai")
    fake.default_reply("ok")
    client = Client(config=Config(), providers=[fake])
    assert client.cache is None


def test_hits_are_ledger_rows_with_their_saved_cost(database_url: str, tmp_path: Path) -> None:
    from sqlalchemy import select

    from llmswitch.storage.sql.schema import usage_ledger

    fake = FakeProvider("openai")
    fake.default_reply("Ledgered.", usage=USAGE)
    env = {"LLMSWITCH_DATABASE_URL": database_url, "LLMSWITCH_HOME": str(tmp_path / "home")}
    with Client(config=Config(cache=CacheSettings()), providers=[fake], env=env) as client:
        client.chat("openai/gpt-4o-mini", messages=HI, temperature=0, user="alice")
        client.chat("openai/gpt-4o-mini", messages=HI, temperature=0, user="alice")
        with client.stream("openai/gpt-4o-mini", messages=HI, temperature=0, user="alice") as s:
            list(s)
        ledger = client.usage_ledger
        assert ledger is not None and ledger.flush(10)
        rows = ledger.database.read(
            lambda c: [dict(r._mapping) for r in c.execute(select(usage_ledger).order_by("id"))]
        )
    paid, *hits = rows
    assert paid["status"] == "ok" and paid["cost_nano"] > 0
    assert [(h["status"], h["cost_nano"], h["saved_nano"], h["stream"]) for h in hits] == [
        ("cached", 0, paid["cost_nano"], False), ("cached", 0, paid["cost_nano"], True),
    ]  # fmt: skip
    assert {h["user"] for h in hits} == {"alice"} and fake.calls == 1
    assert len({r["request_id"] for r in rows}) == 3


def test_prometheus_counts_lookups_and_saved_usd() -> None:
    from llmswitch.observability import MetricsMiddleware, PrometheusMetrics

    metrics = PrometheusMetrics()
    fake = FakeProvider("openai")
    fake.default_reply("ok", usage=USAGE)
    config = Config(cache=CacheSettings())
    client = Client(config=config, providers=[fake], middleware=[MetricsMiddleware(metrics)])
    for _ in range(3):
        client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    assert metrics.value("llmswitch_cache_lookups_total", outcome="hit") == 2
    assert metrics.value("llmswitch_cache_lookups_total", outcome="miss") == 1
    saved = cost_nano("openai", "gpt-4o-mini", Usage(**USAGE))
    assert saved and metrics.value("llmswitch_cache_saved_usd_total") == pytest.approx(
        2 * saved / 1e9
    )
    assert 'llmswitch_cache_lookups_total{outcome="hit"} 2' in metrics.render()
