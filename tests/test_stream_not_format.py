"""A 200 that is not the provider's stream format fails (issue 7, item 1).

Against a loopback server answering a stream request with 200 and an HTML page, a JSON
document, an empty body or garbage, every provider's stream (sync and async) raises a
``ProviderError`` keeping the first bytes, instead of ending as an empty answer; and
``llmswitch chat`` exits 1 with one line on stderr. A stream that delivered events and
was then cut still ends with ``finish_reason="error"`` and keeps what came.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.cli import main
from llmswitch.errors import ProviderError, ProviderUnavailableError
from llmswitch.events import StreamEnd, TextDelta, ToolCallDelta
from tests.support.bedrock import ACCESS_KEY, MODEL_PATH, SECRET_KEY
from tests.support.loopback import Loopback, Reply
from tests.support.streams import split_awkward

FIXTURES = Path(__file__).parent / "fixtures"
HI = [{"role": "user", "content": "Hi"}]
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n"
    b"<body><h1>Welcome to nginx!</h1>" + b"<p>filler</p>" * 200 + b"</body></html>\n"
)


@dataclass(frozen=True)
class Provider:
    name: str
    model: str
    path: str
    env: Callable[[Loopback], dict[str, str]]
    truncated: str  # a fixture stream cut off after some events
    content_type: str = "text/event-stream"


PROVIDERS = [
    Provider(
        "openai", "openai/gpt-4o-mini", "/v1/chat/completions",
        lambda lb: {"OPENAI_API_KEY": "sk-test-0123456789abcdef", "OPENAI_BASE_URL": lb.url + "/v1"},
        "openai/stream_truncated.sse",
    ),
    Provider(
        "anthropic", "anthropic/claude-sonnet-4-5", "/v1/messages",
        lambda lb: {"ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "ANTHROPIC_BASE_URL": lb.url},
        "anthropic/truncated.sse",
    ),
    Provider(
        "gemini", "gemini/gemini-2.5-flash",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        lambda lb: {"GEMINI_API_KEY": "AIzaTest0123456789abcdefghij", "GEMINI_BASE_URL": lb.url},
        "gemini/truncated.sse",
    ),
    Provider(
        "ollama", "ollama/llama3.2", "/api/chat",
        lambda lb: {"OLLAMA_HOST": lb.url},
        "ollama/chat_truncated.ndjson", "application/x-ndjson",
    ),
    Provider(
        "bedrock", "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        f"/model/{MODEL_PATH}/converse-stream",
        lambda lb: {
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": lb.url,
        },
        "bedrock/truncated.bin", "application/vnd.amazon.eventstream",
    ),
]  # fmt: skip
BY_NAME = {p.name: p for p in PROVIDERS}

NOT_A_STREAM = {
    "html": (HTML, "text/html", "HTML page"),
    "json": (b'{"status": "ok", "items": [1, 2, 3]}', "application/json", "JSON document"),
    "empty": (b"", "text/plain", "empty body"),
    "garbage": (b"\x00\x01 not a stream at all", "application/octet-stream", "got "),
}


def _route(loopback: Loopback, p: Provider, body: bytes, content_type: str) -> None:
    loopback.route("POST", p.path, Reply(body=body, content_type=content_type))


def _check(exc: ProviderError, p: Provider, body: bytes, words: str, loopback: Loopback) -> None:
    assert type(exc) is ProviderError and not exc.retryable
    assert exc.code == "malformed_response"  # one code on every adapter
    assert exc.provider == p.name and "malformed response" in str(exc) and words in str(exc)
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
            async with client.stream(p.model, HI) as stream:
                async for _ in stream:
                    pass
    _check(info.value, p, body, words, loopback)


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_events_then_cut_still_keeps_what_came(loopback: Loopback, name: str) -> None:
    p = BY_NAME[name]
    data = (FIXTURES / p.truncated).read_bytes()
    loopback.route("POST", p.path, Reply(chunks=split_awkward(data), content_type=p.content_type))
    with Client(env=p.env(loopback)) as client, client.stream(p.model, HI) as stream:
        events = list(stream)
        final = stream.response
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


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def openai_env(loopback: Loopback, monkeypatch: pytest.MonkeyPatch) -> Loopback:
    for key, value in BY_NAME["openai"].env(loopback).items():
        monkeypatch.setenv(key, value)
    return loopback


def test_cli_chat_against_an_html_page_exits_1_with_one_line(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    _route(openai_env, BY_NAME["openai"], HTML, "text/html")
    code, out, err = _cli(capsys, "chat", "openai/gpt-4o-mini", "hi")
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
    code, out, err = _cli(capsys, "chat", "openai/gpt-4o-mini", "hi")
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
    code, out, err = _cli(capsys, "chat", "openai/gpt-4o-mini", "hi")
    assert code == 1 and out == "Once upon a time\n"
    assert err.startswith("llmswitch: error: [openai/gpt-4o-mini] the answer is incomplete")
    assert err.count("\n") == 1
