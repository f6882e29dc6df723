"""Anthropic Message JSON -> ChatResponse, usage, stop reasons and the model list."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ... import catalog
from ..._json import loads
from ..._make import make_usage
from ...events import build_response
from ...messages import ModelInfo, ReasoningBlock, ToolCall, Usage
from ...wire import HttpResponse
from .._claude import CLAUDE_FINISH
from .._common import int_or_none
from .._shape import SHAPE_ERRORS, load_json, opt_str, shape_problem, text
from ..base import Endpoint
from ._errors import malformed

if TYPE_CHECKING:
    from ...messages import ChatRequest, ChatResponse, FinishReason

__all__ = [
    "finish_reason",
    "parse_count_tokens",
    "parse_models",
    "parse_response",
    "parse_usage",
    "refusal_of",
]

# docs/providers.md §1; anything else (a future value) is "other", with the raw value kept.
_FINISH: dict[str, FinishReason] = {
    **CLAUDE_FINISH,
    "refusal": "content_filter",
    "pause_turn": "other",
}


def finish_reason(raw: str | None) -> FinishReason:
    return _FINISH.get(raw, "other") if raw is not None else "other"


def parse_usage(usage: Any) -> Usage:
    """docs/providers.md §1: Anthropic's ``input_tokens`` excludes cache reads and writes; ours
    includes them. ``output_tokens`` already includes thinking."""
    if type(usage) is not dict:  # decoded JSON: an object is exactly a dict
        return Usage()
    # Once per response: int_or_none inlined (a count is exactly an int, not a bool).
    get = usage.get
    fresh = get("input_tokens")
    if type(fresh) is not int:
        fresh = None
    read = get("cache_read_input_tokens")
    if type(read) is not int:
        read = None
    written = get("cache_creation_input_tokens")
    if type(written) is not int:
        written = None
    output = get("output_tokens")
    if type(output) is not int:
        output = None
    thinking = hour = None
    if "output_tokens_details" in usage:  # new, and mostly absent
        details = usage["output_tokens_details"]
        if type(details) is dict:
            thinking = details.get("thinking_tokens")
            if type(thinking) is not int:
                thinking = None
    # cache_creation splits the writes by TTL (ephemeral_5m/1h_input_tokens); 1 h costs more
    split = get("cache_creation")
    if type(split) is dict:
        hour = split.get("ephemeral_1h_input_tokens")
        if type(hour) is not int:
            hour = None
    # claude_usage's arithmetic, inlined (once per response)
    total_in = None if fresh is None else fresh + (read or 0) + (written or 0)
    return make_usage(  # every field, in Usage's order
        total_in,  # input_tokens
        output,  # output_tokens
        total_in + output if total_in is not None and output is not None else None,  # total
        read,  # cached_input_tokens
        written,  # cache_write_tokens
        thinking,  # reasoning_tokens
        hour,  # cache_write_1h_tokens
        None,  # reported_cost_nano
    )


def refusal_of(stop_reason: str | None, stop_details: Any) -> str | None:
    """The refusal explanation, when the provider gave one."""
    if stop_reason == "refusal" and isinstance(stop_details, dict):
        explanation = stop_details.get("explanation")
        if isinstance(explanation, str) and explanation:
            return explanation
    return None


def parse_response(request: ChatRequest, response: HttpResponse) -> ChatResponse:
    body = response.body
    try:  # load_json's rule, inline: on every response
        data = loads(body)
    except ValueError:
        raise malformed(request, "body is not JSON", body) from None
    # decoded JSON: an object is exactly a dict, an array exactly a list
    if type(data) is not dict or type(data.get("content")) is not list:
        raise malformed(request, "expected a Message with a content list", body)
    try:
        return _parse(request, data, body)
    except SHAPE_ERRORS as exc:
        raise malformed(request, shape_problem(exc), body) from None


def _parse(request: ChatRequest, data: dict[str, Any], body: bytes) -> ChatResponse:
    texts: list[str] = []
    # made when a block needs them: most answers are text only
    calls: list[ToolCall] | None = None
    blocks: list[ReasoningBlock] | None = None
    for block in data["content"]:
        kind = block.get("type")
        if kind == "text":
            piece = block["text"]
            texts.append(piece if type(piece) is str else text(piece))  # text() raises
        elif kind == "tool_use":
            arguments = block.get("input")
            if arguments is None:
                arguments = {}
            if not isinstance(arguments, dict):
                raise malformed(request, "tool_use input is not an object", body)
            if calls is None:
                calls = []
            calls.append(
                ToolCall(id=text(block["id"]), name=text(block["name"]), arguments=arguments)
            )
        elif kind == "thinking":
            thought = opt_str(block.get("thinking")) or ""
            if blocks is None:
                blocks = []
            blocks.append(
                ReasoningBlock(text=thought, signature=opt_str(block.get("signature")) or None)
            )
        elif kind == "redacted_thinking":
            if blocks is None:
                blocks = []
            blocks.append(ReasoningBlock(redacted_data=text(block["data"])))
        # other block types (server tools, search results, ...) stay in raw only
    get = data.get
    raw_stop = get("stop_reason")
    response_id = get("id")
    model = get("model")
    if (
        (raw_stop is not None and type(raw_stop) is not str)
        or (response_id is not None and type(response_id) is not str)
        or (model is not None and type(model) is not str)
    ):  # opt_str's rule, checked once for the three
        opt_str(raw_stop), opt_str(response_id), opt_str(model)
    return build_response(  # positionally, in its parameters' order
        request.provider,  # provider
        response_id,  # id
        model or request.model,  # model
        texts[0] if len(texts) == 1 else "".join(texts),  # text
        tuple(calls) if calls else (),  # tool_calls
        ("".join([b.text for b in blocks]) or None) if blocks else None,  # reasoning
        tuple(blocks) if blocks else (),  # reasoning_blocks
        # refusal_of and finish_reason, inlined: they run on every response
        refusal_of(raw_stop, get("stop_details")) if raw_stop == "refusal" else None,
        _FINISH.get(raw_stop, "other") if raw_stop is not None else "other",  # finish_reason
        raw_stop,  # raw_finish_reason
        parse_usage(get("usage")),  # usage
        data,  # raw
    )


# --------------------------------------------------------------------------- models


def _supported(capabilities: Any, name: str) -> bool | None:
    if isinstance(capabilities, dict):
        cap = capabilities.get(name)
        if isinstance(cap, dict) and isinstance(cap.get("supported"), bool):
            return bool(cap["supported"])
    return None


def _epoch(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp())
    except (ValueError, OverflowError, OSError):  # not a date; a year timestamps cannot hold
        return None


def parse_count_tokens(response: HttpResponse) -> int:
    """``{"input_tokens": N}`` from ``/v1/messages/count_tokens``."""
    data = load_json(response.body, malformed, None, "count_tokens body is not JSON")
    tokens = int_or_none(data.get("input_tokens")) if isinstance(data, dict) else None
    if tokens is None:
        raise malformed(None, "expected input_tokens", response.body)
    return tokens


def parse_models(endpoint: Endpoint, response: HttpResponse) -> tuple[list[ModelInfo], str | None]:
    """One page of ``GET /v1/models``; the cursor is ``last_id`` while ``has_more``."""
    data = load_json(response.body, malformed, None, "model list is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise malformed(None, "expected a model list", response.body)
    try:
        found = [_model(endpoint, item) for item in data["data"] if isinstance(item, dict)]
    except SHAPE_ERRORS as exc:
        raise malformed(None, shape_problem(exc), response.body) from None
    out = [m for m in found if m is not None]
    cursor = data.get("last_id") if data.get("has_more") else None
    return out, cursor if isinstance(cursor, str) and cursor else None


def _model(endpoint: Endpoint, item: dict[str, Any]) -> ModelInfo | None:
    model_id = item.get("id")
    if not isinstance(model_id, str):
        return None
    spec = catalog.lookup("anthropic", model_id)
    caps = item.get("capabilities")
    vision = _supported(caps, "image_input")
    thinking = _supported(caps, "thinking")
    display = item.get("display_name")
    return ModelInfo(
        id=model_id,
        provider=endpoint.provider,
        display_name=display if isinstance(display, str) else None,
        context_window=int_or_none(item.get("max_input_tokens"))
        or (spec.context_window if spec else None),
        max_output_tokens=int_or_none(item.get("max_tokens"))
        or (spec.max_output_tokens if spec else None),
        supports_tools=spec.supports_tools
        if spec and spec.supports_tools is not None
        else True,  # every Messages API model takes client tools
        supports_vision=vision if vision is not None else (spec.supports_vision if spec else None),
        supports_reasoning=thinking
        if thinking is not None
        else (spec.supports_reasoning if spec else None),
        supports_embeddings=False,
        created=_epoch(item.get("created_at")),
        raw=item,
    )
