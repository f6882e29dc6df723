"""Request-building rules every adapter shares, so the escape hatches behave the same
on every provider."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ConfigurationError
from ..messages import ChatRequest, EmbedRequest, Message, TextPart, Tool
from .base import Endpoint

__all__ = [
    "add_turn",
    "function_spec",
    "int_or_none",
    "merge_extra_body",
    "request_error",
    "request_headers",
    "system_messages",
]


def int_or_none(value: Any) -> int | None:
    """A JSON integer, else ``None`` (booleans are not counts)."""
    return value if type(value) is int else None


def request_error(
    request: ChatRequest | EmbedRequest, field: str, problem: str
) -> ConfigurationError:
    """A request the provider would reject, named by field, before any network call."""
    return ConfigurationError(
        f"{field}: {problem}", field=field, provider=request.provider, model=request.model
    )


def merge_extra_body(body: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge the caller's ``extra_body`` into ``body``, last, in place.

    A dict value merges one level deep into ours (``{"output_config": {"effort": "high"}}``
    keeps a mapped ``format``); ``None`` removes a field we would have sent; anything
    else replaces.
    """
    if extra:
        for key, value in extra.items():
            if value is None:
                body.pop(key, None)
                continue
            mine = body.get(key)
            if isinstance(mine, dict) and isinstance(value, Mapping):
                body[key] = {**mine, **value}
            else:
                body[key] = value
    return body


def request_headers(endpoint: Endpoint, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The endpoint's headers (auth included) with the caller's ``extra_headers`` on top.
    Header names are case-insensitive: a caller's value replaces ours, never doubles it."""
    headers = endpoint.request_headers()
    if extra:
        lowered = {k.lower(): k for k in headers}
        for name, value in extra.items():
            old = lowered.get(name.lower())
            if old is not None:
                del headers[old]
            headers[name.lower()] = value
    return headers


def system_messages(request: ChatRequest, vendor: str) -> Iterator[tuple[str, Message]]:
    """The system-role messages with their field path (``messages[2]``), checked to hold
    text only: providers with a top-level system prompt take no images there."""
    for i, message in enumerate(request.messages):
        if message.role != "system":
            continue
        where = f"messages[{i}]"
        if isinstance(message.content, tuple):
            for j, part in enumerate(message.content):
                if not isinstance(part, TextPart):
                    raise request_error(
                        request, f"{where}.content[{j}]", f"{vendor} system prompts take text only"
                    )
        yield where, message


def add_turn(turns: list[tuple[str, list[Any]]], role: str, blocks: list[Any]) -> None:
    """Append a turn, merged into the last one when it has the same role: the APIs with
    content blocks (Anthropic, Converse, Gemini) require the roles to alternate."""
    if turns and turns[-1][0] == role:
        turns[-1][1].extend(blocks)
    else:
        turns.append((role, blocks))


def function_spec(tool: Tool) -> dict[str, Any]:
    """A tool as the OpenAI-style ``function`` object (OpenAI, Ollama): name, the
    description when there is one, and the JSON-schema parameters."""
    fn: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        fn["description"] = tool.description
    fn["parameters"] = dict(tool.parameters)
    return fn
