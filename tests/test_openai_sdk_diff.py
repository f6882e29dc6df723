"""Differential tests: the official ``openai`` SDK reads the same bytes, and our
ChatResponse must agree with its view (text, refusal, tool calls, finish, usage)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import APIError
from openai._models import construct_type
from openai._streaming import SSEDecoder
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from llmswitch.errors import ProviderError
from llmswitch.messages import ChatResponse
from llmswitch.providers.openai import RAW_ARGUMENTS_KEY
from tests.support.openai import STREAMS, awkward_splits, fixture, parse_body, run_stream

BODIES = [
    "chat_text.json",
    "chat_tools.json",
    "chat_refusal.json",
    "chat_azure_filtered.json",
    "chat_vllm_reasoning.json",
    "chat_vllm_reasoning_new.json",
    "chat_llamacpp.json",
    "chat_ollama_reasoning.json",
    "chat_invalid_args.json",
]


def sdk_stream(pieces: list[bytes]) -> Any:
    """What the SDK's ``chat.completions.stream()`` helper accumulates from these bytes."""
    state = ChatCompletionStreamState()
    for sse in SSEDecoder().iter_bytes(iter(pieces)):
        if sse.data.startswith("[DONE]"):
            break
        data = sse.json()
        if isinstance(data, dict) and data.get("error"):
            raise APIError(data["error"]["message"], request=None, body=data["error"])  # type: ignore[arg-type]
        chunk = construct_type(type_=ChatCompletionChunk, value=data)  # as the SDK's client does
        if chunk.object != "chat.completion.chunk":  # the helper's filter for Azure's filter events
            continue
        state.handle_chunk(chunk)
    return state.current_completion_snapshot


def _reasoning_of(message: Any) -> str | None:
    extra = message.model_extra or {}
    return extra.get("reasoning") or extra.get("reasoning_content") or None


def assert_agrees(ours: ChatResponse, sdk: Any) -> None:
    choice = sdk.choices[0]
    message = choice.message
    assert ours.id == (sdk.id or None)
    assert ours.model == sdk.model
    assert ours.text == (message.content or "")
    assert ours.refusal == (message.refusal or None)
    assert ours.reasoning == _reasoning_of(message)
    assert ours.raw_finish_reason == choice.finish_reason
    sdk_calls = message.tool_calls or []
    assert len(ours.tool_calls) == len(sdk_calls)
    for mine, theirs in zip(ours.tool_calls, sdk_calls, strict=True):
        assert mine.id == theirs.id
        assert mine.name == theirs.function.name
        raw = theirs.function.arguments
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {RAW_ARGUMENTS_KEY: raw}
        assert mine.arguments == parsed
    usage = sdk.usage
    if usage is None:
        assert ours.usage.input_tokens is None and ours.usage.output_tokens is None
        return
    assert ours.usage.input_tokens == usage.prompt_tokens
    assert ours.usage.output_tokens == usage.completion_tokens
    assert ours.usage.total_tokens == usage.total_tokens
    details = usage.prompt_tokens_details
    assert ours.usage.cached_input_tokens == (details.cached_tokens if details else None)
    assert ours.usage.cache_write_tokens == (details.cache_write_tokens if details else None)
    cdetails = usage.completion_tokens_details
    assert ours.usage.reasoning_tokens == (cdetails.reasoning_tokens if cdetails else None)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_agrees_with_the_sdk(name: str) -> None:
    data = fixture(name)
    for how in ("whole", "awkward", "sevens"):
        pieces = awkward_splits(data)[how]
        _, ours = run_stream(pieces)
        assert_agrees(ours, sdk_stream(pieces))


@pytest.mark.parametrize("name", BODIES)
def test_body_agrees_with_the_sdk(name: str) -> None:
    body = fixture(name)
    sdk = construct_type(type_=ChatCompletion, value=json.loads(body))
    ours = parse_body(body)
    assert_agrees(ours, sdk)


@pytest.mark.parametrize("name", ["chat_text.json", "chat_tools.json", "chat_refusal.json"])
def test_openai_bodies_validate_strictly_in_the_sdk(name: str) -> None:
    # the fixtures are faithful to the SDK's schema, not just loosely constructed
    ChatCompletion.model_validate_json(fixture(name))


def test_stream_fixture_chunks_validate_strictly_in_the_sdk() -> None:
    for name in ("stream_text.sse", "stream_tools.sse", "stream_refusal.sse"):
        for sse in SSEDecoder().iter_bytes(iter([fixture(name)])):
            if not sse.data.startswith("[DONE]"):
                ChatCompletionChunk.model_validate_json(sse.data)


def test_mid_stream_error_both_raise_the_same_message() -> None:
    data = fixture("stream_error.sse")
    with pytest.raises(APIError) as sdk_err:
        sdk_stream([data])
    with pytest.raises(ProviderError) as our_err:
        run_stream([data])
    assert our_err.value.message == sdk_err.value.message
