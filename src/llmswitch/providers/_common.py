"""Request-building rules every adapter shares, so the escape hatches behave the same
on every provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._json import dumps
from ..errors import ConfigurationError
from ..messages import ChatRequest, EmbedRequest, ImagePart, Message, Part, TextPart, Tool
from ..wire import HttpRequest
from .base import Endpoint

__all__ = [
    "add_sampling",
    "add_turn",
    "collect_turns",
    "content_blocks",
    "function_spec",
    "http_get",
    "http_post",
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


def http_post(
    request: ChatRequest | EmbedRequest, endpoint: Endpoint, url: str, body: Any
) -> HttpRequest:
    """A POST of ``body`` as JSON, with the caller's ``extra_headers`` on the endpoint's."""
    # (method, url, headers, body) positionally: see openai/_request.py's build_request.
    extra = request.extra_headers
    headers = request_headers(endpoint, extra) if extra else endpoint.request_headers()
    return HttpRequest("POST", url, headers, dumps(body))


def http_get(endpoint: Endpoint, url: str) -> HttpRequest:
    headers = endpoint.request_headers()
    headers.pop("content-type", None)  # a GET has no body
    return HttpRequest(method="GET", url=url, headers=headers)


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


def add_sampling(
    into: dict[str, Any],
    request: ChatRequest,
    *,
    top_p: str,
    stop: str,
    max_tokens: str | None = None,
) -> None:
    """The sampling options every API takes, under its own key names, in this order:
    temperature, top_p, ``max_tokens`` (when the API keeps it with these), stop. The
    order is the one each provider's own SDK sends."""
    if request.temperature is not None:
        into["temperature"] = request.temperature
    if request.top_p is not None:
        into[top_p] = request.top_p
    if max_tokens is not None and request.max_tokens is not None:
        into[max_tokens] = request.max_tokens
    if request.stop:
        into[stop] = list(request.stop)


def add_turn(turns: list[tuple[str, list[Any]]], role: str, blocks: list[Any]) -> None:
    """Append a turn, merged into the last one when it has the same role: the APIs with
    content blocks (Anthropic, Converse, Gemini) require the roles to alternate."""
    if turns and turns[-1][0] == role:
        turns[-1][1].extend(blocks)
    else:
        turns.append((role, blocks))


Block = dict[str, Any]
# Puts a cache_control on the blocks just added (a key on the last block, or a marker
# block after it, as the API wants).
CacheRule = Callable[[list[Block], Mapping[str, Any]], None]
# Builds the blocks of a message of one role: (request, message, field path) -> blocks.
TurnRule = Callable[[ChatRequest, Message, str], list[Block]]


def _text_block(text: str) -> Block:
    return {"text": text}


def content_blocks(
    request: ChatRequest,
    content: str | tuple[Part, ...] | None,
    where: str,
    image: Callable[[ChatRequest, ImagePart, str], Block],
    cache: CacheRule | None = None,
    text: Callable[[str], Block] = _text_block,
) -> list[Block]:
    """A message's content as content blocks (Anthropic, Converse, Gemini): ``text`` for
    each text, ``image`` for each image (with its field path), and ``cache`` after a part
    that carries a cache_control. Empty texts contribute nothing: the APIs reject blank
    text blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text(content)] if content else []
    out: list[Block] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            if not part.text:
                continue
            out.append(text(part.text))
        else:
            out.append(image(request, part, f"{where}.content[{j}]"))
        if cache is not None and part.cache_control is not None:
            cache(out, part.cache_control)
    return out


def collect_turns(
    request: ChatRequest,
    *,
    user: TurnRule,
    assistant: TurnRule,
    tool: TurnRule,
    cache: Callable[[Message, list[Block]], None] | None = None,
    assistant_role: str = "assistant",
) -> list[tuple[str, list[Block]]]:
    """The non-system messages as alternating ``(role, blocks)`` turns (see
    :func:`add_turn`); tool results are user turns. ``cache`` places a message's own
    cache_control on its blocks."""
    turns: list[tuple[str, list[Block]]] = []
    for i, message in enumerate(request.messages):
        role: str = message.role
        where = f"messages[{i}]"
        if role == "system":
            continue
        if role == "tool":
            role = "user"
            blocks = tool(request, message, where)
        elif role == "assistant":
            role = assistant_role
            blocks = assistant(request, message, where)
        else:
            blocks = user(request, message, where)
        if not blocks:
            continue
        if cache is not None and message.cache_control is not None:
            cache(message, blocks)
        add_turn(turns, role, blocks)
    return turns


def function_spec(tool: Tool) -> dict[str, Any]:
    """A tool as the OpenAI-style ``function`` object (OpenAI, Ollama): name, the
    description when there is one, and the JSON-schema parameters."""
    fn: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        fn["description"] = tool.description
    fn["parameters"] = dict(tool.parameters)
    return fn
