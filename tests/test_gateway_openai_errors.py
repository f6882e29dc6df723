"""Errors on the OpenAI routes as the official SDK sees them: its error classes, its
retries honouring ``retry-after``, a stream failing before and after its first event,
and a client that goes away closing the upstream call."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import openai
import pytest

from llmswitch.gateway import create_app
from llmswitch.gateway.openai.routes import ROUTES
from tests.support.fixtures import Fixtures
from tests.support.gateway import served
from tests.support.gateway_openai import gateway, sdk
from tests.support.loopback import Loopback, Reply
from tests.support.upstreams import ANTHROPIC, GEMINI, OPENAI, Upstream

OA, AN, GE = Fixtures("openai"), Fixtures("anthropic"), Fixtures("gemini")
HI: Any = [{"role": "user", "content": "Hi"}]


def _anthropic_error(status: int, kind: str, message: str) -> Reply:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Reply(status=status, body=json.dumps(body).encode())


async def test_429_reaches_the_sdk_whose_retry_honours_retry_after(loopback: Loopback) -> None:
    limited = (
        b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}'
    )
    loopback.route("POST", OPENAI.chat_path, Reply(status=429, body=limited,
                   headers={"retry-after": "1"}))  # fmt: skip
    async with gateway(loopback, [OPENAI]) as (app, _):
        start = time.monotonic()
        with pytest.raises(openai.RateLimitError) as info:
            await sdk(app, max_retries=1).chat.completions.create(model=OPENAI.model, messages=HI)
        elapsed = time.monotonic() - start
    assert len(loopback.requests) == 2 and elapsed >= 0.9  # one retry, after the hint
    headers = info.value.response.headers
    assert headers["retry-after"] == "1" and headers["retry-after-ms"] == "1000"
    assert info.value.code == "rate_limit_exceeded"


async def test_gemini_retry_hint_in_the_body_becomes_headers(loopback: Loopback) -> None:
    loopback.route("POST", GEMINI.chat_path, Reply(status=429, body=GE("error_quota.json")))
    async with gateway(loopback, [GEMINI]) as (app, _):
        with pytest.raises(openai.RateLimitError) as info:
            await sdk(app).chat.completions.create(model=GEMINI.model, messages=HI)
    assert info.value.response.headers["retry-after"] == "30"
    assert info.value.response.headers["retry-after-ms"] == "30000"


@pytest.mark.parametrize(
    ("upstream", "reply"),
    [
        (ANTHROPIC, _anthropic_error(529, "overloaded_error", "Overloaded")),
        (OPENAI, Reply(status=503, body=b'{"error":{"message":"busy","type":"server_error"}}')),
    ],
)
async def test_overload_is_503(loopback: Loopback, upstream: Upstream, reply: Reply) -> None:
    loopback.route("POST", upstream.chat_path, reply)
    async with gateway(loopback, [upstream]) as (app, _):
        with pytest.raises(openai.InternalServerError) as info:
            await sdk(app).chat.completions.create(model=upstream.model, messages=HI)
    assert info.value.status_code == 503


async def test_context_length_is_400_context_length_exceeded(loopback: Loopback) -> None:
    too_long = _anthropic_error(400, "invalid_request_error",
                                "prompt is too long: 210000 tokens > 200000 maximum")  # fmt: skip
    loopback.route("POST", ANTHROPIC.chat_path, too_long)
    async with gateway(loopback, [ANTHROPIC]) as (app, _):
        with pytest.raises(openai.BadRequestError) as info:
            await sdk(app).chat.completions.create(model=ANTHROPIC.model, messages=HI)
    assert info.value.code == "context_length_exceeded"


async def test_bad_access_key_and_upstream_auth_failures(loopback: Loopback) -> None:
    loopback.route("POST", ANTHROPIC.chat_path,
                   _anthropic_error(401, "authentication_error", "invalid x-api-key"))  # fmt: skip
    loopback.route("POST", OPENAI.chat_path, Reply(status=403, body=b'{"error":{"message":'
                   b'"Country not supported","type":"request_forbidden","code":null}}'))  # fmt: skip
    async with gateway(loopback, [ANTHROPIC, OPENAI]) as (app, _):
        with pytest.raises(openai.AuthenticationError) as mine:
            await sdk(app, "lsk-" + "Z" * 40).chat.completions.create(
                model=ANTHROPIC.model, messages=HI
            )
        assert mine.value.message.endswith("invalid access key") or "invalid access key" in str(
            mine.value
        )
        assert not loopback.requests  # refused before any upstream call
        with pytest.raises(openai.AuthenticationError) as upstream:
            await sdk(app).chat.completions.create(model=ANTHROPIC.model, messages=HI)
        assert upstream.value.status_code == 401 and "anthropic" in str(upstream.value)
        assert "invalid access key" not in str(upstream.value)
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await sdk(app).chat.completions.create(model=OPENAI.model, messages=HI)
        assert denied.value.status_code == 403 and "openai" in str(denied.value)
    assert ANTHROPIC.key not in str(upstream.value) and OPENAI.key not in str(denied.value)


async def test_stream_failing_before_its_first_event_is_an_http_error(loopback: Loopback) -> None:
    loopback.route("POST", ANTHROPIC.stream_path,
                   _anthropic_error(529, "overloaded_error", "Overloaded"))  # fmt: skip
    async with gateway(loopback, [ANTHROPIC]) as (app, _):
        with pytest.raises(openai.InternalServerError) as info:
            await sdk(app).chat.completions.create(model=ANTHROPIC.model, messages=HI, stream=True)
    assert info.value.status_code == 503


async def test_stream_failing_right_after_its_start_is_an_http_error(loopback: Loopback) -> None:
    # message_start, then the overload: nothing the client could use was sent yet.
    events = AN("error_overloaded.sse").split(b"\n\n")
    body = b"\n\n".join([events[0], *[e for e in events if b"event: error" in e]]) + b"\n\n"
    loopback.route("POST", ANTHROPIC.stream_path, ANTHROPIC.stream_reply(body))
    async with gateway(loopback, [ANTHROPIC]) as (app, _):
        with pytest.raises(openai.InternalServerError) as info:
            await sdk(app).chat.completions.create(model=ANTHROPIC.model, messages=HI, stream=True)
    assert info.value.status_code == 503


async def test_stream_failing_midway_ends_with_the_error_event(loopback: Loopback) -> None:
    loopback.route(
        "POST", ANTHROPIC.stream_path, ANTHROPIC.stream_reply(AN("error_overloaded.sse"))
    )
    async with gateway(loopback, [ANTHROPIC]) as (app, _):
        stream = await sdk(app).chat.completions.create(
            model=ANTHROPIC.model,
            messages=HI,
            stream=True,
        )
        seen: list[str] = []
        with pytest.raises(openai.APIError) as info:
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(seen) == "Partial ans"
    assert "overload" in str(info.value).lower()


async def test_bad_input_names_the_param_and_unknown_model(loopback: Loopback) -> None:
    async with gateway(loopback, [OPENAI]) as (app, _):
        api = sdk(app)
        with pytest.raises(openai.BadRequestError) as info:
            await api.chat.completions.create(
                model=OPENAI.model,
                messages=[{"role": "user", "content": [{"type": "input_audio",
                                                       "input_audio": {"data": "", "format": "wav"}}]}],
            )  # fmt: skip
        assert info.value.param == "messages[0].content[0].type"
        assert info.value.type == "invalid_request_error"
        with pytest.raises(openai.BadRequestError) as unknown:
            await api.chat.completions.create(model="nowhere/model", messages=HI)
        assert unknown.value.param == "model" or "nowhere" in str(unknown.value)
        with pytest.raises(openai.BadRequestError):
            await api.chat.completions.create(model=OPENAI.model, messages=HI, n=2)
    assert not loopback.requests


async def test_client_disconnect_closes_the_upstream_stream(
    loopback: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The upstream sends two events and then nothing, keeping its socket open: only the
    # gateway closing the library stream ends that connection.
    chunks = OA("stream_text.sse").split(b"\n\n")
    stalled = Reply(content_type="text/event-stream",
                    chunks=[c + b"\n\n" for c in chunks[:2]] + [b""], hang_after=2)  # fmt: skip
    loopback.route("POST", OPENAI.stream_path, stalled)
    for name, value in OPENAI.env(loopback).items():
        monkeypatch.setenv(name, value)
    app = create_app(routes=ROUTES)  # its own client: opened and closed in the server's loop
    with served(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            body = {"model": OPENAI.model, "messages": HI, "stream": True}
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                async for piece in response.aiter_bytes():
                    if b'"content"' in piece:
                        break
            deadline = time.monotonic() + 10
            while loopback.open_connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    assert loopback.open_connections == 0
