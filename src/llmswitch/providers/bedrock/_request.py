"""ChatRequest -> ``POST /model/{modelId}/converse`` (or ``converse-stream``) body
(docs/providers.md §2).

Mapping decisions worth knowing:

- **System**: ``request.system`` then every system-role message go to the top-level
  ``system`` list as text blocks; a ``cache_control`` adds a ``cachePoint`` after its block.
- **Turns**: tool results become ``toolResult`` blocks of a user turn; consecutive
  same-role turns are merged (Converse requires alternation) and tool results move to the
  front of their user turn (Claude rejects them after text). A tool result that is a JSON
  object goes as ``{"json": ...}``, anything else as ``{"text": ...}``.
- **Images** must be bytes: ``data:`` URLs become ``image.source.bytes``. Bedrock does not
  fetch http(s) URLs (only its own S3), so those are a ConfigurationError before sending.
- **Tools**: ``toolChoice`` auto/any/tool. There is no "none": with ``tool_choice="none"``
  the tools are left out, unless the history holds tool calls, because Converse rejects
  ``toolUse``/``toolResult`` blocks without a ``toolConfig``. For the same reason a history
  with tool calls but no ``tools`` gets minimal specs named after those calls.
- **Reasoning** is model-specific. For Anthropic models it is Claude's
  ``additionalModelRequestFields.thinking`` (efforts map to budgets as in the Anthropic
  adapter; the thinking budget counts toward ``maxTokens``). Other families take their own
  fields, passed via ``extra_body={"additionalModelRequestFields": {...}}``.
- Signed thinking from earlier assistant turns goes back first in that turn, unmodified;
  unsigned blocks (from another provider) are dropped.
- **JSON**: a json_schema goes to ``outputConfig.textFormat`` (the schema as a JSON
  string); ``json_object`` is asked for with a system instruction.
- ``extra_body`` is merged last, dicts one level deep (so ``additionalModelRequestFields``
  keeps a mapped ``thinking``); a ``None`` value removes a field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ... import catalog
from ..._json import dumps_str, loads
from ...messages import ChatRequest, ImagePart, Message, Part
from ...wire import HttpRequest
from .._claude import (
    JSON_OBJECT_INSTRUCTION,
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
from ._endpoint import BedrockEndpoint, quote_model

__all__ = [
    "FALLBACK_MAX_TOKENS",
    "IMAGE_FORMATS",
    "base_model_id",
    "build_body",
    "build_request",
    "count_tokens_request",
    "health_request",
    "is_anthropic",
    "models_request",
]

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
FALLBACK_MAX_TOKENS = 4096
DEFAULT_MAX_TOKENS_CAP = 8192  # as the Anthropic adapter: output limits reserve quota
# Cross-region inference profiles prefix the model id with a geography.
GEO_PREFIXES = frozenset({"us", "eu", "apac", "global", "jp", "au", "ca", "us-gov"})
_METADATA_RE = re.compile(r"^[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}$")

Block = dict[str, Any]


def base_model_id(model: str) -> str:
    """``anthropic.claude-…`` for ``us.anthropic.claude-…`` or a foundation-model ARN."""
    if model.startswith("arn:"):
        model = model.rsplit("/", 1)[-1]
    head, dot, rest = model.partition(".")
    return rest if dot and head in GEO_PREFIXES else model


def is_anthropic(model: str) -> bool:
    return base_model_id(model).startswith("anthropic.")


# --------------------------------------------------------------------------- content


def _cache_point(cache_control: Mapping[str, Any]) -> Block:
    point: Block = {"type": "default"}
    ttl = cache_control.get("ttl")
    if ttl in ("5m", "1h"):
        point["ttl"] = ttl
    return {"cachePoint": point}


def _image(request: ChatRequest, part: ImagePart, where: str) -> Block:
    field = f"{where}.image_url.url"
    if not part.is_data_url:
        raise request_error(
            request,
            field,
            "Bedrock needs the image bytes (a data:image/...;base64 URL) or an S3 location; "
            "it does not fetch http(s) image URLs",
        )
    media_type = (part.media_type or "").lower()
    fmt = IMAGE_FORMATS.get(media_type)
    if fmt is None:
        raise request_error(
            request,
            field,
            f"Bedrock accepts png, jpeg, gif or webp images, got {media_type or 'no media type'!r}",
        )
    return {"image": {"format": fmt, "source": {"bytes": part.data}}}


def _cache_after(blocks: list[Block], cache_control: Mapping[str, Any]) -> None:
    blocks.append(_cache_point(cache_control))


def _parts(request: ChatRequest, content: str | tuple[Part, ...] | None, where: str) -> list[Block]:
    return content_blocks(request, content, where, _image, _cache_after)


def _user(request: ChatRequest, message: Message, where: str) -> list[Block]:
    return _parts(request, message.content, where)


def _tool_result(request: ChatRequest, message: Message, where: str) -> list[Block]:
    content = message.content
    items: list[Block] = []
    cached = message.cache_control
    if isinstance(content, str):
        if content:
            value = None
            if content.lstrip().startswith("{"):
                try:
                    value = loads(content)
                except ValueError:
                    value = None
            items.append({"json": value} if isinstance(value, dict) else {"text": content})
    elif content is not None:
        for block in _parts(request, content, where):
            if "cachePoint" in block:  # not allowed inside a tool result: put it after
                cached = cached or block["cachePoint"]  # _cache_point reads its ttl
            else:
                items.append(block)
    result: Block = {
        "toolResult": {"toolUseId": message.tool_call_id, "content": items, "status": "success"}
    }
    return [result, _cache_point(cached)] if cached is not None else [result]


def _assistant(request: ChatRequest, message: Message, where: str) -> list[Block]:
    out: list[Block] = []
    for block in message.reasoning:
        if block.redacted_data is not None:
            out.append({"reasoningContent": {"redactedContent": block.redacted_data}})
        elif block.signature:
            out.append(
                {
                    "reasoningContent": {
                        "reasoningText": {"text": block.text, "signature": block.signature}
                    }
                }
            )
    out.extend(_parts(request, message.content, where))
    for call in message.tool_calls:
        out.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}})
    return out


def _system(request: ChatRequest) -> list[Block]:
    blocks: list[Block] = []
    if request.system:
        blocks.append({"text": request.system})
    for where, message in system_messages(request, "Bedrock"):
        mine = _parts(request, message.content, where)
        if mine and message.cache_control is not None and "cachePoint" not in mine[-1]:
            mine.append(_cache_point(message.cache_control))
        blocks.extend(mine)
    rf = request.response_format
    if rf is not None and rf.type == "json_object":
        blocks.append({"text": JSON_OBJECT_INSTRUCTION})
    return blocks


def _tool_results_first(blocks: list[Block]) -> list[Block]:
    """Stable: tool results (each with the cache point after it) first, then the rest."""
    units: list[list[Block]] = []
    for block in blocks:
        if "cachePoint" in block and units:
            units[-1].append(block)
        else:
            units.append([block])
    units.sort(key=lambda unit: "toolResult" not in unit[0])
    return [block for unit in units for block in unit]


def _cache_message(message: Message, blocks: list[Block]) -> None:
    cache = message.cache_control  # a tool result placed its own
    if cache is not None and message.role != "tool" and "cachePoint" not in blocks[-1]:
        blocks.append(_cache_point(cache))


def _messages(request: ChatRequest) -> list[Block]:
    turns = collect_turns(
        request, user=_user, assistant=_assistant, tool=_tool_result, cache=_cache_message
    )
    out: list[Block] = []
    for role, blocks in turns:
        if role == "user" and len(blocks) > 1:
            blocks = _tool_results_first(blocks)
        out.append({"role": role, "content": blocks})
    return out


# --------------------------------------------------------------------------- options


def _thinking_budget(request: ChatRequest) -> int | None:
    """Claude thinking budget in tokens; ``None`` when reasoning is off or not asked for."""
    budget = thinking_budget(request) or None
    if budget is not None and not is_anthropic(request.model):
        raise request_error(
            request,
            "reasoning",
            "llmswitch maps reasoning only for Anthropic models on Bedrock; pass this "
            "model's own fields with extra_body={'additionalModelRequestFields': {...}}",
        )
    return budget


def _max_tokens(request: ChatRequest, budget: int | None) -> int | None:
    if request.max_tokens is not None:
        check_max_tokens(request, budget)
        return request.max_tokens
    if not budget:
        return None  # the model's own default
    spec = catalog.lookup(request.provider, request.model)
    model_max = spec.max_output_tokens if spec is not None else None
    if model_max:
        if model_max <= budget:
            raise budget_too_large(request, budget, model_max)
        return min(model_max, DEFAULT_MAX_TOKENS_CAP + budget)
    return budget + FALLBACK_MAX_TOKENS


def _tool_config(request: ChatRequest) -> Block | None:
    in_history = any(m.tool_calls or m.role == "tool" for m in request.messages)
    choice = request.tool_choice
    if request.tools:
        if choice is not None and choice.mode == "none" and not in_history:
            return None
        tools: list[Block] = []
        for tool in request.tools:
            spec: Block = {"name": tool.name, "inputSchema": {"json": dict(tool.parameters)}}
            if tool.description:
                spec["description"] = tool.description
            if tool.strict is not None:
                spec["strict"] = tool.strict
            tools.append({"toolSpec": spec})
            if tool.cache_control is not None:
                tools.append(_cache_point(tool.cache_control))
        config: Block = {"tools": tools}
        if choice is not None and choice.mode != "none":
            if choice.mode == "required":
                config["toolChoice"] = {"any": {}}
            elif choice.mode == "tool":
                config["toolChoice"] = {"tool": {"name": choice.name}}
            else:
                config["toolChoice"] = {"auto": {}}
        return config
    if not in_history:
        return None
    names = dict.fromkeys(c.name for m in request.messages for c in m.tool_calls)
    if not names:
        return None
    return {
        "tools": [
            {"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object", "properties": {}}}}}
            for n in names
        ]
    }


def build_body(request: ChatRequest) -> dict[str, Any]:
    budget = _thinking_budget(request)
    body: dict[str, Any] = {"messages": _messages(request)}
    system = _system(request)
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    max_tokens = _max_tokens(request, budget)
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    add_sampling(inference, request, top_p="topP", stop="stopSequences")
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    if budget:
        check_thinking_options(request)
        body["additionalModelRequestFields"] = {
            "thinking": {"type": "enabled", "budget_tokens": budget}
        }
    rf = request.response_format
    if rf is not None and rf.type == "json_schema" and rf.schema is not None:
        # A Python type's schema: in the documented subset (Anthropic's, _schema.py).
        spec = adapted(anthropic_strict, rf.schema) if rf.from_type else rf.schema
        schema: Block = {"schema": dumps_str(dict(spec))}
        if rf.name:
            schema["name"] = rf.name
        body["outputConfig"] = {
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": schema}}
        }
    if request.user:
        if not _METADATA_RE.match(request.user):
            raise request_error(
                request,
                "user",
                "Bedrock request metadata takes up to 256 letters, digits, spaces and "
                ":_@$#=/+,-. only",
            )
        body["requestMetadata"] = {"user": request.user}
    return merge_extra_body(body, request.extra_body)


def build_request(request: ChatRequest, endpoint: Endpoint, *, stream: bool) -> HttpRequest:
    action = "converse-stream" if stream else "converse"
    url = endpoint.url(f"/model/{quote_model(request.model)}/{action}")
    return http_post(request, endpoint, url, build_body(request))


def count_tokens_request(request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
    """``POST /model/{id}/count-tokens`` with the Converse fields that count (docs/providers.md §7).
    Only some models support it; others answer with a ValidationException."""
    body = build_body(request)
    converse = {
        k: body[k]
        for k in ("messages", "system", "toolConfig", "additionalModelRequestFields")
        if k in body
    }
    url = endpoint.url(f"/model/{quote_model(request.model)}/count-tokens")
    return http_post(request, endpoint, url, {"input": {"converse": converse}})


def _control(endpoint: Endpoint, path: str) -> HttpRequest:
    url = endpoint.control(path) if isinstance(endpoint, BedrockEndpoint) else endpoint.url(path)
    return http_get(endpoint, url)


def models_request(endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
    # ListFoundationModels is not paginated: one page, every model in the region.
    return _control(endpoint, "/foundation-models")


def health_request(endpoint: Endpoint) -> HttpRequest:
    # The same call, filtered to a handful of models: proves reachability and credentials
    # (bedrock:ListFoundationModels) without a 100 KB answer.
    return _control(endpoint, "/foundation-models?byOutputModality=EMBEDDING")
