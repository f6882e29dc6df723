"""The real Claude Code CLI (``claude -p``, from npm ``@anthropic-ai/claude-code``) run
offline against the gateway, driving an OpenAI and a Gemini model (loopback fakes)
through a tool round trip: the model asks for ``Read``, Claude Code reads the file and
sends the result back (Gemini's call with its thought signature), the model answers.
``claude`` from PATH, else the pinned version installed once into the test cache
(tests/support/agents.py); skipped, saying why, when neither npm nor the registry is there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient
from llmswitch.gateway import create_app
from llmswitch.gateway.anthropic import ROUTES
from tests.support.agents import claude_code
from tests.support.gateway import served
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.upstreams import GEMINI, OPENAI


@pytest.fixture(scope="module")
def claude() -> str:
    found = shutil.which("claude")
    if found is not None:
        return found
    binary, why = claude_code()
    if binary is None:
        pytest.skip(f"Claude Code is not available: {why}")
    return str(binary)


_OPENAI_FIELDS = {
    "model", "messages", "max_tokens", "max_completion_tokens", "tools", "tool_choice",
    "parallel_tool_calls", "temperature", "top_p", "stop", "stream", "stream_options",
    "response_format", "reasoning_effort", "user", "safety_identifier", "metadata", "store",
}  # fmt: skip


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    data = {"id": "chatcmpl-cc", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _openai_fake(secret_file: Path) -> Any:
    """OpenAI's chat endpoint as a stream: a ``Read`` call when the request offers that
    tool and has no result yet, a text answer otherwise; a 400 for anything OpenAI
    would refuse (unknown fields, Anthropic headers)."""

    def handle(rec: Recorded) -> Reply:
        body = rec.json()
        assert isinstance(body, dict)
        unknown = set(body) - _OPENAI_FIELDS
        foreign = [h for h in rec.headers if h.startswith(("anthropic-", "x-stainless", "x-app"))]
        if unknown or foreign:
            problem = f"unknown fields {sorted(unknown)} / headers {foreign}"
            return Reply(status=400, body=json.dumps({"error": {"message": problem}}).encode())
        tools = [t["function"]["name"] for t in body.get("tools", [])]
        chunks = [_chunk({"role": "assistant", "content": ""})]
        if body["messages"][-1]["role"] != "tool" and "Read" in tools:
            arguments = json.dumps({"file_path": str(secret_file)})
            call = {"index": 0, "id": "call_read_1", "type": "function",
                    "function": {"name": "Read", "arguments": arguments}}  # fmt: skip
            chunks += [_chunk({"tool_calls": [call]}), _chunk({}, "tool_calls")]
        else:
            chunks += [_chunk({"content": "The secret word is PAPAYA."}), _chunk({}, "stop")]
        usage = {"id": "chatcmpl-cc", "object": "chat.completion.chunk", "created": 1,
                 "model": "gpt-4o-mini", "choices": [],
                 "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}}  # fmt: skip
        chunks += [b"data: " + json.dumps(usage).encode() + b"\n\n", b"data: [DONE]\n\n"]
        return Reply(content_type="text/event-stream", chunks=chunks)

    return handle


_SIGNATURE = "+vv8/f7/CiQBdGhvdWdodC1zaWduYXR1cmX7//4="
_GEMINI_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}


def _gemini_fake(secret_file: Path) -> Any:
    """Gemini's streamGenerateContent: a signed ``Read`` function call first (Gemini 3
    refuses a history whose calls lost their signature: so does this fake), then text."""

    def handle(rec: Recorded) -> Reply:
        body = rec.json()
        assert isinstance(body, dict)
        unknown = set(body) - _GEMINI_FIELDS
        if unknown:
            return Reply(status=400, body=json.dumps({"error": {"message": f"{unknown}"}}).encode())
        parts = [p for c in body["contents"] for p in c["parts"]]
        calls = [p for p in parts if "functionCall" in p]
        if any(p.get("thoughtSignature") != _SIGNATURE for p in calls):
            problem = "Function call is missing a thought_signature"
            return Reply(status=400, body=json.dumps({"error": {"message": problem}}).encode())
        if any("functionResponse" in p for p in parts):
            answer: dict[str, Any] = {"text": "The secret word is PAPAYA."}
        else:
            answer = {"functionCall": {"name": "Read", "args": {"file_path": str(secret_file)}},
                      "thoughtSignature": _SIGNATURE}  # fmt: skip
        data = {"candidates": [{"content": {"parts": [answer], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5,
                                  "totalTokenCount": 25}}  # fmt: skip
        return Reply(content_type="text/event-stream",
                     chunks=[b"data: " + json.dumps(data).encode() + b"\r\n\r\n"])  # fmt: skip

    return handle


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_claude_code_drives_another_provider_through_a_tool_round_trip(
    loopback: Loopback, tmp_path: Path, provider: str, claude: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    secret = work / "hello.txt"
    secret.write_text("the secret word is PAPAYA\n", encoding="utf-8")
    if provider == "openai":
        model, upstream = "openai/gpt-4o-mini", OPENAI
        loopback.route("POST", "/v1/chat/completions", handler=_openai_fake(secret))
    else:
        model, upstream = "gemini/gemini-2.5-flash", GEMINI
        loopback.route("POST", GEMINI.stream_path, handler=_gemini_fake(secret))
    client = AsyncClient(env=upstream.env(loopback), max_retries=0)
    app = create_app(client, routes=ROUTES)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_API_KEY": "lsk-" + "c" * 40,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    with served(app) as url:
        done = subprocess.run(
            [claude, "-p", f"What is the secret word in {secret}?", "--allowedTools", "Read",
             "--output-format", "json"],
            cwd=work, env={**env, "ANTHROPIC_BASE_URL": url}, capture_output=True, text=True,
            timeout=180, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["is_error"] is False and result["num_turns"] == 2
    assert "PAPAYA" in result["result"]
    if provider == "gemini":  # the signed call came back signed, with its result
        last = loopback.requests[-1].json()
        assert isinstance(last, dict)
        parts = [p for c in last["contents"] for p in c["parts"]]
        assert [p["thoughtSignature"] for p in parts if "functionCall" in p] == [_SIGNATURE]
        assert "PAPAYA" in json.dumps([p for p in parts if "functionResponse" in p])
        return
    bodies = [r.json() for r in loopback.requests if r.path == "/v1/chat/completions"]
    last = bodies[-1]
    assert isinstance(last, dict)
    # Claude Code ran Read and sent its output back; the gateway made it OpenAI's tool
    # message for the call id the model gave.
    tool = [m for m in last["messages"] if m["role"] == "tool"]
    assert tool and tool[0]["tool_call_id"] == "call_read_1"
    assert "PAPAYA" in json.dumps(tool[0]["content"])
    assert last.get("max_completion_tokens", last.get("max_tokens")) <= 16384
    assert all(b.get("stream") for b in bodies if isinstance(b, dict))
