"""ChatRequest -> ``POST /v1/messages`` body (docs/providers.md §2).

Mapping decisions worth knowing:

- **System**: ``request.system`` then every system-role message, in order, go to the
  top-level ``system``: one string joined with blank lines, or a list of text blocks
  when any of them carries ``cache_control`` (only blocks can hold a breakpoint).
- **Turns**: tool results become ``tool_result`` blocks of a user turn; consecutive
  same-role turns are merged (the API requires alternation) and ``tool_result`` blocks
  are moved to the front of their user turn (the API rejects them after text).
- **Thinking**: ``reasoning.budget_tokens`` is sent as-is (>= 1024); an effort maps to
  a budget (:data:`EFFORT_BUDGETS`) rather than ``output_config.effort``, because
  manual budgets work on every thinking-capable Claude model while effort is accepted
  only by some. ``"none"`` or a budget of 0 sends ``{"type": "disabled"}``. Thinking
  tokens count toward ``max_tokens``, so it must exceed the budget.
- **Signed thinking** from earlier assistant turns goes back first in that turn,
  unmodified. Blocks without a signature (from another provider) are dropped: the API
  rejects unsigned thinking blocks.
- **JSON mode**: ``json_schema`` -> ``output_config.format``. There is no schema-free
  JSON mode: ``output_config.format`` needs a closed schema (``additionalProperties:
  false`` on every object), so ``{"type": "object"}`` would only allow ``{}``. A
  ``json_object`` request is therefore asked for by a system instruction
  (:data:`JSON_OBJECT_INSTRUCTION`); pass a json_schema when the shape must be enforced.
- **max_tokens** is required by the API: when the caller gives none we send the
  model's maximum output from the catalog, else :data:`FALLBACK_MAX_TOKENS`.
- No automatic ``anthropic-beta``: every feature mapped here is generally available
  under ``anthropic-version: 2023-06-01``. Callers add betas via ``extra_headers``.
- ``extra_body`` is merged last; a dict value is merged one level deep into ours
  (``{"output_config": {"effort": "high"}}`` keeps a mapped ``format``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ... import catalog
from ...messages import ChatRequest, ImagePart, Message, Part
from ...wire import HttpRequest
from .._claude import (
    EFFORT_BUDGETS,
    JSON_OBJECT_INSTRUCTION,
    MIN_THINKING_BUDGET,
    budget_too_large,
    check_max_tokens,
    check_thinking_options,
    thinking_budget,
)
from .._common import (
    add_sampling,
    collect_turns,
    content_blocks,
    http_get,
    http_post,
    merge_extra_body,
    request_error,
    system_messages,
)
from .._schema import adapted, anthropic_strict
from ..base import Endpoint

__all__ = [
    "EFFORT_BUDGETS",
    "FALLBACK_MAX_TOKENS",
    "IMAGE_MEDIA_TYPES",
    "JSON_OBJECT_INSTRUCTION",
    "MIN_THINKING_BUDGET",
    "build_body",
    "build_request",
    "count_tokens_request",
    "models_request",
]

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
FALLBACK_MAX_TOKENS = 4096  # unknown model: small enough for every Claude model
# Default ceiling when the caller sets no max_tokens. Anthropic reserves output-token
# rate limit from max_tokens up front, so the model's full 64k would exhaust a low
# tier's per-minute allowance on every call; a thinking budget is added on top.
DEFAULT_MAX_TOKENS_CAP = 8192

Block = dict[str, Any]


# --------------------------------------------------------------------------- content


def _with_cache(block: Block, cache_control: Mapping[str, Any] | None) -> Block:
    if cache_control is not None:
        block["cache_control"] = dict(cache_control)
    return block


def _image(request: ChatRequest, part: ImagePart, where: str) -> Block:
    if part.is_data_url:
        media_type = (part.media_type or "").lower()
        if media_type not in IMAGE_MEDIA_TYPES:
            raise request_error(
                request,
                f"{where}.image_url.url",
                f"Anthropic accepts image/jpeg, image/png, image/gif or image/webp, "
                f"got {media_type or 'no media type'!r}",
            )
        source: Block = {"type": "base64", "media_type": media_type, "data": part.data}
    else:
        source = {"type": "url", "url": part.url}
    return {"type": "image", "source": source}


def _text(text: str) -> Block:
    return {"type": "text", "text": text}


def _cache_last(blocks: list[Block], cache_control: Mapping[str, Any]) -> None:
    _with_cache(blocks[-1], cache_control)


def _parts(request: ChatRequest, content: str | tuple[Part, ...] | None, where: str) -> list[Block]:
    return content_blocks(request, content, where, _image, _cache_last, _text)


def _user(request: ChatRequest, message: Message, where: str) -> list[Block]:
    return _parts(request, message.content, where)


def _tool_result(request: ChatRequest, message: Message, where: str) -> list[Block]:
    block: Block = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if isinstance(message.content, str):
        if message.content:
            block["content"] = message.content
    else:
        parts = _parts(request, message.content, where)
        if parts:
            block["content"] = parts
    return [block]


def _assistant(request: ChatRequest, message: Message, where: str) -> list[Block]:
    out: list[Block] = []
    for block in message.reasoning:
        if block.redacted_data is not None:
            out.append({"type": "redacted_thinking", "data": block.redacted_data})
        elif block.signature:
            out.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
    out.extend(_parts(request, message.content, where))
    for call in message.tool_calls:
        out.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
    return out


def _system(request: ChatRequest) -> str | list[Block] | None:
    """The system prompt of a request that has one (``build_body`` asks only then)."""
    blocks: list[Block] = []
    if request.system:
        blocks.append({"type": "text", "text": request.system})
    for where, message in system_messages(request, "Anthropic"):
        mine = _parts(request, message.content, where)
        if mine and message.cache_control is not None:
            _with_cache(mine[-1], message.cache_control)
        blocks.extend(mine)
    rf = request.response_format
    if rf is not None and rf.type == "json_object":
        blocks.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    if not blocks:
        return None
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


def _cache_message(message: Message, blocks: list[Block]) -> None:
    blocks[-1] = _with_cache(dict(blocks[-1]), message.cache_control)


def _plain_messages(request: ChatRequest, out: list[Block]) -> bool | None:
    """The common history, alternating user/assistant turns of plain non-empty text
    (no calls, thinking or cache marks), is its own wire form, each text as the turn's
    content: what the general path below gives it, without the blocks in between. Its
    turns are appended to ``out``; the answer is whether a system message was passed over
    (it goes in the system prompt), or ``None`` for any other history (``out`` is then
    partial: the general path builds the list)."""
    last = ""
    system = False
    for m in request.messages:
        role, content = m.role, m.content
        if role == "system":
            system = True
            continue  # in the system prompt (they all come first)
        if (
            role == last
            or role not in ("user", "assistant")
            or type(content) is not str
            or not content
            or m.cache_control is not None
            or m.tool_calls
            or m.reasoning
        ):
            return None
        out.append({"role": role, "content": content})
        last = role
    return system if out else None


def _block_messages(request: ChatRequest) -> list[Block]:
    turns = collect_turns(
        request, user=_user, assistant=_assistant, tool=_tool_result, cache=_cache_message
    )
    out: list[Block] = []
    for role, blocks in turns:
        if role == "user" and len(blocks) > 1:
            # stable: tool results first, in their original order, then the rest
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
            out.append({"role": role, "content": blocks[0]["text"]})
        else:
            out.append({"role": role, "content": blocks})
    return out


# --------------------------------------------------------------------------- options


def _max_tokens(request: ChatRequest, budget: int) -> int:
    if request.max_tokens is not None:
        check_max_tokens(request, budget)
        return request.max_tokens
    spec = catalog.lookup("anthropic", request.model)
    model_max = spec.max_output_tokens if spec is not None else None
    if model_max:
        max_tokens = min(model_max, DEFAULT_MAX_TOKENS_CAP + budget)
    else:
        max_tokens = FALLBACK_MAX_TOKENS
    if budget and max_tokens <= budget:
        if model_max is not None:
            raise budget_too_large(request, budget, model_max)
        max_tokens = budget + FALLBACK_MAX_TOKENS
    return max_tokens


def _tool_choice(request: ChatRequest) -> Block | None:
    choice = request.tool_choice
    if choice is None or not request.tools:
        return None
    if choice.mode == "required":
        return {"type": "any"}
    if choice.mode == "tool":
        return {"type": "tool", "name": choice.name}
    return {"type": choice.mode}


def build_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    # On every call: the helpers are called only when the request asks for what they
    # handle (no thinking, a caller's max_tokens, plain turns are the common request).
    budget = thinking_budget(request) if request.reasoning is not None else None
    max_tokens = request.max_tokens
    if max_tokens is None or budget:
        max_tokens = _max_tokens(request, budget or 0)
    messages: list[Block] = []
    system_turns = _plain_messages(request, messages)
    if system_turns is None:
        messages = _block_messages(request)
        system_turns = True  # not known: _system looks
    body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens, "messages": messages}
    # A system prompt to build only when there is one: most requests have none.
    if system_turns or request.system or request.response_format is not None:
        system = _system(request)
        if system is not None:
            body["system"] = system
    if budget:
        check_thinking_options(request)
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif budget == 0:
        body["thinking"] = {"type": "disabled"}
    if request.tools:
        tools = []
        for tool in request.tools:
            spec: Block = {"name": tool.name, "input_schema": dict(tool.parameters)}
            if tool.description:
                spec["description"] = tool.description
            if tool.strict is not None:
                spec["strict"] = tool.strict
            tools.append(_with_cache(spec, tool.cache_control))
        body["tools"] = tools
        choice = _tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    rf = request.response_format
    if rf is not None and rf.type == "json_schema" and rf.schema is not None:
        # A Python type's schema: in the structured-output subset (_schema.py).
        schema = adapted(anthropic_strict, rf.schema) if rf.from_type else rf.schema
        body["output_config"] = {"format": {"type": "json_schema", "schema": dict(schema)}}
    if request.temperature is not None or request.top_p is not None or request.stop:
        add_sampling(body, request, top_p="top_p", stop="stop_sequences")
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if stream:
        body["stream"] = True
    return merge_extra_body(body, request.extra_body) if request.extra_body else body


def build_request(request: ChatRequest, endpoint: Endpoint, *, stream: bool) -> HttpRequest:
    return http_post(
        request, endpoint, endpoint.url("/v1/messages"), build_body(request, stream=stream)
    )


# What POST /v1/messages/count_tokens accepts of a Messages body (WIRE.md 2): anything else
# (max_tokens, stream, sampling, metadata) is a 400 "Extra inputs are not permitted".
_COUNT_FIELDS = (
    "model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
    "cache_control",
)  # fmt: skip


def count_tokens_request(request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
    """``POST /v1/messages/count_tokens``: the Messages body of ``request`` without the
    fields the endpoint refuses; the answer is ``{"input_tokens": N}``."""
    body = build_body(request, stream=False)
    counted = {key: body[key] for key in _COUNT_FIELDS if key in body}
    return http_post(request, endpoint, endpoint.url("/v1/messages/count_tokens"), counted)


def models_request(endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
    path = "/v1/models?limit=1000"
    if cursor:
        path += f"&after_id={quote(cursor, safe='')}"
    return http_get(endpoint, endpoint.url(path))
