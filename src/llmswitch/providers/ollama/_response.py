"""Ollama response bodies -> llmswitch types, plus the pieces the stream parser shares:
tool calls, done reasons and usage (docs/providers.md §1, §3, §7)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ... import _json
from ..._make import make_usage
from ...events import build_response
from ...messages import ModelInfo, ReasoningBlock, ToolCall, Usage
from ...wire import HttpResponse
from .._common import int_or_none
from .._shape import (
    SHAPE_ERRORS,
    embedding_response,
    load_json,
    opt_str,
    parse_arguments,
    shape_problem,
)
from ..base import Endpoint
from ._errors import error_message, malformed, map_error, stream_error

if TYPE_CHECKING:
    from ...messages import ChatRequest, ChatResponse, EmbeddingResponse, EmbedRequest, FinishReason

__all__ = [
    "map_done",
    "map_usage",
    "model_info",
    "parse_embed_response",
    "parse_health",
    "parse_response",
    "parse_tags",
    "tool_call",
]

_DONE: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


def map_done(raw: str | None, has_tool_calls: bool) -> FinishReason:
    """``stop`` -> stop, ``length`` -> length; ``load``, ``unload``, empty and unknown ->
    other. Tool calls in the answer make it ``tool_calls`` whatever the raw reason
    (Ollama says ``stop``)."""
    if has_tool_calls:
        return "tool_calls"
    return _DONE.get(raw, "other") if raw else "other"


def map_usage(obj: Mapping[str, Any]) -> Usage:
    """Both counts are omitted when zero, so missing means unknown (``None``)."""
    prompt = int_or_none(obj.get("prompt_eval_count"))
    output = int_or_none(obj.get("eval_count"))
    total = prompt + output if prompt is not None and output is not None else None
    # every field, in Usage's order: input, output, total, then none of the details
    return make_usage(prompt, output, total, None, None, None, None, None)


def new_call_id() -> str:
    """Ollama (before tool call ids) sends none: make one that is unique across turns,
    as agent frameworks may key results by id over a whole conversation."""
    return "call_" + os.urandom(12).hex()


def tool_call(raw: Any) -> ToolCall | None:
    """``{"id"?, "function": {"index"?, "name", "arguments": {...}}}`` -> ToolCall."""
    if not isinstance(raw, Mapping):
        return None
    fn = raw.get("function")
    if not isinstance(fn, Mapping):
        return None
    args = fn.get("arguments")
    arguments: dict[str, Any]
    if isinstance(args, dict):
        arguments = args
    elif isinstance(args, str):  # a proxy that sends OpenAI's string form
        arguments = parse_arguments(args)
    else:
        arguments = {}
    call_id = raw.get("id")
    name = fn.get("name")
    return ToolCall(
        id=call_id if isinstance(call_id, str) and call_id else new_call_id(),
        name=name if isinstance(name, str) else "",
        arguments=arguments,
    )


def tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    """A message's ``tool_calls``: a list of calls, each with a function (or absent)."""
    if not raw:
        return ()
    if type(raw) is not list:
        raise TypeError("tool_calls is not a list")
    calls = tuple(tool_call(item) for item in raw)
    if None in calls:
        raise TypeError("a tool call has no function")
    return calls  # type: ignore[return-value]  # no None left


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_response(request: ChatRequest, response: HttpResponse) -> ChatResponse:
    if response.status >= 300:
        raise map_error(request, response)
    body = response.body
    data = load_json(body, malformed, request, "body is not valid JSON")
    if not isinstance(data, dict):
        raise malformed(request, "body is not a JSON object", body)
    message = data.get("message")
    if not isinstance(message, dict):
        err = error_message(body)
        if err is not None:  # an error inside a 200
            raise stream_error(request, body, err)
        raise malformed(request, "no message in the response", body)
    try:
        calls = tool_calls(message.get("tool_calls"))
        content = opt_str(message.get("content")) or ""
    except SHAPE_ERRORS as exc:
        raise malformed(request, shape_problem(exc), body) from None
    thinking = _str(message.get("thinking"))
    raw_done = _str(data.get("done_reason"))
    return build_response(
        provider=request.provider,
        id=None,  # Ollama answers carry no id
        model=_str(data.get("model")) or request.model,
        text=content,
        tool_calls=calls,
        reasoning=thinking,
        reasoning_blocks=(ReasoningBlock(text=thinking),) if thinking else (),
        refusal=None,
        finish_reason=map_done(raw_done, bool(calls)),
        raw_finish_reason=raw_done,
        usage=map_usage(data),
        raw=data,
    )


# --------------------------------------------------------------------------- models


def _load_object(response: HttpResponse, what: str) -> dict[str, Any]:
    if response.status >= 300:
        raise map_error(None, response)
    data = load_json(response.body, malformed, None, f"{what} is not valid JSON")
    if not isinstance(data, dict):
        raise malformed(None, f"{what} is not a JSON object", response.body)
    return data


def parse_tags(response: HttpResponse) -> list[dict[str, Any]]:
    """The installed models of a ``GET /api/tags`` answer (entries without a name are skipped)."""
    data = _load_object(response, "model list")
    models = data.get("models")
    if models is None:
        return []  # a fresh server with nothing pulled may say {"models": null}
    if not isinstance(models, list):
        raise malformed(None, "model list has no 'models' array", response.body)
    return [m for m in models if isinstance(m, dict) and _name(m)]


def _name(entry: Mapping[str, Any]) -> str | None:
    return _str(entry.get("name")) or _str(entry.get("model"))


def model_info(provider: str, name: str, show: Mapping[str, Any] | None) -> ModelInfo:
    """A model's facts from its ``/api/show`` answer: the trained context length, and
    what it can do from ``capabilities`` (``None`` when a server reports none)."""
    if show is None:
        return ModelInfo(id=name, provider=provider)
    info = show.get("model_info")
    window = None
    if isinstance(info, Mapping):
        arch = info.get("general.architecture")
        if isinstance(arch, str):
            window = int_or_none(info.get(f"{arch}.context_length"))
    caps = show.get("capabilities")
    if caps is not None and (type(caps) is not list or not all(type(c) is str for c in caps)):
        raise TypeError("capabilities is not a list of strings")
    has = set(caps) if caps is not None else None
    return ModelInfo(
        id=name,
        provider=provider,
        context_window=window,
        supports_tools="tools" in has if has is not None else None,
        supports_vision="vision" in has if has is not None else None,
        supports_reasoning="thinking" in has if has is not None else None,
        supports_embeddings="embedding" in has if has is not None else None,
        raw=dict(show),
    )


def parse_show(endpoint: Endpoint, name: str, response: HttpResponse) -> ModelInfo:
    show = _load_object(response, "model details")
    try:
        return model_info(endpoint.provider, name, show)
    except SHAPE_ERRORS as exc:
        raise malformed(None, shape_problem(exc), response.body) from None


# --------------------------------------------------------------------------- embed, health


def parse_embed_response(request: EmbedRequest, response: HttpResponse) -> EmbeddingResponse:
    data = _load_object(response, "embeddings response")
    raw = data.get("embeddings")
    # ``request`` is the whole request, not this batch: counts cannot be checked here.
    try:
        if not isinstance(raw, list) or not all(isinstance(v, list) for v in raw):
            raise TypeError
        vectors = [list(map(float, v)) for v in raw]  # Go writes 0.0 as 0
    except (TypeError, ValueError):
        raise malformed(None, "no 'embeddings' list of vectors", response.body) from None
    tokens = int_or_none(data.get("prompt_eval_count"))
    return embedding_response(request, vectors, data, tokens, model=_str(data.get("model")))


def parse_health(response: HttpResponse) -> str | None:
    try:
        data = _json.loads(response.body)
    except ValueError:
        return None
    return _str(data.get("version")) if isinstance(data, dict) else None
