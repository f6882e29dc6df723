"""Helpers shared by the tests/test_openai_*.py modules: fixtures and parser runs."""

from __future__ import annotations

from typing import Any

from llmswitch.messages import ChatRequest, to_messages
from llmswitch.providers.openai import OpenAIAdapter
from tests.support.fixtures import Fixtures
from tests.support.streams import Feeder, awkward_splits

fixture = Fixtures("openai")
# The stream fixtures the parser and SDK-diff tests both run over.
STREAMS = [
    "stream_text.sse",
    "stream_tools.sse",
    "stream_refusal.sse",
    "stream_azure.sse",
    "stream_vllm_reasoning.sse",
    "stream_llamacpp_reasoning.sse",
    "stream_ollama_reasoning.sse",
    "stream_ollama_tools.sse",
    "stream_keepalive.sse",
    "stream_truncated.sse",
]


def chat_request(model: str = "gpt-4o-mini", provider: str = "openai", **kw: Any) -> ChatRequest:
    messages = kw.pop("messages", [{"role": "user", "content": "Hi"}])
    return ChatRequest(provider=provider, model=model, messages=to_messages(messages), **kw)


FEED = Feeder(OpenAIAdapter, chat_request())
run_stream = FEED.run
parse_body = FEED.parse_body

__all__ = [
    "FEED",
    "STREAMS",
    "awkward_splits",
    "chat_request",
    "fixture",
    "parse_body",
    "run_stream",
]
