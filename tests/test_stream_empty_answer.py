"""A stream in the provider's format that carries no answer fails as chat() does.

OpenAI ``[DONE]`` with no chunk ever having a choice, Ollama ``done: true`` with no
message ever, Gemini chunks none of which has a candidate: each raises the adapter's
``malformed_response`` ProviderError (or, for a blocked Gemini prompt, the same
ContentFilterError chat() raises), however the bytes are cut, instead of ending as an
empty answer. Normal streams that merely end with an answer-less chunk (OpenAI's
``include_usage`` chunk, Ollama's final line, Gemini's usage chunk) are unaffected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from llmswitch import Client
from llmswitch.errors import ContentFilterError, LLMError, ProviderError
from llmswitch.events import Event, StreamEnd, StreamStart, TextDelta
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.gemini import GeminiAdapter
from llmswitch.providers.ollama import OllamaAdapter
from llmswitch.providers.openai import OpenAIAdapter
from llmswitch.wire import HttpResponse
from tests.support.loopback import Loopback, Reply
from tests.support.streams import byte_by_byte, feed, split_at

ADAPTERS: dict[str, Any] = {
    "openai": (OpenAIAdapter, "gpt-4o-mini"),
    "ollama": (OllamaAdapter, "llama3.2"),
    "gemini": (GeminiAdapter, "gemini-2.5-flash"),
}


def _request(provider: str) -> ChatRequest:
    model = ADAPTERS[provider][1]
    return ChatRequest(
        provider=provider, model=model, messages=(Message(role="user", content="hi"),)
    )


def _feed(provider: str, pieces: Iterable[bytes]) -> list[Event]:
    return feed(ADAPTERS[provider][0]().stream_parser(_request(provider)), pieces)


def _cuts(data: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, and split at every position."""
    cuts = [[data], byte_by_byte(data)]
    cuts += [split_at(data, i) for i in range(1, len(data))]
    return cuts


def _chat_error(provider: str, body: dict[str, Any]) -> LLMError:
    adapter = ADAPTERS[provider][0]()
    with pytest.raises(LLMError) as info:
        adapter.parse_response(_request(provider), HttpResponse(200, {}, json.dumps(body).encode()))
    return info.value


def _sse(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(
        b"data: " + (c.encode() if isinstance(c, str) else json.dumps(c).encode()) + b"\n\n"
        for c in chunks
    )


def _ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
GEMINI_USAGE = {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}

# (provider, stream bytes, the equivalent chat() body, words in the error)
NO_ANSWER = {
    "openai_done_only": ("openai", b"data: [DONE]\n\n", {"choices": []}, "no choices"),
    "openai_empty_choices_then_done": (
        "openai",
        _sse(
            {"id": "c1", "model": "gpt-4o-mini", "choices": []},
            {"id": "c1", "choices": []},
            "[DONE]",
        ),
        {"id": "c1", "choices": []},
        "no choices",
    ),
    "openai_azure_filter_chunk_then_done": (
        "openai",
        _sse({"id": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]}, "[DONE]"),
        {"id": "", "choices": []},
        "no choices",
    ),
    "openai_usage_only_then_done": (
        "openai",
        _sse({"id": "c1", "choices": [], "usage": USAGE}, "[DONE]"),
        {"id": "c1", "choices": [], "usage": USAGE},
        "no choices",
    ),
    "openai_no_choice_zero": (
        "openai",
        _sse({"id": "c1", "choices": [{"index": 1, "delta": {"content": "x"}}]}, "[DONE]"),
        {"id": "c1", "choices": [{"index": 1, "message": {"content": "x"}}]},
        "no choices",
    ),
    "ollama_done_only": (
        "ollama",
        _ndjson({"model": "llama3.2", "done": True, "done_reason": "stop"}),
        {"model": "llama3.2", "done": True, "done_reason": "stop"},
        "no message",
    ),
    "ollama_lines_without_message_then_done": (
        "ollama",
        _ndjson({"model": "llama3.2", "done": False}, {"model": "llama3.2", "done": True}),
        {"model": "llama3.2", "done": True},
        "no message",
    ),
    "gemini_usage_only": (
        "gemini",
        _sse({"usageMetadata": GEMINI_USAGE, "modelVersion": "gemini-2.5-flash"}),
        {"usageMetadata": GEMINI_USAGE, "modelVersion": "gemini-2.5-flash"},
        "no candidates",
    ),
    "gemini_empty_candidates": (
        "gemini",
        _sse({"candidates": []}, {"candidates": [], "usageMetadata": GEMINI_USAGE}),
        {"candidates": [], "usageMetadata": GEMINI_USAGE},
        "no candidates",
    ),
}


@pytest.mark.parametrize("case", sorted(NO_ANSWER))
def test_stream_without_an_answer_raises_like_chat(case: str) -> None:
    provider, data, body, words = NO_ANSWER[case]
    expected = _chat_error(provider, body)
    assert type(expected) is ProviderError and expected.code == "malformed_response"
    assert words in str(expected)
    for pieces in _cuts(data):
        with pytest.raises(ProviderError) as info:
            _feed(provider, pieces)
        exc = info.value
        assert type(exc) is ProviderError and not exc.retryable
        assert exc.code == "malformed_response" and exc.provider == provider
        assert "malformed response" in str(exc) and words in str(exc)
        assert exc.message == expected.message


def test_gemini_blocked_prompt_stream_still_maps_as_chat_does() -> None:
    chunk = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": GEMINI_USAGE}
    expected = _chat_error("gemini", chunk)
    assert isinstance(expected, ContentFilterError)
    for pieces in _cuts(_sse(chunk)):
        with pytest.raises(ContentFilterError) as info:
            _feed("gemini", pieces)
        assert info.value.code == expected.code == "SAFETY"
        assert info.value.message == expected.message


def _text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_openai_include_usage_final_chunk_is_still_normal() -> None:
    data = _sse(
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c1", "model": "m", "choices": [], "usage": USAGE},
        "[DONE]",
    )
    for pieces in _cuts(data):
        events = _feed("openai", pieces)
        assert isinstance(events[0], StreamStart) and _text_of(events) == "hi"
        end = events[-1]
        assert isinstance(end, StreamEnd) and end.finish_reason == "stop"
        assert end.usage.input_tokens == 3 and end.usage.output_tokens == 2


def test_openai_choice_without_finish_then_done_is_still_other() -> None:
    events = _feed(
        "openai",
        [_sse({"id": "c1", "choices": [{"index": 0, "delta": {"content": "a"}}]}, "[DONE]")],
    )
    assert _text_of(events) == "a"
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "other"


def test_openai_cut_stream_without_choices_is_still_a_truncated_stream() -> None:
    # No [DONE]: the connection died; that stays finish_reason="error", as before.
    events = _feed("openai", [_sse({"id": "c1", "model": "m", "choices": []})])
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "error"


def test_ollama_final_line_without_message_after_messages_is_still_normal() -> None:
    data = _ndjson(
        {"model": "llama3.2", "message": {"role": "assistant", "content": "hi"}, "done": False},
        {"model": "llama3.2", "done": True, "done_reason": "stop", "eval_count": 2},
    )
    for pieces in _cuts(data):
        events = _feed("ollama", pieces)
        assert _text_of(events) == "hi"
        assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "stop"


def test_ollama_done_line_with_an_empty_message_is_an_empty_answer() -> None:
    # chat() accepts this body (a message, empty content), so the stream does too.
    line = {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
    }
    assert (
        OllamaAdapter()
        .parse_response(_request("ollama"), HttpResponse(200, {}, json.dumps(line).encode()))
        .text
        == ""
    )
    events = _feed("ollama", [_ndjson(line)])
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "stop"


def test_gemini_usage_chunk_after_candidates_is_still_normal() -> None:
    data = _sse(
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}}]},
        {"candidates": [{"finishReason": "STOP"}]},
        {"usageMetadata": GEMINI_USAGE},
    )
    for pieces in _cuts(data):
        events = _feed("gemini", pieces)
        assert _text_of(events) == "hi"
        end = events[-1]
        assert isinstance(end, StreamEnd) and end.finish_reason == "stop"
        assert end.usage.input_tokens == 3


@pytest.mark.parametrize(
    "body",
    [b"data: [DONE]\n\n", _sse({"id": "c1", "model": "gpt-4o-mini", "choices": []}, "[DONE]")],
    ids=["done_only", "empty_choices"],
)
def test_openai_loopback_stream_without_choices_raises(loopback: Loopback, body: bytes) -> None:
    loopback.route(
        "POST", "/v1/chat/completions", Reply(body=body, content_type="text/event-stream")
    )
    env = {"OPENAI_API_KEY": "sk-test-0123456789abcdef", "OPENAI_BASE_URL": loopback.url + "/v1"}
    with Client(env=env, max_retries=0) as client, pytest.raises(ProviderError) as info:
        with client.stream("openai/gpt-4o-mini", [{"role": "user", "content": "Hi"}]) as stream:
            list(stream)
    exc = info.value
    assert type(exc) is ProviderError and exc.code == "malformed_response"
    assert exc.provider == "openai" and "no choices in the response" in str(exc)
    assert len(loopback.requests) == 1
