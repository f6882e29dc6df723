"""LLMSWITCH_MODEL: the model of calls that name none, replaced by reload()."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client, ConfigurationError
from llmswitch.testing import FakeProvider

HI = [{"role": "user", "content": "hi"}]


def _fake() -> FakeProvider:
    return FakeProvider().respond_with(lambda request: f"from {request.model}")


def test_calls_without_a_model_use_llmswitch_model() -> None:
    client = Client(providers=[_fake()], env={"LLMSWITCH_MODEL": "fake/default-one"})
    assert client.chat(messages=HI).text == "from default-one"
    with client.stream(messages=HI) as stream:
        assert stream.response.text == "from default-one"
    assert client.request().user("hi").send().text == "from default-one"
    assert client.capabilities() == client.capabilities("fake/default-one")
    # A model given (positionally or by name) wins over the default.
    assert client.chat("fake/explicit", HI).text == "from explicit"
    assert client.chat(model="fake/named", messages=HI).text == "from named"


def test_an_alias_as_the_default(tmp_path: Path) -> None:
    config = tmp_path / "llmswitch.toml"
    config.write_text('[aliases]\nfast = "fake/quick"\n')
    client = Client(config=config, providers=[_fake()], env={"LLMSWITCH_MODEL": "fast"})
    assert client.chat(messages=HI).text == "from quick"


def test_no_model_and_no_default_names_the_variable() -> None:
    client = Client(providers=[_fake()], env={})
    with pytest.raises(ConfigurationError, match="LLMSWITCH_MODEL") as info:
        client.chat(messages=HI)
    assert info.value.field == "model"
    with pytest.raises(ConfigurationError, match="LLMSWITCH_MODEL"):
        client.stream(messages=HI)


def test_a_default_that_is_no_model_names_the_variable() -> None:
    client = Client(providers=[_fake()], env={"LLMSWITCH_MODEL": "gpt-4o"})
    with pytest.raises(ConfigurationError, match="LLMSWITCH_MODEL='gpt-4o'") as info:
        client.chat(messages=HI)
    assert info.value.field == "LLMSWITCH_MODEL"


def test_reload_switches_the_default_without_a_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSWITCH_MODEL", "fake/first")
    client = Client(providers=[_fake()])
    assert client.chat(messages=HI).text == "from first"
    monkeypatch.setenv("LLMSWITCH_MODEL", "fake/second")
    assert client.chat(messages=HI).text == "from first"  # read when the client was built
    diff = client.reload()
    change = next(c for c in diff.changes if c.key == "$LLMSWITCH_MODEL")
    assert (change.kind, change.old, change.new) == ("changed", "fake/first", "fake/second")
    assert client.chat(messages=HI).text == "from second"
    monkeypatch.delenv("LLMSWITCH_MODEL")
    removed = client.reload().changes
    assert [(c.key, c.kind) for c in removed] == [("$LLMSWITCH_MODEL", "removed")]
    with pytest.raises(ConfigurationError, match="LLMSWITCH_MODEL"):
        client.chat(messages=HI)


def test_async_client_uses_the_default() -> None:
    async def main() -> list[str]:
        env = {"LLMSWITCH_MODEL": "fake/async-default"}
        async with AsyncClient(providers=[_fake()], env=env) as client:
            first = (await client.chat(messages=HI)).text
            async with client.stream(messages=HI) as stream:
                second = (await stream.get_response()).text
            third = (await client.request().user("x").send()).text
            return [first, second, third]

    assert asyncio.run(main()) == ["from async-default"] * 3
