"""Real agent CLIs for the gateway's tests, and a scripted OpenAI-format upstream that
drives them through one tool round trip.

- Claude Code (``@anthropic-ai/claude-code`` from the npm registry, pinned) speaks the
  Anthropic Messages format; it is installed once into a cache directory
  (``$LLMSWITCH_TEST_CACHE``, default ``~/.cache/llmswitch-tests``) by :func:`claude_code`,
  which returns ``None`` (the test skips, saying why) when npm or the registry is missing.
- ``llm`` (a dev dependency from PyPI) speaks OpenAI chat completions.

:class:`ToolScript` answers ``POST /v1/chat/completions`` like OpenAI: a request without
tool results gets a call of the tool it names, a request carrying the result gets a
text answer that quotes it; streams as OpenAI streams them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.loopback import Recorded, Reply

__all__ = ["CLAUDE_CODE_VERSION", "ToolScript", "claude_code"]

CLAUDE_CODE_VERSION = "2.1.328"


def _cache() -> Path:
    return Path(os.environ.get("LLMSWITCH_TEST_CACHE", "~/.cache/llmswitch-tests")).expanduser()


def claude_code() -> tuple[Path | None, str]:
    """The ``claude`` binary (installed on first use), or ``None`` and the reason."""
    prefix = _cache() / f"claude-code-{CLAUDE_CODE_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "claude"
    if binary.exists():
        return binary, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed"
    prefix.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
         f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not binary.exists():
        return None, f"npm could not install Claude Code: {done.stderr.strip()[-300:]}"
    return binary, ""


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-script", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }  # fmt: skip
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_USAGE = {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57}


class ToolScript:
    """The upstream's script: call ``tool`` with ``arguments``, then answer with
    ``answer_prefix`` + the tool's result. ``requests``: every body received."""

    def __init__(self, tool: str, arguments: dict[str, Any], answer_prefix: str) -> None:
        self.tool = tool
        self.arguments = arguments
        self.answer_prefix = answer_prefix
        self.call_id = "call_script_0001"
        self.requests: list[dict[str, Any]] = []

    def __call__(self, recorded: Recorded) -> Reply:
        body = json.loads(recorded.body)
        self.requests.append(body)
        results = [m for m in body.get("messages", []) if m.get("role") == "tool"]
        names = {t.get("function", {}).get("name") for t in body.get("tools") or []}
        if results:
            content = results[-1].get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return self._text(f"{self.answer_prefix}{content}", body)
        if self.tool in names:
            return self._call(body)
        return self._text("ok", body)  # side requests (titles, summaries)

    def _text(self, text: str, body: dict[str, Any]) -> Reply:
        if not body.get("stream"):
            return Reply(body=json.dumps({
                "id": "chatcmpl-script", "object": "chat.completion", "created": 1,
                "model": "gpt-4o-mini", "usage": _USAGE,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
            }).encode())  # fmt: skip
        chunks = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": text}),
                  _chunk({}, "stop")]  # fmt: skip
        return self._stream(chunks, body)

    def _call(self, body: dict[str, Any]) -> Reply:
        arguments = json.dumps(self.arguments)
        call = {"id": self.call_id, "type": "function",
                "function": {"name": self.tool, "arguments": arguments}}  # fmt: skip
        if not body.get("stream"):
            return Reply(body=json.dumps({
                "id": "chatcmpl-script", "object": "chat.completion", "created": 1,
                "model": "gpt-4o-mini", "usage": _USAGE,
                "choices": [{"index": 0, "finish_reason": "tool_calls",
                             "message": {"role": "assistant", "content": None,
                                         "tool_calls": [call]}}],
            }).encode())  # fmt: skip
        first = {"index": 0, "id": self.call_id, "type": "function",
                 "function": {"name": self.tool, "arguments": ""}}  # fmt: skip
        chunks = [
            _chunk({"role": "assistant", "content": None, "tool_calls": [first]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}),
            _chunk({}, "tool_calls"),
        ]
        return self._stream(chunks, body)

    @staticmethod
    def _stream(chunks: list[bytes], body: dict[str, Any]) -> Reply:
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"id": "chatcmpl-script", "object": "chat.completion.chunk", "created": 1,
                     "model": "gpt-4o-mini", "choices": [], "usage": _USAGE}  # fmt: skip
            chunks.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
        chunks.append(b"data: [DONE]\n\n")
        return Reply(content_type="text/event-stream", chunks=chunks)
