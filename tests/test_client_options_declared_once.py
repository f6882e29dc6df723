"""The clients' options are declared once (a TypedDict each, ``**options: Unpack[...]``)
and still behave as typed keyword parameters: ``help()`` lists them, ``None`` is the
same as not given (for the client's own options too), and a misspelt one is a
``TypeError`` naming the method, on every method that takes options."""

from __future__ import annotations

import pydoc

import pytest

from llmswitch import AsyncClient, Client
from llmswitch._options import CHAT_OPTIONS
from llmswitch.testing import FakeProvider

HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_help_shows_every_option(cls: type) -> None:
    text = pydoc.render_doc(cls.chat, renderer=pydoc.plaintext)
    for name in (*CHAT_OPTIONS, "cache", "prompt", "variables"):
        assert f"{name}: " in text, name
    assert "**options" not in text
    assert "resume: 'bool' = False" in pydoc.render_doc(cls.stream, renderer=pydoc.plaintext)


def test_the_clients_own_options_given_as_none_are_not_given() -> None:
    fake = FakeProvider().default_reply("ok")
    with Client(providers=[fake], max_retries=0) as client:
        resp = client.chat("fake/m", HI, prompt=None, variables=None, cache=None, max_tokens=3)
        assert resp.text == "ok" and fake.requests[0].max_tokens == 3
        with client.stream("fake/m", HI, prompt=None, variables=None, resume=False) as stream:
            assert stream.response.text == "ok"


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("chat", ("fake/m", HI)),
        ("stream", ("fake/m", HI)),
        ("count_tokens", ("fake/m", HI)),
        ("estimate_cost", ("fake/m", HI)),
        ("embed", ("fake/m", ["a"])),
        ("complete_code", ("fake/m", "def f(")),
        ("stream_code", ("fake/m", "def f(")),
    ],
)
def test_a_misspelt_option_names_the_method(method: str, args: tuple[object, ...]) -> None:
    with Client(providers=[FakeProvider()], max_retries=0) as client:
        with pytest.raises(
            TypeError, match=rf"^{method}\(\) got an unexpected keyword argument 'tmp'"
        ):
            getattr(client, method)(*args, tmp=1)


async def test_async_misspelt_option() -> None:
    async with AsyncClient(providers=[FakeProvider()], max_retries=0) as client:
        with pytest.raises(TypeError, match="unexpected keyword argument 'tmp'"):
            await client.chat("fake/m", HI, tmp=1)  # type: ignore[call-arg]
