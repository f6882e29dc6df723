"""Differential tests against the official ``google-genai`` SDK.

Responses: the SDK parses the same bytes (its own SSE line reader, its REST->type
converter ``_GenerateContentResponse_from_mldev`` and pydantic types) and we must agree on
everything a user reads: text, thoughts, function calls with ids and thought signatures,
finish reason, usage. Requests: the SDK's converter builds the REST body for the same
conversation and ours must mean the same. Also: chat() and stream() agree."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest
from google.genai import _common, errors, types
from google.genai._api_client import BaseApiClient
from google.genai._api_client import HttpResponse as SDKHttpResponse
from google.genai.models import (
    _GenerateContentParameters_to_mldev,
    _GenerateContentResponse_from_mldev,
)

from llmswitch.errors import ContentFilterError, ProviderError, ProviderUnavailableError
from llmswitch.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    ReasoningConfig,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmswitch.providers.base import Endpoint
from llmswitch.providers.gemini import SYNTHETIC_ID_PREFIX, GeminiAdapter
from llmswitch.wire import HttpResponse
from tests.support.fixtures import Fixtures
from tests.support.streams import Feeder

fixture = Fixtures("gemini")
REQUEST = ChatRequest(
    provider="gemini", model="gemini-2.5-flash", messages=(Message(role="user", content="hi"),)
)
RAISING = ("blocked_prompt.sse", "error_midstream.sse", "error_raw_lines.sse")
STREAMS = sorted(p.name for p in fixture.dir.glob("*.sse") if p.name not in RAISING)
BODIES = sorted(
    p.name
    for p in fixture.dir.glob("*.json")
    if not p.name.startswith(("models_", "embed_", "count_", "error_", "blocked_"))
)


def sdk_response(obj: dict[str, Any]) -> types.GenerateContentResponse:
    return types.GenerateContentResponse._from_response(
        response=_GenerateContentResponse_from_mldev(obj), kwargs={}
    )


def sdk_chunks(data: bytes) -> list[types.GenerateContentResponse]:
    """What ``generate_content_stream`` yields for these bytes (the SDK's own line reader;
    an ``{"error": ...}`` segment raises as in ``request_streamed``)."""
    raw = SDKHttpResponse(headers={}, response_stream=httpx.Response(200, content=data))
    out = []
    for segment in raw.segments():
        if json.dumps(segment).startswith('{"error":'):
            errors.APIError.raise_error(segment["error"].get("code"), segment, None)  # type: ignore[arg-type]
        out.append(sdk_response(segment))
    return out


class Folded:
    """The SDK chunks folded the way a user of the SDK reads a stream."""

    def __init__(self, chunks: list[types.GenerateContentResponse]) -> None:
        self.text = ""
        self.thoughts = ""
        self.calls: list[tuple[str | None, str | None, dict[str, Any], bytes | None]] = []
        self.finish: str | None = None
        self.usage: types.GenerateContentResponseUsageMetadata | None = None
        self.response_id: str | None = None
        self.model: str | None = None
        for chunk in chunks:
            self.response_id = chunk.response_id or self.response_id
            self.model = chunk.model_version or self.model
            if chunk.usage_metadata is not None:
                self.usage = chunk.usage_metadata
            for cand in chunk.candidates or []:
                if (cand.index or 0) != 0:
                    continue
                if cand.finish_reason is not None:
                    self.finish = cand.finish_reason.value
                for part in (cand.content.parts if cand.content else None) or []:
                    if part.function_call is not None:
                        fc = part.function_call
                        self.calls.append((fc.id, fc.name, fc.args or {}, part.thought_signature))
                    elif part.text and part.thought:
                        self.thoughts += part.text
                    elif part.text:
                        self.text += part.text


ours_stream = Feeder(GeminiAdapter, REQUEST).streamed


def ours_body(data: bytes) -> ChatResponse:
    return GeminiAdapter().parse_response(REQUEST, HttpResponse(200, {}, data))


def assert_agrees(ours: ChatResponse, sdk: Folded) -> None:
    assert ours.id == sdk.response_id
    assert ours.model == (sdk.model or REQUEST.model)
    assert ours.text == sdk.text
    assert ours.reasoning == (sdk.thoughts or None)
    assert len(ours.tool_calls) == len(sdk.calls)
    for call, (sdk_id, name, args, signature) in zip(ours.tool_calls, sdk.calls, strict=True):
        if sdk_id is None:
            assert call.id.startswith(SYNTHETIC_ID_PREFIX)
        else:
            assert call.id == sdk_id
        assert (call.name, call.arguments) == (name, args)
        # the SDK decodes the signature to bytes; ours is the exact string received
        assert (base64.b64decode(call.signature) if call.signature else None) == signature
    assert ours.raw_finish_reason == sdk.finish
    u = sdk.usage
    if u is None:
        assert ours.usage.input_tokens is None
        return
    assert ours.usage.input_tokens == (u.prompt_token_count or 0) + (
        u.tool_use_prompt_token_count or 0
    )
    assert ours.usage.output_tokens == (u.candidates_token_count or 0) + (
        u.thoughts_token_count or 0
    )
    assert ours.usage.total_tokens == u.total_token_count
    assert ours.usage.cached_input_tokens == u.cached_content_token_count
    assert ours.usage.reasoning_tokens == u.thoughts_token_count


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("name", BODIES)
def test_non_streamed_body_agrees_with_sdk(name: str) -> None:
    data = fixture(name)
    assert_agrees(ours_body(data), Folded([sdk_response(json.loads(data))]))


def without_comments(data: bytes) -> bytes:
    return re.sub(rb"(?m)^:[^\r\n]*\r?\n\r?\n", b"", data)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_agrees_with_sdk(name: str) -> None:
    data = fixture(name)
    sdk = Folded(sdk_chunks(without_comments(data)))
    ours = ours_stream(data)
    assert_agrees(ours, sdk)
    if sdk.finish is None:
        assert ours.finish_reason == "error"  # the SDK cannot tell a cut stream from an end


def test_sse_comments_break_the_sdk_but_not_us() -> None:
    # A keep-alive comment is valid SSE (proxies insert them); the SDK feeds it to its
    # JSON parser. We skip it, so the answer is the same with or without it.
    data = fixture("crlf.sse")
    assert without_comments(data) != data
    with pytest.raises(errors.UnknownApiResponseError):
        sdk_chunks(data)
    assert ours_stream(data) == ours_stream(without_comments(data))


def test_blocked_prompt_sdk_reports_it_we_raise() -> None:
    data = fixture("blocked_prompt.json")
    sdk = sdk_response(json.loads(data))
    assert sdk.candidates is None and sdk.prompt_feedback is not None
    assert sdk.prompt_feedback.block_reason is not None
    with pytest.raises(ContentFilterError) as info:
        ours_body(data)
    assert info.value.code == sdk.prompt_feedback.block_reason.value


@pytest.mark.parametrize(
    ("name", "sdk_error", "ours"),
    [
        ("error_midstream.sse", errors.ServerError, ProviderUnavailableError),
        ("error_raw_lines.sse", errors.ClientError, ProviderError),
    ],
)
def test_mid_stream_errors_both_raise(
    name: str, sdk_error: type[Exception], ours: type[Exception]
) -> None:
    data = fixture(name)
    with pytest.raises(sdk_error) as sdk_info:
        sdk_chunks(data)
    with pytest.raises(ours) as our_info:
        ours_stream(data)
    assert isinstance(sdk_info.value, errors.APIError)
    assert sdk_info.value.message is not None and sdk_info.value.message in str(our_info.value)


@pytest.mark.parametrize("name", [s for s in STREAMS if s != "truncated.sse"])
def test_chat_and_stream_agree_on_the_same_answer(name: str) -> None:
    """The stream's chunks merged into one body (as generateContent would return it) parse
    to the very ChatResponse the stream produced (equality ignores ``raw``)."""
    chunks = [
        json.loads(line[6:])
        for line in fixture(name).replace(b"\r\n", b"\n").split(b"\n\n")
        if line.startswith(b"data: ")
        for line in [line.replace(b"\ndata: ", b"")]
    ]
    parts: list[Any] = []
    last: dict[str, Any] = {}
    for chunk in chunks:
        for cand in chunk.get("candidates", []):
            parts += cand.get("content", {}).get("parts", [])
            last.update({k: v for k, v in cand.items() if k != "content"})
    body = {k: v for k, v in chunks[-1].items() if k != "candidates"}
    body["usageMetadata"] = next(
        c["usageMetadata"] for c in reversed(chunks) if "usageMetadata" in c
    )
    body["candidates"] = [{**last, "content": {"role": "model", "parts": parts}}]
    assert ours_body(json.dumps(body).encode()) == ours_stream(fixture(name))


# --------------------------------------------------------------------------- requests


def _camel(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def _normalise(obj: Any) -> Any:
    """The SDK's body with nested snake_case keys camelCased (the API accepts both) and
    signatures decoded (the SDK re-encodes them URL-safe; we send the received string)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key == "thoughtSignature":
                out[key] = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_"))
            else:
                out[_camel(key)] = _normalise(value)
        return out
    if isinstance(obj, list):
        return [_normalise(v) for v in obj]
    return obj


SIG = "+vv8/f7/CiQBdGhvdWdodC1zaWduYXR1cmX7//4="


def test_request_body_means_what_the_sdk_would_send() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    ours_req = ChatRequest(
        provider="gemini",
        model="gemini-2.5-flash",
        system="Be terse.",
        messages=(
            Message(role="user", content="Weather in Paris?"),
            Message(
                role="assistant",
                content="Checking.",
                tool_calls=(
                    ToolCall(id="fc_1", name="weather", arguments={"city": "Paris"}, signature=SIG),
                ),
            ),
            Message(role="tool", tool_call_id="fc_1", content='{"tempC": 18}'),
        ),
        tools=(Tool(name="weather", description="Weather", parameters=schema),),
        tool_choice=ToolChoice(mode="tool", name="weather"),
        temperature=0.2,
        top_p=0.9,
        max_tokens=100,
        stop=("###",),
        response_format=ResponseFormat(type="json_schema", schema={"type": "object"}),
        reasoning=ReasoningConfig(budget_tokens=1024),
    )
    endpoint = Endpoint(provider="gemini", base_url="https://g.test")
    http = GeminiAdapter().build_request(ours_req, endpoint, stream=False)
    assert http.body is not None
    ours = json.loads(http.body)

    params = types._GenerateContentParameters(
        model="gemini-2.5-flash",
        contents=[
            types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
            types.Content(
                role="model",
                parts=[
                    types.Part(text="Checking."),
                    types.Part(
                        function_call=types.FunctionCall(
                            id="fc_1", name="weather", args={"city": "Paris"}
                        ),
                        thought_signature=base64.b64decode(SIG),
                    ),
                ],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            id="fc_1", name="weather", response={"tempC": 18}
                        )
                    )
                ],
            ),
        ],
        config=types.GenerateContentConfig(
            system_instruction="Be terse.",
            temperature=0.2,
            top_p=0.9,
            max_output_tokens=100,
            stop_sequences=["###"],
            response_mime_type="application/json",
            response_json_schema={"type": "object"},
            thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="weather", description="Weather", parameters_json_schema=schema
                        )
                    ]
                )
            ],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(
                    mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["weather"]
                )
            ),
        ),
    )
    sdk: dict[str, Any] = _common.encode_unserializable_types(
        _common.convert_to_dict(
            _GenerateContentParameters_to_mldev(BaseApiClient(api_key="k"), params)
        )
    )
    sdk.pop("_url", None)
    sdk["systemInstruction"].pop("role", None)  # the SDK adds role "user"; optional
    assert _normalise(ours) == _normalise(sdk)
    # and ours carries the signature byte-for-byte as received
    assert ours["contents"][1]["parts"][1]["thoughtSignature"] == SIG
