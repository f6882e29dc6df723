"""Common base-URL mistakes are named in the error, with the setting to fix:
``ANTHROPIC_BASE_URL`` ending in ``/v1``, ``OPENAI_BASE_URL`` without it, Gemini's ending
in an API version, ``OLLAMA_HOST`` ending in ``/api`` or ``/v1``. A real 404 from the
right URL keeps the provider's own message. Chat, stream, list_models and health."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import ModelNotFoundError, ProviderError
from tests.support.loopback import Loopback, Reply, sse_reply

KEY = "plain-hint-key-0123456789"
HI = [{"role": "user", "content": "hi"}]
GO_404 = Reply(status=404, body=b"404 page not found", content_type="text/plain")
ANTHROPIC_404 = Reply(
    status=404, body=b'{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}'
)


def anthropic_env(base: str) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": base}


def openai_env(base: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": base}


ANTHROPIC_HINT = (
    "ANTHROPIC_BASE_URL (or base_url in llmswitch.toml) should not end in /v1 "
    "(it is added per request)"
)


# --------------------------------------------------------------------------- Anthropic


async def test_anthropic_base_url_ending_in_v1(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/v1/messages", ANTHROPIC_404)
    loopback.route("GET", "/v1/v1/models", ANTHROPIC_404)
    env = anthropic_env(loopback.url + "/v1")
    where = f"404 from {loopback.url}/v1/v1/messages: {ANTHROPIC_HINT}"
    model = "anthropic/claude-sonnet-4-5"
    with Client(env=env) as client:
        with pytest.raises(ModelNotFoundError) as chat:  # the type stays; the message is new
            client.chat(model, HI)
        with pytest.raises(ModelNotFoundError) as stream:
            with client.stream(model, HI) as events:
                list(events)
        with pytest.raises(ModelNotFoundError) as models:
            client.list_models("anthropic")
        health = client.health("anthropic")
    async with AsyncClient(env=env) as aclient:
        with pytest.raises(ModelNotFoundError) as achat:
            await aclient.chat(model, HI)
        with pytest.raises(ModelNotFoundError) as astream:
            async with aclient.stream(model, HI) as aevents:
                async for _ in aevents:
                    pass
        ahealth = await aclient.health("anthropic")
    for info in (chat, stream, achat, astream):
        assert info.value.message == where and info.value.status_code == 404
    assert models.value.message.startswith(f"404 from {loopback.url}/v1/v1/models: ")
    assert models.value.message.endswith(ANTHROPIC_HINT)
    for status in (health, ahealth):
        assert status.ok is False and status.error is not None
        assert ANTHROPIC_HINT in status.error and KEY not in status.error


def test_a_real_anthropic_model_not_found_keeps_its_message(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/v1/messages",
        Reply(status=404, body=b'{"type":"error","error":{"type":"not_found_error",'
              b'"message":"model: claude-nope"}}'),
    )  # fmt: skip
    with Client(env=anthropic_env(loopback.url)) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("anthropic/claude-nope", HI)
    assert info.value.message == (
        "model 'claude-nope' not found or not available to this key: model: claude-nope"
    )


# --------------------------------------------------------------------------- OpenAI


@pytest.mark.parametrize(
    "reply",
    [GO_404, Reply(status=404, body=b'{"detail":"Not Found"}'), Reply(status=404, body=b"")],
    ids=["text", "fastapi-json", "empty"],
)
async def test_openai_base_url_without_v1(loopback: Loopback, reply: Reply) -> None:
    loopback.route("POST", "/chat/completions", reply)
    env = openai_env(loopback.url)
    hint = (
        f"404 from {loopback.url}/chat/completions: OPENAI_BASE_URL (or base_url in "
        f"llmswitch.toml) should end in /v1 (e.g. {loopback.url}/v1)"
    )
    with Client(env=env) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("openai/gpt-4o-mini", HI)
    assert info.value.message == hint
    async with AsyncClient(env=env) as aclient:
        with pytest.raises(ModelNotFoundError) as ainfo:
            async with aclient.stream("openai/gpt-4o-mini", HI) as events:
                async for _ in events:
                    pass
    assert ainfo.value.message == hint


@pytest.mark.parametrize("suffix", ["", "/v1"])
def test_an_openai_error_body_404_is_the_servers_own_answer(
    loopback: Loopback, suffix: str
) -> None:
    body = (
        b'{"error":{"message":"The model `gpt-nope` does not exist or you do not have access '
        b'to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}'
    )
    loopback.route("POST", f"{suffix}/chat/completions", Reply(status=404, body=body))
    with Client(env=openai_env(loopback.url + suffix)) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("openai/gpt-nope", HI)
    assert info.value.message.startswith("The model `gpt-nope` does not exist")
    assert "OPENAI_BASE_URL" not in info.value.message


def test_a_pasted_full_openai_url(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions/chat/completions", GO_404)
    with Client(env=openai_env(loopback.url + "/v1/chat/completions")) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("openai/gpt-4o-mini", HI)
    assert info.value.message.endswith(
        "OPENAI_BASE_URL (or base_url in llmswitch.toml) should stop before "
        "/chat/completions (it is added per request)"
    )


def test_a_compatible_server_names_its_llmswitch_toml_entry(
    loopback: Loopback, tmp_path: Path
) -> None:
    loopback.route("POST", "/chat/completions", GO_404)
    config = tmp_path / "llmswitch.toml"
    config.write_text(
        f'[providers.local]\nkind = "openai-compatible"\nbase_url = "{loopback.url}"\n'
    )
    with Client(config=str(config), env={}) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("local/qwen", HI)
    assert info.value.message == (
        f"404 from {loopback.url}/chat/completions: base_url of provider 'local' in "
        f"llmswitch.toml should end in /v1 (e.g. {loopback.url}/v1)"
    )


async def test_health_of_a_web_server_says_which_variable(loopback: Loopback) -> None:
    page = b"<!doctype html><html><body>It works!</body></html>"
    loopback.route("GET", "/models", Reply(body=page, content_type="text/html"))
    async with AsyncClient(env=openai_env(loopback.url)) as client:
        status = await client.health("openai")
    assert status.ok is False and status.error is not None
    assert "answer is not an OpenAI models list (got text/html:" in status.error
    assert status.error.endswith(
        f"OPENAI_BASE_URL (or base_url in llmswitch.toml) should end in /v1 (e.g. "
        f"{loopback.url}/v1) (status 200, code malformed_response)"
    )


# --------------------------------------------------------------------------- Gemini


def test_gemini_base_url_ending_in_v1(loopback: Loopback) -> None:
    path = "/v1/v1beta/models/gemini-2.5-flash:generateContent"
    loopback.route("POST", path, GO_404)
    with Client(env={"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": loopback.url + "/v1"}) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("gemini/gemini-2.5-flash", HI)
    assert info.value.message == (
        f"404 from {loopback.url}{path}: GEMINI_BASE_URL (or base_url in llmswitch.toml) "
        "should not end in /v1 (the API version is added per request)"
    )


def test_gemini_base_url_ending_in_v1beta_is_tolerated(loopback: Loopback) -> None:
    loopback.route("GET", "/v1beta/models", Reply(body=b'{"models":[]}'))
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": loopback.url + "/v1beta/"}
    with Client(env=env) as client:
        assert client.list_models("gemini") == []
        assert client.health("gemini").ok


# --------------------------------------------------------------------------- Ollama


@pytest.mark.parametrize(
    ("suffix", "hint"),
    [
        ("/api", "should not end in /api (it is added per request)"),
        ("/v1", "should not end in /v1: the native API is at the server's root"),
    ],
)
async def test_ollama_host_with_a_path(loopback: Loopback, suffix: str, hint: str) -> None:
    loopback.route("POST", f"{suffix}/api/chat", GO_404)
    loopback.route("GET", f"{suffix}/api/version", GO_404)
    env = {"OLLAMA_HOST": loopback.url + suffix}
    with Client(env=env) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("ollama/llama3.2", HI)
        health = client.health("ollama")
    expected = f"404 from {loopback.url}{suffix}/api/chat: OLLAMA_HOST (or base_url in "
    assert info.value.message.startswith(expected + "llmswitch.toml) " + hint)
    assert "llmswitch models pull" not in info.value.message  # not "download the model"
    assert health.ok is False and health.error is not None and hint in health.error


def test_a_real_ollama_model_not_found_keeps_its_message(loopback: Loopback) -> None:
    loopback.route(
        "POST", "/api/chat", Reply(status=404, body=b'{"error":"model \\"nope\\" not found"}')
    )
    with Client(env={"OLLAMA_HOST": loopback.url}) as client:
        with pytest.raises(ModelNotFoundError) as info:
            client.chat("ollama/nope", HI)
    assert "llmswitch models pull ollama/nope" in info.value.message
    assert "OLLAMA_HOST" not in info.value.message


def test_secrets_in_the_base_url_are_not_repeated(loopback: Loopback) -> None:
    base = loopback.url.replace("http://", f"http://user:{KEY}@") + "/v1"
    loopback.route("POST", "/v1/v1/messages", ANTHROPIC_404)
    with Client(env=anthropic_env(base)) as client:
        with pytest.raises(ProviderError) as info:
            client.chat("anthropic/claude-sonnet-4-5", HI)
    assert ANTHROPIC_HINT in info.value.message and KEY not in str(info.value)


def test_an_error_the_server_sent_gets_no_hint(loopback: Loopback) -> None:
    # Some compatible servers live at a root without /v1: their own errors stay as sent.
    sse = b'data: {"error":{"message":"backend exploded","type":"weird_error"}}\n\n'
    loopback.route("POST", "/chat/completions", sse_reply(sse))
    with Client(env=openai_env(loopback.url)) as client:
        with pytest.raises(ProviderError) as info:
            with client.stream("openai/gpt-4o-mini", HI) as events:
                list(events)
    assert "backend exploded" in info.value.message
    assert "OPENAI_BASE_URL" not in info.value.message


@pytest.mark.parametrize("url", ["127.0.0.1:8000/v1", "ftp://127.0.0.1/v1", "localhost/v1"])
def test_a_base_url_without_http_scheme_names_the_variable_before_sending(url: str) -> None:
    from llmswitch import ConfigurationError

    env = {"OPENAI_API_KEY": "sk-scheme-test-0123456789", "OPENAI_BASE_URL": url}
    with Client(env=env, max_retries=0) as client, pytest.raises(ConfigurationError) as info:
        client.chat("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}])
    assert "OPENAI_BASE_URL" in str(info.value) and info.value.field == "base_url"

    async def run() -> None:
        async with AsyncClient(env=env, max_retries=0) as aclient:
            await aclient.chat("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}])

    with pytest.raises(ConfigurationError) as ainfo:
        asyncio.run(run())
    assert str(ainfo.value) == str(info.value)
