"""``Client.reload()`` / ``AsyncClient.areload()``: the whole configuration swapped at
once, calls in flight finishing on the old one, a broken file rejected while the old
one keeps serving, and what a reload reports (masked)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.config import load_config
from llmswitch.errors import ConfigurationError
from llmswitch.middleware import Router
from tests.support.loopback import Loopback, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
CHAT = (FIXTURES / "chat_text.json").read_bytes()
STREAM = (FIXTURES / "stream_text.sse").read_bytes()
HI = [{"role": "user", "content": "hi"}]
KEY_A = "sk-reload-AAAAAAAAAAAAAAAAAAAAAAAA"
KEY_B = "sk-reload-BBBBBBBBBBBBBBBBBBBBBBBB"

TEMPLATE = """\
[providers.up]
kind = "openai-compatible"
base_url = "{url}/v1"
api_key = "${{UP_KEY}}"

[aliases]
fast = "up/{model}"
"""


@pytest.fixture
def servers() -> Iterator[tuple[Loopback, Loopback]]:
    a, b = Loopback(), Loopback()
    for server in (a, b):
        server.route("POST", "/v1/chat/completions", CHAT)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _write(path: Path, server: Loopback, model: str, extra: str = "") -> Path:
    path.write_text(TEMPLATE.format(url=server.url, model=model) + extra)
    return path


def _models(server: Loopback) -> list[str]:
    return [json.loads(r.body)["model"] for r in server.requests]


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_reload_swaps_providers_and_aliases(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    with Client(config=path, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        client.chat("fast", HI)
        _write(path, b, "model-b")
        diff = client.reload()
        client.chat("fast", HI)
    assert _models(a) == ["model-a"] and _models(b) == ["model-b"]
    assert diff.changed and diff.path == path.resolve()
    assert {c.key for c in diff.changes} == {"providers.up.base_url", "aliases.fast"}
    change = next(c for c in diff.changes if c.key == "aliases.fast")
    assert (change.kind, change.old, change.new) == ("changed", "up/model-a", "up/model-b")


def test_a_call_in_flight_finishes_on_the_old_configuration(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    a.route("POST", "/v1/chat/completions", handler=lambda _: Reply(body=CHAT, delay=2.0))
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    results: list[object] = []
    with Client(config=path, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        slow = threading.Thread(target=lambda: results.append(client.chat("fast", HI)))
        slow.start()
        _wait_for(lambda: len(a.requests) == 1)  # the call is at the upstream now
        _write(path, b, "model-b")
        client.reload()
        client.chat("fast", HI)  # the next call: the new provider, at once
        assert _models(b) == ["model-b"] and slow.is_alive()
        slow.join(10)
    assert len(results) == 1 and getattr(results[0], "text", None)
    assert _models(a) == ["model-a"]
    assert a.requests[0].headers["authorization"] == f"Bearer {KEY_A}"


async def test_async_calls_and_streams_in_flight_finish_on_the_old_configuration(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    events = [e + b"\n\n" for e in STREAM.split(b"\n\n") if e.strip()]  # one per chunk
    slow = Reply(content_type="text/event-stream", chunks=events, chunk_delay=0.05)
    a.route("POST", "/v1/chat/completions", handler=lambda _: slow)
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    async with AsyncClient(config=path, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        async with client.stream("fast", HI) as stream:
            first = await stream.__anext__()  # committed to upstream a
            _write(path, b, "model-b")
            diff = await client.areload()
            assert diff.changed
            answer = await client.chat("fast", HI)  # a new call goes to b meanwhile
            text = await stream.get_response()
        assert first is not None and text.text and answer.text
    assert _models(a) == ["model-a"] and _models(b) == ["model-b"]


def test_a_broken_file_is_rejected_and_the_old_one_keeps_serving(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    with Client(config=path, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        before = client._core
        _write(path, b, "model-b", '\n[retry]\nattempts = "many"\n')
        with pytest.raises(ConfigurationError) as info:
            client.reload()
        assert str(info.value).startswith(f"{path.resolve()}:10: retry.attempts:")
        path.write_text("[providers.up\n")
        with pytest.raises(ConfigurationError, match=r":1:\d+: invalid TOML"):
            client.reload()
        assert client._core is before
        client.chat("fast", HI)
    assert _models(a) == ["model-a"] and b.requests == []


def test_an_unchanged_file_swaps_nothing(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, _ = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    with Client(config=path, env={"UP_KEY": KEY_A}) as client:
        before = client._core
        path.write_text(path.read_text() + "\n# a comment\n")
        diff = client.reload()
        assert not diff.changed and diff.changes == ()
        assert client._core is before  # breaker and limiter state stay as they were


def test_the_environment_is_read_again_and_shown_masked(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, _ = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    env = {"UP_KEY": KEY_A, "OPENAI_API_KEY": "sk-openai-old-0123456789"}
    with Client(config=path, env=env, max_retries=0) as client:
        env["UP_KEY"] = KEY_B
        env["OPENAI_API_KEY"] = "sk-openai-new-0123456789"
        diff = client.reload()
        client.chat("fast", HI)
    assert a.requests[0].headers["authorization"] == f"Bearer {KEY_B}"
    shown = {c.key: (c.old, c.new) for c in diff.changes}
    masked = ("***", "***")
    # an env= mapping is copied whole: every variable that changed, masked
    assert shown == {"providers.up.api_key": masked, "$OPENAI_API_KEY": masked, "$UP_KEY": masked}
    text = json.dumps(diff.as_dict()) + repr(diff)
    for secret in (KEY_A, KEY_B, "sk-openai-old", "sk-openai-new"):
        assert secret not in text


def test_reload_rebuilds_the_middleware_from_the_new_file(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    group = '\n[[models.smart.deployments]]\nmodel = "up/{m}"\n'
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    with Client(config=path, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        assert client._pipeline is None
        _write(path, b, "model-b", group.format(m="model-g"))
        diff = client.reload()
        assert "models.smart" in {c.key for c in diff.changes}
        assert client._pipeline is not None
        assert [type(m) for m in client._pipeline.middleware] == [Router]
        client.chat("smart", HI)
    assert _models(b) == ["model-g"]


def test_reload_with_a_given_config_and_what_cannot_be_reloaded(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    a, b = servers
    first = _write(tmp_path / "a.toml", a, "model-a")
    second = _write(tmp_path / "b.toml", b, "model-b")
    given = load_config(first, {"UP_KEY": KEY_A})
    with Client(config=given, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        assert not client.reload().changed  # a Config read from a file: its file again
        assert client.reload(config=second).changed
        client.chat("fast", HI)
        assert client.reload().path == second.resolve()  # from now on, that file
    assert _models(b) == ["model-b"]
    from llmswitch.config import Config

    with Client(config=Config(), env={}) as client:
        with pytest.raises(ConfigurationError, match="nothing to reload"):
            client.reload()


def test_a_client_without_a_file_picks_one_up_when_it_appears(
    tmp_path: Path, servers: tuple[Loopback, Loopback], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = servers
    monkeypatch.chdir(tmp_path)
    with Client(env={"UP_KEY": KEY_A}, max_retries=0) as client:
        with pytest.raises(ConfigurationError):
            client.chat("fast", HI)
        _write(tmp_path / "llmswitch.toml", a, "model-a")
        diff = client.reload()
        assert diff.path == (tmp_path / "llmswitch.toml").resolve()
        client.chat("fast", HI)
    assert _models(a) == ["model-a"]


async def test_concurrent_reloads_and_calls_never_see_half_a_configuration(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    # Each file version sends alias "fast" to its own server with its own model name:
    # a call resolved on one version and sent with the other would show up mismatched.
    a, b = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    async with AsyncClient(config=path, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        for i in range(6):
            server, model = (b, "model-b") if i % 2 == 0 else (a, "model-a")
            calls = [asyncio.create_task(client.chat("fast", HI)) for _ in range(5)]
            _write(path, server, model)
            await client.areload()
            calls += [asyncio.create_task(client.chat("fast", HI)) for _ in range(5)]
            await asyncio.gather(*calls)
    assert set(_models(a)) == {"model-a"} and set(_models(b)) == {"model-b"}
    assert len(a.requests) + len(b.requests) == 60


def test_a_config_given_to_reload_stays_the_source(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    from llmswitch.config import Config

    a, _ = servers
    path = _write(tmp_path / "llmswitch.toml", a, "model-a")
    with Client(config=path, env={"UP_KEY": KEY_A}, max_retries=0) as client:
        diff = client.reload(config=Config(aliases={"fast": "up/model-x"}))
        assert [c.key for c in diff.changes if c.kind == "removed"] == ["providers.up"]
        assert client._core.config.aliases == {"fast": "up/model-x"}
        # not the first file again: the Config given last, which has no file
        with pytest.raises(ConfigurationError, match="nothing to reload"):
            client.reload()
        assert client.reload(config=path).changed  # back to the file
        client.chat("fast", HI)
    assert _models(a) == ["model-a"]


async def test_an_async_client_reloads_a_resilience_stack_built_off_the_loop(
    tmp_path: Path, servers: tuple[Loopback, Loopback]
) -> None:
    # areload builds the new stack (limiter, breaker, retry, key pool) in a worker
    # thread; the calls after it run that stack on the event loop.
    a, b = servers
    stack = (
        "\n[retry]\nattempts = 2\n[breaker]\nmin_calls = 5\n[queue]\nmax_wait = 1\n"
        '[[limits]]\nscope = "provider"\nrequests_per_minute = 1000\n'
        '[[quotas]]\nperiod = "day"\nrequests = 1000\n'
    )
    path = _write(tmp_path / "llmswitch.toml", a, "model-a", stack)
    async with AsyncClient(config=path, env={"UP_KEY": KEY_A}) as client:
        await client.chat("fast", HI, user="u1")
        _write(path, b, "model-b", stack.replace("1000", "999"))
        diff = await client.areload()
        assert {"limits", "quotas", "providers.up.base_url"} <= {c.key for c in diff.changes}
        for _ in range(3):
            await client.chat("fast", HI, user="u1")
        status = await client.status()  # the new stack's layers report, on the loop
        assert status, status
    assert _models(a) == ["model-a"] and _models(b) == ["model-b"] * 3
