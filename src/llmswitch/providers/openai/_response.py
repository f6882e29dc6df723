"""Chat Completions response bodies -> ChatResponse, plus the pieces the stream
parser shares: usage, finish reasons, tool-call arguments (docs/providers.md §1, §3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ... import _json
from ..._make import make_usage
from ...catalog import lookup
from ...events import build_response
from ...messages import ModelInfo, ReasoningBlock, ToolCall, Usage
from ...wire import HttpResponse
from .._shape import RAW_ARGUMENTS_KEY, SHAPE_ERRORS, opt_str, parse_arguments, shape_problem
from ..base import Endpoint
from ._embed import embedding_support
from ._errors import error_from_payload, malformed, map_error

if TYPE_CHECKING:
    from ...messages import ChatRequest, ChatResponse, FinishReason

__all__ = [
    "RAW_ARGUMENTS_KEY",
    "map_finish",
    "map_usage",
    "parse_arguments",
    "parse_models",
    "parse_response",
]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def map_finish(raw: str | None) -> FinishReason:
    """Unknown (and missing) raw values are ``other``; the raw value is kept separately."""
    return _FINISH.get(raw, "other") if raw is not None else "other"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_NO_USAGE = Usage()


def map_usage(raw: Any) -> Usage:
    """``prompt_tokens`` already includes cached tokens and ``completion_tokens`` reasoning
    tokens. Anything missing stays ``None``: unknown is not zero."""
    if type(raw) is not dict:  # decoded JSON: an object is exactly a dict
        return _NO_USAGE
    # A count is exactly an int (``type() is`` also turns booleans away).
    get = raw.get
    prompt = get("prompt_tokens")
    completion = get("completion_tokens")
    total = get("total_tokens")
    if type(prompt) is not int:
        prompt = None
    if type(completion) is not int:
        completion = None
    if type(total) is not int:
        total = prompt + completion if prompt is not None and completion is not None else None
    cached = written = reasoning = None
    details = get("prompt_tokens_details")
    if type(details) is dict:
        cached = details.get("cached_tokens")
        if type(cached) is not int:
            cached = None
        if "cache_write_tokens" in details:  # OpenRouter-style servers only
            written = details["cache_write_tokens"]
            if type(written) is not int:
                written = None
    details = get("completion_tokens_details")
    if type(details) is dict:
        reasoning = details.get("reasoning_tokens")
        if type(reasoning) is not int:
            reasoning = None
    # OpenRouter-style servers report the call's cost (USD): the ledger prefers it
    reported = _usd_to_nano(raw["cost"]) if "cost" in raw else None
    return make_usage(  # every field, in Usage's order
        prompt,  # input_tokens
        completion,  # output_tokens
        total,  # total_tokens
        cached,  # cached_input_tokens
        written,  # cache_write_tokens
        reasoning,  # reasoning_tokens
        None,  # cache_write_1h_tokens
        reported,  # reported_cost_nano
    )


def _usd_to_nano(cost: Any) -> int | None:
    """A reported cost in USD as integer nano-USD (exact for the decimal it was sent as)."""
    if type(cost) is int:
        return cost * 1_000_000_000 if cost >= 0 else None
    if type(cost) is not float or not cost >= 0 or cost == float("inf"):
        return None
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(repr(cost)) * 1_000_000_000).to_integral_value(ROUND_HALF_UP))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        return ()
    calls = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        fn = item.get("function")
        if not isinstance(fn, dict):
            continue  # a non-function (custom) tool call: not something we asked for
        args = fn.get("arguments")
        if isinstance(args, str):
            arguments = parse_arguments(args)
        else:  # a server that sends the object itself
            arguments = dict(args) if isinstance(args, dict) else {}
        calls.append(
            ToolCall(
                id=_str(item.get("id")) or f"call_{i}",
                name=_str(fn.get("name")) or "",
                arguments=arguments,
            )
        )
    return tuple(calls)


def _first_choice(choices: Any) -> Mapping[str, Any] | None:
    if not isinstance(choices, list):
        return None
    for c in choices:  # n=1: choice index 0, wherever it is in the list
        if isinstance(c, dict) and c.get("index", 0) == 0:
            return c
    return None


def parse_response(request: ChatRequest, response: HttpResponse) -> ChatResponse:
    if response.status >= 300:
        raise map_error(request, response)
    body = response.body
    try:
        data = _json.loads(body)
    except ValueError:
        raise malformed(request, "body is not valid JSON", body, response.status) from None
    if not isinstance(data, dict):
        raise malformed(request, "body is not a JSON object", body, response.status)
    if data.get("error"):  # an error inside a 200
        raise error_from_payload(
            request, data["error"], status=None, headers=response.headers, body=body
        )
    try:
        return _parse(request, data, body, response.status)
    except SHAPE_ERRORS as exc:
        raise malformed(request, shape_problem(exc), body, response.status) from None


def _parse(request: ChatRequest, data: dict[str, Any], body: bytes, status: int) -> ChatResponse:
    # The common answer by subscripts (cheaper than .get calls on every response): one
    # choice, index 0, first in the list, a message with content; anything else (a
    # KeyError or TypeError on the way) takes the general search.
    try:
        choice = data["choices"][0]
        if choice["index"] != 0:
            choice = None
    except (KeyError, IndexError, TypeError):
        choice = None
    if type(choice) is not dict:
        choice = _first_choice(data.get("choices"))
        if choice is None:
            raise malformed(request, "no choices in the response", body, status)
    message = choice.get("message")
    if type(message) is not dict:
        message = {}
    content = message.get("content")
    # text, no reasoning, no calls: a membership test each for what is usually absent
    reasoning = None
    if "reasoning" in message or "reasoning_content" in message:
        reasoning = _str(message.get("reasoning")) or _str(message.get("reasoning_content"))
    refusal = message.get("refusal")
    if refusal is not None:
        refusal = _str(refusal)
    calls = message.get("tool_calls")
    raw_finish = choice.get("finish_reason")
    if raw_finish is not None and type(raw_finish) is not str:
        opt_str(raw_finish)  # raises its TypeError: a malformed response
    raw_finish = raw_finish or None
    response_id = data.get("id")
    model = data.get("model")
    return build_response(  # positionally, in its parameters' order
        request.provider,  # provider
        response_id if type(response_id) is str and response_id else None,  # id
        model if type(model) is str and model else request.model,  # model
        content if type(content) is str else "",  # text
        _tool_calls(calls) if calls is not None else (),  # tool_calls
        reasoning,
        (ReasoningBlock(text=reasoning),) if reasoning else (),  # reasoning_blocks
        refusal,
        _FINISH.get(raw_finish, "other") if raw_finish is not None else "other",  # finish_reason
        raw_finish,  # raw_finish_reason
        map_usage(data.get("usage")),  # usage
        data,  # raw
    )


def _context_window(item: Mapping[str, Any]) -> int | None:
    window = _int(item.get("max_model_len"))  # vLLM
    if window is None:
        meta = item.get("meta")  # llama.cpp: the trained context (runtime -c may be smaller)
        if isinstance(meta, dict):
            window = _int(meta.get("n_ctx_train"))
    return window


def parse_models(endpoint: Endpoint, response: HttpResponse) -> tuple[list[ModelInfo], str | None]:
    if response.status >= 300:
        raise map_error(None, response)
    try:
        data = _json.loads(response.body)
    except ValueError:
        raise malformed(
            None, "model list is not valid JSON", response.body, response.status
        ) from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise malformed(None, "model list has no 'data' array", response.body, response.status)
    provider = endpoint.provider
    out: list[ModelInfo] = []
    try:
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            model_id: str = item["id"]
            spec = lookup(provider, model_id)
            window = _context_window(item)
            out.append(
                ModelInfo(
                    id=model_id,
                    provider=provider,
                    context_window=window
                    if window is not None or spec is None
                    else spec.context_window,
                    max_output_tokens=spec.max_output_tokens if spec else None,
                    supports_tools=spec.supports_tools if spec else None,
                    supports_vision=spec.supports_vision if spec else None,
                    supports_reasoning=spec.supports_reasoning if spec else None,
                    supports_embeddings=embedding_support(item, model_id, spec is not None),
                    created=_int(item.get("created")),
                    raw=item,
                )
            )
    except SHAPE_ERRORS as exc:
        raise malformed(None, shape_problem(exc), response.body, response.status) from None
    return out, None
