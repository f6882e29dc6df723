"""ChatRequest -> Converse request: URL, body fields, and the errors that name a field
before anything is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch.errors import ConfigurationError
from llmswitch.messages import (
    ReasoningConfig,
    ResponseFormat,
    ToolChoice,
    to_tools,
)
from llmswitch.providers.bedrock import BedrockAdapter, BedrockEndpoint
from tests.support.bedrock import MODEL_PATH, chat_request, fixture, parse_body

ENDPOINT = BedrockEndpoint(
    provider="bedrock",
    base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
    region="us-east-1",
    control_url="https://bedrock.us-east-1.amazonaws.com",
)
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def body(stream: bool = False, **kw: Any) -> dict[str, Any]:
    request = chat_request(**kw)
    http = BedrockAdapter().build_request(request, ENDPOINT, stream=stream)
    assert http.body is not None
    out: dict[str, Any] = json.loads(http.body)
    return out


def test_url_percent_encodes_the_model_and_picks_the_action() -> None:
    adapter = BedrockAdapter()
    request = chat_request()
    chat = adapter.build_request(request, ENDPOINT, stream=False)
    stream = adapter.build_request(request, ENDPOINT, stream=True)
    base = "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
    assert chat.url == f"{base}{MODEL_PATH}/converse"
    assert stream.url == f"{base}{MODEL_PATH}/converse-stream"
    assert chat.method == "POST" and chat.headers["content-type"] == "application/json"


def test_inference_profile_arn_is_one_path_segment() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    http = BedrockAdapter().build_request(chat_request(model=arn), ENDPOINT, stream=False)
    assert http.url.endswith(
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
        "application-inference-profile%2Fa1b2c3/converse"
    )


def test_basic_body_system_and_inference_config() -> None:
    b = body(
        system="You are terse.",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hi"},
        ],
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        stop=("###",),
    )
    assert b["system"] == [{"text": "You are terse."}, {"text": "Answer in French."}]
    assert b["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]
    assert b["inferenceConfig"] == {
        "maxTokens": 100,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["###"],
    }
    assert "toolConfig" not in b and "additionalModelRequestFields" not in b


def test_no_options_sends_no_inference_config() -> None:
    assert set(body()) == {"messages"}


def test_images_go_as_bytes_with_their_format() -> None:
    b = body(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            }
        ]
    )
    (image,) = [blk for blk in b["messages"][0]["content"] if "image" in blk]
    assert image == {"image": {"format": "png", "source": {"bytes": PNG.split(",", 1)[1]}}}


def test_http_image_url_is_a_configuration_error_naming_the_field() -> None:
    messages = [
        {"role": "user", "content": "look"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}],
        },
    ]
    with pytest.raises(ConfigurationError) as info:
        body(messages=messages)
    assert info.value.field == "messages[1].content[0].image_url.url"
    assert "bytes" in str(info.value) and "S3" in str(info.value)


def test_unsupported_image_type_is_rejected() -> None:
    bmp = "data:image/bmp;base64,Qk0="
    with pytest.raises(ConfigurationError, match="png, jpeg, gif or webp"):
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": bmp}]}])


def test_tool_loop_history_turns_and_results() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and the time?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "tooluse_1", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "tooluse_2", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "tooluse_1", "content": '{"temp": 18}'},
        {"role": "tool", "tool_call_id": "tooluse_2", "content": "12:00"},
        {"role": "user", "content": "Thanks"},
    ]  # fmt: skip
    b = body(messages=messages, tools=to_tools([WEATHER, {"name": "get_time"}]))
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user"]
    assistant = b["messages"][1]["content"]
    assert assistant == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "tooluse_2", "name": "get_time", "input": {}}},
    ]
    results = b["messages"][2]["content"]
    assert results == [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp": 18}}],
                        "status": "success"}},
        {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "12:00"}],
                        "status": "success"}},
        {"text": "Thanks"},
    ]  # fmt: skip
    spec = b["toolConfig"]["tools"][0]["toolSpec"]
    assert spec == {
        "name": "get_weather",
        "inputSchema": {"json": WEATHER["parameters"]},
        "description": "Weather for a city",
    }


def test_tool_results_move_before_text_in_a_merged_user_turn() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "function": {"name": "f"}}]},
        {"role": "user", "content": "also this"},
        {"role": "tool", "tool_call_id": "t1", "content": "[1, 2]"},
    ]
    b = body(messages=messages)
    last = b["messages"][-1]["content"]
    assert [next(iter(blk)) for blk in last] == ["toolResult", "text"]
    assert last[0]["toolResult"]["content"] == [{"text": "[1, 2]"}]  # JSON, but not an object


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice(mode="auto"), {"auto": {}}),
        (ToolChoice(mode="required"), {"any": {}}),
        (ToolChoice(mode="tool", name="get_weather"), {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: ToolChoice, expected: dict[str, Any]) -> None:
    b = body(tools=to_tools([WEATHER]), tool_choice=choice)
    assert b["toolConfig"]["toolChoice"] == expected


def test_tool_choice_none_leaves_the_tools_out() -> None:
    b = body(tools=to_tools([WEATHER]), tool_choice=ToolChoice(mode="none"))
    assert "toolConfig" not in b


def test_tool_choice_none_with_tool_history_keeps_tool_config_without_a_choice() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "function": {"name": "get_weather"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
    ]
    b = body(messages=messages, tools=to_tools([WEATHER]), tool_choice=ToolChoice(mode="none"))
    assert [t["toolSpec"]["name"] for t in b["toolConfig"]["tools"]] == ["get_weather"]
    assert "toolChoice" not in b["toolConfig"]


def test_tool_history_without_tools_gets_minimal_specs() -> None:
    # Converse rejects toolUse/toolResult blocks unless a toolConfig is present.
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "function": {"name": "lookup"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "found"},
    ]
    b = body(messages=messages)
    assert b["toolConfig"] == {
        "tools": [
            {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object",
                                                                      "properties": {}}}}}
        ]
    }  # fmt: skip


def test_reasoning_budget_for_claude_with_a_max_tokens_that_fits() -> None:
    b = body(reasoning=ReasoningConfig(budget_tokens=2048))
    assert b["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    # no max_tokens given: thinking counts toward it, so it must exceed the budget
    assert b["inferenceConfig"]["maxTokens"] == 2048 + 8192


def test_reasoning_effort_maps_to_a_budget() -> None:
    b = body(reasoning=ReasoningConfig(effort="high"), max_tokens=20000)
    assert b["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 16384
    assert b["inferenceConfig"]["maxTokens"] == 20000


def test_reasoning_none_sends_nothing() -> None:
    b = body(reasoning=ReasoningConfig(effort="none"))
    assert "additionalModelRequestFields" not in b


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"reasoning": ReasoningConfig(budget_tokens=500)}, "reasoning.budget_tokens"),
        ({"reasoning": ReasoningConfig(budget_tokens=4096), "max_tokens": 4096}, "max_tokens"),
        ({"reasoning": ReasoningConfig(budget_tokens=4096), "temperature": 0.3}, "temperature"),
        ({"reasoning": ReasoningConfig(budget_tokens=4096), "model": "amazon.nova-pro-v1:0"},
         "reasoning"),
        ({"user": "bad\nuser\u00e9"}, "user"),
    ],
)  # fmt: skip
def test_bad_combinations_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        body(**kw)
    assert info.value.field == field


def test_signed_reasoning_goes_back_first_and_unsigned_is_dropped() -> None:
    first = parse_body(fixture("tool_use.json"))
    history = [
        {"role": "user", "content": "Weather?"},
        first.message.to_dict(),
        *({"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in first.tool_calls),
    ]
    history[1]["thinking_blocks"].append({"type": "thinking", "thinking": "unsigned"})
    b = body(messages=history, tools=to_tools([WEATHER, {"name": "get_time"}]))
    content = b["messages"][1]["content"]
    original = json.loads(fixture("tool_use.json"))["output"]["message"]["content"]
    assert content == original  # reasoning (signed), text, both toolUse blocks, unchanged


def test_redacted_reasoning_goes_back_unchanged() -> None:
    first = parse_body(fixture("redacted.json"))
    b = body(messages=[{"role": "user", "content": "2+2?"}, first.message.to_dict(),
                       {"role": "user", "content": "and 3+3?"}])  # fmt: skip
    original = json.loads(fixture("redacted.json"))["output"]["message"]["content"]
    assert b["messages"][1]["content"] == original


def test_cache_control_becomes_cache_points() -> None:
    tools = to_tools([{**WEATHER, "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
    messages = [
        {"role": "system", "content": "Long policy…", "cache_control": {"type": "ephemeral"}},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Big document", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Question?"},
            ],
        },
    ]
    b = body(messages=messages, tools=tools)
    assert b["system"] == [{"text": "Long policy…"}, {"cachePoint": {"type": "default"}}]
    assert b["messages"][0]["content"] == [
        {"text": "Big document"},
        {"cachePoint": {"type": "default"}},
        {"text": "Question?"},
    ]
    assert b["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}


def test_json_schema_goes_to_output_config_as_a_string() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    b = body(response_format=ResponseFormat(type="json_schema", schema=schema, name="answer"))
    fmt = b["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema"
    assert json.loads(fmt["structure"]["jsonSchema"]["schema"]) == schema
    assert fmt["structure"]["jsonSchema"]["name"] == "answer"


def test_json_object_is_asked_for_in_the_system_prompt() -> None:
    b = body(response_format=ResponseFormat(type="json_object"))
    assert "JSON" in b["system"][-1]["text"]


def test_user_goes_to_request_metadata() -> None:
    assert body(user="user-42@example.com")["requestMetadata"] == {"user": "user-42@example.com"}


def test_extra_body_merges_one_level_deep_and_none_removes() -> None:
    b = body(
        reasoning=ReasoningConfig(budget_tokens=2048),
        max_tokens=5000,
        extra_body={
            "additionalModelRequestFields": {"top_k": 40},
            "performanceConfig": {"latency": "optimized"},
            "inferenceConfig": None,
        },
    )
    assert b["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "top_k": 40,
    }
    assert b["performanceConfig"] == {"latency": "optimized"}
    assert "inferenceConfig" not in b


def test_extra_headers_replace_ours_case_insensitively() -> None:
    request = chat_request(extra_headers={"Content-Type": "application/json; charset=utf-8",
                                          "X-Amzn-Bedrock-Trace": "ENABLED"})  # fmt: skip
    http = BedrockAdapter().build_request(request, ENDPOINT, stream=False)
    assert http.headers["content-type"] == "application/json; charset=utf-8"
    assert "Content-Type" not in http.headers
    assert http.headers["x-amzn-bedrock-trace"] == "ENABLED"


def test_models_and_health_requests_go_to_the_control_plane() -> None:
    adapter = BedrockAdapter()
    models = adapter.models_request(ENDPOINT)
    assert models.method == "GET" and models.body is None
    assert models.url == "https://bedrock.us-east-1.amazonaws.com/foundation-models"
    assert "content-type" not in models.headers
    health = adapter.health_request(ENDPOINT)
    assert health.url.startswith("https://bedrock.us-east-1.amazonaws.com/foundation-models?")


def test_model_id_in_the_request_is_kept_for_a_global_profile() -> None:
    http = BedrockAdapter().build_request(
        chat_request(model="global.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ENDPOINT,
        stream=True,
    )
    assert "/model/global.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream" in http.url
