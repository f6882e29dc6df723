"""build_request: what goes on the wire to POST /v1/messages for each kind of input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch.errors import ConfigurationError
from llmswitch.events import Accumulator
from llmswitch.messages import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningBlock,
    ReasoningConfig,
    ResponseFormat,
    TextPart,
    ToolCall,
    to_messages,
    to_reasoning,
    to_response_format,
    to_tool_choice,
    to_tools,
)
from llmswitch.providers.anthropic import AnthropicAdapter
from llmswitch.providers.base import Endpoint
from llmswitch.wire import HttpResponse, Secret
from tests.support.fixtures import Fixtures

fixture = Fixtures("anthropic")
KEY = "sk-ant-api03-test-0123456789abcdef"
ENDPOINT = Endpoint(
    provider="anthropic",
    base_url="https://api.anthropic.com",
    api_key=Secret(KEY),
    auth_header="x-api-key",
    auth_scheme=None,
    headers={"anthropic-version": "2023-06-01"},
)
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
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
    },
}


def make(messages: Any, model: str = "claude-sonnet-4-5", **kw: Any) -> ChatRequest:
    tools = to_tools(kw.pop("tools", None))
    return ChatRequest(
        provider="anthropic",
        model=model,
        messages=to_messages(messages),
        tools=tools,
        tool_choice=to_tool_choice(kw.pop("tool_choice", None), tools),
        response_format=to_response_format(kw.pop("response_format", None)),
        reasoning=to_reasoning(kw.pop("reasoning", None)),
        **kw,
    )


def body(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    http = AnthropicAdapter().build_request(request, ENDPOINT, stream=stream)
    assert http.body is not None
    result: dict[str, Any] = json.loads(http.body)
    return result


HI = [{"role": "user", "content": "Hi"}]


# --------------------------------------------------------------------------- basics


def test_endpoint_headers_and_minimal_body() -> None:
    http = AnthropicAdapter().build_request(make(HI), ENDPOINT, stream=False)
    assert (http.method, http.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert http.headers["x-api-key"] == KEY
    assert http.headers["anthropic-version"] == "2023-06-01"
    assert http.headers["content-type"] == "application/json"
    assert "authorization" not in http.headers and "anthropic-beta" not in http.headers
    assert KEY not in repr(http)
    assert json.loads(http.body or b"") == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,  # default cap (the model's own max output is 64000)
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_stream_flag_and_extra_headers_replace_case_insensitively() -> None:
    request = make(HI, extra_headers={"Anthropic-Beta": "context-1m-2025-08-07", "X-Trace": "1"})
    http = AnthropicAdapter().build_request(request, ENDPOINT, stream=True)
    assert json.loads(http.body or b"")["stream"] is True
    assert http.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert http.headers["x-trace"] == "1"
    override = make(HI, extra_headers={"Anthropic-Version": "2026-10-21"})
    headers = AnthropicAdapter().build_request(override, ENDPOINT, stream=False).headers
    assert [k for k in headers if k.lower() == "anthropic-version"] == ["anthropic-version"]
    assert headers["anthropic-version"] == "2026-10-21"


def test_optional_fields_only_when_set() -> None:
    b = body(make(HI))
    for key in ("temperature", "top_p", "stop_sequences", "metadata", "system", "tools", "stream"):
        assert key not in b
    b = body(make(HI, temperature=0.2, top_p=0.9, stop=("###", "END"), user="u-42"))
    assert (b["temperature"], b["top_p"]) == (0.2, 0.9)
    assert b["stop_sequences"] == ["###", "END"]
    assert b["metadata"] == {"user_id": "u-42"}


def test_llmswitch_metadata_is_not_sent_to_the_provider() -> None:
    assert "metadata" not in body(make(HI, metadata={"team": "search"}))


def test_extra_body_merged_last_one_level_deep() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    request = make(
        HI,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        extra_body={"output_config": {"effort": "high"}, "top_k": 5, "max_tokens": 10},
    )
    b = body(request)
    assert b["output_config"] == {
        "format": {"type": "json_schema", "schema": schema},
        "effort": "high",
    }
    assert b["top_k"] == 5 and b["max_tokens"] == 10


# --------------------------------------------------------------------------- max_tokens


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-haiku-4-5-20251001", 8192),  # dated snapshot -> its family, capped
        ("claude-opus-4-1", 8192),
        ("claude-3-haiku-20240307", 4096),  # the model's own max is below the cap
        ("claude-3-5-haiku-latest", 8192),
        ("claude-brand-new-9", 4096),  # unknown: safe fallback
    ],
)
def test_default_max_tokens_from_catalog(model: str, expected: int) -> None:
    assert body(make(HI, model=model))["max_tokens"] == expected


def test_caller_max_tokens_wins() -> None:
    assert body(make(HI, max_tokens=321))["max_tokens"] == 321


# --------------------------------------------------------------------------- system


def test_system_prompt_and_system_messages_go_top_level_in_order() -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    b = body(make(messages, system="You are a weather bot."))
    assert b["system"] == "You are a weather bot.\n\nBe terse.\n\nUse metric units."
    assert [m["role"] for m in b["messages"]] == ["user", "assistant"]


def test_system_becomes_blocks_when_cached() -> None:
    messages = [
        {"role": "system", "content": "Long policy…", "cache_control": {"type": "ephemeral"}},
        {"role": "user", "content": "Hi"},
    ]
    b = body(make(messages, system="Intro."))
    assert b["system"] == [
        {"type": "text", "text": "Intro."},
        {"type": "text", "text": "Long policy…", "cache_control": {"type": "ephemeral"}},
    ]


def test_image_in_system_message_is_rejected_naming_the_field() -> None:
    messages = [
        {"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]},
        {"role": "user", "content": "Hi"},
    ]
    with pytest.raises(ConfigurationError) as info:
        body(make(messages))
    assert info.value.field == "messages[0].content[0]"


# --------------------------------------------------------------------------- turns


def test_consecutive_same_role_turns_are_merged() -> None:
    messages = [
        {"role": "user", "content": "First."},
        {"role": "user", "content": "Second."},
        {"role": "assistant", "content": "A"},
        {"role": "assistant", "content": "B"},
    ]
    assert body(make(messages))["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "First."}, {"type": "text", "text": "Second."}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        },
    ]


def test_tool_round_trip_mapping() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "21C"}]},
        {"role": "user", "content": "Thanks, and tomorrow?"},
    ]
    b = body(make(messages, tools=[WEATHER]))
    assert b["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "21C"}],
                },
                {"type": "text", "text": "Thanks, and tomorrow?"},
            ],
        },
    ]
    assert b["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
            "description": "Weather for a city",
        }
    ]


def test_tool_results_come_first_in_their_user_turn() -> None:
    messages = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "tool_calls": [
            {"id": "toolu_1", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "user", "content": "(while you work: use Celsius)"},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
    ]  # fmt: skip
    last = body(make(messages, tools=[WEATHER]))["messages"][-1]
    assert [block["type"] for block in last["content"]] == ["tool_result", "text"]


def test_assistant_without_text_sends_only_tool_use() -> None:
    messages = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "toolu_1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "-3C"},
    ]  # fmt: skip
    assistant = body(make(messages, tools=[WEATHER]))["messages"][1]
    assert assistant["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
    ]


# --------------------------------------------------------------------------- images


def test_images_base64_and_url() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": PNG}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/cat.webp", "detail": "low"},
                },
            ],
        }
    ]
    content = body(make(messages))["messages"][0]["content"]
    assert content[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG.split(",", 1)[1]},
    }
    assert content[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.webp"},
    }


@pytest.mark.parametrize("mime", ["image/svg+xml", "image/bmp", "application/pdf"])
def test_unsupported_image_type_is_a_configuration_error(mime: str) -> None:
    messages = [
        {"role": "user", "content": [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64,QUJD"}}]},
    ]  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        AnthropicAdapter().build_request(make(messages), ENDPOINT, stream=False)
    assert info.value.field == "messages[0].content[1].image_url.url"
    assert mime in str(info.value) and "anthropic/claude-sonnet-4-5" in str(info.value)


# --------------------------------------------------------------------------- tools


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, wire: dict[str, Any]) -> None:
    assert body(make(HI, tools=[WEATHER], tool_choice=choice))["tool_choice"] == wire


def test_strict_and_cached_tool() -> None:
    tool = {**WEATHER["function"], "strict": True}  # type: ignore[dict-item]
    request = make(
        HI, tools=[{"type": "function", "function": tool, "cache_control": {"type": "ephemeral"}}]
    )
    (spec,) = body(request)["tools"]
    assert spec["strict"] is True and spec["cache_control"] == {"type": "ephemeral"}


# --------------------------------------------------------------------------- structured output


def test_json_schema_goes_to_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}  # fmt: skip
    b = body(
        make(
            HI,
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
        )
    )
    assert b["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "system" not in b


def test_json_object_is_asked_for_in_the_system_prompt() -> None:
    b = body(make(HI, system="Be terse.", response_format="json_object"))
    assert "output_config" not in b
    assert b["system"].startswith("Be terse.\n\n") and "JSON object" in b["system"]


# --------------------------------------------------------------------------- thinking


def test_thinking_budget_raises_default_max_tokens_above_it() -> None:
    b = body(make(HI, model="claude-brand-new-9", reasoning={"budget_tokens": 8000}))
    assert b["thinking"] == {"type": "enabled", "budget_tokens": 8000}
    assert b["max_tokens"] > 8000


def test_thinking_budget_with_catalog_default() -> None:
    b = body(make(HI, reasoning=2048))
    assert b["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert b["max_tokens"] == 8192 + 2048  # the answer keeps its default room


def test_thinking_budget_not_below_callers_max_tokens() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(make(HI, reasoning=2048, max_tokens=2048))
    assert info.value.field == "max_tokens"


def test_thinking_budget_larger_than_model_output_is_rejected() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(make(HI, model="claude-3-7-sonnet-20250219", reasoning=64000))
    assert info.value.field == "reasoning.budget_tokens"


def test_thinking_budget_minimum() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(make(HI, reasoning=500))
    assert info.value.field == "reasoning.budget_tokens" and "1024" in str(info.value)


@pytest.mark.parametrize(
    ("effort", "budget"),
    [
        ("minimal", 1024),
        ("low", 1024),
        ("medium", 4096),
        ("high", 16384),
        ("xhigh", 32768),
        ("max", 32768),
    ],
)
def test_effort_maps_to_budget(effort: str, budget: int) -> None:
    b = body(make(HI, reasoning=effort))
    assert b["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert b["max_tokens"] > budget


def test_effort_none_and_zero_budget_disable_thinking() -> None:
    assert body(make(HI, reasoning="none"))["thinking"] == {"type": "disabled"}
    assert body(make(HI, reasoning=ReasoningConfig(budget_tokens=0)))["thinking"] == {
        "type": "disabled"
    }


@pytest.mark.parametrize("choice", ["required", {"function": {"name": "get_weather"}}])
def test_forced_tool_use_with_thinking_is_rejected(choice: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        body(make(HI, tools=[WEATHER], tool_choice=choice, reasoning="low"))
    assert info.value.field == "tool_choice"
    # "auto" is fine
    assert body(make(HI, tools=[WEATHER], tool_choice="auto", reasoning="low"))["tool_choice"] == {
        "type": "auto"
    }


def test_sampling_conflicts_with_thinking_name_the_field() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(make(HI, reasoning="low", temperature=0.3))
    assert info.value.field == "temperature"
    with pytest.raises(ConfigurationError) as info:
        body(make(HI, reasoning="low", top_p=0.5))
    assert info.value.field == "top_p"


# --------------------------------------------------------------------------- signed thinking round trip


def _replay(assistant: Message) -> dict[str, Any]:
    messages = (
        Message(role="user", content="Weather in Zürich?"),
        assistant,
        *(Message(role="tool", tool_call_id=c.id, content="ok") for c in assistant.tool_calls),
    )
    request = ChatRequest(
        provider="anthropic", model="claude-sonnet-4-5", messages=messages,
        tools=to_tools([WEATHER, {"name": "get_time"}]), reasoning=ReasoningConfig(budget_tokens=2048),
    )  # fmt: skip
    sent: dict[str, Any] = body(request)["messages"][1]
    return sent


def test_signed_thinking_goes_back_unmodified_from_a_response() -> None:
    raw = fixture("thinking_tool.json")
    request = make(HI)
    resp = AnthropicAdapter().parse_response(request, HttpResponse(200, {}, raw))
    sent = _replay(resp.message)
    original = json.loads(raw)["content"]
    assert sent["role"] == "assistant"
    assert sent["content"][0] == original[0]  # thinking + signature, byte-identical values
    assert [b for b in sent["content"] if b["type"] == "tool_use"] == [
        {k: b[k] for k in ("type", "id", "name", "input")}
        for b in original
        if b["type"] == "tool_use"
    ]
    # The OpenAI-style dict form (what users store in their history) round-trips too.
    again = _replay(to_messages([resp.message.to_dict()])[0])
    assert again == sent


def test_signed_and_redacted_thinking_go_back_from_a_stream() -> None:
    data = fixture("redacted_thinking.sse")
    parser = AnthropicAdapter().stream_parser(make(HI))
    acc = Accumulator("anthropic", "claude-3-7-sonnet")
    for event in [*parser.feed(data), *parser.close()]:
        acc.add(event)
    sent = _replay(acc.snapshot().message)
    redacted, thinking, text = sent["content"]
    assert redacted["type"] == "redacted_thinking" and redacted["data"].startswith(
        "EmwKAhgBEgy3va3p"
    )
    assert thinking == {
        "type": "thinking",
        "thinking": "Now, openly: 2+2=4.",
        "signature": "ErUBCkYIAxgCIkDsig==",
    }
    assert text == {"type": "text", "text": "4"}


def test_unsigned_reasoning_from_another_provider_is_not_sent() -> None:
    assistant = Message(
        role="assistant",
        content="Answer",
        reasoning=(ReasoningBlock(text="thoughts from another provider"),),
    )
    messages = (Message(role="user", content="Q"), assistant, Message(role="user", content="More"))
    request = ChatRequest(provider="anthropic", model="claude-sonnet-4-5", messages=messages)
    assert body(request)["messages"][1] == {"role": "assistant", "content": "Answer"}


# --------------------------------------------------------------------------- caching


def test_cache_control_on_message_part_and_tool_result() -> None:
    messages = (
        Message(role="user", content=(TextPart(text="Doc…", cache_control={"type": "ephemeral", "ttl": "1h"}),
                                      TextPart(text="Question"))),
        Message(role="assistant", content="A", tool_calls=(ToolCall(id="t1", name="get_weather", arguments={}),)),
        Message(role="tool", tool_call_id="t1", content="18C", cache_control={"type": "ephemeral"}),
        Message(role="user", content=(ImagePart(url=PNG, cache_control={"type": "ephemeral"}),)),
        Message(role="assistant", content="Noted", cache_control={"type": "ephemeral"}),
    )  # fmt: skip
    request = ChatRequest(provider="anthropic", model="claude-sonnet-4-5", messages=messages,
                          tools=to_tools([WEATHER]))  # fmt: skip
    sent = body(request)["messages"]
    assert sent[0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in sent[0]["content"][1]
    # tool result + image merged in one user turn; each keeps its own marker
    assert sent[2]["content"][0]["type"] == "tool_result"
    assert sent[2]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent[2]["content"][1]["type"] == "image"
    assert sent[2]["content"][1]["cache_control"] == {"type": "ephemeral"}
    # a cached plain-text message must become a block list to carry the marker
    assert sent[3] == {"role": "assistant",
                       "content": [{"type": "text", "text": "Noted", "cache_control": {"type": "ephemeral"}}]}  # fmt: skip


def test_response_format_text_changes_nothing() -> None:
    assert body(make(HI, response_format=ResponseFormat(type="text"))) == body(make(HI))
