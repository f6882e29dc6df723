"""client.capabilities(model) and the check that refuses a call using a capability the
model is known to lack, before the provider sees anything."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from llmswitch import (
    AsyncClient,
    Capabilities,
    CapabilityError,
    Client,
    ConfigurationError,
    EmbeddingResponse,
    InvalidRequestError,
    ModelInfo,
    Usage,
)
from llmswitch.messages import EmbedRequest
from llmswitch.testing import FakeProvider
from tests.support.loopback import Loopback
from tests.support.vertex import GoogleAccount, vertex_env

IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ],
    }
]
HI = [{"role": "user", "content": "hi"}]
TOOL = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}


class Declaring(FakeProvider):
    """A provider that states its models' capabilities (as a plugin may), with
    embeddings, counting how often it was asked."""

    def __init__(self, caps: dict[str, Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.caps = caps
        self.asked = 0
        self.embedded: list[EmbedRequest] = []
        self.default_reply("ok")

    def capabilities(self, model: str) -> dict[str, Any]:
        self.asked += 1
        return self.caps

    def embed(self, request: EmbedRequest, ctx: Any = None) -> EmbeddingResponse:
        self.embedded.append(request)
        return EmbeddingResponse(
            vectors=[[0.0]], model=request.model, provider=self.id, usage=Usage()
        )


def test_catalog_facts_and_a_reasoning_call_refused_before_sending() -> None:
    fake = FakeProvider(id="openai").default_reply("ok")  # the catalog knows OpenAI's models
    client = Client(providers=[fake])
    caps = client.capabilities("openai/gpt-4o-mini")
    assert isinstance(caps, Capabilities)
    assert (caps.chat, caps.tools, caps.vision, caps.reasoning) == (True, True, True, False)
    assert caps.context_window == 128000 and caps.max_output_tokens == 16384
    assert caps.code_completion is True  # every chat model: chat-based fill-in-the-middle

    with pytest.raises(CapabilityError) as info:
        client.chat("openai/gpt-4o-mini", HI, reasoning="high")
    err = info.value
    assert isinstance(err, InvalidRequestError) and not err.retryable
    assert err.capability == "reasoning" and err.provider == "openai"
    assert err.model == "gpt-4o-mini" and "reasoning" in str(err)
    assert fake.requests == []
    # Reasoning turned off is no use of it; tools and images are fine on this model.
    client.chat("openai/gpt-4o-mini", IMAGE, tools=[TOOL], reasoning="none")
    assert len(fake.requests) == 1


def test_discovery_fills_what_the_catalog_does_not_know() -> None:
    fake = FakeProvider(
        models=[ModelInfo(id="tiny", provider="fake", supports_vision=False, context_window=4096)]
    ).default_reply("ok")
    client = Client(providers=[fake])
    # Before the provider's models are listed nothing is known: nothing is refused.
    client.chat("fake/tiny", IMAGE)
    caps = client.capabilities("fake/tiny")  # lists the models once
    assert caps.vision is False and caps.context_window == 4096
    assert caps.tools is None and caps.reasoning is None  # unknown: None, never False
    with pytest.raises(CapabilityError) as info:
        client.chat("fake/tiny", IMAGE)
    assert info.value.capability == "vision" and "messages[0]" in str(info.value)
    assert len(fake.requests) == 1
    client.chat("fake/tiny", HI, tools=[TOOL], reasoning="high")  # unknown never blocks
    assert len(fake.requests) == 2


def test_list_models_alone_teaches_the_check() -> None:
    fake = FakeProvider(models=[ModelInfo(id="m", provider="fake", supports_tools=False)])
    client = Client(providers=[fake.default_reply("ok")])
    client.list_models("fake")
    with pytest.raises(CapabilityError) as info:
        client.chat("fake/m", HI, tools=[TOOL])
    assert info.value.capability == "tools" and fake.requests == []


def test_unknown_model_is_never_refused() -> None:
    fake = FakeProvider().default_reply("ok")
    client = Client(providers=[fake])
    assert client.capabilities("fake/anything") == Capabilities()
    client.chat("fake/anything", IMAGE, tools=[TOOL], reasoning="high")
    with client.stream("fake/anything", HI) as stream:
        assert stream.response.text == "ok"
    assert len(fake.requests) == 2


def test_a_provider_declares_capabilities_and_each_is_checked() -> None:
    provider = Declaring({"tools": False, "vision": False, "streaming": False})
    client = Client(providers=[provider])
    caps = client.capabilities("fake/m")
    assert (caps.tools, caps.vision, caps.streaming, caps.chat) == (False, False, False, None)
    cases: list[tuple[str, Any]] = [
        ("tools", lambda: client.chat("fake/m", HI, tools=[TOOL])),
        ("vision", lambda: client.chat("fake/m", IMAGE)),
        ("streaming", lambda: client.stream("fake/m", HI)),
    ]
    for capability, call in cases:
        with pytest.raises(CapabilityError) as info:
            call()
        assert info.value.capability == capability
    assert provider.requests == []
    assert client.chat("fake/m", HI).text == "ok"


def test_the_check_is_cached_per_model() -> None:
    provider = Declaring({"tools": False})
    client = Client(providers=[provider])
    for _ in range(5):
        client.chat("fake/m", HI)
    assert provider.asked == 1
    client.chat("fake/other", HI)
    assert provider.asked == 2


def test_embed_on_a_chat_only_model_and_chat_on_an_embedding_model() -> None:
    chat_only = Declaring({"embeddings": False, "tools": True})
    client = Client(providers=[chat_only])
    with pytest.raises(CapabilityError) as info:
        client.embed("fake/chatty", ["a"])
    assert info.value.capability == "embeddings" and chat_only.embedded == []

    embedder = Declaring({"embeddings": True}, id="emb")
    client = Client(providers=[embedder])
    assert client.capabilities("emb/vectors").chat is False
    assert client.embed("emb/vectors", ["a"]).vectors == [[0.0]]
    with pytest.raises(CapabilityError) as info:
        client.chat("emb/vectors", HI)
    assert info.value.capability == "chat" and embedder.requests == []


def test_a_bad_declaration_is_a_configuration_error() -> None:
    client = Client(providers=[Declaring({"telepathy": True})])
    with pytest.raises(ConfigurationError, match="telepathy"):
        client.capabilities("fake/m")


def test_anthropic_kind_has_no_embeddings() -> None:
    client = Client(env={"ANTHROPIC_API_KEY": "sk-ant-test-0000000000"})
    caps = client._core.capabilities("anthropic/claude-sonnet-4-5")  # no listing: no network
    assert caps.embeddings is False and caps.chat is True and caps.streaming is True


def _group_config(tmp_path: Path) -> Path:
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        """
[models.both-blind]
[[models.both-blind.deployments]]
model = "a/m"
[[models.both-blind.deployments]]
model = "b/m"

[models.mixed]
[[models.mixed.deployments]]
model = "a/m"
[[models.mixed.deployments]]
model = "c/m"
""",
        encoding="utf-8",
    )
    return path


def test_a_group_is_the_meet_of_its_deployments(tmp_path: Path) -> None:
    blind = {"vision": False, "tools": True, "context_window": 8000}
    a, b = Declaring(blind, id="a"), Declaring({**blind, "context_window": 4000}, id="b")
    c = Declaring({"vision": True, "tools": True}, id="c")
    client = Client(config=_group_config(tmp_path), providers=[a, b, c])
    both = client.capabilities("both-blind")
    assert (both.vision, both.tools, both.context_window) == (False, True, 4000)
    mixed = client.capabilities("mixed")
    # One deployment sees, one does not: it depends on the deployment, so not refused.
    assert mixed.vision is None and mixed.tools is True and mixed.context_window is None
    with pytest.raises(CapabilityError):
        client.chat("both-blind", IMAGE)
    assert a.requests == b.requests == []
    assert client.chat("mixed", IMAGE).text == "ok"


def test_async_client_checks_before_sending() -> None:
    provider = Declaring({"reasoning": False})

    async def main() -> None:
        async with AsyncClient(providers=[provider]) as client:
            caps = await client.capabilities("fake/m")
            assert caps.reasoning is False
            with pytest.raises(CapabilityError):
                await client.chat("fake/m", HI, reasoning={"budget_tokens": 2048})
            with pytest.raises(CapabilityError):
                async with client.stream("fake/m", HI, reasoning="low"):
                    pass
            assert (await client.chat("fake/m", HI)).text == "ok"

    asyncio.run(main())
    assert len(provider.requests) == 1


def test_a_failed_listing_leaves_the_static_facts() -> None:
    class Unlistable(FakeProvider):
        def list_models(self, ctx: Any = None) -> list[ModelInfo]:
            raise ConfigurationError("listing is not available")

    client = Client(providers=[Unlistable(id="openai")])
    assert client.capabilities("openai/gpt-4o").reasoning is False


def test_code_completion_false_is_refused_before_the_provider() -> None:
    provider = Declaring({"chat": True, "code_completion": False})
    client = Client(providers=[provider])
    assert "code_completion" in client._core.blocked("fake/m")
    for call in (
        lambda: client.complete_code("fake/m", "def f(", ")"),
        lambda: client.stream_code("fake/m", "def f(", ")"),
    ):
        with pytest.raises(CapabilityError) as info:
            call()
        assert info.value.capability == "code_completion"
    assert provider.requests == []
    assert client.chat("fake/m", HI).text == "ok"  # chat itself is still allowed


def test_code_completion_on_an_embedding_model_names_code_completion() -> None:
    embedder = Declaring({"embeddings": True}, id="emb")
    client = Client(providers=[embedder])
    with pytest.raises(CapabilityError) as info:
        client.complete_code("emb/vectors", "x = ")
    assert info.value.capability == "code_completion" and embedder.requests == []


def test_stream_code_on_a_non_streaming_model_points_to_complete_code() -> None:
    provider = Declaring({"chat": True, "streaming": False})
    client = Client(providers=[provider])
    with pytest.raises(CapabilityError) as info:
        client.stream_code("fake/m", "def f(")
    assert info.value.capability == "streaming"
    assert "complete_code()" in str(info.value) and "chat()" not in str(info.value)
    assert provider.requests == []


def test_async_code_completion_is_refused_too() -> None:
    provider = Declaring({"chat": True, "code_completion": False})

    async def main() -> None:
        async with AsyncClient(providers=[provider]) as client:
            with pytest.raises(CapabilityError) as info:
                await client.complete_code("fake/m", "def f(")
            assert info.value.capability == "code_completion"

    asyncio.run(main())
    assert provider.requests == []


def test_vertex_kind_has_no_embeddings(loopback: Loopback, tmp_path: Path) -> None:
    env = vertex_env(loopback, GoogleAccount(loopback).write(tmp_path), tmp_path)
    client = Client(env=env)
    caps = client._core.capabilities("vertex/gemini-2.5-flash")  # no listing: no network
    assert caps.embeddings is False and caps.chat is True
    with pytest.raises(CapabilityError) as info:
        client.embed("vertex/gemini-2.5-flash", ["a"])
    assert info.value.capability == "embeddings"
