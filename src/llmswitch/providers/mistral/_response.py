"""Mistral chat answers: OpenAI-shaped, except that a message's ``content`` may be a
list of chunks (Magistral: ``{"type": "thinking", "thinking": [{"type": "text", ...}]}``
then ``{"type": "text", "text": ...}``), read here as reasoning and text."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...messages import ChatRequest, ChatResponse
from ...wire import HttpResponse
from ..openai._response import parse_response as openai_parse

__all__ = ["parse_response"]


def _is(chunk: Any, kind: str) -> bool:
    return isinstance(chunk, dict) and chunk.get("type") == kind


def _texts(chunks: Any) -> str:
    if isinstance(chunks, str):
        return chunks
    if not isinstance(chunks, list):
        return ""
    return "".join(
        c.get("text", "") for c in chunks if isinstance(c, dict) and c.get("type") == "text"
    )


def _flatten(message: dict[str, Any]) -> None:
    content = message.get("content")
    if not isinstance(content, list):
        return
    thinking = "".join(
        _texts(c.get("thinking"))
        for c in content
        if isinstance(c, dict) and c.get("type") == "thinking"
    )
    message["content"] = _texts(content)
    if thinking:
        message["reasoning_content"] = thinking


def parse_response(request: ChatRequest, response: HttpResponse) -> ChatResponse:
    if response.status < 300 and b'"content":[' in response.body.replace(b" ", b""):
        try:
            data = _json.loads(response.body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("choices"), list):
            for choice in data["choices"]:
                if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                    _flatten(choice["message"])
            response = HttpResponse(
                status=response.status, headers=response.headers, body=_json.dumps(data)
            )
    return openai_parse(request, response)
