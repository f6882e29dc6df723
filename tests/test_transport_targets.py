"""What the async transport hands aiohttp per request, from its per-URL and per-timeout
caches: the proxy the environment names for the URL's origin (NO_PROXY honoured), a
percent-encoded URL sent byte for byte, and a ClientTimeout with the call's limits,
whichever Timeout object carries them."""

from __future__ import annotations

import pytest
from yarl import URL

from llmswitch.transport import AsyncTransport
from llmswitch.wire import DEFAULT_TIMEOUT, Timeout

PROXY = "http://proxy.example:3128"


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "internal.example")


def test_the_proxy_follows_the_environment_per_origin(proxied: None) -> None:
    t = AsyncTransport()
    assert t._target("https://api.openai.com/v1/chat/completions") == (
        "https://api.openai.com/v1/chat/completions",
        PROXY,
    )
    assert t._target("https://internal.example/v1/chat/completions")[1] is None
    assert t._target("http://127.0.0.1:8000/v1/chat/completions")[1] is None  # no HTTP_PROXY
    # Asked again: the same answer (from the cache).
    assert t._target("https://api.openai.com/v1/chat/completions")[1] == PROXY


def test_a_percent_encoded_url_goes_as_encoded(proxied: None) -> None:
    t = AsyncTransport()
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m-v1%3A0/converse"
    target, _ = t._target(url)
    assert (
        isinstance(target, URL) and str(target) == url and target.raw_path.endswith("%3A0/converse")
    )


def test_many_urls_keep_the_cache_bounded_and_answers_right(proxied: None) -> None:
    t = AsyncTransport()
    for i in range(1000):
        host = "internal.example" if i % 2 else "api.example"
        url, proxy = t._target(f"https://{host}/v1/models/m{i}:generate")
        assert url == f"https://{host}/v1/models/m{i}:generate"
        assert proxy == (None if i % 2 else PROXY)
    assert len(t._targets) <= 256


@pytest.mark.parametrize(
    "timeout",
    [DEFAULT_TIMEOUT, Timeout(connect=1.5, total=7.0), Timeout(connect=None, total=None)],
)
def test_the_client_timeout_carries_the_calls_limits(timeout: Timeout) -> None:
    t = AsyncTransport()
    for _ in range(2):  # first built, then from the cache
        ct = t._client_timeout(timeout)
        assert (ct.connect, ct.total) == (timeout.connect, timeout.total)


def test_alternating_timeouts_each_get_their_own_limits() -> None:
    t = AsyncTransport()
    short, long = Timeout(total=1.0), Timeout(total=60.0)
    for _ in range(3):
        assert t._client_timeout(short).total == 1.0
        assert t._client_timeout(long).total == 60.0
        assert t._client_timeout(Timeout(total=1.0)).total == 1.0  # an equal, new object
    # A deadline's remainder is a new value each time: the cache stays small.
    for i in range(500):
        assert t._client_timeout(Timeout(total=1.0 + i / 1000)).total == 1.0 + i / 1000
    assert len(t._timeouts) <= 64
