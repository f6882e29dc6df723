"""Differential tests: the official ``ollama`` package's types parse the same bytes, line by
line as its client does, and we must agree on everything a user reads: text, thinking,
tool calls, done reason, token counts; and on model listings, embeddings and pulls."""

from __future__ import annotations

import json
from typing import Any

import ollama
import pytest

from llmswitch.messages import ChatRequest, ChatResponse, EmbedRequest, Message
from llmswitch.providers.base import Endpoint
from llmswitch.providers.ollama import OllamaAdapter, PullParser
from llmswitch.wire import HttpResponse
from tests.support.fixtures import Fixtures
from tests.support.streams import Feeder

fixture = Fixtures("ollama")
REQUEST = ChatRequest(
    provider="ollama", model="llama3.2", messages=(Message(role="user", content="hi"),)
)
STREAMS = sorted(
    p.name
    for p in fixture.dir.glob("chat_*.ndjson")
    if p.stem not in ("chat_error", "chat_truncated")
)
BODIES = sorted(p.name for p in fixture.dir.glob("chat_*.json"))
ENDPOINT = Endpoint(provider="ollama", base_url="http://127.0.0.1:11434")


def sdk_stream(data: bytes) -> dict[str, Any]:
    """What a user of ``ollama.chat(..., stream=True)`` collects from these bytes."""
    content, thinking, calls = [], [], []
    last: Any = None
    for line in data.splitlines():
        part = json.loads(line)
        if part.get("error"):
            raise ollama.ResponseError(part["error"])
        resp = ollama.ChatResponse.model_validate(part)
        content.append(resp.message.content or "")
        thinking.append(resp.message.thinking or "")
        calls += [
            (c.function.name, dict(c.function.arguments)) for c in resp.message.tool_calls or ()
        ]
        last = resp
    return {
        "text": "".join(content),
        "thinking": "".join(thinking) or None,
        "calls": calls,
        "done": last.done,
        "done_reason": last.done_reason,
        "input": last.prompt_eval_count,
        "output": last.eval_count,
        "model": last.model,
    }


def ours(resp: ChatResponse) -> dict[str, Any]:
    return {
        "text": resp.text,
        "thinking": resp.reasoning,
        "calls": [(c.name, c.arguments) for c in resp.tool_calls],
        "done": resp.finish_reason != "error",
        "done_reason": resp.raw_finish_reason,
        "input": resp.usage.input_tokens,
        "output": resp.usage.output_tokens,
        "model": resp.model,
    }


ours_stream = Feeder(OllamaAdapter, REQUEST).streamed


@pytest.mark.parametrize("name", STREAMS)
def test_stream_agrees_with_the_sdk(name: str) -> None:
    data = fixture(name)
    assert ours(ours_stream(data)) == sdk_stream(data)


@pytest.mark.parametrize("name", BODIES)
def test_body_agrees_with_the_sdk(name: str) -> None:
    data = fixture(name)
    resp = OllamaAdapter().parse_response(REQUEST, HttpResponse(200, {}, data))
    assert ours(resp) == sdk_stream(data)  # one object: the SDK reads it the same way


def test_the_sdk_also_rejects_the_error_stream() -> None:
    data = fixture("chat_error.ndjson")
    with pytest.raises(ollama.ResponseError):
        sdk_stream(data)


def test_tool_call_ids_we_keep_are_the_ones_sent() -> None:
    # The SDK (0.6.x) drops ids; the wire carries them on newer servers.
    data = fixture("chat_tools.ndjson")
    assert ours_stream(data).tool_calls[0].id == "call_k3p9x2ab"


def test_model_listing_agrees_with_the_sdk() -> None:
    adapter = OllamaAdapter()
    tags = fixture("tags.json")
    sdk_names = [m.model for m in ollama.ListResponse.model_validate_json(tags).models]
    _, cursor = adapter.parse_models_page(ENDPOINT, HttpResponse(200, {}, tags), None)
    assert cursor is not None and json.loads(cursor) == sdk_names
    for show_file in ("show_qwen3.json", "show_llava.json", "show_nomic.json", "show_old.json"):
        body = fixture(show_file)
        sdk = ollama.ShowResponse.model_validate_json(body)
        [info], _ = adapter.parse_models_page(ENDPOINT, HttpResponse(200, {}, body), '["m"]')
        assert sdk.modelinfo is not None
        arch = sdk.modelinfo["general.architecture"]
        assert info.context_window == sdk.modelinfo[f"{arch}.context_length"]
        caps = sdk.capabilities
        assert info.supports_tools == (None if caps is None else "tools" in caps)
        assert info.supports_vision == (None if caps is None else "vision" in caps)
        assert info.supports_reasoning == (None if caps is None else "thinking" in caps)
        assert info.supports_embeddings == (None if caps is None else "embedding" in caps)


def test_embeddings_agree_with_the_sdk() -> None:
    body = fixture("embed.json")
    sdk = ollama.EmbedResponse.model_validate_json(body)
    request = EmbedRequest(provider="ollama", model="nomic-embed-text", inputs=("a", "b"))
    resp = OllamaAdapter().parse_embed_response(request, HttpResponse(200, {}, body))
    assert resp.vectors == [list(v) for v in sdk.embeddings]
    assert resp.usage.input_tokens == sdk.prompt_eval_count


def test_pull_progress_agrees_with_the_sdk() -> None:
    data = fixture("pull.ndjson")
    sdk = [ollama.ProgressResponse.model_validate_json(line) for line in data.splitlines()]
    parser = PullParser("llama3.2")
    reports = [*parser.feed(data), *parser.close()]
    assert [(r.status, r.digest, r.total, r.completed) for r in reports] == [
        (p.status, p.digest, p.total, p.completed) for p in sdk
    ]
