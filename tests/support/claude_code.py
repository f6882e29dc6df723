"""A request body the way Claude Code posts it to ``/v1/messages?beta=true`` (the shape
of a captured request, with every field the gateway has to map: adaptive thinking,
effort, context management, cache breakpoints, a system turn inside ``messages``, a
tool round trip with signed thinking, ``metadata.user_id``, ``max_tokens: 32000``)."""

from __future__ import annotations

import copy
from typing import Any

CLAUDE_CODE_HEADERS = {
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
    "context-management-2025-06-27,prompt-caching-scope-2026-01-05",
    "anthropic-dangerous-direct-browser-access": "true",
    "x-app": "cli",
    "x-stainless-lang": "js",
    "x-stainless-package-version": "0.70.0",
    "x-stainless-retry-count": "0",
    "x-claude-code-session-id": "5b0c6c0e-5d1e-4c58-9d0e-0e7a3c1f2b11",
    "user-agent": "claude-cli/2.1.30 (external, cli)",
}

_USER_ID = (
    "user_3f1c0a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170605f4e3_account__session_"
    "5b0c6c0e-5d1e-4c58-9d0e-0e7a3c1f2b11"
)

_BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 32000,
    "stream": True,
    "system": [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {
            "type": "text",
            "text": "You are an interactive CLI tool that helps users with software tasks.",
            "cache_control": {"type": "ephemeral"},
        },
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>CLAUDE.md: use uv.</system-reminder>"},
                {
                    "type": "text",
                    "text": "List the files in src/",
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "I should run ls.", "signature": "EqQBsig=="},
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "Bash",
                    "input": {"command": "ls src", "description": "List src"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A",
                    "content": [{"type": "text", "text": "llmswitch\n"}],
                    "is_error": False,
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
        {"role": "system", "content": "The user switched to plan mode."},
        {"role": "user", "content": "Now summarise."},
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Executes a given bash command.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "command": {"type": "string"},
                    "description": {"type": "string"},
                },
                "required": ["command"],
                "additionalProperties": False,
                "$schema": "http://json-schema.org/draft-07/schema#",
            },
        },
        {
            "name": "Read",
            "description": "Reads a file.",
            "input_schema": {
                "type": "object",
                "properties": {"file_path": {"type": "string"}},
                "required": ["file_path"],
            },
            "cache_control": {"type": "ephemeral"},
        },
    ],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "high"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "metadata": {"user_id": _USER_ID},
}


def claude_code_body(model: str = "claude-sonnet-4-5", **changes: Any) -> dict[str, Any]:
    """A fresh copy of the captured body for ``model``; ``changes`` replace fields."""
    body = copy.deepcopy(_BODY)
    body["model"] = model
    body.update(changes)
    return body


USER_ID = _USER_ID
