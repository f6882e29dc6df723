"""``Client.health`` / ``AsyncClient.health`` for OpenAI and Anthropic through the loopback
server: both probe with the model list (neither has a version endpoint)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.messages import HealthStatus
from tests.support.loopback import Loopback, Reply
from tests.support.openai import fixture

# No known key shape: only the exact redaction of our own key can hide it.
OPENAI_KEY = "plain-openai-key-0123456789"
ANTHROPIC_KEY = "plain-anthropic-key-0123456789"

ANTHROPIC_MODELS = (
    b'{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5",'
    b'"created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5-20250929",'
    b'"last_id":"claude-sonnet-4-5-20250929"}'
)
# A rejected key is quoted back in the message (OpenAI does it verbatim).
OPENAI_401 = Reply(
    status=401,
    body=b'{"error":{"message":"Incorrect API key provided: ' + OPENAI_KEY.encode()
    + b'. You can find your API key at https://platform.openai.com/account/api-keys.",'
    b'"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}',
)  # fmt: skip
ANTHROPIC_401 = Reply(
    status=401,
    body=b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key '
    + ANTHROPIC_KEY.encode() + b'"},"request_id":"req_011"}',
)  # fmt: skip


def openai_env(url: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": url + "/v1"}


def anthropic_env(url: str) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": url}


# provider id, env builder, models path, ok body, 401 reply, key, auth header
CASES: list[tuple[str, Callable[[str], dict[str, str]], str, bytes, Reply, str, str]] = [
    ("openai", openai_env, "/v1/models", fixture("models_openai.json"), OPENAI_401, OPENAI_KEY,
     "authorization"),
    ("anthropic", anthropic_env, "/v1/models", ANTHROPIC_MODELS, ANTHROPIC_401, ANTHROPIC_KEY,
     "x-api-key"),
]  # fmt: skip
IDS = [c[0] for c in CASES]


def closed_port_url() -> str:
    """An address where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def probe(pid: str, env: dict[str, str]) -> HealthStatus:
    with Client(env=env) as client:
        return client.health(pid)


async def aprobe(pid: str, env: dict[str, str]) -> HealthStatus:
    async with AsyncClient(env=env) as client:
        return await client.health(pid)


@pytest.mark.parametrize(
    ("pid", "make_env", "path", "ok_body", "_r", "key", "auth"), CASES, ids=IDS
)
async def test_reachable_and_authorised(
    loopback: Loopback,
    pid: str,
    make_env: Callable[[str], dict[str, str]],
    path: str,
    ok_body: bytes,
    _r: Reply,
    key: str,
    auth: str,
) -> None:
    loopback.route("GET", path, Reply(body=ok_body, delay=0.02))
    env = make_env(loopback.url)
    for status in (probe(pid, env), await aprobe(pid, env)):
        assert status.provider == pid and status.ok is True and status.error is None
        assert status.version is None  # the model list reports no server version
        # the server waited 20 ms before answering: the latency is the real round trip
        assert status.latency_ms is not None and 20 <= status.latency_ms < 5000
    assert [r.method for r in loopback.requests] == ["GET", "GET"]
    assert all(key in r.headers[auth] for r in loopback.requests)  # the key was really checked


@pytest.mark.parametrize(("pid", "make_env", "path", "_b", "reject", "key", "_a"), CASES, ids=IDS)
async def test_rejected_key_is_a_one_line_failure_without_the_key(
    loopback: Loopback,
    pid: str,
    make_env: Callable[[str], dict[str, str]],
    path: str,
    _b: bytes,
    reject: Reply,
    key: str,
    _a: str,
) -> None:
    loopback.route("GET", path, reject)
    env = make_env(loopback.url)
    for status in (probe(pid, env), await aprobe(pid, env)):
        assert status.ok is False and status.error is not None
        assert "status 401" in status.error and status.error.startswith(f"[{pid}] ")
        assert key not in status.error and key not in repr(status)
        assert "\n" not in status.error
        assert status.latency_ms is not None and status.version is None


@pytest.mark.parametrize(("pid", "make_env"), [(c[0], c[1]) for c in CASES], ids=IDS)
async def test_connection_refused(pid: str, make_env: Callable[[str], dict[str, str]]) -> None:
    env = make_env(closed_port_url())
    for status in (probe(pid, env), await aprobe(pid, env)):
        assert status.ok is False and status.provider == pid
        assert status.error is not None and "connect" in status.error
        assert "\n" not in status.error and status.version is None


async def test_multi_line_rejection_from_a_proxy_is_one_line(loopback: Loopback) -> None:
    # An auth proxy in front of the provider answers with an HTML page that echoes the header.
    page = (
        "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
        f"<center>bad credential Bearer {OPENAI_KEY}</center>\r\n</body>\r\n</html>\r\n"
    )
    loopback.route(
        "GET", "/v1/models", Reply(status=401, body=page.encode(), content_type="text/html")
    )
    env = openai_env(loopback.url)
    for status in (probe("openai", env), await aprobe("openai", env)):
        assert status.ok is False and status.error is not None
        assert "\n" not in status.error and "\r" not in status.error
        assert "401 Authorization Required" in status.error and OPENAI_KEY not in status.error
