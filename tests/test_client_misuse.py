"""Misused constructor arguments are a ConfigurationError at construction that says
what to pass; a client reused under a new event loop works; the environment is read
when the client is built (issue 7, items 11 and 19)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client, ConfigurationError, LLMError
from llmswitch.middleware import Middleware
from llmswitch.middleware.retry import Retry
from llmswitch.testing import FakeProvider
from tests.support.loopback import Loopback

HI = [{"role": "user", "content": "hi"}]
KEY = "sk-test-0123456789abcdef"
CLIENTS = [Client, AsyncClient]
BODY = (Path(__file__).parent / "fixtures" / "openai" / "chat_text.json").read_bytes()


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


def build(cls: Any, **kw: Any) -> None:
    client = cls(**kw)  # only reached when construction succeeds
    if isinstance(client, Client):
        client.close()


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("kw", "field", "says"),
    [
        ({"providers": ["openai"]}, "providers[0]", "need no entry"),
        ({"providers": "openai"}, "providers", "pass a list"),
        ({"providers": [FakeProvider]}, "providers[0]", "provider objects"),
        ({"middleware": object()}, "middleware", "pass a list of"),
        ({"middleware": Retry()}, "middleware", "middleware=[Retry()]"),
        ({"middleware": [object()]}, "middleware[0]", "not a Middleware instance"),
        ({"middleware": [Retry]}, "middleware[0]", "the class Retry"),
        ({"max_retries": -1}, "max_retries", "0 (no retries)"),
        ({"max_retries": True}, "max_retries", "an integer"),
        ({"max_retries": "2"}, "max_retries", "an integer"),
        ({"env": ["OPENAI_API_KEY"]}, "env", "a dict"),
        ({"config": 42}, "config", "llmswitch.toml"),
    ],
)
def test_bad_arguments_fail_at_construction_saying_what_to_pass(
    cls: Any, kw: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        build(cls, **{"env": {}, **kw})
    assert info.value.field == field
    assert says in str(info.value)
    assert isinstance(info.value, LLMError)


@pytest.mark.parametrize("cls", CLIENTS)
def test_an_unknown_keyword_suggests_the_closest_argument(cls: Any) -> None:
    expected = r"unknown argument 'max_retry' \(did you mean 'max_retries'\?"
    with pytest.raises(ConfigurationError, match=expected) as info:
        cls(max_retry=3)
    assert info.value.field == "max_retry"
    assert cls.__name__ in str(info.value)
    with pytest.raises(ConfigurationError, match=r"unknown argument 'bogus' \(arguments: "):
        cls(bogus=1)


def test_a_misplaced_secret_is_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(providers=[KEY])
    assert KEY not in str(info.value)


def test_a_non_middleware_layer_fails_at_construction_not_at_the_first_call() -> None:
    class NotALayer:
        def chat(self, call: Any, next: Any) -> Any:
            return next(call)

    with pytest.raises(ConfigurationError, match=r"middleware\[1\] is a NotALayer"):
        Client(providers=[FakeProvider()], middleware=[Middleware(), NotALayer()])


def test_good_arguments_still_work() -> None:
    fake = FakeProvider(default="ok")
    client = Client(providers=(fake,), middleware=(Middleware(),), max_retries=0, env={})
    assert client.chat("fake/m", HI).text == "ok"


def test_an_async_client_reused_under_a_new_event_loop_works(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", BODY)
    client = AsyncClient(env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.url + "/v1"})

    async def one() -> str:
        return (await client.chat("openai/gpt-4o-mini", HI)).text

    first = asyncio.run(one())
    assert asyncio.run(one()) == first  # was: RuntimeError: Event loop is closed
    assert asyncio.run(one()) == first
    assert len(loopback.requests) == 3
    asyncio.run(client.aclose())


def test_an_async_client_serves_loops_in_several_threads_at_once(loopback: Loopback) -> None:
    """Each thread's loop gets its own session: a second loop starting while the first
    one's call is in flight never closes that call's session (it used to, as
    "connection lost")."""
    from tests.support.loopback import Reply

    loopback.route("POST", "/v1/chat/completions", handler=lambda _: Reply(body=BODY, delay=1.0))
    client = AsyncClient(env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.url + "/v1"})
    results: list[object] = []

    def worker() -> None:
        async def calls() -> list[str]:
            return [(await client.chat("openai/gpt-4o-mini", HI)).text for _ in range(2)]

        try:
            results.append(asyncio.run(calls()))
        except Exception as exc:  # recorded, then the assertion shows it
            results.append(exc)

    first = threading.Thread(target=worker)
    first.start()
    deadline = time.monotonic() + 30
    while not loopback.requests and time.monotonic() < deadline:
        time.sleep(0.01)  # the first loop's call is now in flight
    second = threading.Thread(target=worker)
    second.start()
    first.join(60)
    second.join(60)
    assert len(results) == 2
    assert all(isinstance(r, list) and len(r) == 2 and all(r) for r in results), results
    asyncio.run(client.aclose())


# --------------------------------------------------------------------------- item 19


def test_the_environment_is_read_when_the_client_is_built(
    loopback: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Loopback()
    try:
        loopback.route("POST", "/v1/chat/completions", BODY)
        other.route("POST", "/v1/chat/completions", BODY)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", loopback.url + "/v1")
        with Client() as client:
            # Changed after construction, before the provider's first use.
            monkeypatch.setenv("OPENAI_BASE_URL", other.url + "/v1")
            monkeypatch.setenv("OPENAI_API_KEY", "sk-changed-0123456789")
            client.chat("openai/gpt-4o-mini", HI)
        assert len(loopback.requests) == 1 and not other.requests
        assert loopback.requests[0].headers["authorization"] == f"Bearer {KEY}"
        with Client() as client:  # a client built now sees the new values
            client.chat("openai/gpt-4o-mini", HI)
        assert len(other.requests) == 1
    finally:
        other.close()


def test_an_env_mapping_is_copied_at_construction(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", BODY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.url + "/v1"}
    with Client(env=env) as client:
        env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"  # nothing listens there
        client.chat("openai/gpt-4o-mini", HI)
    assert len(loopback.requests) == 1


def test_the_resilience_stack_works_under_a_new_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        '[breaker]\nmin_calls = 10\n[[limits]]\nscope = "provider"\nrequests_per_minute = 100\n'
    )
    fake = FakeProvider(default="ok")
    client = AsyncClient(config=path, providers=[fake])

    async def one() -> str:
        return (await client.chat("fake/m", HI)).text

    assert [asyncio.run(one()) for _ in range(3)] == ["ok", "ok", "ok"]
    asyncio.run(client.aclose())
