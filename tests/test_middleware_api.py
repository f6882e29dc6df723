"""The public middleware API: user layers wrap chat and stream, sync and async alike."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from llmswitch import AsyncClient, ChatResponse, Client, RateLimitError, TextDelta
from llmswitch.events import Event
from llmswitch.messages import Message
from llmswitch.middleware import Call, Hooks, Middleware
from llmswitch.testing import FakeProvider

HI = [{"role": "user", "content": "my card is 4111 1111 1111 1111, help"}]
CARD = re.compile(r"\b(?:\d{4} ){3}\d{4}\b")


class Redact(Hooks):
    """Mask card numbers going out and coming back, on every path."""

    def on_request(self, call: Call) -> Call:
        messages = tuple(
            dataclasses.replace(m, content=CARD.sub("[card]", m.content))
            if isinstance(m.content, str)
            else m
            for m in call.request.messages
        )
        return call.replace(request=dataclasses.replace(call.request, messages=messages))

    def on_response(self, call: Call, response: ChatResponse) -> ChatResponse:
        return dataclasses.replace(response, text=CARD.sub("[card]", response.text))

    def on_event(self, call: Call, event: Event) -> Event | None:
        if isinstance(event, TextDelta):
            return TextDelta(event.index, CARD.sub("[card]", event.text))
        return event


class Audit(Middleware):
    def __init__(self) -> None:
        self.log: list[str] = []

    def chat(self, call: Call, next):  # type: ignore[no-untyped-def]
        self.log.append(f"chat {call.model}")
        return next(call)

    async def achat(self, call: Call, next):  # type: ignore[no-untyped-def]
        self.log.append(f"achat {call.model}")
        return await next(call)

    def stream(self, call: Call, next) -> Iterator[Event]:  # type: ignore[no-untyped-def]
        self.log.append(f"stream {call.model}")
        return next(call)

    def astream(self, call: Call, next) -> AsyncIterator[Event]:  # type: ignore[no-untyped-def]
        self.log.append(f"astream {call.model}")
        return next(call)


def _fake() -> FakeProvider:
    fake = FakeProvider()
    # One text delta: a per-event regex cannot see a number split across deltas (a real
    # redactor would buffer); this test is about the hooks running, not about regexes.
    fake.default_reply("noted: 4111 1111 1111 1111", chunk_size=100)
    return fake


def test_sync_chat_and_stream_run_through_user_middleware_in_order() -> None:
    fake, audit = _fake(), Audit()
    client = Client(providers=[fake], middleware=[audit, Redact()])
    resp = client.chat("fake/m", messages=HI)
    assert resp.text == "noted: [card]"
    with client.stream("fake/m", messages=HI) as s:
        text = "".join(s.text_stream)
    assert "4111" not in text
    assert audit.log == ["chat fake/m", "stream fake/m"]
    # the provider never saw the card number
    assert all("4111" not in r.messages[0].text for r in fake.requests)


def test_async_chat_and_stream_run_through_user_middleware() -> None:
    fake, audit = _fake(), Audit()

    async def run() -> tuple[str, str]:
        async with AsyncClient(providers=[fake], middleware=[audit, Redact()]) as client:
            resp = await client.chat("fake/m", messages=HI)
            async with client.stream("fake/m", messages=HI) as s:
                final = await s.get_response()
            return resp.text, final.text

    chat_text, stream_text = asyncio.run(run())
    assert chat_text == "noted: [card]"
    assert "4111" not in stream_text
    assert audit.log == ["achat fake/m", "astream fake/m"]
    assert all("4111" not in r.messages[0].text for r in fake.requests)


def test_on_error_sees_provider_errors_and_they_still_propagate() -> None:
    seen: list[Exception] = []

    class Watch(Hooks):
        def on_error(self, call: Call, error: Exception) -> None:
            seen.append(error)

    fake = FakeProvider()
    fake.reply(error=RateLimitError("slow down", retry_after=2))
    with pytest.raises(RateLimitError):
        Client(max_retries=0, providers=[fake], middleware=[Watch()]).chat("fake/m", messages=HI)
    assert len(seen) == 1 and isinstance(seen[0], RateLimitError)


def test_middleware_can_switch_the_model_for_inner_layers() -> None:
    fake = FakeProvider()
    fake.default_reply("ok")

    class Pin(Hooks):
        def on_request(self, call: Call) -> Call:
            return call.replace(request=dataclasses.replace(call.request, model="pinned"))

    Client(providers=[fake], middleware=[Pin()]).chat("fake/anything", messages=HI)
    assert fake.requests[-1].model == "pinned"


def test_typed_messages_survive_the_redaction_example() -> None:
    fake = _fake()
    client = Client(providers=[fake], middleware=[Redact()])
    client.chat("fake/m", messages=[Message(role="user", content="4111 1111 1111 1111")])
    assert fake.requests[-1].messages[0].text == "[card]"
