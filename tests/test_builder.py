"""client.request(...): the fluent builder. Immutable steps, the same request and the
same errors as chat(), sync and async."""

from __future__ import annotations

import asyncio
import base64
import threading

import pytest

from llmswitch import AsyncClient, Client, ConfigurationError, ImagePart, RequestBuilder
from llmswitch.testing import FakeProvider

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
TOOL = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider().respond_with(lambda request: f"{len(request.messages)} messages")


def test_steps_build_the_request_chat_would(fake: FakeProvider) -> None:
    client = Client(providers=[fake])
    resp = (
        client.request("fake/m")
        .system("be brief")
        .user("weather?")
        .assistant(tool_calls=[{"id": "c1", "name": "get_weather", "arguments": {}}])
        .tool_result("c1", {"temp": 21})
        .tools([TOOL])
        .tool_choice("auto")
        .temperature(0.2)
        .max_tokens(50)
        .top_p(0.9)
        .stop(["\n\n"])
        .reasoning("low")
        .user_id("alice")
        .metadata({"trace": "t1"})
        .timeout(30)
        .options(extra_body={"seed": 7})
        .send()
    )
    assert resp.text == "3 messages"
    got = fake.requests[0]
    assert got.system == "be brief" and [m.role for m in got.messages] == [
        "user",
        "assistant",
        "tool",
    ]
    assert got.messages[1].tool_calls[0].name == "get_weather"
    assert got.messages[2].tool_call_id == "c1" and got.messages[2].text == '{"temp":21}'
    assert [t.name for t in got.tools] == ["get_weather"] and got.tool_choice is not None
    assert (got.temperature, got.max_tokens, got.top_p, got.stop) == (0.2, 50, 0.9, ("\n\n",))
    assert got.reasoning is not None and got.reasoning.effort == "low"
    assert got.user == "alice" and got.metadata == {"trace": "t1"}
    assert got.extra_body == {"seed": 7}


def test_every_step_returns_a_new_builder_and_a_base_is_reusable(fake: FakeProvider) -> None:
    client = Client(providers=[fake])
    base = client.request("fake/m").system("shared").temperature(0)
    one, two = base.user("a"), base.user("b").user("c")
    assert one is not base and two is not base
    one.send(), two.send(), base.user("d").temperature(1).send()
    assert [[m.text for m in r.messages] for r in fake.requests] == [["a"], ["b", "c"], ["d"]]
    assert [r.temperature for r in fake.requests] == [0.0, 0.0, 1.0]
    assert all(r.system == "shared" for r in fake.requests)
    with pytest.raises(AttributeError, match="immutable"):
        base._model = "fake/other"  # type: ignore[misc]


def test_a_shared_base_from_many_threads(fake: FakeProvider) -> None:
    client = Client(providers=[fake])
    base = client.request("fake/m").user("q")
    results: list[str] = []

    def ask(i: int) -> None:
        results.append(base.user(f"follow-up {i}").send().text)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["2 messages"] * 8


def test_images_from_urls_and_bytes(fake: FakeProvider) -> None:
    client = Client(providers=[fake])
    client.request("fake/m").user("what is this?").image(PNG).image(
        "https://example.com/b.jpg", detail="low"
    ).send()
    (message,) = fake.requests[0].messages
    assert isinstance(message.content, tuple)
    _, png, url = message.content
    assert message.text == "what is this?"
    assert isinstance(png, ImagePart) and png.url.startswith("data:image/png;base64,")
    assert base64.b64decode(png.url.partition(",")[2]) == PNG
    assert isinstance(url, ImagePart) and url.detail == "low"
    # After an assistant turn an image starts a new user message, with its text.
    client.request("fake/m").user("a").assistant("b").image(PNG, text="and this?").send()
    last = fake.requests[1].messages[-1]
    assert last.role == "user" and last.text == "and this?"
    with pytest.raises(ConfigurationError, match="mime="):
        client.request("fake/m").image(b"not an image")


def test_the_same_errors_as_chat(fake: FakeProvider) -> None:
    client = Client(providers=[fake])
    messages = [{"role": "user", "content": "hi"}]
    cases = [
        (lambda b: b.temperature(5), {"temperature": 5}),
        (lambda b: b.max_tokens(0), {"max_tokens": 0}),
        (lambda b: b.system(3), {"system": 3}),
    ]
    for step, options in cases:
        with pytest.raises(ConfigurationError) as from_chat:
            client.chat("fake/m", messages, **options)
        with pytest.raises(ConfigurationError) as from_builder:
            step(client.request("fake/m").user("hi")).send()
        assert str(from_builder.value) == str(from_chat.value)
        assert from_builder.value.field == from_chat.value.field
    # A misspelt option fails at send() exactly as in chat() (a TypeError once chat()
    # declares every option as a keyword parameter).
    with pytest.raises((TypeError, ConfigurationError), match="'temprature'") as typo:
        client.chat("fake/m", messages, temprature=1)  # type: ignore[call-arg]
    with pytest.raises(type(typo.value)) as from_builder_typo:
        client.request("fake/m").user("hi").options(temprature=1).send()
    assert str(from_builder_typo.value) == str(typo.value)
    # Nothing is checked before send(): an unknown model fails there, as chat() does.
    bad = client.request("nobody/m").user("hi")
    with pytest.raises(ConfigurationError, match="unknown provider 'nobody'"):
        bad.send()
    assert fake.requests == []


def test_stream(fake: FakeProvider) -> None:
    client = Client(providers=[fake])
    with client.request("fake/m").user("hi").stream() as stream:
        assert "".join(stream.text_stream) == "1 messages"
        assert stream.response.text == "1 messages"


def test_repr_shows_no_secrets(fake: FakeProvider) -> None:
    client = Client(providers=[fake])
    builder = (
        client.request("fake/m")
        .system("secret system prompt")
        .user("private question")
        .temperature(0.5)
        .user_id("alice@example.com")
        .options(extra_headers={"Authorization": "Bearer sk-live-0123456789"})
    )
    shown = repr(builder)
    assert isinstance(builder, RequestBuilder)
    assert shown.startswith("RequestBuilder(model='fake/m', messages=[user]")
    assert "temperature=0.5" in shown and "extra_headers=..." in shown
    for secret in ("sk-live", "alice", "private question", "secret system prompt"):
        assert secret not in shown


def test_async_send_and_stream(fake: FakeProvider) -> None:
    async def main() -> tuple[str, str]:
        async with AsyncClient(providers=[fake]) as client:
            base = client.request("fake/m").system("s")
            sent = await base.user("hi").send()
            async with base.user("a").user("b").stream() as stream:
                streamed = await stream.get_response()
            return sent.text, streamed.text

    assert asyncio.run(main()) == ("1 messages", "2 messages")
