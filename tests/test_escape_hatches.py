"""extra_body / extra_headers behave the same on every adapter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch.messages import ChatRequest, to_messages
from llmswitch.providers.base import Endpoint
from llmswitch.wire import Secret


def _adapters() -> list[tuple[str, Any, Endpoint]]:
    from llmswitch.providers.anthropic import AnthropicAdapter
    from llmswitch.providers.gemini import GeminiAdapter
    from llmswitch.providers.ollama import OllamaAdapter
    from llmswitch.providers.openai import OpenAIAdapter

    key = Secret("k-123456789")
    return [
        ("openai", OpenAIAdapter(), Endpoint(provider="openai", base_url="http://h/v1", api_key=key)),
        ("anthropic", AnthropicAdapter(), Endpoint(provider="anthropic", base_url="http://h",
                                                   api_key=key, auth_header="x-api-key", auth_scheme=None)),
        ("gemini", GeminiAdapter(), Endpoint(provider="gemini", base_url="http://h", api_key=key,
                                             auth_header="x-goog-api-key", auth_scheme=None)),
        ("ollama", OllamaAdapter(), Endpoint(provider="ollama", base_url="http://h")),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "adapter", "endpoint"), _adapters(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_extra_body_adds_merges_and_removes(name: str, adapter: Any, endpoint: Endpoint) -> None:
    base = ChatRequest(provider=name, model="m", messages=to_messages([{"role": "user", "content": "hi"}]),
                       temperature=0.5)  # fmt: skip
    plain = json.loads(adapter.build_request(base, endpoint, stream=False).body)
    sampling_key = next(k for k in ("temperature", "generationConfig", "options") if k in plain)
    request = ChatRequest(
        provider=name,
        model="m",
        messages=base.messages,
        temperature=0.5,
        extra_body={"x_custom": 1, sampling_key: None},
        extra_headers={"X-Trace": "t1", "Content-Type": "application/json; charset=utf-8"},
    )
    http = adapter.build_request(request, endpoint, stream=False)
    body = json.loads(http.body)
    assert body["x_custom"] == 1
    assert sampling_key not in body  # None removes what we would have sent
    assert http.headers["x-trace"] == "t1"
    # a caller's header replaces ours whatever its case, never doubles it
    content_types = [v for k, v in http.headers.items() if k.lower() == "content-type"]
    assert content_types == ["application/json; charset=utf-8"]
