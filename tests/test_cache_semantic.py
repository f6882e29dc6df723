"""The semantic cache: a paraphrase of an answered question is served from the cache
(with its similarity), a different question is not; the threshold decides; tenants,
tools, response formats and earlier turns never share answers; the vectors are bounded;
memory and the real Redis (a unique key prefix per test); sync and async; the
embedding call goes through the client's own embed path and is a ledger row."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.cache import CacheSettings, ResponseCache
from llmswitch.cache.memory import MemoryBackend
from llmswitch.cache.semantic import SemanticCache, SemanticSettings, question_of
from llmswitch.cache.semantic_index import MemoryIndex, RedisIndex, normalized
from llmswitch.config import load_config
from llmswitch.errors import ProviderUnavailableError
from llmswitch.messages import ChatRequest, EmbeddingResponse, Message, Usage
from llmswitch.testing import FakeProvider
from llmswitch.usage import UsageRecord, tags

MODEL = "openai/gpt-4o-mini"
EMBEDDER = "openai/text-embedding-3-small"
_STOP = {"what", "is", "the", "of", "s", "a", "an", "tell", "me", "please", "which", "city"}


def bag_of_words(text: str, dims: int = 64) -> list[float]:
    """A deterministic embedding: content words hashed into ``dims`` buckets. Two
    phrasings with the same content words are identical (similarity 1.0); "capital of
    France" and "capital of Germany" share one word of two (0.5)."""
    vector = [0.0] * dims
    for word in re.findall(r"[a-z]+", text.lower()):
        if word not in _STOP:
            vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims] += 1.0
    return vector


class EmbeddingFake(FakeProvider):
    """A FakeProvider that also embeds (bag of words); counts its embed calls."""

    def __init__(self, *args: Any, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.embedded: list[str] = []
        self.fail = fail

    def embed(self, request: Any, ctx: Any = None) -> EmbeddingResponse:
        if self.fail:
            raise ProviderUnavailableError("embeddings down", provider=self.id)
        self.embedded.extend(request.inputs)
        return EmbeddingResponse(
            vectors=[bag_of_words(t) for t in request.inputs],
            usage=Usage(input_tokens=10, total_tokens=10),
            model=request.model,
            provider=self.id,
        )

    async def aembed(self, request: Any, ctx: Any = None) -> EmbeddingResponse:
        return self.embed(request, ctx)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def make(
    *, threshold: float = 0.95, max_entries: int = 1000, backend: Any = None, index: Any = None
) -> tuple[EmbeddingFake, Client, ResponseCache, SemanticCache, list[UsageRecord]]:
    fake = EmbeddingFake("openai")
    fake.respond_with(lambda r: f"answer to: {r.messages[-1].text}")
    embedder = Client(providers=[fake], max_retries=0)  # embed() is outside the pipeline
    rows: list[UsageRecord] = []
    exact = backend if backend is not None else MemoryBackend()
    semantic = SemanticCache(
        SemanticSettings(model=EMBEDDER, threshold=threshold, max_entries=max_entries),
        exact=exact, index=index, record=rows.append,
        embed=lambda text: embedder.embed(EMBEDDER, text),
        aembed=lambda text: _aembed(embedder, text),
    )  # fmt: skip
    settings = CacheSettings(prefix=getattr(exact, "prefix", "llmswitch:cache:"))
    cache = ResponseCache(settings, backend=exact, record=rows.append, semantic=semantic)
    client = Client(providers=[fake], middleware=[cache], max_retries=0)
    return fake, client, cache, semantic, rows


async def _aembed(client: Client, text: str) -> EmbeddingResponse:
    return client.embed(EMBEDDER, text)


def chat(client: Client, text: str, **kw: Any) -> Any:
    return client.chat(MODEL, messages=ask(text), temperature=0, **kw)


# ---------------------------------------------------------------------- behaviour


def test_a_paraphrase_is_served_and_says_how_similar_it_was() -> None:
    fake, client, cache, semantic, rows = make()
    first = chat(client, "What is the capital of France?")
    again = chat(client, "what's the capital of france")
    assert fake.calls == 1
    assert (first.cached, again.cached) == (False, True)
    assert again.text == first.text == "answer to: What is the capital of France?"
    assert again.cache_similarity == pytest.approx(1.0)
    assert first.cache_similarity is None and again.cost == 0.0
    other = chat(client, "What is the capital of Germany?")  # similarity 0.5
    assert not other.cached and other.cache_similarity is None
    assert fake.calls == 2
    assert semantic.stats().hits == 1 and semantic.stats().lookups == 3
    assert cache.stats().hits == 1
    embeds = [r for r in rows if r.model == "text-embedding-3-small"]
    assert len(embeds) == 3 and all(r.status == "ok" and r.input_tokens == 10 for r in embeds)
    [hit] = [r for r in rows if r.status == "cached"]
    assert hit.model == "gpt-4o-mini" and hit.cost_nano == 0


def test_an_exact_hit_needs_no_embedding() -> None:
    fake, client, _, _, _ = make()
    chat(client, "What is the capital of France?")
    assert chat(client, "What is the capital of France?").cached
    assert len(fake.embedded) == 1  # the first call's only


def test_the_threshold_decides() -> None:
    # "Tell me the capital of France please" vs the stored question: 2 of 3 words
    # shared by a 2-word vector, cosine 2/sqrt(2*3)... computed, not guessed:
    a = normalized(bag_of_words("capital of France"))
    b = normalized(bag_of_words("capital of France, the largest"))
    assert a is not None and b is not None
    near = sum(x * y for x, y in zip(a, b, strict=True))
    assert 0.7 < near < 0.95
    for threshold, served in ((0.95, False), (round(near - 0.01, 3), True)):
        fake, client, _, _, _ = make(threshold=threshold)
        chat(client, "capital of France")
        hit = chat(client, "capital of France, the largest")
        assert hit.cached is served
        assert fake.calls == (1 if served else 2)
        if served:
            assert hit.cache_similarity == pytest.approx(near, abs=1e-5)


def test_tenants_never_share_answers() -> None:
    fake, client, _, _, _ = make()
    with tags(user="alice"):
        chat(client, "What is the capital of France?")
    with tags(user="bob"):
        assert not chat(client, "what's the capital of france").cached
    with tags(user="alice", team="red"):
        assert not chat(client, "what's the capital of france").cached
    assert not chat(client, "what's the capital of france").cached  # no tags at all
    assert not chat(client, "capital of France?", user="carol").cached
    with tags(user="alice"):
        assert chat(client, "what's the capital of france").cached
    assert fake.calls == 5


TOOL = {
    "name": "lookup",
    "description": "Look a city up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


@pytest.mark.parametrize(
    "option",
    [
        {"tools": [TOOL]},
        {"response_format": {"type": "json_object"}},
        {"system": "Answer in French."},
        {"max_tokens": 20},
    ],
)
def test_tools_formats_and_system_are_partitions(option: dict[str, Any]) -> None:
    fake, client, _, _, _ = make()
    chat(client, "What is the capital of France?")
    assert not chat(client, "what's the capital of france", **option).cached
    assert chat(client, "France capital?", **option).cached  # same option: same partition
    assert fake.calls == 2


def test_earlier_turns_are_matched_exactly_only_the_last_question_is_embedded() -> None:
    fake, client, _, _, _ = make()
    history = [
        {"role": "user", "content": "I am planning a trip."},
        {"role": "assistant", "content": "Where to?"},
    ]
    client.chat(MODEL, messages=[*history, *ask("What is the capital of France?")], temperature=0)
    assert fake.embedded[-1] == "What is the capital of France?"
    same = client.chat(MODEL, messages=[*history, *ask("capital of france")], temperature=0)
    assert same.cached
    other = [history[0], {"role": "assistant", "content": "Lovely. Where?"}]
    assert not client.chat(
        MODEL, messages=[*other, *ask("capital of france")], temperature=0
    ).cached
    assert not chat(client, "capital of france").cached  # no history at all
    assert fake.calls == 3


def test_a_turn_that_is_not_a_user_question_is_not_looked_up() -> None:
    request = ChatRequest(
        provider="openai", model="m",
        messages=(Message(role="user", content="Hi"), Message(role="assistant", content="Yo")),
    )  # fmt: skip
    assert question_of(request) is None
    assert question_of(ChatRequest(provider="openai", model="m", messages=())) is None
    found = question_of(
        ChatRequest(provider="openai", model="m", messages=(Message(role="user", content=" Hi "),))
    )
    assert found == ("Hi", (None, ()))


def test_a_stream_is_served_from_a_semantic_hit_as_the_stored_events() -> None:
    fake, client, _, _, _ = make()
    with client.stream(MODEL, messages=ask("What is the capital of France?"), temperature=0) as s:
        first = list(s)
    with client.stream(MODEL, messages=ask("capital of france?"), temperature=0) as s:
        again = list(s)
        assert s.response.cached
    assert again == first and fake.calls == 1
    assert chat(client, "France: the capital?").text == "answer to: What is the capital of France?"


def test_a_streams_embedding_row_is_filed_under_the_tags_it_was_opened_in() -> None:
    # The lookup of a stream runs when it is read, maybe outside the block it was
    # opened in (as the gateway sends a stream's body after its handler returned).
    _, client, _, _, rows = make()
    with tags(user="ivy", team="blue", access_key="key_9"):
        s = client.stream(MODEL, messages=ask("What is the capital of France?"), temperature=0)
    with s:
        list(s)
    [embedding] = [r for r in rows if r.model == "text-embedding-3-small"]
    assert (embedding.user, embedding.team, embedding.access_key) == ("ivy", "blue", "key_9")


def test_an_entry_gone_from_the_exact_cache_is_a_miss() -> None:
    fake, client, cache, _, _ = make()
    chat(client, "What is the capital of France?")
    assert cache.invalidate(model=MODEL) == 1
    assert not chat(client, "capital of france").cached
    assert fake.calls == 2
    assert chat(client, "France capital").cached  # the new answer was indexed


def test_vectors_are_bounded_per_partition() -> None:
    index = MemoryIndex(max_entries=3)
    _, client, _, _, _ = make(index=index)
    for city in ("France", "Germany", "Spain", "Italy"):
        chat(client, f"What is the capital of {city}?")
    assert index.entries() == 3
    assert not chat(client, "capital of france").cached  # the oldest was dropped
    assert chat(client, "capital of italy").cached


def test_memory_index_expires_vectors_on_a_fake_clock() -> None:
    now = [1000.0]
    index = MemoryIndex(wall=lambda: now[0])
    unit = normalized([1.0, 0.0])
    assert unit is not None
    index.add("p", "k", unit, 10)
    assert index.search("p", unit) == ("k", pytest.approx(1.0))
    now[0] += 11
    assert index.search("p", unit) is None and index.entries() == 0


def test_a_failing_embedding_is_a_miss_never_an_error(caplog: pytest.LogCaptureFixture) -> None:
    fake, client, _, semantic, _ = make()
    fake.fail = True
    assert chat(client, "What is the capital of France?").text.startswith("answer to")
    assert not chat(client, "capital of france").cached
    assert chat(client, "capital of france").cached  # the exact cache still works
    assert semantic.stats().embed_failures == 2
    assert "cache.semantic.embed_failed" in caplog.text


def test_async_paths() -> None:
    fake, _, _, semantic, _ = make()
    cache = ResponseCache(CacheSettings(), backend=semantic.exact, semantic=semantic)

    async def main() -> None:
        client = AsyncClient(providers=[fake], middleware=[cache], max_retries=0)
        msg = ask("What is the capital of France?")
        await client.chat(MODEL, messages=msg, temperature=0)
        hit = await client.chat(MODEL, messages=ask("capital of france!"), temperature=0)
        assert hit.cached and hit.cache_similarity == pytest.approx(1.0)
        async with client.stream(MODEL, messages=ask("France capital"), temperature=0) as s:
            events = [e async for e in s]
        assert events and s.response.cached

    asyncio.run(main())
    assert fake.calls == 1


# ---------------------------------------------------------------------- config


def test_config_section_turns_it_on_through_the_clients_own_embed_path(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f'[cache]\n\n[cache.semantic]\nmodel = "{EMBEDDER}"\nthreshold = 0.9\nmax_entries = 50\n'
    )
    config = load_config(path)
    assert config.cache is not None
    assert config.cache.semantic == SemanticSettings(model=EMBEDDER, threshold=0.9, max_entries=50)
    fake = EmbeddingFake("openai")
    fake.default_reply("Paris.")
    client = Client(config=config, providers=[fake])
    assert client.cache is not None and client.cache.semantic is not None
    chat(client, "What is the capital of France?")
    assert chat(client, "the capital of France?").cache_similarity == pytest.approx(1.0)
    assert fake.calls == 1 and len(fake.embedded) == 2


def test_async_client_embeds_through_its_own_path(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(f'[cache]\n\n[cache.semantic]\nmodel = "{EMBEDDER}"\n')
    fake = EmbeddingFake("openai")
    fake.default_reply("Paris.")

    async def main() -> None:
        client = AsyncClient(config=load_config(path), providers=[fake])
        await client.chat(MODEL, messages=ask("What is the capital of France?"), temperature=0)
        hit = await client.chat(MODEL, messages=ask("capital of France?"), temperature=0)
        assert hit.cached and hit.cache_similarity == pytest.approx(1.0)

    asyncio.run(main())
    assert fake.calls == 1 and len(fake.embedded) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("threshold = 0.9", "model"),
        ('model = "openai/x"\nthreshold = 1.5', "threshold"),
        ('model = "openai/x"\nmax_entries = 0', "max_entries"),
        ('model = "openai/x"\ncolour = 1', "colour"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    from llmswitch.errors import ConfigurationError

    path = tmp_path / "llmswitch.toml"
    path.write_text(f"[cache]\nttl = 60\n\n[cache.semantic]\n{body}\n")
    with pytest.raises(ConfigurationError, match=f"cache.semantic.*{message}"):
        load_config(path)


# ---------------------------------------------------------------------- Redis


@pytest.fixture
def redis_backend() -> Iterator[Any]:
    import redis

    from llmswitch.cache.redis_backend import RedisBackend

    prefix = f"test:semantic:{uuid.uuid4().hex}:"
    try:
        redis.Redis(socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis on localhost:6379")
    backend = RedisBackend("redis://localhost:6379/0", prefix=prefix)
    yield backend
    server = redis.Redis()
    names = list(server.scan_iter(match=prefix + "*"))
    if names:
        server.delete(*names)
    backend.close()


def test_redis_index_shares_answers_across_clients_in_one_round_trip(redis_backend: Any) -> None:
    _, client, _, semantic, _ = make(backend=redis_backend)
    assert isinstance(semantic.index, RedisIndex)
    chat(client, "What is the capital of France?")
    other_fake, other, _, _, _ = make(backend=redis_backend)  # another replica, same Redis
    hit = chat(other, "capital of france?")
    assert hit.cached and hit.cache_similarity == pytest.approx(1.0)
    assert other_fake.calls == 0
    with tags(user="mallory"):
        assert not chat(other, "capital of france?").cached
    # One partition is one hash: the whole of it comes back in one HGETALL.
    import redis

    server = redis.Redis()
    hashes = list(server.scan_iter(match=redis_backend.prefix + "s:*"))
    assert len(hashes) == 2 and all(server.type(h) == b"hash" for h in hashes)
    sizes = sorted(server.hlen(h) for h in hashes)
    assert sizes == [1, 1]
    assert 0 < server.pttl(hashes[0]) <= 3600 * 1000


def test_redis_index_is_bounded_and_async(redis_backend: Any) -> None:
    index = RedisIndex(redis_backend, max_entries=3)
    vectors = [normalized([float(i == j) for j in range(4)]) for i in range(4)]

    async def main() -> None:
        for i, v in enumerate(vectors):
            assert v is not None
            await index.aadd("p", f"k{i}", v, 60)
        assert vectors[0] is not None and vectors[3] is not None
        assert await index.asearch("p", vectors[0]) != ("k0", pytest.approx(1.0))
        assert await index.asearch("p", vectors[3]) == ("k3", pytest.approx(1.0))
        await index.aforget("p", "k3")
        found = await index.asearch("p", vectors[3])
        assert found is None or found[0] != "k3"

    asyncio.run(main())
    import redis

    assert redis.Redis().hlen(redis_backend.prefix + "s:p") == 2


def test_redis_down_is_a_miss_never_an_error() -> None:
    from llmswitch.cache.redis_backend import RedisBackend

    backend = RedisBackend("redis://127.0.0.1:1/0", prefix="test:down:")
    fake, client, _, _, _ = make(backend=backend)
    assert not chat(client, "What is the capital of France?").cached
    assert not chat(client, "capital of france").cached
    assert fake.calls == 2
    backend.close()


def test_pure_python_scan_agrees_with_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmswitch.cache import semantic_index

    vectors = [normalized([math.sin(i * j + 1) for j in range(32)]) for i in range(50)]
    query = normalized([math.sin(7 * j + 1.01) for j in range(32)])
    assert query is not None and all(v is not None for v in vectors)
    keys = [f"k{i}" for i in range(50)]
    with_numpy = semantic_index._best(query, keys, vectors)  # type: ignore[arg-type]
    monkeypatch.setattr(semantic_index, "_np", None)
    plain = semantic_index._best(query, keys, vectors)  # type: ignore[arg-type]
    assert with_numpy is not None and plain is not None
    assert with_numpy[0] == plain[0] == "k7"
    assert with_numpy[1] == pytest.approx(plain[1], abs=1e-5)


# ---------------------------------------------------------------------- statistics


def test_stats_metrics_and_status_report_lookups_hits_misses_and_similarity() -> None:
    from llmswitch.middleware import MetricsMiddleware
    from llmswitch.observability import PrometheusMetrics

    metrics = PrometheusMetrics()
    fake = EmbeddingFake("openai")
    fake.respond_with(lambda r: f"answer to: {r.messages[-1].text}")
    embedder = Client(providers=[fake], max_retries=0)
    exact = MemoryBackend()
    semantic = SemanticCache(
        SemanticSettings(model=EMBEDDER, threshold=0.4),
        exact=exact, metrics=metrics,
        embed=lambda text: embedder.embed(EMBEDDER, text),
        aembed=lambda text: _aembed(embedder, text),
    )  # fmt: skip
    cache = ResponseCache(CacheSettings(), backend=exact, semantic=semantic)
    layers = [MetricsMiddleware(metrics), cache]
    client = Client(providers=[fake], middleware=layers, max_retries=0)
    chat(client, "What is the capital of France?")  # miss: nothing stored yet
    assert chat(client, "capital of france").cached  # hit at 1.0
    assert chat(client, "What is the capital of Germany?").cache_similarity == 0.5  # >= 0.4
    stats = semantic.stats()
    assert (stats.lookups, stats.hits, stats.misses) == (3, 2, 1)
    assert stats.similarity == pytest.approx(0.75)
    text = metrics.render()
    assert 'llmswitch_semantic_cache_lookups_total{outcome="hit"} 2' in text
    assert 'llmswitch_semantic_cache_lookups_total{outcome="miss"} 1' in text
    assert 'llmswitch_semantic_cache_similarity_bucket{le="0.5"} 1' in text
    assert "llmswitch_semantic_cache_similarity_count 2" in text
    status = client.status()["cache"]["semantic"]
    assert (status["lookups"], status["hits"], status["misses"]) == (3, 2, 1)
    assert status["similarity"] == pytest.approx(0.75)


def test_redis_counters_reach_llmswitch_status(redis_backend: Any, tmp_path: Path) -> None:
    import argparse
    import contextlib
    import io

    from llmswitch.cli._status import run_status

    _, client, _, _, _ = make(backend=redis_backend)
    chat(client, "What is the capital of France?")
    assert chat(client, "capital of france").cached
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f'[cache]\nurl = "redis://localhost:6379/0"\nprefix = "{redis_backend.prefix}"\n'
    )
    out = io.StringIO()
    args = argparse.Namespace(config=str(path), state_url=None, json=True)
    with contextlib.redirect_stdout(out):
        assert run_status(args) == 0
    import json

    semantic = json.loads(out.getvalue())["cache"]["semantic"]
    assert semantic == {"lookups": 2, "hits": 1, "misses": 1, "similarity": 1.0}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_status(argparse.Namespace(config=str(path), state_url=None, json=False))
    assert "SEMANTIC LOOKUPS" in out.getvalue() and "1.0000" in out.getvalue()


def test_a_configured_semantic_cache_reports_to_the_clients_metrics(tmp_path: Path) -> None:
    from llmswitch.middleware import MetricsMiddleware
    from llmswitch.observability import PrometheusMetrics

    path = tmp_path / "llmswitch.toml"
    path.write_text(f'[cache]\n\n[cache.semantic]\nmodel = "{EMBEDDER}"\n')
    metrics = PrometheusMetrics()
    fake = EmbeddingFake("openai")
    fake.default_reply("Paris.")
    client = Client(config=path, providers=[fake], middleware=[MetricsMiddleware(metrics)])
    chat(client, "What is the capital of France?")
    assert chat(client, "the capital of France?").cached
    text = metrics.render()
    assert 'llmswitch_semantic_cache_lookups_total{outcome="miss"} 1' in text
    assert 'llmswitch_semantic_cache_lookups_total{outcome="hit"} 1' in text
    assert 'llmswitch_semantic_cache_similarity_bucket{le="1"} 1' in text
    assert client.status()["cache"]["semantic"]["hits"] == 1
