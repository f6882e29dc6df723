"""Requests the Ollama adapter builds (WIRE.md 5.2, 5.5), and where the provider lives
(``OLLAMA_HOST`` read the way the official client reads it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmswitch.config import Config, ProviderConfig
from llmswitch.errors import ConfigurationError
from llmswitch.messages import (
    ChatRequest,
    EmbedRequest,
    ImagePart,
    Message,
    ReasoningBlock,
    ReasoningConfig,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmswitch.providers.base import Endpoint
from llmswitch.providers.ollama import OllamaAdapter, parse_host
from llmswitch.providers.ollama._spec import build_provider
from llmswitch.providers.registry import build_provider as registry_build
from llmswitch.wire import HttpResponse, Secret

ENDPOINT = Endpoint(provider="ollama", base_url="http://127.0.0.1:11434")
HI = (Message(role="user", content="hi"),)
WEATHER = Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def req(**kw: Any) -> ChatRequest:
    kw.setdefault("messages", HI)
    return ChatRequest(provider="ollama", model="llama3.2", **kw)


def body(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    http = OllamaAdapter().build_request(request, ENDPOINT, stream=stream)
    assert http.body is not None
    return json.loads(http.body)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- chat body


def test_minimal_request() -> None:
    http = OllamaAdapter().build_request(req(), ENDPOINT, stream=True)
    assert (http.method, http.url) == ("POST", "http://127.0.0.1:11434/api/chat")
    assert http.headers["content-type"] == "application/json"
    assert "authorization" not in http.headers  # local Ollama needs no key
    assert json.loads(http.body or b"") == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }


def test_stream_false_is_explicit() -> None:
    assert body(req())["stream"] is False  # Ollama streams unless told otherwise


def test_system_and_sampling_options() -> None:
    b = body(req(system="Be terse.", temperature=0.2, top_p=0.9, max_tokens=512, stop=("###",)))
    assert b["messages"][0] == {"role": "system", "content": "Be terse."}
    assert b["options"] == {"temperature": 0.2, "top_p": 0.9, "num_predict": 512, "stop": ["###"]}


def test_extra_body_options_merge_and_top_level_fields() -> None:
    b = body(
        req(
            temperature=0.2,
            extra_body={
                "options": {"num_ctx": 8192, "top_k": 40, "temperature": 0.7},
                "keep_alive": "10m",
                "seed": 7,
            },
        )
    )
    # merged key by key; the caller's extra wins
    assert b["options"] == {"temperature": 0.7, "num_ctx": 8192, "top_k": 40, "seed": 7}
    assert b["keep_alive"] == "10m" and "seed" not in b


def test_extra_body_none_removes_a_field() -> None:
    b = body(req(temperature=0.2, extra_body={"options": {"temperature": None}, "stream": None}))
    assert "options" not in b and "stream" not in b


def test_extra_body_options_must_be_a_dict() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(req(extra_body={"options": [1]}))
    assert info.value.field == "extra_body.options"


def test_images_go_as_raw_base64() -> None:
    user = Message(
        role="user",
        content=(
            TextPart(text="What is in this image?"),
            ImagePart(url=f"data:image/png;base64,{PNG}"),
        ),
    )
    b = body(req(messages=(user,)))
    assert b["messages"] == [{"role": "user", "content": "What is in this image?", "images": [PNG]}]


def test_http_image_url_is_refused_naming_the_field() -> None:
    user = Message(
        role="user", content=(TextPart(text="x"), ImagePart(url="https://example.com/cat.png"))
    )
    with pytest.raises(ConfigurationError) as info:
        body(req(messages=(Message(role="user", content="a"), user)))
    assert info.value.field == "messages[1].content[1].image_url.url"
    assert "data:" in str(info.value)


def test_tools_and_a_tool_loop() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Zürich"})
    history = (
        Message(role="user", content="Weather?"),
        Message(
            role="assistant",
            content=None,
            tool_calls=(call,),
            reasoning=(ReasoningBlock(text="Need weather."),),
        ),
        Message(role="tool", tool_call_id="call_1", content="18C"),
    )
    b = body(req(messages=history, tools=(WEATHER,)))
    assert b["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assert b["messages"][1] == {
        "role": "assistant",
        "content": "",
        "thinking": "Need weather.",
        # arguments are an object, not a JSON string
        "tool_calls": [
            {"id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}
        ],
    }
    assert b["messages"][2] == {
        "role": "tool",
        "content": "18C",
        "tool_name": "get_weather",  # looked up from the call id
        "tool_call_id": "call_1",
    }


def test_tool_name_comes_from_the_latest_call_with_that_id() -> None:
    # servers without ids: our generated ids are unique, but a history from elsewhere
    # may reuse "call_0" in every turn
    def turn(name: str) -> tuple[Message, Message]:
        return (
            Message(role="assistant", tool_calls=(ToolCall(id="call_0", name=name, arguments={}),)),
            Message(role="tool", tool_call_id="call_0", content="ok"),
        )

    history = (Message(role="user", content="go"), *turn("first"), *turn("second"))
    b = body(req(messages=history, tools=(Tool(name="first"), Tool(name="second"))))
    assert [m.get("tool_name") for m in b["messages"]] == [None, None, "first", None, "second"]


def test_tool_choice_none_sends_no_tools() -> None:
    assert "tools" not in body(req(tools=(WEATHER,), tool_choice=ToolChoice(mode="none")))
    assert "tools" in body(req(tools=(WEATHER,), tool_choice=ToolChoice(mode="auto")))


@pytest.mark.parametrize(
    "choice", [ToolChoice(mode="required"), ToolChoice(mode="tool", name="get_weather")]
)
def test_forced_tool_choice_is_refused(choice: ToolChoice) -> None:
    with pytest.raises(ConfigurationError) as info:
        body(req(tools=(WEATHER,), tool_choice=choice))
    assert info.value.field == "tool_choice"
    assert "cannot force" in str(info.value)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (ResponseFormat(type="json_object"), "json"),
        (
            ResponseFormat(
                type="json_schema", schema={"type": "object", "properties": {"age": {}}}
            ),
            {"type": "object", "properties": {"age": {}}},
        ),
    ],
)
def test_format(fmt: ResponseFormat, expected: Any) -> None:
    assert body(req(response_format=fmt))["format"] == expected


def test_text_format_sends_nothing() -> None:
    assert "format" not in body(req(response_format=ResponseFormat(type="text")))


@pytest.mark.parametrize(
    ("reasoning", "think"),
    [
        (ReasoningConfig(effort="medium"), True),  # reasoning=True; the widest-accepted form
        (ReasoningConfig(effort="low"), "low"),
        (ReasoningConfig(effort="high"), "high"),
        (ReasoningConfig(effort="minimal"), "low"),
        (ReasoningConfig(effort="max"), "high"),
        (ReasoningConfig(effort="none"), False),
        (ReasoningConfig(budget_tokens=2048), True),
        (ReasoningConfig(budget_tokens=0), False),
    ],
)
def test_think(reasoning: ReasoningConfig, think: bool | str) -> None:
    assert body(req(reasoning=reasoning))["think"] == think


def test_images_outside_user_messages_are_refused() -> None:
    system = Message(role="system", content=(ImagePart(url=f"data:image/png;base64,{PNG}"),))
    with pytest.raises(ConfigurationError) as info:
        body(req(messages=(system, *HI)))
    assert info.value.field == "messages[0].content[0]"


def test_extra_headers_and_stream_accept() -> None:
    http = OllamaAdapter().build_request(req(extra_headers={"x-trace": "1"}), ENDPOINT, stream=True)
    assert http.headers["x-trace"] == "1"
    assert http.headers["accept"] == "application/x-ndjson"


# --------------------------------------------------------------------------- other requests


def test_embed_request() -> None:
    request = EmbedRequest(
        provider="ollama",
        model="nomic-embed-text",
        inputs=("a", "b"),
        dimensions=256,
        input_type="query",  # Ollama has no such hint: not sent
        extra_body={"truncate": False, "keep_alive": "1m", "options": {"num_ctx": 2048}},
    )
    http = OllamaAdapter().build_embed_request(request, ENDPOINT)
    assert http.url == "http://127.0.0.1:11434/api/embed"
    assert json.loads(http.body or b"") == {
        "model": "nomic-embed-text",
        "input": ["a", "b"],
        "dimensions": 256,
        "options": {"num_ctx": 2048},
        "truncate": False,
        "keep_alive": "1m",
    }


def test_models_requests_tags_then_show() -> None:
    adapter = OllamaAdapter()
    tags = adapter.models_request(ENDPOINT)
    assert (tags.method, tags.url, tags.body) == ("GET", "http://127.0.0.1:11434/api/tags", None)
    assert "content-type" not in tags.headers
    show = adapter.models_request(ENDPOINT, '["qwen3:8b","llava:7b"]')
    assert (show.method, show.url) == ("POST", "http://127.0.0.1:11434/api/show")
    assert json.loads(show.body or b"") == {"model": "qwen3:8b"}


def test_health_request() -> None:
    http = OllamaAdapter().health_request(ENDPOINT)
    assert (http.method, http.url) == ("GET", "http://127.0.0.1:11434/api/version")


# --------------------------------------------------------------------------- endpoint


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":56789", "http://127.0.0.1:56789"),
        ("example.com:56789", "http://example.com:56789"),
        ("http://example.com", "http://example.com:80"),
        ("https://ollama.com", "https://ollama.com:443"),
        ("https://example.com:56789/path/", "https://example.com:56789/path"),
        ("example.com/path", "http://example.com:11434/path"),
        ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
    ],
)
def test_parse_host_like_the_official_client(host: str | None, url: str) -> None:
    from ollama._client import _parse_host

    assert parse_host(host) == url
    assert _parse_host(host) == url  # the reference agrees


def test_bad_host_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        build_provider("ollama", None, {"OLLAMA_HOST": "localhost:notaport"})
    assert "OLLAMA_HOST" in str(info.value) and info.value.provider == "ollama"


def test_provider_needs_no_settings() -> None:
    provider = registry_build("ollama", Config(), {})
    assert provider.id == "ollama"
    assert provider.endpoint.base_url == "http://127.0.0.1:11434"  # type: ignore[attr-defined]


def test_provider_from_env_with_cloud_key() -> None:
    key = "ollama-cloud-key-0123456789"
    provider = build_provider(
        "ollama", None, {"OLLAMA_HOST": "https://ollama.com", "OLLAMA_API_KEY": key}
    )
    http = provider.adapter.build_request(req(), provider.endpoint, stream=False)
    assert http.url == "https://ollama.com:443/api/chat"
    assert http.headers["authorization"] == f"Bearer {key}"
    assert key not in repr(provider) and key not in repr(provider.endpoint)


def test_toml_entry_overrides_env() -> None:
    pc = ProviderConfig(
        id="gpu-box",
        kind="ollama",
        base_url="gpu-box.lan:11434",
        api_key=Secret("k"),
        headers={"x-team": "ml"},
    )
    provider = registry_build("gpu-box", Config(providers={"gpu-box": pc}), {"OLLAMA_HOST": "x"})
    endpoint = provider.endpoint  # type: ignore[attr-defined]
    assert endpoint.base_url == "http://gpu-box.lan:11434"
    headers = endpoint.request_headers()
    assert headers["x-team"] == "ml" and headers["authorization"] == "Bearer k"


def test_plain_parse_models_lists_names_from_tags_alone() -> None:
    # Callers that only know the base Adapter protocol get a one-request listing.
    tags = (Path(__file__).parent / "fixtures" / "ollama" / "tags.json").read_bytes()
    models, cursor = OllamaAdapter().parse_models(ENDPOINT, HttpResponse(200, {}, tags))
    assert cursor is None
    assert [m.id for m in models] == ["qwen3:8b", "llava:7b", "nomic-embed-text:latest"]
    assert all(m.context_window is None for m in models)
    empty, _ = OllamaAdapter().parse_models(ENDPOINT, HttpResponse(200, {}, b'{"models":null}'))
    assert empty == []
