"""The response cache [cache] builds closes its Redis connections with the client
(``Client.close()`` / ``AsyncClient.aclose()``), seen from the real server: the
connection named in the URL is in ``CLIENT LIST`` after a call and gone after close."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from llmswitch import AsyncClient, Client
from llmswitch.testing import FakeProvider
from tests.support.state import REDIS_URL as URL
from tests.support.state import drop_prefix, redis_or_skip

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def name() -> Iterator[str]:
    redis_or_skip()
    tag = uuid.uuid4().hex[:12]
    yield f"llmswitch-close-{tag}"
    drop_prefix(f"test:close:{tag}:")


def _config(tmp_path: Path, name: str) -> Path:
    tag = name.rsplit("-", 1)[1]
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f'[cache]\nurl = "{URL}?client_name={name}"\nprefix = "test:close:{tag}:"\nttl = 60\n'
    )
    return path


def _connections(name: str) -> int:
    r = redis.Redis.from_url(URL)
    try:
        return sum(1 for c in r.client_list() if c.get("name") == name)
    finally:
        r.close()


def _released(name: str) -> bool:
    # The server drops a closed socket promptly; a wide margin for a busy machine.
    deadline = time.monotonic() + 10
    while _connections(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _connections(name) == 0


def _fake() -> FakeProvider:
    return FakeProvider("openai").default_reply("cached answer")


def test_client_close_releases_the_cache_connection(tmp_path: Path, name: str) -> None:
    client = Client(config=_config(tmp_path, name), providers=[_fake()], max_retries=0)
    client.chat("openai/gpt-4o-mini", HI, temperature=0)
    assert client.chat("openai/gpt-4o-mini", HI, temperature=0).cached  # served by Redis
    assert _connections(name) >= 1
    client.close()
    assert _released(name)


async def test_async_client_aclose_releases_the_cache_connections(
    tmp_path: Path, name: str
) -> None:
    client = AsyncClient(config=_config(tmp_path, name), providers=[_fake()], max_retries=0)
    await client.chat("openai/gpt-4o-mini", HI, temperature=0)
    assert (await client.chat("openai/gpt-4o-mini", HI, temperature=0)).cached
    assert client.cache is not None and (await client.cache.astats()).hits == 1  # sync client too
    assert _connections(name) >= 2  # the async client's and the blocking one's (stats)
    await client.aclose()
    assert _released(name)


def test_a_callers_own_cache_is_left_open(tmp_path: Path, name: str) -> None:
    from llmswitch.cache import CacheSettings, ResponseCache

    tag = name.rsplit("-", 1)[1]
    url = f"{URL}?client_name={name}"
    cache = ResponseCache(CacheSettings(url=url, prefix=f"test:close:{tag}:"))
    with Client(providers=[_fake()], middleware=[cache], max_retries=0) as client:
        client.chat("openai/gpt-4o-mini", HI, temperature=0)
    assert _connections(name) == 1  # the caller's object: the caller closes it
    cache.close()
    assert _released(name)
