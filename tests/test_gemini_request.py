"""ChatRequest -> Gemini generateContent HTTP: URL, auth, body shape, and the mapping
decisions a user relies on (tool-call history with thought signatures, tool results,
images, thinking, JSON mode); plus the provider built from the environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch.config import ProviderConfig
from llmswitch.errors import ConfigurationError
from llmswitch.messages import (
    ChatRequest,
    EmbedRequest,
    ImagePart,
    Message,
    ReasoningBlock,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    to_messages,
    to_reasoning,
    to_response_format,
    to_tool_choice,
    to_tools,
)
from llmswitch.providers.base import USER_AGENT, Endpoint
from llmswitch.providers.gemini import (
    GEMINI_BASE_URL,
    SYNTHETIC_ID_PREFIX,
    GeminiAdapter,
)
from llmswitch.providers.gemini._spec import build_provider
from llmswitch.wire import HttpResponse, Secret

KEY = "AIzaSyA-request-test-key-0123456789abc"
ENDPOINT = Endpoint(
    provider="gemini",
    base_url="https://generativelanguage.googleapis.com",
    api_key=Secret(KEY),
    auth_header="x-goog-api-key",
    auth_scheme=None,
)
WEATHER = Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
        "additionalProperties": False,
    },
)


def req(messages: Any = None, **kw: Any) -> ChatRequest:
    if messages is None:
        messages = [{"role": "user", "content": "hi"}]
    kw.setdefault("model", "gemini-2.5-flash")
    return ChatRequest(provider="gemini", messages=to_messages(messages), **kw)


def body(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    http = GeminiAdapter().build_request(request, ENDPOINT, stream=stream)
    assert http.body is not None
    out: dict[str, Any] = json.loads(http.body)
    return out


# --------------------------------------------------------------------------- URL and auth


def test_url_method_and_key_header_never_in_url() -> None:
    http = GeminiAdapter().build_request(req(), ENDPOINT, stream=False)
    assert http.method == "POST"
    assert http.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert http.headers["x-goog-api-key"] == KEY
    assert "authorization" not in http.headers
    assert KEY not in http.url and KEY not in repr(http)


def test_stream_uses_sse_endpoint_with_the_same_body() -> None:
    r = req()
    http = GeminiAdapter().build_request(r, ENDPOINT, stream=True)
    assert http.url.endswith("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert body(r, stream=True) == body(r)  # no "stream" flag in the body


def test_model_name_cannot_inject_a_method_or_query() -> None:
    http = GeminiAdapter().build_request(req(model="evil:countTokens?x=1"), ENDPOINT, stream=False)
    assert http.url.endswith("/v1beta/models/evil%3AcountTokens%3Fx%3D1:generateContent")
    tuned = GeminiAdapter().build_request(req(model="tunedModels/my-model"), ENDPOINT, stream=False)
    assert "/v1beta/tunedModels/my-model:generateContent" in tuned.url


def test_extra_headers_replace_case_insensitively() -> None:
    http = GeminiAdapter().build_request(
        req(extra_headers={"X-Goog-Api-Key": "other", "X-Trace": "1"}), ENDPOINT, stream=False
    )
    assert http.headers["x-goog-api-key"] == "other" and http.headers["x-trace"] == "1"
    assert "X-Goog-Api-Key" not in http.headers


# --------------------------------------------------------------------------- turns


def test_system_prompt_and_system_messages_become_system_instruction() -> None:
    b = body(
        req(
            [
                {"role": "system", "content": "Be terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
                {"role": "user", "content": "hi"},
            ],
            system="You are a weather bot.",
        )
    )
    assert b["systemInstruction"] == {
        "parts": [
            {"text": "You are a weather bot."},
            {"text": "Be terse."},
            {"text": "Use metric."},
        ]
    }
    assert b["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_system_message_with_an_image_is_rejected_naming_the_field() -> None:
    msgs = [
        {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x.io/a.png"}}]},
        {"role": "user", "content": "hi"},
    ]  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        body(req(msgs))
    assert info.value.field == "messages[0].content[0]"


def test_roles_map_to_user_and_model_and_consecutive_turns_merge() -> None:
    b = body(
        req(
            [
                {"role": "user", "content": "one"},
                {"role": "user", "content": "two"},
                {"role": "assistant", "content": "three"},
                {"role": "user", "content": "four"},
            ]
        )
    )
    assert b["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
        {"role": "model", "parts": [{"text": "three"}]},
        {"role": "user", "parts": [{"text": "four"}]},
    ]


def test_images_inline_data_and_file_data_with_guessed_mime_type() -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/photos/cat.JPG?size=large#x"}},
        {"type": "image_url", "image_url": "https://example.com/a.heic"},
    ]  # fmt: skip
    parts = body(req([{"role": "user", "content": content}]))["contents"][0]["parts"]
    assert parts == [
        {"text": "Compare"},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photos/cat.JPG?size=large#x"}},
        {"fileData": {"mimeType": "image/heic", "fileUri": "https://example.com/a.heic"}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    "url",
    ["https://example.com/image", "https://example.com/file.bmp", "https://example.com/v1.2/img"],
)
def test_image_url_without_known_extension_is_rejected_naming_the_field(url: str) -> None:
    msgs = [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]}]  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        body(req(msgs))
    assert info.value.field == "messages[0].content[1].image_url.url"
    assert "data: URL" in str(info.value)


# --------------------------------------------------------------------------- tools


def test_tools_use_standard_json_schema_and_tool_choice_modes() -> None:
    tools = (WEATHER, Tool(name="get_time"))
    b = body(req(tools=tools))
    assert b["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "Weather for a city",
                 "parametersJsonSchema": dict(WEATHER.parameters)},
                {"name": "get_time", "parametersJsonSchema": {"type": "object", "properties": {}}},
            ]
        }
    ]  # fmt: skip
    assert "toolConfig" not in b  # no choice: Gemini's default (AUTO)
    modes = {
        "auto": {"mode": "AUTO"},
        "none": {"mode": "NONE"},
        "required": {"mode": "ANY"},
    }
    for choice, expected in modes.items():
        got = body(req(tools=tools, tool_choice=to_tool_choice(choice, tools)))
        assert got["toolConfig"] == {"functionCallingConfig": expected}
    forced = body(req(tools=tools, tool_choice=ToolChoice(mode="tool", name="get_time")))
    assert forced["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}
    }


def test_tool_loop_history_round_trips_signatures_and_gemini_ids() -> None:
    """Multi-turn tool use: the model's calls go back exactly as received (signature on
    the first call only, Gemini's ids kept), results go in one user turn by name+id."""
    msgs = [
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "fc_a1", "type": "function", "signature": "EqQBCkgI+/==",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"id": "fc_b2", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "fc_a1", "content": '{"temp_c": 18, "sky": "sunny"}'},
        {"role": "tool", "tool_call_id": "fc_b2", "content": "22C, rain"},
        {"role": "user", "content": "And tomorrow?"},
    ]  # fmt: skip
    b = body(req(msgs, tools=(WEATHER,)))
    assert b["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Tokyo?"}]},
        {"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "fc_a1"},
             "thoughtSignature": "EqQBCkgI+/=="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}, "id": "fc_b2"}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "id": "fc_a1",
                                  "response": {"temp_c": 18, "sky": "sunny"}}},
            {"functionResponse": {"name": "get_weather", "id": "fc_b2",
                                  "response": {"result": "22C, rain"}}},
            {"text": "And tomorrow?"},
        ]},
    ]  # fmt: skip


def test_synthesized_ids_never_reach_gemini() -> None:
    synth = f"{SYNTHETIC_ID_PREFIX}resp-1_0"
    msgs = [
        {"role": "user", "content": "time?"},
        {"role": "assistant", "tool_calls": [
            {"id": synth, "signature": "c2ln", "function": {"name": "get_time", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": synth, "content": "12:00"},
    ]  # fmt: skip
    contents = body(req(msgs))["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "c2ln"}],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}}],
    }
    assert synth not in json.dumps(contents)


def test_tool_result_name_comes_from_the_latest_call_with_that_id() -> None:
    # Two turns that reused an id (other providers restart numbering): the nearest wins.
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "first", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "second", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
    ]  # fmt: skip
    contents = body(req(msgs))["contents"]
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "first"
    assert contents[4]["parts"][0]["functionResponse"]["name"] == "second"


@pytest.mark.parametrize(
    ("content", "response"),
    [
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ('  {"a": 1}', {"a": 1}),
        ("[1, 2]", {"result": "[1, 2]"}),  # not an object: wrapped as text
        ("42", {"result": "42"}),
        ("{not json", {"result": "{not json"}),
        ("", {"result": ""}),
        (
            [{"type": "text", "text": "part "}, {"type": "text", "text": "two"}],
            {"result": "part two"},
        ),
    ],
)
def test_tool_result_content_becomes_an_object(content: Any, response: dict[str, Any]) -> None:
    msgs = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": content},
    ]  # fmt: skip
    fr = body(req(msgs))["contents"][2]["parts"][0]["functionResponse"]
    assert fr == {"name": "f", "id": "c1", "response": response}


def test_tool_result_for_an_unknown_call_is_rejected_naming_the_field() -> None:
    msgs = [
        {"role": "user", "content": "go"},
        {"role": "tool", "tool_call_id": "nope", "content": "x"},
    ]
    with pytest.raises(ConfigurationError) as info:
        body(req(msgs))
    assert info.value.field == "messages[1].tool_call_id"


def test_tool_result_matching_no_call_is_rejected_even_with_a_legacy_name() -> None:
    msgs = [{"role": "user", "content": "go"},
            {"role": "tool", "tool_call_id": "x", "name": "lookup", "content": "ok"}]  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        body(req(msgs))
    assert info.value.field == "messages[1].tool_call_id"


def test_image_in_a_tool_result_is_rejected() -> None:
    msgs = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "c1",
         "content": [{"type": "image_url", "image_url": {"url": "https://x.io/a.png"}}]},
    ]  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        body(req(msgs))
    assert info.value.field == "messages[2].content[0]"


def test_reasoning_blocks_from_history_are_not_sent() -> None:
    # Their signatures may be another provider's; Gemini does not need thought text back.
    msg = Message(
        role="assistant",
        content=(TextPart(text="4"),),
        reasoning=(ReasoningBlock(text="2+2", signature="anthropic-sig"),),
    )
    b = body(req([{"role": "user", "content": "2+2?"}, msg]))
    assert b["contents"][1] == {"role": "model", "parts": [{"text": "4"}]}


def test_assistant_images_are_rejected_not_sent_as_model_output() -> None:
    msg = Message(
        role="assistant", content=(ImagePart(url="https://x.io/a.png"), TextPart(text="ok"))
    )
    with pytest.raises(ConfigurationError) as info:
        body(req([{"role": "user", "content": "hi"}, msg]))
    assert info.value.field == "messages[1].content[0]"


# --------------------------------------------------------------------------- generation config


def test_generation_config_fields() -> None:
    b = body(req(temperature=0.2, top_p=0.9, max_tokens=512, stop=("###", "END")))
    assert b["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 512,
        "stopSequences": ["###", "END"],
    }
    assert "generationConfig" not in body(req())


def test_json_modes() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    b = body(req(response_format=to_response_format({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})))  # fmt: skip
    assert b["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    b = body(req(response_format=to_response_format("json")))
    assert b["generationConfig"] == {"responseMimeType": "application/json"}
    assert "generationConfig" not in body(req(response_format=to_response_format("text")))


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        ("gemini-2.5-flash", 2048, {"thinkingBudget": 2048, "includeThoughts": True}),
        ("gemini-2.5-flash", 0, {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-3-pro-preview", 4096, {"thinkingBudget": 4096, "includeThoughts": True}),
        ("gemini-2.5-flash", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("gemini-2.5-pro", "max", {"thinkingBudget": 32768, "includeThoughts": True}),
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-3-pro-preview", "high", {"thinkingLevel": "HIGH", "includeThoughts": True}),
        ("gemini-3-flash-preview", "minimal", {"thinkingLevel": "MINIMAL", "includeThoughts": True}),
        ("gemini-3-pro-preview", "xhigh", {"thinkingLevel": "XHIGH", "includeThoughts": True}),
        ("gemini-3-pro-preview", "none", {"thinkingLevel": "MINIMAL", "includeThoughts": False}),
        ("models/gemini-3-flash-preview", "medium", {"thinkingLevel": "MEDIUM", "includeThoughts": True}),
        ("gemini-flash-latest", "medium", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("gemini-2.5-flash", {"effort": "high", "budget_tokens": 100},
         {"thinkingBudget": 100, "includeThoughts": True}),
    ],
)  # fmt: skip
def test_thinking_config(model: str, reasoning: Any, expected: dict[str, Any]) -> None:
    b = body(req(model=model, reasoning=to_reasoning(reasoning)))
    assert b["generationConfig"]["thinkingConfig"] == expected


def test_extra_body_merges_one_level_deep() -> None:
    b = body(
        req(
            temperature=0.5,
            extra_body={
                "generationConfig": {"topK": 40, "seed": 7},
                "safetySettings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
                ],
            },
        )
    )
    assert b["generationConfig"] == {"temperature": 0.5, "topK": 40, "seed": 7}
    assert b["safetySettings"][0]["threshold"] == "BLOCK_NONE"


def test_user_and_metadata_are_not_sent() -> None:
    # Gemini has no such fields; sending unknown ones is a 400.
    assert set(body(req(user="u-1", metadata={"a": 1}))) == {"contents"}


# --------------------------------------------------------------------------- countTokens


def test_count_tokens_request_counts_system_and_tools() -> None:
    r = req(system="Be terse.", tools=(WEATHER,), temperature=0.3, max_tokens=10)
    http = GeminiAdapter().count_tokens_request(r, ENDPOINT)
    assert http.url.endswith("/v1beta/models/gemini-2.5-flash:countTokens")
    assert http.headers["x-goog-api-key"] == KEY
    assert http.body is not None
    sent = json.loads(http.body)
    inner = sent["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-flash"
    assert inner["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert inner["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert inner["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert "generationConfig" not in inner


def test_parse_count_tokens() -> None:
    adapter = GeminiAdapter()
    assert adapter.parse_count_tokens(HttpResponse(200, {}, b'{"totalTokens": 31}')) == 31
    assert adapter.parse_count_tokens(HttpResponse(200, {}, b"{}")) == 0  # proto3 omits zero


# --------------------------------------------------------------------------- embeddings


def embed_body(**kw: Any) -> dict[str, Any]:
    kw.setdefault("inputs", ("a", "b"))
    request = EmbedRequest(provider="gemini", model="gemini-embedding-001", **kw)
    http = GeminiAdapter().build_embed_request(request, ENDPOINT)
    assert http.url.endswith("/v1beta/models/gemini-embedding-001:batchEmbedContents")
    assert http.body is not None
    out: dict[str, Any] = json.loads(http.body)
    return out


def test_embed_request_shape() -> None:
    assert embed_body() == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}},
        ]
    }
    item = embed_body(dimensions=768, input_type="query", extra_body={"title": "Doc"})["requests"][
        0
    ]
    assert item == {
        "model": "models/gemini-embedding-001",
        "taskType": "RETRIEVAL_QUERY",
        "outputDimensionality": 768,
        "title": "Doc",
        "content": {"parts": [{"text": "a"}]},
    }


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("query", "RETRIEVAL_QUERY"),
        ("document", "RETRIEVAL_DOCUMENT"),
        ("search_document", "RETRIEVAL_DOCUMENT"),
        ("clustering", "CLUSTERING"),
        ("SEMANTIC_SIMILARITY", "SEMANTIC_SIMILARITY"),
        ("FUTURE_TASK_TYPE", "FUTURE_TASK_TYPE"),  # newer than our table: passed through
    ],
)
def test_embed_task_types(given: str, sent: str) -> None:
    assert embed_body(input_type=given)["requests"][0]["taskType"] == sent


def test_unknown_lower_case_task_type_is_rejected() -> None:
    with pytest.raises(ConfigurationError) as info:
        embed_body(input_type="retrieval please")
    assert info.value.field == "input_type"


# --------------------------------------------------------------------------- models / health


def test_models_and_health_requests_are_authenticated_gets() -> None:
    adapter = GeminiAdapter()
    first = adapter.models_request(ENDPOINT)
    assert (first.method, first.body) == ("GET", None)
    assert first.url == f"{GEMINI_BASE_URL}/v1beta/models?pageSize=1000"
    assert first.headers == {"x-goog-api-key": KEY, "user-agent": USER_AGENT}
    nxt = adapter.models_request(ENDPOINT, "tok/en+==")
    assert nxt.url.endswith("pageSize=1000&pageToken=tok%2Fen%2B%3D%3D")
    health = adapter.health_request(ENDPOINT)
    assert health.url.endswith("/v1beta/models?pageSize=1") and health.headers == {
        "x-goog-api-key": KEY,
        "user-agent": USER_AGENT,
    }


# --------------------------------------------------------------------------- build_provider


def test_build_provider_prefers_gemini_key_then_google_key() -> None:
    both = build_provider("gemini", None, {"GEMINI_API_KEY": "g-key", "GOOGLE_API_KEY": "o-key"})
    assert both.endpoint.request_headers()["x-goog-api-key"] == "g-key"
    google = build_provider("gemini", None, {"GOOGLE_API_KEY": "o-key"})
    assert google.endpoint.request_headers()["x-goog-api-key"] == "o-key"
    assert google.endpoint.base_url == GEMINI_BASE_URL


def test_build_provider_base_url_and_toml_overrides() -> None:
    env = {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": "http://proxy.local:8080/v1beta/"}
    p = build_provider("gemini", None, env)
    assert p.endpoint.base_url == "http://proxy.local:8080"  # a pasted /v1beta is tolerated
    pc = ProviderConfig(
        id="gem2", kind="gemini", base_url="http://other:1", api_key=Secret("toml-key"),
        headers={"x-goog-user-project": "proj"},
    )  # fmt: skip
    q = build_provider("gem2", pc, env)
    headers = q.endpoint.request_headers()
    assert q.id == "gem2" and q.endpoint.base_url == "http://other:1"
    assert headers["x-goog-api-key"] == "toml-key" and headers["x-goog-user-project"] == "proj"


def test_build_provider_without_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        build_provider("gemini", None, {"GEMINI_API_KEY": ""})
    assert "GEMINI_API_KEY" in str(info.value) and "GOOGLE_API_KEY" in str(info.value)
    assert info.value.provider == "gemini"


def test_provider_repr_hides_the_key() -> None:
    p = build_provider("gemini", None, {"GEMINI_API_KEY": KEY})
    assert KEY not in repr(p) and KEY not in repr(p.endpoint)


def test_to_tools_accepts_openai_dicts_for_gemini() -> None:
    tools = to_tools(
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    )
    assert body(req(tools=tools))["tools"][0]["functionDeclarations"] == [
        {"name": "f", "parametersJsonSchema": {"type": "object"}}
    ]


def test_tool_call_with_signature_survives_message_dict_round_trip() -> None:
    # ChatResponse.message -> dict -> back: the signature must not be lost on the way.
    call = ToolCall(id="fc_1", name="f", arguments={"x": 1}, signature="c2lnbmF0dXJl")
    msg = Message(role="assistant", content=None, tool_calls=(call,))
    (again,) = to_messages([msg.to_dict()])
    assert again.tool_calls == (call,)
    plain = Message(role="assistant", tool_calls=(ToolCall(id="c", name="f", arguments={}),))
    assert "signature" not in plain.to_dict()["tool_calls"][0]  # only when there is one
