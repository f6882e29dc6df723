"""llmswitch.testing: the scripted FakeProvider and the block_network guard."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    ConfigurationError,
    LLMError,
    LLMTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.events import (
    Event,
    ReasoningDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.messages import ChatRequest, Message, ModelInfo, ToolCall, Usage
from llmswitch.providers.runtime import CallContext, Provider
from llmswitch.testing import (
    FakeProvider,
    FakeReply,
    NetworkAccessError,
    NoScriptedReplyError,
    block_network,
)
from llmswitch.wire import Timeout
from tests.support.streams import accumulate as folded

USER = [{"role": "user", "content": "What is the weather in Paris?"}]


def req(text: str = "Hi", model: str = "m") -> ChatRequest:
    return ChatRequest(provider="fake", model=model, messages=(Message(role="user", content=text),))


def ctx(first_token: float | None = 30.0, total: float | None = 300.0) -> CallContext:
    return CallContext(timeout=Timeout(first_token=first_token, total=total))


def collect(it: Iterator[Event]) -> list[Event]:
    return list(it)


async def acollect(provider: FakeProvider, request: ChatRequest, c: CallContext) -> list[Event]:
    return [e async for e in provider.astream(request, c)]


def accumulate(events: list[Event], model: str = "m") -> Any:
    return folded(events, "fake", model)


RICH: dict[str, Any] = {
    "text": "It is sunny and twenty two degrees in Paris today.",
    "reasoning": "The user wants the weather. I should call the tool first.",
    "tool_calls": [
        {"id": "call_w1", "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    ],
    "id": "resp_fixed",
}


# --------------------------------------------------------------------------- provider shape


def test_fake_provider_satisfies_provider_protocol() -> None:
    fake: Provider = FakeProvider()
    assert fake.id == "fake"
    assert FakeProvider(id="mock").id == "mock"


def test_text_is_streamed_in_several_chunks_between_start_and_end() -> None:
    fake = FakeProvider().reply("Hello there, how are you today?")
    events = collect(fake.stream(req(model="tiny"), ctx()))
    assert isinstance(events[0], StreamStart)
    assert events[0].model == "tiny"
    assert isinstance(events[-1], StreamEnd)
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert len(texts) >= 5
    assert "".join(e.text for e in texts) == "Hello there, how are you today?"
    assert events[-1].finish_reason == "stop"


def test_chunk_size_splits_text_by_characters() -> None:
    fake = FakeProvider().reply("abcdefghij", chunk_size=3)
    texts = [e.text for e in collect(fake.stream(req(), ctx())) if isinstance(e, TextDelta)]
    assert texts == ["abc", "def", "ghi", "j"]


def test_whitespace_survives_chunking() -> None:
    text = "  two  spaces\nand a newline \n"
    fake = FakeProvider().reply(text)
    texts = [e.text for e in collect(fake.stream(req(), ctx())) if isinstance(e, TextDelta)]
    assert "".join(texts) == text


def test_reasoning_text_and_tool_call_events_in_provider_order() -> None:
    fake = FakeProvider().reply(**RICH)
    events = collect(fake.stream(req(), ctx()))
    kinds = [e.kind for e in events]
    # start, reasoning..., text..., tool call start, fragments..., end, stream end
    assert kinds[0] == "start" and kinds[-1] == "end"
    first = {k: kinds.index(k) for k in ("reasoning", "text", "tool_call_start")}
    last_reasoning = max(i for i, k in enumerate(kinds) if k == "reasoning")
    last_text = max(i for i, k in enumerate(kinds) if k == "text")
    assert last_reasoning < first["text"] and last_text < first["tool_call_start"]
    assert kinds[-2] == "tool_call_end"

    start = next(e for e in events if isinstance(e, ToolCallStart))
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    end = next(e for e in events if isinstance(e, ToolCallEnd))
    assert start.name == "get_weather" and start.id
    assert len(fragments) >= 3
    assert all(f.index == start.index == end.index for f in fragments)
    assert json.loads("".join(f.arguments for f in fragments)) == {
        "city": "Paris",
        "unit": "celsius",
    }
    assert end.tool_call == ToolCall(
        id=start.id, name="get_weather", arguments={"city": "Paris", "unit": "celsius"}
    )
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == RICH["reasoning"]
    assert events[-1].finish_reason == "tool_calls"  # type: ignore[union-attr]


def test_chat_equals_accumulated_stream_sync() -> None:
    fake = FakeProvider().reply(**RICH, times=2)
    streamed = accumulate(collect(fake.stream(req(), ctx())))
    chatted = fake.chat(req(), ctx())
    assert chatted == streamed
    assert chatted.text == RICH["text"]
    assert chatted.reasoning == RICH["reasoning"]
    assert [c.name for c in chatted.tool_calls] == ["get_weather"]
    assert chatted.finish_reason == "tool_calls"
    assert chatted.id == "resp_fixed" and chatted.provider == "fake" and chatted.model == "m"


async def test_chat_equals_accumulated_stream_async() -> None:
    fake = FakeProvider().reply(**RICH, times=2)
    streamed = accumulate(await acollect(fake, req(), ctx()))
    assert await fake.achat(req(), ctx()) == streamed


def test_sync_and_async_streams_produce_the_same_events() -> None:
    fake = FakeProvider().reply(**RICH, times=2)
    sync_events = collect(fake.stream(req(), ctx()))
    async_events = asyncio.run(acollect(fake, req(), ctx()))
    assert sync_events == async_events


def test_generated_tool_call_ids_are_unique_and_explicit_ids_kept() -> None:
    fake = FakeProvider()
    fake.reply(
        tool_calls=[
            {"name": "a", "arguments": {}},
            {"name": "b", "arguments": '{"x": 1}'},
            {"id": "call_mine", "type": "function", "function": {"name": "c", "arguments": "{}"}},
        ]
    )
    fake.reply(tool_calls=[{"name": "a"}])
    first = fake.chat(req(), ctx()).tool_calls
    second = fake.chat(req(), ctx()).tool_calls
    assert [c.name for c in first] == ["a", "b", "c"]
    assert first[1].arguments == {"x": 1}
    assert first[2].id == "call_mine"
    ids = [c.id for c in (*first, *second)]
    assert all(ids) and len(set(ids)) == 4


def test_refusal_and_finish_reason_are_scripted() -> None:
    fake = FakeProvider().reply(refusal="I can't help with that.", finish_reason="content_filter")
    resp = fake.chat(req(), ctx())
    assert resp.refusal == "I can't help with that."
    assert resp.finish_reason == "content_filter"
    assert resp.text == ""


# --------------------------------------------------------------------------- usage


def test_scripted_usage_is_reported_and_total_filled_in() -> None:
    fake = FakeProvider().reply("42", usage={"input_tokens": 10, "output_tokens": 2}, times=2)
    assert fake.chat(req(), ctx()).usage == Usage(input_tokens=10, output_tokens=2, total_tokens=12)
    end = collect(fake.stream(req(), ctx()))[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage.total_tokens == 12


def test_estimated_usage_is_about_four_characters_per_token() -> None:
    answer = "word " * 100  # 500 characters
    fake = FakeProvider().default_reply(answer, reasoning="r" * 80)
    short = fake.chat(req("Hi"), ctx()).usage
    long = fake.chat(req("x" * 4000), ctx()).usage
    assert short.output_tokens is not None and 130 <= short.output_tokens <= 160
    assert short.reasoning_tokens == 20
    assert long.input_tokens is not None and short.input_tokens is not None
    assert 1000 <= long.input_tokens <= 1020
    assert short.input_tokens < 20
    assert long.total_tokens == long.input_tokens + (long.output_tokens or 0)


def test_invalid_usage_field_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="prompt_tokens"):
        FakeProvider().reply("x", usage={"prompt_tokens": 3})


# --------------------------------------------------------------------------- errors


def test_scripted_error_is_raised_before_any_event_with_provider_and_model() -> None:
    fake = FakeProvider().reply(error=RateLimitError("slow down", retry_after=1.5), times=2)
    seen: list[Event] = []
    with pytest.raises(RateLimitError) as info:
        for event in fake.stream(req(model="gpt-x"), ctx()):
            seen.append(event)
    assert seen == []
    err = info.value
    assert err.retry_after == 1.5 and err.provider == "fake" and err.model == "gpt-x"
    assert "slow down" in str(err)
    with pytest.raises(RateLimitError):
        fake.chat(req(), ctx())


def test_default_error_gives_a_fresh_exception_each_call() -> None:
    fake = FakeProvider(default=RateLimitError("busy"))
    errors = []
    for _ in range(2):
        with pytest.raises(RateLimitError) as info:
            fake.chat(req(), ctx())
        errors.append(info.value)
    assert errors[0] is not errors[1]
    assert errors[1].__context__ is None


def test_error_class_is_instantiated() -> None:
    fake = FakeProvider().reply(error=ProviderUnavailableError)
    with pytest.raises(ProviderUnavailableError) as info:
        fake.chat(req(model="m2"), ctx())
    assert info.value.provider == "fake" and info.value.model == "m2"


def test_error_after_n_events_raises_mid_stream_without_stream_end() -> None:
    fake = FakeProvider().reply("partial answer that never finishes", error_after=3)
    seen: list[Event] = []
    with pytest.raises(ProviderUnavailableError) as info:
        for event in fake.stream(req(), ctx()):
            seen.append(event)
    assert len(seen) == 3
    assert isinstance(seen[0], StreamStart)
    assert not any(isinstance(e, StreamEnd) for e in seen)
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "partial answer"
    assert info.value.retryable and info.value.provider == "fake"


async def test_error_after_with_custom_error_async() -> None:
    fake = FakeProvider().reply("a b c d e", error=RateLimitError("cut"), error_after=2)
    seen: list[Event] = []
    with pytest.raises(RateLimitError):
        async for event in fake.astream(req(), ctx()):
            seen.append(event)
    assert len(seen) == 2


def test_error_after_beyond_the_stream_still_fails_before_stream_end() -> None:
    fake = FakeProvider().reply("one two", error_after=100)
    seen: list[Event] = []
    with pytest.raises(ProviderUnavailableError):
        seen.extend(fake.stream(req(), ctx()))
    assert [e.kind for e in seen] == ["start", "text", "text"]


def test_chat_with_error_after_raises() -> None:
    fake = FakeProvider().reply("partial", error_after=2)
    with pytest.raises(ProviderUnavailableError):
        fake.chat(req(), ctx())


def test_running_out_of_replies_fails_clearly() -> None:
    fake = FakeProvider().reply("only one")
    fake.chat(req(), ctx())
    with pytest.raises(NoScriptedReplyError) as info:
        fake.chat(req(), ctx())
    err = info.value
    assert isinstance(err, AssertionError) and isinstance(err, ConfigurationError)
    assert "fake.reply(" in str(err) and "#2" in str(err)
    with pytest.raises(NoScriptedReplyError):
        collect(fake.stream(req(), ctx()))


def test_invalid_reply_options_are_rejected_with_the_field() -> None:
    fake = FakeProvider()
    with pytest.raises(ConfigurationError, match="finish_reason") as info:
        fake.reply("x", finish_reason="done")  # type: ignore[arg-type]
    assert info.value.field == "finish_reason"
    with pytest.raises(ConfigurationError, match="latency"):
        fake.reply("x", latency=-1)
    with pytest.raises(ConfigurationError, match="tool_calls"):
        fake.reply(tool_calls=[{"arguments": {}}])
    with pytest.raises(ConfigurationError, match="colour"):
        FakeProvider(replies=[{"text": "x", "colour": "red"}])
    assert fake.pending == 0


# --------------------------------------------------------------------------- defaults, requests


def test_queue_then_default_reply() -> None:
    fake = FakeProvider(replies=["first", FakeReply(text="second")]).default_reply("again")
    texts = [fake.chat(req(), ctx()).text for _ in range(4)]
    assert texts == ["first", "second", "again", "again"]


def test_respond_with_builds_replies_from_the_request() -> None:
    fake = FakeProvider()

    def echo(request: ChatRequest) -> Any:
        text = request.messages[-1].text
        if text == "fail":
            return RateLimitError("no")
        if text == "tool":
            return {"tool_calls": [{"name": "t", "arguments": {"q": 1}}]}
        return f"echo: {text}"

    fake.respond_with(echo)
    assert fake.chat(req("ping"), ctx()).text == "echo: ping"
    assert fake.chat(req("tool"), ctx()).tool_calls[0].arguments == {"q": 1}
    with pytest.raises(RateLimitError):
        fake.chat(req("fail"), ctx())


def test_responder_that_raises_surfaces_when_the_stream_is_read() -> None:
    def broken(request: ChatRequest) -> Any:
        raise ValueError("bug in the test's responder")

    fake = FakeProvider(default=broken)
    stream = fake.stream(req(), ctx())  # taking the reply does not raise yet
    with pytest.raises(ValueError, match="responder"):
        next(stream)


def test_requests_are_recorded_in_order_including_failed_calls() -> None:
    fake = FakeProvider().reply("a").reply(error=RateLimitError("x")).reply("c")
    fake.chat(req("one"), ctx())
    with pytest.raises(RateLimitError):
        fake.chat(req("two"), ctx())
    collect(fake.stream(req("three", model="other"), ctx()))
    assert [r.messages[0].text for r in fake.requests] == ["one", "two", "three"]
    assert fake.calls == 3 and fake.last_request.model == "other"
    fake.assert_all_used()


def test_assert_all_used_reports_unused_replies() -> None:
    fake = FakeProvider().reply("a").reply("b")
    fake.chat(req(), ctx())
    with pytest.raises(AssertionError, match="1 scripted reply was never used"):
        fake.assert_all_used()


def test_reset_forgets_everything() -> None:
    fake = FakeProvider().reply("a").default_reply("d")
    fake.chat(req(), ctx())
    fake.reset()
    assert fake.requests == [] and fake.pending == 0
    with pytest.raises(NoScriptedReplyError):
        fake.chat(req(), ctx())


def test_chat_response_can_be_replayed() -> None:
    original = FakeProvider().reply(**RICH).chat(req(), ctx())
    replayed = FakeProvider(replies=[original]).chat(req(), ctx())
    assert replayed == original


def test_list_models() -> None:
    fake = FakeProvider(models=["small", ModelInfo(id="big", provider="fake", context_window=8)])
    models = fake.list_models(ctx())
    assert [m.id for m in models] == ["small", "big"]
    assert models[0].provider == "fake" and models[1].context_window == 8
    assert asyncio.run(fake.alist_models(ctx())) == models
    fake.models = []
    assert fake.list_models(ctx()) == []


def test_queue_is_thread_safe() -> None:
    fake = FakeProvider()
    for i in range(200):
        fake.reply(f"reply {i}")
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            text = fake.chat(req(), ctx()).text
            with lock:
                results.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(f"reply {i}" for i in range(200))
    assert fake.calls == 200 and fake.pending == 0


# --------------------------------------------------------------------------- latency, timeouts


def test_latency_delays_the_first_event_and_chunk_delay_the_rest() -> None:
    fake = FakeProvider().reply("a b c d", latency=0.1, chunk_delay=0.03)
    t0 = time.monotonic()
    stamps = []
    for _ in fake.stream(req(), ctx()):
        stamps.append(time.monotonic() - t0)
    assert stamps[0] >= 0.1
    assert stamps[-1] - stamps[0] >= 0.03 * (len(stamps) - 1) * 0.9


def test_chat_takes_as_long_as_the_stream_would() -> None:
    fake = FakeProvider().reply("a b c", latency=0.05, chunk_delay=0.02)
    t0 = time.monotonic()
    fake.chat(req(), ctx())
    assert time.monotonic() - t0 >= 0.05 + 4 * 0.02 * 0.9  # start + 3 texts + end


async def test_async_latency_does_not_block_the_loop() -> None:
    fake = FakeProvider().default_reply("x", latency=0.15)
    t0 = time.monotonic()
    await asyncio.gather(*(fake.achat(req(), ctx()) for _ in range(5)))
    elapsed = time.monotonic() - t0
    assert 0.15 <= elapsed < 0.5


def test_first_token_timeout_waits_only_the_timeout() -> None:
    fake = FakeProvider().reply("late", latency=1.0)
    t0 = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        collect(fake.stream(req(model="slow"), ctx(first_token=0.05)))
    elapsed = time.monotonic() - t0
    assert 0.04 <= elapsed < 0.5
    err = info.value
    assert err.phase == "first_token" and err.timeout == 0.05
    assert err.provider == "fake" and err.model == "slow"


async def test_first_token_timeout_async() -> None:
    fake = FakeProvider().reply("late", latency=1.0)
    t0 = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        await acollect(fake, req(), ctx(first_token=0.05))
    assert time.monotonic() - t0 < 0.5
    assert info.value.phase == "first_token"


def test_chat_ignores_first_token_but_honours_total() -> None:
    fake = FakeProvider().reply("ok", latency=0.1).reply("late", latency=1.0)
    assert fake.chat(req(), ctx(first_token=0.01, total=5)).text == "ok"
    t0 = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        fake.chat(req(), ctx(total=0.05))
    assert time.monotonic() - t0 < 0.5
    assert info.value.phase == "total"


async def test_achat_total_timeout() -> None:
    fake = FakeProvider().reply("late", latency=1.0)
    t0 = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        await fake.achat(req(), ctx(total=0.05))
    assert time.monotonic() - t0 < 0.5
    assert info.value.phase == "total"


def test_total_timeout_mid_stream_after_some_events() -> None:
    fake = FakeProvider().reply("one two three four five six", chunk_delay=0.05)
    seen: list[Event] = []
    t0 = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        seen.extend(fake.stream(req(), ctx(total=0.12)))
    assert time.monotonic() - t0 < 0.3
    assert info.value.phase == "total"
    assert 2 <= len(seen) <= 4 and not any(isinstance(e, StreamEnd) for e in seen)


def test_latency_within_timeouts_is_fine() -> None:
    fake = FakeProvider().reply("fine", latency=0.02)
    assert collect(fake.stream(req(), ctx(first_token=0.5, total=1)))[-1].kind == "end"


# --------------------------------------------------------------------------- public client


def test_client_chat_and_stream_through_fake_provider() -> None:
    fake = FakeProvider()
    fake.reply("Hello there, friend.", times=2)
    client = Client(providers=[fake], env={})
    resp = client.chat("fake/anything-goes", messages=USER, temperature=0.2)
    assert resp.text == "Hello there, friend." and resp.model == "anything-goes"
    assert resp.provider == "fake"
    assert fake.last_request.temperature == 0.2
    with client.stream("fake/anything-goes", messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.response
    assert len(pieces) >= 3 and "".join(pieces) == resp.text
    assert final == dataclasses.replace(resp, id=final.id)  # ids differ per response


def test_client_stream_error_keeps_partial_answer() -> None:
    fake = FakeProvider().reply("partial answer here", error_after=3)
    client = Client(providers=[fake], env={})
    with (
        pytest.raises(ProviderUnavailableError) as info,
        client.stream("fake/m", messages=USER) as stream,
    ):
        for _ in stream:
            pass
    partial = info.value.partial
    assert partial is not None
    assert partial.text == "partial answer" and partial.finish_reason == "error"


def test_client_tool_call_round_trip() -> None:
    fake = FakeProvider()
    fake.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    fake.reply("Sunny, 22 °C.")
    client = Client(providers=[fake], env={})
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    first = client.chat("fake/m", messages=USER, tools=tools)
    call = first.tool_calls[0]
    history = [
        *USER,
        first.message,
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 22"},
    ]
    second = client.chat("fake/m", messages=history, tools=tools)
    assert second.text == "Sunny, 22 °C."
    assert fake.requests[1].messages[-1].tool_call_id == call.id
    assert fake.requests[1].messages[1].tool_calls == (call,)


async def test_async_client_chat_stream_and_timeout() -> None:
    fake = FakeProvider()
    fake.reply("async hello world").reply("async hello world").reply("slow", latency=1.0)
    async with AsyncClient(max_retries=0, providers=[fake], env={}) as client:
        resp = await client.chat("fake/m", messages=USER)
        async with client.stream("fake/m", messages=USER) as stream:
            kinds = [e.kind async for e in stream]
            final = stream.response
        assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("text") == 3
        assert final.text == resp.text == "async hello world"
        t0 = time.monotonic()
        with pytest.raises(LLMTimeoutError):
            async with client.stream("fake/m", messages=USER, timeout={"first_token": 0.05}) as s:
                async for _ in s:
                    pass
        assert time.monotonic() - t0 < 0.5


def test_client_list_models() -> None:
    client = Client(providers=[FakeProvider(models=["a", "b"])], env={})
    assert [m.id for m in client.list_models("fake")] == ["a", "b"]


def test_errors_from_the_client_are_llm_errors_naming_the_model() -> None:
    fake = FakeProvider()
    client = Client(providers=[fake], env={})
    with pytest.raises(LLMError) as info:
        client.chat("fake/unscripted", messages=USER)
    assert "fake/unscripted" in str(info.value)


# --------------------------------------------------------------------------- network guard


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the real socket operations with recorders, to prove the guard refuses
    before anything reaches them (and so nothing is ever sent)."""
    calls: list[str] = []

    def fake_connect(self: socket.socket, address: Any) -> None:
        calls.append(f"connect {address}")
        raise ConnectionRefusedError("recorder")

    def fake_connect_ex(self: socket.socket, address: Any) -> int:
        calls.append(f"connect_ex {address}")
        return 111

    def fake_getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"getaddrinfo {args}")
        raise socket.gaierror("recorder")

    monkeypatch.setattr(socket.socket, "connect", fake_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", fake_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return calls


def test_guard_refuses_connect_to_private_address_before_connecting(recorder: list[str]) -> None:
    with block_network() as guard, socket.socket() as s:
        with pytest.raises(NetworkAccessError, match=r"10\.255\.255\.1:80") as info:
            s.connect(("10.255.255.1", 80))
        with pytest.raises(NetworkAccessError):
            s.connect_ex(("10.255.255.1", 81))
    assert isinstance(info.value, AssertionError)
    assert recorder == []
    assert guard.blocked == ["10.255.255.1:80", "10.255.255.1:81"]


def test_guard_refuses_resolving_public_host_names(recorder: list[str]) -> None:
    with block_network():
        with pytest.raises(NetworkAccessError, match=r"api\.openai\.com:443"):
            socket.create_connection(("api.openai.com", 443), timeout=1)
        with pytest.raises(NetworkAccessError, match=r"example\.com:80"):
            socket.getaddrinfo("example.com", 80)
        with pytest.raises(NetworkAccessError):
            socket.gethostbyname("example.com")
        with socket.socket() as s, pytest.raises(NetworkAccessError):
            s.connect(("example.com", 443))  # connect() would resolve the name itself
    assert recorder == []


def test_guard_refuses_ipv6_and_udp(recorder: list[str]) -> None:
    with block_network():
        with socket.socket(socket.AF_INET6) as s, pytest.raises(NetworkAccessError):
            s.connect(("2001:4860:4860::8888", 443, 0, 0))
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u,
            pytest.raises(NetworkAccessError, match=r"8\.8\.8\.8:53"),
        ):
            u.sendto(b"\x00" * 12, ("8.8.8.8", 53))
        with socket.socket(socket.AF_INET6) as s, pytest.raises(NetworkAccessError):
            s.connect(("::ffff:10.0.0.1", 80, 0, 0))  # v4-mapped private address
    assert recorder == []


def test_guard_blocks_urllib3_and_asyncio(recorder: list[str]) -> None:
    import urllib3

    with block_network():
        pool = urllib3.PoolManager(retries=False)
        with pytest.raises(NetworkAccessError):
            pool.request("GET", "http://10.255.255.1/", timeout=1)
        with pytest.raises(NetworkAccessError):
            pool.request("GET", "https://api.anthropic.com/v1/messages", timeout=1)

        async def open_it() -> None:
            await asyncio.open_connection("10.255.255.1", 80)

        with pytest.raises(NetworkAccessError):
            asyncio.run(open_it())
    assert recorder == []


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(64).upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield "127.0.0.1", port
    server.close()


def test_guard_allows_loopback_servers(loopback_server: tuple[str, int]) -> None:
    _, port = loopback_server
    with block_network() as guard:
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=2) as c:
                c.sendall(b"ping")
                assert c.recv(64) == b"PING"
        assert socket.getaddrinfo("localhost", port)
    assert guard.blocked == []


def test_guard_allows_ipv6_loopback_and_unix_sockets(tmp_path: Path) -> None:
    with block_network():
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
        with server, socket.socket(socket.AF_INET6) as c:
            c.connect(("::1", server.getsockname()[1]))
        a, b = socket.socketpair()
        with a, b:
            a.sendall(b"x")
            assert b.recv(1) == b"x"
        path = str(tmp_path / "s.sock")
        with socket.socket(socket.AF_UNIX) as srv, socket.socket(socket.AF_UNIX) as cli:
            srv.bind(path)
            srv.listen()
            cli.connect(path)


def test_guard_allow_list(recorder: list[str]) -> None:
    with block_network(allow=["10.0.0.0/8", "db.internal"]), socket.socket() as s:
        with pytest.raises(ConnectionRefusedError):  # reached the (recording) real connect
            s.connect(("10.1.2.3", 5432))
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("db.internal", 5432)
        with pytest.raises(NetworkAccessError):
            s.connect(("192.168.1.1", 5432))
    assert len(recorder) == 2


def test_guard_restores_everything_even_after_an_error() -> None:
    before = (
        socket.socket.__dict__.get("connect"),
        socket.socket.__dict__.get("connect_ex"),
        socket.socket.__dict__.get("sendto"),
        socket.getaddrinfo,
        socket.create_connection,
        socket.gethostbyname,
    )
    with pytest.raises(RuntimeError), block_network():
        assert socket.getaddrinfo is not before[3]
        raise RuntimeError("boom")
    after = (
        socket.socket.__dict__.get("connect"),
        socket.socket.__dict__.get("connect_ex"),
        socket.socket.__dict__.get("sendto"),
        socket.getaddrinfo,
        socket.create_connection,
        socket.gethostbyname,
    )
    assert after == before


def test_nested_guards_restore_in_order() -> None:
    original = socket.getaddrinfo
    with block_network():
        outer = socket.getaddrinfo
        with block_network():
            assert socket.getaddrinfo is not outer
        assert socket.getaddrinfo is outer
    assert socket.getaddrinfo is original


def test_guard_as_decorator_sync_and_async(recorder: list[str]) -> None:
    @block_network()
    def sync_call() -> None:
        socket.getaddrinfo("example.org", 443)

    @block_network()
    async def async_call() -> None:
        await asyncio.get_running_loop().getaddrinfo("example.org", 443)

    with pytest.raises(NetworkAccessError):
        sync_call()
    with pytest.raises(NetworkAccessError):
        asyncio.run(async_call())
    # outside the decorated calls nothing is patched: the recorder sees this lookup
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.org", 443)
    assert recorder == ["getaddrinfo ('example.org', 443)"]


# --------------------------------------------------------------------------- pytest plugin


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["llmswitch.testing"]\n')
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import socket
            import pytest
            from llmswitch import Client
            from llmswitch.testing import NetworkAccessError

            def test_fake(fake_provider):
                fake_provider.reply("42")
                client = Client(providers=[fake_provider], env={})
                msgs = [{"role": "user", "content": "q"}]
                assert client.chat("fake/x", messages=msgs).text == "42"

            def test_fresh_provider_each_test(fake_provider):
                assert fake_provider.pending == 0 and fake_provider.requests == []

            def test_guard(no_network):
                with pytest.raises(NetworkAccessError):
                    socket.create_connection(("203.0.113.9", 443), timeout=1)
                assert no_network.blocked == ["203.0.113.9:443"]

            def test_escape_fails_the_test(no_network):
                socket.getaddrinfo("example.com", 80)
            """
        )
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = result.stdout + result.stderr
    assert "1 failed, 3 passed" in out, out
    assert "NetworkAccessError" in out and "example.com:80" in out
