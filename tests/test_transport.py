"""Transport behaviour through a real loopback server, sync and async alike:
pooling, timeouts, cancellation, early close, connection failures."""

from __future__ import annotations

import asyncio
import time
from functools import partial

import pytest

from llmswitch import (
    AsyncClient,
    Client,
    LLMTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    TransportError,
)
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, Reply, closed_port, sse_reply
from tests.support.streams import split_at
from tests.support.upstreams import OPENAI

fixture = Fixtures("openai")
CHAT = fixture("chat_text.json")
STREAM = fixture("stream_text.sse")
HI = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"


_env = partial(OPENAI.env, key="sk-transport-test-key-000")


def _wait_closed(lb: Loopback, timeout: float = 2.0) -> int:
    deadline = time.monotonic() + timeout
    while lb.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    return lb.open_connections


def test_sync_calls_reuse_one_pooled_connection(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", CHAT)
    with Client(env=_env(loopback)) as client:
        texts = {client.chat(MODEL, messages=HI).text for _ in range(5)}
    assert len(texts) == 1
    assert loopback.connections_opened == 1
    assert _wait_closed(loopback) == 0  # close() released it


async def test_async_calls_reuse_one_pooled_connection(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", CHAT)
    async with AsyncClient(env=_env(loopback)) as client:
        for _ in range(5):
            await client.chat(MODEL, messages=HI)
    assert loopback.connections_opened == 1
    assert _wait_closed(loopback) == 0


def test_request_carries_auth_and_json(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", CHAT)
    Client(env=_env(loopback)).chat(MODEL, messages=HI, extra_headers={"x-trace": "t1"})
    (req,) = loopback.requests
    assert req.headers["authorization"] == "Bearer sk-transport-test-key-000"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-trace"] == "t1"
    assert req.json()["messages"] == HI  # type: ignore[index]


def test_sync_and_async_give_identical_results(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM))
    env = _env(loopback)
    with Client(env=env) as client, client.stream(MODEL, messages=HI) as s:
        sync_events = list(s)
        sync_resp = s.response

    async def run() -> tuple[list[object], object]:
        async with AsyncClient(env=env) as client, client.stream(MODEL, messages=HI) as s:
            events = [e async for e in s]
            return events, s.response

    async_events, async_resp = asyncio.run(run())
    assert sync_events == async_events
    assert sync_resp == async_resp
    assert sync_resp.text


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_first_token_timeout(loopback: Loopback, mode: str) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM, delay=5))
    timeout = {"first_token": 0.3}
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        if mode == "sync":
            with Client(max_retries=0, env=_env(loopback), timeout=timeout).stream(
                MODEL, messages=HI
            ) as s:
                list(s)
        else:

            async def run() -> None:
                async with AsyncClient(max_retries=0, env=_env(loopback), timeout=timeout) as c:
                    async with c.stream(MODEL, messages=HI) as s:
                        _ = [e async for e in s]

            asyncio.run(run())
    assert info.value.phase == "first_token"
    assert info.value.provider == "openai" and info.value.model == "gpt-4o-mini"
    assert time.monotonic() - start < 3


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_hung_stream_is_cut_by_total_timeout_and_keeps_what_arrived(
    loopback: Loopback, mode: str
) -> None:
    # Deliver the first half, then hang forever.
    half = STREAM[: len(STREAM) // 2]
    cut = half[: half.rfind(b"\n\n") + 2]
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(content_type="text/event-stream", chunks=[cut, b"never"], hang_after=1),
    )
    seen: list[object] = []
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        if mode == "sync":
            with Client(env=_env(loopback), timeout=0.5).stream(MODEL, messages=HI) as s:
                seen.extend(s)
        else:

            async def run() -> None:
                async with AsyncClient(env=_env(loopback), timeout=0.5) as c:
                    async with c.stream(MODEL, messages=HI) as s:
                        async for e in s:
                            seen.append(e)

            asyncio.run(run())
    assert time.monotonic() - start < 3
    assert info.value.phase == "total"
    assert seen, "events before the hang reach the caller"
    partial = info.value.partial
    assert partial is not None and partial.finish_reason == "error"
    assert partial.text == "".join(getattr(e, "text", "") for e in seen if e.kind == "text")  # type: ignore[attr-defined]
    assert _wait_closed(loopback) == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_connection_dropped_mid_stream_is_a_transport_error(loopback: Loopback, mode: str) -> None:
    loopback.route(
        "POST", "/v1/chat/completions", Reply(content_type="text/event-stream",
                                              chunks=split_at(STREAM, 200), drop_after=1)
    )  # fmt: skip
    with pytest.raises(TransportError):
        if mode == "sync":
            with Client(max_retries=0, env=_env(loopback)).stream(MODEL, messages=HI) as s:
                list(s)
        else:

            async def run() -> None:
                async with AsyncClient(max_retries=0, env=_env(loopback)) as c:
                    async with c.stream(MODEL, messages=HI) as s:
                        _ = [e async for e in s]

            asyncio.run(run())


def test_connection_refused_is_a_retryable_transport_error() -> None:
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1"}
    with pytest.raises(TransportError) as info:
        Client(max_retries=0, env=env).chat(MODEL, messages=HI)
    assert info.value.retryable and info.value.provider == "openai"

    async def run() -> None:
        async with AsyncClient(max_retries=0, env=env) as c:
            await c.chat(MODEL, messages=HI)

    with pytest.raises(TransportError):
        asyncio.run(run())


def test_http_error_before_stream_raises_on_enter_with_retry_after(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(
            status=429,
            headers={"retry-after": "7"},
            body=b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
        ),
    )
    client = Client(max_retries=0, env=_env(loopback))
    with pytest.raises(RateLimitError) as info, client.stream(MODEL, messages=HI):
        pytest.fail("the with block must not be entered")
    assert info.value.retry_after == 7
    assert info.value.status_code == 429


def test_mid_stream_error_keeps_partial(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_error.sse")))
    with pytest.raises(ProviderUnavailableError) as info:
        with Client(env=_env(loopback)).stream(MODEL, messages=HI) as s:
            list(s)
    assert info.value.partial is not None
    assert info.value.partial.finish_reason == "error"


def test_abandoning_a_sync_stream_closes_its_connection(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM, chunk_delay=0.01), CHAT)
    client = Client(env=_env(loopback))
    with client.stream(MODEL, messages=HI) as s:
        next(iter(s))
    assert _wait_closed(loopback) == 0
    # the pool is still usable afterwards
    assert client.chat(MODEL, messages=HI).text


async def test_cancelling_an_async_stream_releases_the_connection(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM, chunk_delay=0.05))
    async with AsyncClient(env=_env(loopback)) as client:

        async def consume() -> None:
            async with client.stream(MODEL, messages=HI) as s:
                async for _ in s:
                    pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 2
        while loopback.open_connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert loopback.open_connections == 0


async def _closed(lb: Loopback, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while lb.open_connections and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return lb.open_connections


async def test_an_async_mid_stream_error_names_its_provider_keeps_partial_and_closes(
    loopback: Loopback,
) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_error.sse")))
    async with AsyncClient(env=_env(loopback)) as client:
        with pytest.raises(ProviderUnavailableError) as info:
            async with client.stream(MODEL, messages=HI) as s:
                async for _ in s:
                    pass
    assert (info.value.provider, info.value.model) == ("openai", "gpt-4o-mini")
    assert info.value.partial is not None
    assert info.value.partial.finish_reason == "error"
    assert await _closed(loopback) == 0


async def test_an_async_stream_that_could_not_connect_closes_quietly() -> None:
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1"}
    async with AsyncClient(env=env, max_retries=0) as client:
        stream = client.stream(MODEL, messages=HI)
        with pytest.raises(TransportError):
            await stream.__aenter__()
        await stream.aclose()  # nothing was entered: nothing to leave, no error
        await stream.aclose()


async def test_an_async_stream_entered_and_left_unread_closes_its_connection(
    loopback: Loopback,
) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM, chunk_delay=0.01), CHAT)
    async with AsyncClient(env=_env(loopback)) as client:
        async with client.stream(MODEL, messages=HI):
            pass  # the request went out and its first events arrived; none was read
        assert await _closed(loopback) == 0
        assert (await client.chat(MODEL, messages=HI)).text  # the pool is still usable


async def test_an_async_stream_abandoned_midway_closes_its_connection(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM, chunk_delay=0.01), CHAT)
    async with AsyncClient(env=_env(loopback)) as client:
        async with client.stream(MODEL, messages=HI) as s:
            async for _ in s:
                break
        assert await _closed(loopback) == 0
        assert (await client.chat(MODEL, messages=HI)).text


async def test_async_streams_read_to_the_end_reuse_one_connection(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM))
    async with AsyncClient(env=_env(loopback)) as client:
        texts = set()
        for _ in range(3):
            async with client.stream(MODEL, messages=HI) as s:
                texts.add((await s.get_response()).text)
    assert len(texts) == 1 and texts != {""}
    assert loopback.connections_opened == 1


async def test_async_stream_response_requires_the_end_or_get_response(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM))
    async with AsyncClient(env=_env(loopback)) as client:
        async with client.stream(MODEL, messages=HI) as s:
            final = await s.get_response()
            assert final == s.response
            assert final.finish_reason == "stop"


def test_text_stream_yields_only_text(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(STREAM))
    with Client(env=_env(loopback)).stream(MODEL, messages=HI) as s:
        pieces = list(s.text_stream)
        assert "".join(pieces) == s.response.text
        assert len(pieces) > 1
