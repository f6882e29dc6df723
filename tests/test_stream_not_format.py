"""A 200 that is not the provider's stream format fails (issue 7, item 1).

Against a loopback server answering a stream request with 200 and an HTML page, a JSON
document, an empty body or garbage, every provider's stream (sync and async) raises a
``ProviderError`` keeping the first bytes, instead of ending as an empty answer; and
``llmswitch chat`` exits 1 with one line on stderr. A stream that delivered events and
was then cut still ends with ``finish_reason="error"`` and keeps what came.
"""

from __future__ import annotations

import json

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import ProviderError, ProviderUnavailableError
from llmswitch.events import StreamEnd, TextDelta, ToolCallDelta
from tests.support.cli import run
from tests.support.fixtures import fixture
from tests.support.loopback import Loopback, Reply
from tests.support.upstreams import UPSTREAMS, Upstream, adrain, drain

HI = [{"role": "user", "content": "Hi"}]
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n"
    b"<body><h1>Welcome to nginx!</h1>" + b"<p>filler</p>" * 200 + b"</body></html>\n"
)


BY_NAME = UPSTREAMS
TRUNCATED = {  # a fixture stream cut off after some events
    "openai": "stream_truncated.sse",
    "anthropic": "truncated.sse",
    "gemini": "truncated.sse",
    "ollama": "chat_truncated.ndjson",
    "bedrock": "truncated.bin",
}

NOT_A_STREAM = {
    "html": (HTML, "text/html", "HTML page"),
    "json": (b'{"status": "ok", "items": [1, 2, 3]}', "application/json", "JSON document"),
    "empty": (b"", "text/plain", "empty body"),
    "garbage": (b"\x00\x01 not a stream at all", "application/octet-stream", "got "),
}


def _route(loopback: Loopback, p: Upstream, body: bytes, content_type: str) -> None:
    loopback.route("POST", p.stream_path, Reply(body=body, content_type=content_type))


def _check(exc: ProviderError, p: Upstream, body: bytes, words: str, loopback: Loopback) -> None:
    assert type(exc) is ProviderError and not exc.retryable
    assert exc.code == "malformed_response"  # one code on every adapter
    assert exc.provider == p.provider and "malformed response" in str(exc) and words in str(exc)
    # the offending bytes are kept, truncated
    assert exc.body is not None and len(exc.body) <= 500
    assert exc.body == body[:500].decode("utf-8", "replace")
    assert len(loopback.requests) == 1  # not retried: the same bytes would come again


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("kind", sorted(NOT_A_STREAM))
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_sync_stream_of_another_format_raises(loopback: Loopback, name: str, kind: str) -> None:
    p = BY_NAME[name]
    body, content_type, words = NOT_A_STREAM[kind]
    _route(loopback, p, body, content_type)
    with Client(env=p.env(loopback)) as client, pytest.raises(ProviderError) as info:
        with client.stream(p.model, HI) as stream:
            list(stream)
    _check(info.value, p, body, words, loopback)


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("kind", sorted(NOT_A_STREAM))
@pytest.mark.parametrize("name", sorted(BY_NAME))
async def test_async_stream_of_another_format_raises(
    loopback: Loopback, name: str, kind: str
) -> None:
    p = BY_NAME[name]
    body, content_type, words = NOT_A_STREAM[kind]
    _route(loopback, p, body, content_type)
    async with AsyncClient(env=p.env(loopback)) as client:
        with pytest.raises(ProviderError) as info:
            await adrain(client, p.model, HI)
    _check(info.value, p, body, words, loopback)


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_events_then_cut_still_keeps_what_came(loopback: Loopback, name: str) -> None:
    p = BY_NAME[name]
    data = fixture(name, TRUNCATED[name])
    loopback.route("POST", p.stream_path, p.stream_reply(data))
    with Client(env=p.env(loopback)) as client:
        events, final = drain(client, p.model, HI)
    assert isinstance(events[-1], StreamEnd) and final.finish_reason == "error"
    assert any(isinstance(e, TextDelta | ToolCallDelta) for e in events)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("openai", b'{"error": {"message": "upstream is down", "type": "server_error"}}'),
        (
            "anthropic",
            b'{"type": "error", "error": {"type": "overloaded_error", "message": "upstream is down"}}',
        ),
        (
            "gemini",
            b'{"error": {"code": 503, "message": "upstream is down", "status": "UNAVAILABLE"}}',
        ),
        ("ollama", b'{"error": "upstream is down"}'),
    ],
)
def test_a_json_error_document_at_200_is_the_providers_error(
    loopback: Loopback, name: str, body: bytes
) -> None:
    p = BY_NAME[name]
    _route(loopback, p, body, "application/json")
    with Client(env=p.env(loopback), max_retries=0) as client, pytest.raises(ProviderError) as info:
        with client.stream(p.model, HI) as stream:
            list(stream)
    assert "upstream is down" in str(info.value) and "malformed" not in str(info.value)
    if name != "ollama":  # Ollama's errors carry no type; the others say "overloaded"
        assert isinstance(info.value, ProviderUnavailableError)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def openai_env(loopback: Loopback, monkeypatch: pytest.MonkeyPatch) -> Loopback:
    for key, value in BY_NAME["openai"].env(loopback).items():
        monkeypatch.setenv(key, value)
    return loopback


def test_cli_chat_against_an_html_page_exits_1_with_one_line(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    _route(openai_env, BY_NAME["openai"], HTML, "text/html")
    code, out, err = run(capsys, "chat", "openai/gpt-4o-mini", "hi")
    assert code == 1 and out == ""
    assert err.startswith("llmswitch: error: [openai/gpt-4o-mini] malformed response")
    assert "HTML page" in err and err.count("\n") == 1


def _chunk(delta: dict[str, object]) -> bytes:
    body = {"id": "c1", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_cli_chat_stream_ending_in_error_without_text_exits_1(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stream that started, then stopped before any text or finish signal.
    _route(openai_env, BY_NAME["openai"], _chunk({"role": "assistant"}), "text/event-stream")
    code, out, err = run(capsys, "chat", "openai/gpt-4o-mini", "hi")
    assert code == 1 and out == ""
    assert err == (
        "llmswitch: error: [openai/gpt-4o-mini] no answer: the stream ended before the "
        "provider finished the response\n"
    )


def test_cli_chat_cut_stream_keeps_the_text_and_exits_1(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _chunk({"role": "assistant", "content": "Once upon"}) + _chunk({"content": " a time"})
    _route(openai_env, BY_NAME["openai"], body, "text/event-stream")
    code, out, err = run(capsys, "chat", "openai/gpt-4o-mini", "hi")
    assert code == 1 and out == "Once upon a time\n"
    assert err.startswith("llmswitch: error: [openai/gpt-4o-mini] the answer is incomplete")
    assert err.count("\n") == 1
