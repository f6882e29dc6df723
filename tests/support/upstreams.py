"""Each provider as a client sees it on the loopback server: the settings that point a
``Client``/``AsyncClient`` at it, the paths it answers on, its stream content type; and
the stream loops e2e tests share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmswitch import AsyncClient, Client
from llmswitch.events import Event, TextDelta
from llmswitch.messages import ChatResponse
from tests.support.bedrock import ACCESS_KEY, MODEL_PATH, SECRET_KEY
from tests.support.loopback import EVENTSTREAM, Loopback, Reply, stream_reply


def _openai(key: str, lb: Loopback) -> dict[str, str]:
    return {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": lb.url + "/v1"}


def _anthropic(key: str, lb: Loopback) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": lb.url}


def _gemini(key: str, lb: Loopback) -> dict[str, str]:
    return {"GEMINI_API_KEY": key, "GEMINI_BASE_URL": lb.url}


def _ollama(key: str, lb: Loopback) -> dict[str, str]:
    return {"OLLAMA_HOST": lb.url}


def _bedrock(key: str, lb: Loopback) -> dict[str, str]:
    return {
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": key,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": lb.url,
        "AWS_ENDPOINT_URL_BEDROCK": lb.url,
    }


@dataclass(frozen=True)
class Upstream:
    provider: str
    model: str  # as callers write it: "<provider>/<model>"
    chat_path: str
    stream_path: str
    key: str  # the secret (for Bedrock the secret access key)
    _env: Callable[[str, Loopback], dict[str, str]]
    stream_type: str = "text/event-stream"

    def env(self, loopback: Loopback, key: str | None = None, **extra: str) -> dict[str, str]:
        """Settings pointing a client at ``loopback``; ``extra`` adds or overrides."""
        return {**self._env(self.key if key is None else key, loopback), **extra}

    def client(self, loopback: Loopback, *, key: str | None = None, **kw: Any) -> Client:
        return Client(env=self.env(loopback, key), **kw)

    def async_client(self, loopback: Loopback, *, key: str | None = None, **kw: Any) -> AsyncClient:
        return AsyncClient(env=self.env(loopback, key), **kw)

    def stream_reply(self, data: bytes, *, split: bool = True, **kw: Any) -> Reply:
        return stream_reply(self.stream_type, data, split=split, **kw)


OPENAI = Upstream(
    "openai", "openai/gpt-4o-mini", "/v1/chat/completions", "/v1/chat/completions",
    "sk-test-0123456789abcdef", _openai,
)  # fmt: skip
ANTHROPIC = Upstream(
    "anthropic", "anthropic/claude-sonnet-4-5", "/v1/messages", "/v1/messages",
    "sk-ant-test-0123456789", _anthropic,
)  # fmt: skip
GEMINI = Upstream(
    "gemini", "gemini/gemini-2.5-flash",
    "/v1beta/models/gemini-2.5-flash:generateContent",
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    "AIzaTest0123456789abcdefghij", _gemini,
)  # fmt: skip
OLLAMA = Upstream(
    "ollama", "ollama/llama3.2", "/api/chat", "/api/chat", "", _ollama, "application/x-ndjson"
)
BEDROCK = Upstream(
    "bedrock", "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    f"/model/{MODEL_PATH}/converse", f"/model/{MODEL_PATH}/converse-stream",
    SECRET_KEY, _bedrock, EVENTSTREAM,
)  # fmt: skip
UPSTREAMS = {u.provider: u for u in (OPENAI, ANTHROPIC, GEMINI, OLLAMA, BEDROCK)}


# --------------------------------------------------------------------------- streams


def drain(client: Client, model: str, messages: Any, **kw: Any) -> tuple[list[Event], ChatResponse]:
    """Stream to the end: every event and the final response."""
    with client.stream(model, messages, **kw) as stream:
        events: list[Event] = list(stream)
        return events, stream.response


async def adrain(
    client: AsyncClient, model: str, messages: Any, *, seen: list[str] | None = None, **kw: Any
) -> ChatResponse:
    """Stream to the end on the async client; each text delta goes to ``seen`` as it
    arrives, so a test still has them when the stream raises."""
    async with client.stream(model, messages, **kw) as stream:
        async for event in stream:
            if seen is not None and isinstance(event, TextDelta):
                seen.append(event.text)
        return stream.response
