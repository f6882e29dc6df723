"""ChatRequest -> a Mistral chat request: the OpenAI body (``max_tokens`` naming), then
Mistral's differences (see the package docstring)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ... import _json
from ...messages import ChatRequest
from ...wire import HttpRequest
from .._common import request_headers
from ..base import Endpoint
from ..openai._request import build_body

__all__ = ["build_request", "tool_call_id"]

_ID = re.compile(r"[A-Za-z0-9]{9}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_REJECTED = ("stream_options", "user", "reasoning_effort")


def tool_call_id(original: str) -> str:
    """Mistral's form of a tool call id (nine letters or digits): an id already in that
    form is kept; any other (``call_...``, ``toolu_...``) maps to one derived from it,
    so an assistant's call and the tool result naming it still match."""
    if _ID.fullmatch(original):
        return original
    digest = hashlib.sha256(original.encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:9])


def _adapt(body: dict[str, Any]) -> dict[str, Any]:
    for name in _REJECTED:
        body.pop(name, None)
    if body.get("tool_choice") == "required":
        body["tool_choice"] = "any"
    for message in body["messages"]:
        for call in message.get("tool_calls") or ():
            call["id"] = tool_call_id(call["id"])
        if message.get("role") == "tool" and isinstance(message.get("tool_call_id"), str):
            message["tool_call_id"] = tool_call_id(message["tool_call_id"])
    return body


def build_request(request: ChatRequest, endpoint: Endpoint, *, stream: bool) -> HttpRequest:
    headers = request_headers(endpoint, request.extra_headers)
    if stream:
        headers.setdefault("accept", "text/event-stream")
    body = _adapt(build_body(request, stream=stream, flavor="compatible"))
    extra = request.extra_body or {}
    for name in _REJECTED:  # the caller's own extra_body keeps what it asked for
        if name in extra:
            body[name] = extra[name]
    return HttpRequest(
        method="POST",
        url=endpoint.url("/chat/completions", request.model),
        headers=headers,
        body=_json.dumps(body),
    )
