"""Every credential the client knows of is scrubbed from errors, health results and
reprs, wherever it came from (issue 7, item 14)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmswitch import AsyncClient, AuthenticationError, Client, ConfigurationError
from llmswitch.config import load_config
from llmswitch.errors import redact
from llmswitch.providers.base import AzureEndpoint, Endpoint
from llmswitch.wire import Secret
from tests.support.config import write
from tests.support.loopback import Loopback, Recorded, Reply

HI = [{"role": "user", "content": "hi"}]
# Opaque on purpose: no key shape the generic patterns know, so only the endpoint's
# own list of secrets can catch it.
ENTRA = "entra0opaque0token0value0123456789"
HEADER_TOKEN = "proxy0credential0abcdef987654"


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


def echo_401(request: Recorded) -> Reply:
    """A server that quotes back every header it got (some proxies do)."""
    quoted = "; ".join(f"{k}={v}" for k, v in request.headers.items())
    body = {"error": {"code": "401", "message": f"Access denied for {quoted}"}}
    return Reply(status=401, body=json.dumps(body).encode())


def azure_env(loopback: Loopback) -> dict[str, str]:
    return {"AZURE_OPENAI_ENDPOINT": loopback.url, "AZURE_OPENAI_AD_TOKEN": ENTRA}


def test_an_entra_token_is_scrubbed_from_errors(loopback: Loopback) -> None:
    loopback.route("POST", "/openai/deployments/d1/chat/completions", handler=echo_401)
    with Client(env=azure_env(loopback)) as client, pytest.raises(AuthenticationError) as info:
        client.chat("azure/d1", HI)
    assert loopback.requests[0].headers["authorization"] == f"Bearer {ENTRA}"  # it was sent
    assert "Access denied" in str(info.value)
    for text in (str(info.value), repr(info.value), info.value.body or ""):
        assert ENTRA not in text


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_entra_token_is_scrubbed_from_health(loopback: Loopback, mode: str) -> None:
    import asyncio

    loopback.route("GET", "/openai/models", handler=echo_401)
    if mode == "sync":
        with Client(env=azure_env(loopback)) as client:
            status = client.health("azure")
    else:

        async def probe() -> object:
            async with AsyncClient(env=azure_env(loopback)) as client:
                return await client.health("azure")

        status = asyncio.run(probe())  # type: ignore[assignment]
    assert not status.ok and status.error is not None and "Access denied" in status.error
    assert ENTRA not in status.error


def test_token_provider_results_are_scrubbed_as_they_are_fetched() -> None:
    tokens = iter(["rotating0token0number0one01", "rotating0token0number0two02"])
    endpoint = AzureEndpoint(
        provider="azure", base_url="https://r.openai.azure.com", token_provider=lambda: next(tokens)
    )
    endpoint.request_headers()
    endpoint.request_headers()
    assert {"rotating0token0number0one01", "rotating0token0number0two02"} <= set(endpoint.secrets())
    assert "rotating0token" not in repr(endpoint)


def test_credentials_in_configured_headers_are_scrubbed_and_masked(
    loopback: Loopback, tmp_path: Path
) -> None:
    loopback.route("POST", "/v1/chat/completions", handler=echo_401)
    path = write(
        tmp_path,
        '[providers.openai]\nheaders = { "x-proxy-token" = "${PROXY_TOKEN}", '
        '"proxy-authorization" = "Basic ${PROXY_TOKEN}" }\n',
    )
    env = {
        "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "OPENAI_BASE_URL": loopback.url + "/v1",
        "PROXY_TOKEN": HEADER_TOKEN,
    }
    with Client(config=path, env=env) as client:
        with pytest.raises(AuthenticationError) as info:
            client.chat("openai/gpt-4o-mini", HI)
        endpoint = client._core.provider("openai").endpoint  # type: ignore[attr-defined]
        shown = repr(endpoint)
    assert loopback.requests[0].headers["x-proxy-token"] == HEADER_TOKEN
    for text in (str(info.value), info.value.body or "", shown):
        assert HEADER_TOKEN not in text
    assert "'x-proxy-token': '***'" in shown  # names stay visible


def test_query_and_url_credentials_are_known_and_masked() -> None:
    endpoint = Endpoint(
        provider="p",
        base_url="https://user:url0password0123@proxy.example/v1?api_key=url0key0abcdef",
        params={"key": "param0key/0123456"},
    )
    secrets = set(endpoint.secrets())
    assert {"url0password0123", "url0key0abcdef", "param0key/0123456"} <= secrets
    assert "param0key%2F0123456" in secrets  # as sent in the query string
    shown = repr(endpoint)
    for secret in ("url0password0123", "url0key0abcdef", "param0key"):
        assert secret not in shown
    # URL credentials travel as basic auth, the same on both clients, not in the URL.
    assert endpoint.url("/x").startswith("https://proxy.example/v1")
    assert "url0password0123" not in endpoint.url("/x")
    assert endpoint.request_headers()["authorization"].startswith("Basic ")


def test_url_credentials_beside_a_bearer_key_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        Endpoint(
            provider="p",
            base_url="https://user:url0password0123@proxy.example/v1",
            api_key=Secret("sk-bearer-0123456789"),
        )
    assert info.value.field == "base_url"
    assert "url0password0123" not in str(info.value)


def test_config_errors_never_print_an_interpolated_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.mine]\nkind = "${KIND}"\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {"KIND": "the-secret-value-123"})
    assert "the-secret-value-123" not in str(info.value)
    assert "the value of ${KIND}" in str(info.value)


def test_config_errors_scrub_interpolated_values_inside_longer_strings(tmp_path: Path) -> None:
    path = write(tmp_path, '[aliases]\nfast = "openai${SUFFIX}"\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {"SUFFIX": "-secret0suffix0987"})
    assert "secret0suffix0987" not in str(info.value)


def test_redact_masks_jwts_and_overlapping_secrets() -> None:
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGci.eyJhdWQiOiJodHRwczovL2NvZ25p.c2lnbmF0dXJl"
    assert jwt not in redact(f"token {jwt} rejected")
    assert redact("abcdefgh", ["abcd", "abcdefgh"]) == "***"
    assert Secret("x").get() == "x"


def test_url_credentials_reach_a_basic_auth_server_the_same_on_both_clients(
    loopback: Loopback, tmp_path: Path
) -> None:
    """A key-less OpenAI-compatible server behind basic auth: user:password in its
    base_url is sent as ``Authorization: Basic`` by both clients (aiohttp used to raise
    a raw ValueError, urllib3 to drop it)."""
    body = (Path(__file__).parent / "fixtures" / "openai" / "chat_text.json").read_bytes()
    loopback.route("POST", "/v1/chat/completions", body)
    host = loopback.url.removeprefix("http://")
    path = write(
        tmp_path,
        f'[providers.local]\nkind = "openai-compatible"\nbase_url = "http://me:pw0secret0@{host}/v1"\n',
    )
    with Client(config=path, env={}, max_retries=0) as client:
        assert client.chat("local/m", HI).text

    async def run() -> str:
        async with AsyncClient(config=path, env={}, max_retries=0) as aclient:
            return (await aclient.chat("local/m", HI)).text

    assert asyncio.run(run())
    expected = "Basic " + base64.b64encode(b"me:pw0secret0").decode()
    assert [r.headers["authorization"] for r in loopback.requests] == [expected, expected]
