"""HttpProvider.achat runs the chat plan's steps inline (no plan driver on the hottest
call): it must give exactly what the sync path, which runs the plan, gives: the same
response, the same typed error with provider, model, base-URL hint and scrubbed key,
and the same passing-through of errors that are not llmswitch's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from llmswitch.config import Config
from llmswitch.errors import (
    AuthenticationError,
    LLMError,
    ModelNotFoundError,
    ProviderError,
    TransportError,
)
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.http import HttpProvider
from llmswitch.providers.registry import build_provider
from llmswitch.providers.runtime import CallContext
from llmswitch.wire import DEFAULT_TIMEOUT, HttpRequest, HttpResponse, Timeout
from tests.support.fixtures import fixture

KEY = "sk-chat-paths-secret-0123456789"
Answer = Callable[[HttpRequest], HttpResponse]


class _SyncTransport:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.sent: list[tuple[HttpRequest, Timeout]] = []

    def send(self, request: HttpRequest, timeout: Timeout) -> HttpResponse:
        self.sent.append((request, timeout))
        return self.answer(request)


class _AsyncTransport(_SyncTransport):
    async def send(self, request: HttpRequest, timeout: Timeout) -> HttpResponse:  # type: ignore[override]
        await asyncio.sleep(0)  # a real suspension, as the network gives
        return super().send(request, timeout)


def _provider(pid: str, env: dict[str, str]) -> HttpProvider:
    provider = build_provider(pid, Config(), env)
    assert isinstance(provider, HttpProvider)
    return provider


PROVIDERS = {
    "openai": ({"OPENAI_API_KEY": KEY}, "gpt-4o-mini"),
    "anthropic": ({"ANTHROPIC_API_KEY": KEY}, "claude-sonnet-4-5"),
}
ANSWERS = [
    ("openai", "chat_text.json"),
    ("openai", "chat_tools.json"),
    ("openai", "chat_refusal.json"),
    ("anthropic", "text.json"),
    ("anthropic", "thinking_tool.json"),
    ("anthropic", "cache_usage.json"),
]


def _request(pid: str, model: str) -> ChatRequest:
    return ChatRequest(
        provider=pid, model=model, messages=(Message(role="user", content="hi"),), max_tokens=64
    )


def _both(pid: str, answer: Answer, *, base_url: str | None = None) -> tuple[Any, Any, list[Any]]:
    """The outcome (response or raised error) of chat() and of achat(), and the sent
    requests of each."""
    env, model = PROVIDERS[pid]
    if base_url is not None:
        env = {**env, f"{pid.upper()}_BASE_URL": base_url}
    provider = _provider(pid, env)
    request = _request(pid, model)
    sync, aio = _SyncTransport(answer), _AsyncTransport(answer)
    outcomes: list[Any] = []
    try:
        outcomes.append(
            provider.chat(request, CallContext(timeout=DEFAULT_TIMEOUT, transport=sync))
        )
    except Exception as exc:  # compared below
        outcomes.append(exc)

    async def go() -> Any:
        return await provider.achat(request, CallContext(timeout=DEFAULT_TIMEOUT, transport=aio))

    try:
        outcomes.append(asyncio.run(go()))
    except Exception as exc:  # compared below
        outcomes.append(exc)
    return outcomes[0], outcomes[1], [sync.sent, aio.sent]


def _same_error(a: BaseException, b: BaseException) -> None:
    assert type(a) is type(b)
    assert str(a) == str(b)
    if isinstance(a, LLMError):
        assert isinstance(b, LLMError)
        assert (a.provider, a.model) == (b.provider, b.model)
        assert a.retryable == b.retryable
    if isinstance(a, ProviderError):
        assert isinstance(b, ProviderError)
        assert (a.status_code, a.code, a.body) == (b.status_code, b.code, b.body)


@pytest.mark.parametrize(("pid", "name"), ANSWERS)
def test_a_good_answer_is_the_same_response_on_both_paths(pid: str, name: str) -> None:
    body = fixture(pid, name)
    sync, aio, sent = _both(pid, lambda r: HttpResponse(status=200, headers={}, body=body))
    assert sync == aio
    assert (sync.text or sync.tool_calls or sync.refusal) and sync.provider == pid
    assert sync.raw == aio.raw == json.loads(body)
    # The same request went out, with the call's timeout.
    (s_req, s_timeout), (a_req, a_timeout) = sent[0][0], sent[1][0]
    assert (s_req.method, s_req.url, s_req.headers, s_req.body) == (
        a_req.method, a_req.url, a_req.headers, a_req.body
    )  # fmt: skip
    assert s_timeout is a_timeout is DEFAULT_TIMEOUT


@pytest.mark.parametrize("pid", sorted(PROVIDERS))
def test_a_refusal_quoting_the_key_is_the_same_scrubbed_error(pid: str) -> None:
    quoted = json.dumps(
        {"type": "error", "error": {"type": "authentication_error", "message": f"bad key {KEY}"}}
    ).encode()
    sync, aio, _ = _both(pid, lambda r: HttpResponse(status=401, headers={}, body=quoted))
    assert isinstance(sync, AuthenticationError)
    _same_error(sync, aio)
    assert sync.provider == pid and sync.model == PROVIDERS[pid][1]
    for err in (sync, aio):
        assert KEY not in str(err) and KEY not in (err.body or "")


def test_a_404_from_a_known_wrong_base_url_names_the_setting_on_both_paths() -> None:
    # OpenAI's base URL without /v1: the 404 says which setting to fix.
    sync, aio, _ = _both(
        "openai",
        lambda r: HttpResponse(status=404, headers={}, body=b"<html>not found</html>"),
        base_url="http://127.0.0.1:9",
    )
    assert isinstance(sync, ModelNotFoundError | ProviderError)
    _same_error(sync, aio)
    assert "OPENAI_BASE_URL" in str(sync)


@pytest.mark.parametrize("pid", sorted(PROVIDERS))
def test_a_malformed_200_is_the_same_error_on_both_paths(pid: str) -> None:
    sync, aio, _ = _both(pid, lambda r: HttpResponse(status=200, headers={}, body=b"{not json"))
    assert isinstance(sync, ProviderError)
    _same_error(sync, aio)
    assert sync.provider == pid


def test_a_transport_error_gets_provider_and_model_on_both_paths() -> None:
    def fail(request: HttpRequest) -> HttpResponse:
        raise TransportError(f"connection refused ({KEY})")

    sync, aio, _ = _both("openai", fail)
    assert isinstance(sync, TransportError)
    _same_error(sync, aio)
    assert (sync.provider, sync.model) == ("openai", "gpt-4o-mini")
    assert KEY not in str(sync)


def test_an_error_that_is_not_llmswitchs_goes_through_unchanged_on_both_paths() -> None:
    boom = ValueError("a bug in a custom transport")

    def fail(request: HttpRequest) -> HttpResponse:
        raise boom

    sync, aio, _ = _both("openai", fail)
    assert sync is boom and aio is boom
