"""End to end: Client/AsyncClient -> the Vertex provider -> real HTTP to a loopback
server playing both Google's token endpoint (a service account's JWT assertion, checked
for its signature) and the Vertex AI routes of Gemini and Claude, replaying exact bytes
cut into awkward chunks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    AuthenticationError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderUnavailableError,
    RateLimitError,
)
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, Reply, sse_reply
from tests.support.vertex import CLAUDE_ROOT, GEMINI_ROOT, GoogleAccount, vertex_env

fixture = Fixtures("vertex")
HI = [{"role": "user", "content": "Say hello."}]
GEMINI = "vertex/gemini-2.5-flash"
CLAUDE = "vertex/claude-sonnet-4-5"
GENERATE = f"{GEMINI_ROOT}/gemini-2.5-flash:generateContent"
STREAM = f"{GEMINI_ROOT}/gemini-2.5-flash:streamGenerateContent"
RAW = f"{CLAUDE_ROOT}/claude-sonnet-4-5:rawPredict"
STREAM_RAW = f"{CLAUDE_ROOT}/claude-sonnet-4-5:streamRawPredict"


@pytest.fixture
def account(loopback: Loopback) -> GoogleAccount:
    return GoogleAccount(loopback)


@pytest.fixture
def env(loopback: Loopback, account: GoogleAccount, tmp_path: Path) -> dict[str, str]:
    return vertex_env(loopback, account.write(tmp_path), tmp_path)


def calls(loopback: Loopback, path: str) -> list[Any]:
    return [r for r in loopback.requests if r.path == path]


def body(loopback: Loopback, path: str, i: int = 0) -> dict[str, Any]:
    sent = calls(loopback, path)[i].json()
    assert isinstance(sent, dict)
    return sent


# --------------------------------------------------------------------------- Gemini


def test_gemini_chat_sends_the_gemini_body_with_a_bearer_token(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    loopback.route("POST", GENERATE, fixture("gemini_text.json"))
    with Client(env=env) as client:
        resp = client.chat(GEMINI, HI, system="Be brief.", max_tokens=50)
    assert resp.text == "Grüezi from Vertex."
    assert resp.finish_reason == "stop"
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (6, 5)
    assert resp.provider == "vertex"
    (sent,) = calls(loopback, GENERATE)
    assert sent.headers["authorization"] == "Bearer ya29.test-token-1"
    assert "x-goog-api-key" not in sent.headers
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 50},
    }
    assert account.issued == 1


def test_gemini_stream_sync_and_async(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    loopback.route("POST", STREAM, sse_reply(fixture("gemini_text.sse")))
    with Client(env=env) as client, client.stream(GEMINI, HI) as stream:
        text = "".join(stream.text_stream)
    assert text == "Grüezi from Vertex."
    assert stream.response.usage.total_tokens == 11

    async def run() -> str:
        async with AsyncClient(env=env) as client:
            async with client.stream(GEMINI, HI) as stream:
                return "".join([t async for t in stream.text_stream])

    import asyncio

    assert asyncio.run(run()) == "Grüezi from Vertex."
    for sent in calls(loopback, STREAM):
        assert sent.query == {"alt": ["sse"]}
        assert sent.headers["authorization"].startswith("Bearer ya29.test-token-")


def test_gemini_count_tokens_sends_the_prompt_fields_only(
    loopback: Loopback, env: dict[str, str]
) -> None:
    path = f"{GEMINI_ROOT}/gemini-2.5-flash:countTokens"
    loopback.route("POST", path, fixture("gemini_count_tokens.json"))
    with Client(env=env) as client:
        assert client.count_tokens(GEMINI, HI, system="Be brief.", temperature=0.2) == 7
    assert body(loopback, path) == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


# --------------------------------------------------------------------------- Claude


def test_claude_chat_is_raw_predict_with_the_vertex_anthropic_version(
    loopback: Loopback, env: dict[str, str]
) -> None:
    loopback.route("POST", RAW, fixture("claude_text.json"))
    with Client(env=env) as client:
        resp = client.chat(CLAUDE, HI, max_tokens=100, system="Be brief.")
    assert resp.text == "Hello from Claude on Vertex."
    assert resp.finish_reason == "stop"
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (12, 9)
    sent = body(loopback, RAW)
    assert sent == {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Say hello."}],
        "system": "Be brief.",
    }
    assert "model" not in sent and "stream" not in sent
    assert calls(loopback, RAW)[0].headers["authorization"] == "Bearer ya29.test-token-1"


@pytest.mark.asyncio
async def test_claude_stream_async_is_stream_raw_predict(
    loopback: Loopback, env: dict[str, str]
) -> None:
    loopback.route("POST", STREAM_RAW, sse_reply(fixture("claude_text.sse")))
    async with AsyncClient(env=env) as client:
        async with client.stream(CLAUDE, HI, max_tokens=100) as stream:
            text = "".join([t async for t in stream.text_stream])
    assert text == "Hello from Claude on Vertex."
    assert stream.response.usage.output_tokens == 9
    assert stream.response.finish_reason == "stop"
    sent = body(loopback, STREAM_RAW)
    assert sent["stream"] is True and sent["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in sent


def test_claude_stream_sync(loopback: Loopback, env: dict[str, str]) -> None:
    loopback.route("POST", STREAM_RAW, sse_reply(fixture("claude_text.sse")))
    with Client(env=env) as client, client.stream(CLAUDE, HI) as stream:
        assert "".join(stream.text_stream) == "Hello from Claude on Vertex."


def test_explicit_publisher_and_a_versioned_claude_model(
    loopback: Loopback, env: dict[str, str]
) -> None:
    versioned = f"{CLAUDE_ROOT}/claude-sonnet-4-5@20250929:rawPredict"
    loopback.route("POST", versioned, fixture("claude_text.json"))
    loopback.route("POST", GENERATE, fixture("gemini_text.json"))
    with Client(env=env) as client:
        claude = client.chat("vertex/anthropic/claude-sonnet-4-5@20250929", HI)
        gemini = client.chat("vertex/google/gemini-2.5-flash", HI)
    assert claude.text == "Hello from Claude on Vertex."
    assert gemini.text == "Grüezi from Vertex."
    # The default max_tokens is the family's (the catalog knows claude-sonnet-4-5).
    assert body(loopback, versioned)["max_tokens"] == 8192


def test_claude_count_tokens(loopback: Loopback, env: dict[str, str]) -> None:
    path = f"{CLAUDE_ROOT}/count-tokens:rawPredict"
    loopback.route("POST", path, fixture("claude_count_tokens.json"))
    with Client(env=env) as client:
        assert client.count_tokens(CLAUDE, HI, system="Be brief.") == 14
    assert body(loopback, path) == {
        "anthropic_version": "vertex-2023-10-16",
        "messages": [{"role": "user", "content": "Say hello."}],
        "system": "Be brief.",
        "model": "claude-sonnet-4-5",
    }


# --------------------------------------------------------------------------- models, health


def test_list_models_pages_google_then_anthropic(loopback: Loopback, env: dict[str, str]) -> None:
    google, anthropic = "/v1beta1/publishers/google/models", "/v1beta1/publishers/anthropic/models"
    loopback.route(
        "GET", google, fixture("models_google_1.json"),
        fixture("models_google_2.json"),
    )  # fmt: skip
    loopback.route("GET", anthropic, fixture("models_anthropic.json"))
    with Client(env=env) as client:
        models = client.list_models("vertex")
    assert [m.id for m in models] == [
        "gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash-001",
        "claude-sonnet-4-5", "claude-opus-4-1",
    ]  # fmt: skip
    assert {m.provider for m in models} == {"vertex"}
    pages = [r for r in loopback.requests if r.method == "GET"]
    assert pages[1].query["pageToken"] == ["CgxnZW1pbmktMi41LXBybw=="]
    assert all(r.headers["authorization"] == "Bearer ya29.test-token-1" for r in pages)


def test_health_probes_one_publisher_model(loopback: Loopback, env: dict[str, str]) -> None:
    loopback.route("GET", "/v1beta1/publishers/google/models", fixture("models_google_2.json"))
    with Client(env=env) as client:
        status = client.health("vertex")
    assert status.ok, status.error
    assert loopback.requests[-1].query == {"pageSize": ["1"]}


def test_health_without_a_token_says_why(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    account.refuse = True
    with Client(env=env) as client:
        status = client.health("vertex")
    assert not status.ok
    assert status.error is not None and "invalid_grant" in status.error


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "name", "cls", "code"),
    [
        (403, "error_permission.json", PermissionDeniedError, "IAM_PERMISSION_DENIED"),
        (429, "error_quota.json", RateLimitError, "RESOURCE_EXHAUSTED"),
        (404, "error_not_found.json", ModelNotFoundError, "NOT_FOUND"),
    ],
)
def test_google_status_errors(
    loopback: Loopback,
    env: dict[str, str],
    status: int,
    name: str,
    cls: type[Exception],
    code: str,
) -> None:
    """The Vertex front end's google.rpc Status, for a Claude model too; the code is the
    ErrorInfo reason when there is one, else the status name."""
    loopback.route("POST", RAW, Reply(status=status, body=fixture(name)))
    with Client(env=env, max_retries=0) as client, pytest.raises(cls) as caught:
        client.chat(CLAUDE, HI)
    err = caught.value
    assert err.status_code == status  # type: ignore[attr-defined]
    assert err.provider == "vertex"  # type: ignore[attr-defined]
    assert err.code == code  # type: ignore[attr-defined]
    assert json.loads(fixture(name))["error"]["message"] in err.message  # type: ignore[attr-defined]


def test_claude_own_error_shape(loopback: Loopback, env: dict[str, str]) -> None:
    loopback.route("POST", RAW, Reply(status=529, body=fixture("claude_overloaded.json")))
    with (
        Client(env=env, max_retries=0) as client,
        pytest.raises(ProviderUnavailableError) as caught,
    ):
        client.chat(CLAUDE, HI)
    assert caught.value.code == "overloaded_error"
    assert caught.value.retryable


def test_a_token_quoted_back_is_scrubbed(loopback: Loopback, env: dict[str, str]) -> None:
    echo = {"error": {"code": 400, "message": "bad token ya29.test-token-1 here",
                      "status": "INVALID_ARGUMENT"}}  # fmt: skip
    loopback.route("POST", GENERATE, Reply(status=400, body=json.dumps(echo).encode()))
    with Client(env=env, max_retries=0) as client, pytest.raises(Exception) as caught:
        client.chat(GEMINI, HI)
    assert "ya29.test-token-1" not in str(caught.value)
    assert "ya29.test-token-1" not in (caught.value.body or "")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- 401: refresh once


def test_401_mints_a_new_token_and_retries_once(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    expired = Reply(status=401, body=fixture("error_unauthenticated.json"))
    loopback.route("POST", GENERATE, expired, Reply(body=fixture("gemini_text.json")))
    with Client(env=env, max_retries=0) as client:
        assert client.chat(GEMINI, HI).text == "Grüezi from Vertex."
    tokens = [r.headers["authorization"] for r in calls(loopback, GENERATE)]
    assert tokens == ["Bearer ya29.test-token-1", "Bearer ya29.test-token-2"]
    assert account.issued == 2


@pytest.mark.asyncio
async def test_401_again_is_an_authentication_error(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    loopback.route("POST", STREAM, Reply(status=401, body=fixture("error_unauthenticated.json")))
    async with AsyncClient(env=env, max_retries=0) as client:
        with pytest.raises(AuthenticationError) as caught:
            async with client.stream(GEMINI, HI) as stream:
                async for _ in stream:
                    pass
    assert caught.value.code == "ACCESS_TOKEN_EXPIRED"
    assert len(calls(loopback, STREAM)) == 2  # the first try and one with a new token
    assert account.issued == 2


@pytest.mark.asyncio
async def test_an_async_stream_refused_once_streams_with_a_new_token(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    expired = Reply(status=401, body=fixture("error_unauthenticated.json"))
    loopback.route("POST", STREAM, expired, sse_reply(fixture("gemini_text.sse")))
    async with AsyncClient(env=env, max_retries=0) as client:
        async with client.stream(GEMINI, HI) as stream:
            text = "".join([t async for t in stream.text_stream])
    assert text == "Grüezi from Vertex."
    tokens = [r.headers["authorization"] for r in calls(loopback, STREAM)]
    assert tokens == ["Bearer ya29.test-token-1", "Bearer ya29.test-token-2"]
    assert account.issued == 2


def test_refused_credentials_are_an_authentication_error(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    account.refuse = True
    with Client(env=env, max_retries=0) as client, pytest.raises(AuthenticationError) as caught:
        client.chat(GEMINI, HI)
    assert caught.value.provider == "vertex"
    assert "invalid_grant" in caught.value.message
    assert "PRIVATE KEY" not in str(caught.value)
    assert calls(loopback, GENERATE) == []  # nothing sent without a token


@pytest.mark.asyncio
async def test_async_chat_count_and_listing_refresh_once_on_401(
    loopback: Loopback, account: GoogleAccount, env: dict[str, str]
) -> None:
    expired = Reply(status=401, body=fixture("error_unauthenticated.json"))
    count = f"{GEMINI_ROOT}/gemini-2.5-flash:countTokens"
    listing = "/v1beta1/publishers/anthropic/models"
    loopback.route("POST", GENERATE, expired, Reply(body=fixture("gemini_text.json")))
    loopback.route("POST", count, expired, Reply(body=fixture("gemini_count_tokens.json")))
    loopback.route("GET", "/v1beta1/publishers/google/models", expired,
                   Reply(body=fixture("models_google_2.json")))  # fmt: skip
    loopback.route("GET", listing, fixture("models_anthropic.json"))
    async with AsyncClient(env=env, max_retries=0) as client:
        assert (await client.chat(GEMINI, HI)).text == "Grüezi from Vertex."
        assert await client.count_tokens(GEMINI, HI) == 7
        assert len(await client.list_models("vertex")) == 3
    assert account.issued == 4  # the first token and one after each 401
