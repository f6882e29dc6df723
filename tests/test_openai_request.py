"""build_request: the body, URL and headers each option and flavor produces."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from llmswitch.errors import ConfigurationError
from llmswitch.messages import (
    ImagePart,
    Message,
    ReasoningBlock,
    ReasoningConfig,
    TextPart,
    ToolCall,
    to_reasoning,
    to_response_format,
    to_tool_choice,
    to_tools,
)
from llmswitch.providers.base import AzureEndpoint, Endpoint
from llmswitch.providers.openai import RAW_ARGUMENTS_KEY, OpenAIAdapter
from llmswitch.wire import HttpRequest, Secret
from tests.support.openai import chat_request

KEY = "sk-proj-Zq8mW3nV5bX1cL7kJ9hG2fD4sA6pO0iU"
OPENAI = Endpoint(provider="openai", base_url="https://api.openai.com/v1", api_key=Secret(KEY))
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": True,
    },
}


def build(
    flavor: str = "openai", endpoint: Endpoint = OPENAI, *, stream: bool = False, **kw: Any
) -> tuple[HttpRequest, dict[str, Any]]:
    http = OpenAIAdapter(flavor).build_request(chat_request(**kw), endpoint, stream=stream)  # type: ignore[arg-type]
    assert http.body is not None
    return http, json.loads(http.body)


def test_minimal_request() -> None:
    http, body = build()
    assert http.method == "POST"
    assert http.url == "https://api.openai.com/v1/chat/completions"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert http.headers["content-type"] == "application/json"
    assert body == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    assert KEY not in repr(http)


def test_stream_asks_for_usage() -> None:
    http, body = build(stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert http.headers["accept"] == "text/event-stream"


def test_system_prompt_first_then_leading_system_messages_in_order() -> None:
    _, body = build(
        system="Be terse.",
        messages=[
            {"role": "developer", "content": "Now answer in French."},
            {
                "role": "system",
                "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}],
            },
            {"role": "user", "content": "a"},
        ],
    )
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "system", "content": "Now answer in French."},
        {
            "role": "system",
            "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}],
        },
        {"role": "user", "content": "a"},
    ]


def test_user_parts_with_image_detail() -> None:
    _, body = build(
        messages=[
            {
                "role": "user",
                "name": "ann",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                    },
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            }
        ]
    )
    assert body["messages"] == [
        {
            "role": "user",
            "name": "ann",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ]


def test_tool_round_trip_and_reasoning_dropped() -> None:
    history = [
        Message(role="user", content="Weather in Paris and Tokyo?"),
        Message(
            role="assistant",
            content=None,
            tool_calls=(
                ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),
                ToolCall(id="call_2", name="get_weather", arguments={"city": "東京"}),
            ),
            reasoning=(ReasoningBlock(text="I should call the tool", signature="sig"),),
        ),
        Message(role="tool", content="18C", tool_call_id="call_1"),
        Message(
            role="tool", content=(TextPart(text="2"), TextPart(text="5C")), tool_call_id="call_2"
        ),
        Message(
            role="assistant", content=(TextPart(text="Paris 18C, "), TextPart(text="Tokyo 25C"))
        ),
    ]
    _, body = build(messages=history)
    msgs = body["messages"]
    assert msgs[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"東京"}'},
            },
        ],
    }
    assert msgs[2] == {"role": "tool", "tool_call_id": "call_1", "content": "18C"}
    assert msgs[3]["content"] == [{"type": "text", "text": "2"}, {"type": "text", "text": "5C"}]
    assert msgs[4] == {"role": "assistant", "content": "Paris 18C, Tokyo 25C"}
    assert "thinking" not in json.dumps(body) and "sig" not in json.dumps(body)


def test_broken_tool_arguments_are_replayed_verbatim() -> None:
    bad = '{"id": 12, "tags": ["a", }'
    call = ToolCall(id="call_9", name="lookup", arguments={RAW_ARGUMENTS_KEY: bad})
    _, body = build(
        messages=[Message(role="user", content="x"), Message(role="assistant", tool_calls=(call,))]
    )
    assert body["messages"][1]["tool_calls"][0]["function"]["arguments"] == bad


def test_image_in_a_tool_result_is_a_typed_error() -> None:
    msg = Message(
        role="tool", tool_call_id="c", content=(ImagePart(url="https://example.com/x.png"),)
    )
    call = Message(role="assistant", tool_calls=(ToolCall(id="c", name="f", arguments={}),))
    with pytest.raises(ConfigurationError) as info:
        build(messages=[Message(role="user", content="x"), call, msg])
    assert info.value.field == "messages[2].content[0]"


def test_tools_and_tool_choice() -> None:
    tools = to_tools(
        [WEATHER, {"name": "ping", "parameters": {"type": "object", "properties": {}}}]
    )
    _, body = build(tools=tools, tool_choice=to_tool_choice("auto", tools))
    assert body["tools"] == [
        WEATHER,
        {
            "type": "function",
            "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert body["tool_choice"] == "auto"
    assert "parallel_tool_calls" not in body
    for raw, wire in [
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        (
            {"type": "function", "function": {"name": "ping"}},
            {"type": "function", "function": {"name": "ping"}},
        ),
    ]:
        _, body = build(tools=tools, tool_choice=to_tool_choice(raw, tools))
        assert body["tool_choice"] == wire


def test_parallel_tool_calls_only_from_extra_body() -> None:
    tools = to_tools([WEATHER])
    _, body = build(tools=tools, extra_body={"parallel_tool_calls": False})
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        ("json", {"type": "json_object"}),
        ("text", {"type": "text"}),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
            },
            {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
            },
        ),
        (
            {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
            {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": {"type": "object"}},
            },
        ),
    ],
)
def test_response_format(raw: Any, wire: dict[str, Any]) -> None:
    _, body = build(response_format=to_response_format(raw))
    assert body["response_format"] == wire


@pytest.mark.parametrize(
    ("flavor", "field"),
    [
        ("openai", "max_completion_tokens"),
        ("azure", "max_completion_tokens"),
        ("compatible", "max_tokens"),
    ],
)
def test_max_tokens_field_per_flavor(flavor: str, field: str) -> None:
    _, body = build(flavor, max_tokens=256)
    assert body[field] == 256
    assert {"max_tokens", "max_completion_tokens"} - {field} & body.keys() == set()


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        ("high", "high"),
        ("minimal", "minimal"),
        (0, "none"),
        (512, "low"),
        (1024, "low"),
        (1025, "medium"),
        (8192, "medium"),
        (8193, "high"),
        ({"effort": "low", "budget_tokens": 50000}, "low"),
    ],
)
def test_reasoning_effort(reasoning: Any, effort: str) -> None:
    _, body = build(reasoning=to_reasoning(reasoning))
    assert body["reasoning_effort"] == effort


def test_no_reasoning_effort_when_config_is_empty() -> None:
    _, body = build(reasoning=ReasoningConfig())
    assert "reasoning_effort" not in body


def test_sampling_stop_user() -> None:
    _, body = build(temperature=0.2, top_p=0.9, stop=("\n\n", "END"), user="u-42")
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["stop"] == ["\n\n", "END"]
    assert body["user"] == "u-42"


def test_metadata_only_goes_out_with_store() -> None:
    _, body = build(metadata={"team": "search"})
    assert "metadata" not in body and "store" not in body
    _, body = build(metadata={"team": "search"}, extra_body={"store": True})
    assert body["metadata"] == {"team": "search"} and body["store"] is True


def test_extra_body_merged_last_and_none_removes() -> None:
    _, body = build(
        stream=True,
        temperature=0.5,
        extra_body={"temperature": 1.0, "seed": 7, "stream_options": None},
    )
    assert body["temperature"] == 1.0 and body["seed"] == 7
    assert "stream_options" not in body and body["stream"] is True


def test_extra_headers_added() -> None:
    http, _ = build(extra_headers={"x-trace": "abc"})
    assert http.headers["x-trace"] == "abc"
    assert http.headers["authorization"] == f"Bearer {KEY}"


def test_compatible_server_without_key_sends_no_auth() -> None:
    vllm = Endpoint(provider="vllm", base_url="http://127.0.0.1:8000/v1/")
    http, body = build("compatible", vllm, model="Qwen/Qwen3-8B")
    assert http.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert "authorization" not in http.headers
    assert body["model"] == "Qwen/Qwen3-8B"


def test_unknown_flavor_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        OpenAIAdapter("anthropic")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- Azure, against the SDK

AZURE_KEY = "0123456789abcdef0123456789abcdef"


def _sdk_request(client_cls: Any, **kw: Any) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, json={"error": {"message": "stop"}})

    client = client_cls(
        max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler)), **kw
    )
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(
            model="my-gpt4o", messages=[{"role": "user", "content": "Hi"}]
        )
    return seen[0]


def test_azure_classic_deployment_url_matches_the_sdk() -> None:
    endpoint = AzureEndpoint(
        provider="azure",
        base_url="https://res.openai.azure.com",
        api_key=Secret(AZURE_KEY),
        api_version="2024-10-21",
    )
    http, body = build("azure", endpoint, model="my-gpt4o")
    sdk = _sdk_request(
        openai.AzureOpenAI,
        api_key=AZURE_KEY,
        azure_endpoint="https://res.openai.azure.com",
        api_version="2024-10-21",
    )
    assert http.url == str(sdk.url)
    assert (
        http.url
        == "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21"
    )
    assert http.headers["api-key"] == sdk.headers["api-key"] == AZURE_KEY
    assert "authorization" not in http.headers
    assert body["model"] == "my-gpt4o"


def test_azure_entra_token_provider_matches_the_sdk() -> None:
    endpoint = AzureEndpoint(
        provider="azure",
        base_url="https://res.openai.azure.com/",
        api_version="2025-01-01-preview",
        token_provider=lambda: "eyJ0eXAiOiJKV1Qi.token",
    )
    http, _ = build("azure", endpoint, model="my-gpt4o")
    sdk = _sdk_request(
        openai.AzureOpenAI,
        azure_ad_token_provider=lambda: "eyJ0eXAiOiJKV1Qi.token",
        azure_endpoint="https://res.openai.azure.com/",
        api_version="2025-01-01-preview",
    )
    assert http.url == str(sdk.url)
    assert (
        http.headers["authorization"]
        == sdk.headers["authorization"]
        == "Bearer eyJ0eXAiOiJKV1Qi.token"
    )
    assert "api-key" not in http.headers


def test_azure_v1_url_has_no_api_version() -> None:
    endpoint = AzureEndpoint(
        provider="azure",
        base_url="https://res.openai.azure.com/openai/v1/",
        api_key=Secret(AZURE_KEY),
    )
    http, body = build("azure", endpoint, model="my-gpt4o", max_tokens=10)
    sdk = _sdk_request(
        openai.OpenAI, api_key=AZURE_KEY, base_url="https://res.openai.azure.com/openai/v1/"
    )
    assert http.url == str(sdk.url) == "https://res.openai.azure.com/openai/v1/chat/completions"
    assert body["model"] == "my-gpt4o" and body["max_completion_tokens"] == 10


def test_openai_url_and_auth_match_the_sdk() -> None:
    http, _ = build()
    sdk = _sdk_request(openai.OpenAI, api_key=KEY)
    assert http.url == str(sdk.url)
    assert http.headers["authorization"] == sdk.headers["authorization"]


def test_models_request() -> None:
    adapter = OpenAIAdapter()
    http = adapter.models_request(OPENAI)
    assert (http.method, http.url, http.body) == ("GET", "https://api.openai.com/v1/models", None)
    assert http.headers["authorization"] == f"Bearer {KEY}"
    azure = AzureEndpoint(
        provider="azure",
        base_url="https://res.openai.azure.com",
        api_key=Secret(AZURE_KEY),
        api_version="2024-10-21",
    )
    assert (
        adapter.models_request(azure).url
        == "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
    )
