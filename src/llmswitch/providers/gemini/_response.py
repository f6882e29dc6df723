"""Gemini GenerateContentResponse JSON -> ChatResponse; usage, finish reasons, the model
list, embeddings and token counts (docs/providers.md §1, §3, §7).

Parts become: ``text`` -> text, ``text`` with ``thought: true`` -> reasoning (consecutive
thought parts are one block, as in a stream), ``functionCall`` -> a ToolCall whose
``signature`` is the part's ``thoughtSignature``. Other parts (code execution, inline
images) stay in ``raw`` only.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from ... import catalog
from ..._make import make_usage
from ...errors import ContentFilterError, ProviderError
from ...events import build_response
from ...messages import ModelInfo, ReasoningBlock, ToolCall, Usage
from ...wire import HttpResponse
from .._common import int_or_none
from .._shape import SHAPE_ERRORS, embedding_response, load_json, opt_str, shape_problem
from .._shape import text as text_of
from ..base import Endpoint
from ._errors import error_from_payload, malformed
from ._request import SYNTHETIC_ID_PREFIX

if TYPE_CHECKING:
    from ...messages import ChatRequest, ChatResponse, EmbeddingResponse, EmbedRequest, FinishReason

__all__ = [
    "blocked_prompt",
    "finish_reason",
    "first_candidate",
    "id_stem",
    "parse_count_tokens",
    "parse_embed_response",
    "parse_models",
    "parse_response",
    "parse_usage",
    "synthetic_id",
]

# docs/providers.md §1. STOP with function calls becomes "tool_calls" (there is no tool finish
# reason); anything not listed, including future values, is "other".
_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    # generation hit a per-request limit and can be continued: a length stop
    "CONTINUATION": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
}

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def finish_reason(raw: str | None, has_tool_calls: bool) -> FinishReason:
    if raw is None:
        return "other"
    mapped = _FINISH.get(raw, "other")
    return "tool_calls" if mapped == "stop" and has_tool_calls else mapped


def parse_usage(meta: Any) -> Usage:
    """docs/providers.md §1. Proto3 JSON omits zero counts, so within a usageMetadata object an
    absent output count is 0; a missing object is unknown (all ``None``)."""
    if not isinstance(meta, dict):
        return Usage()
    prompt = int_or_none(meta.get("promptTokenCount"))
    tool_prompt = int_or_none(meta.get("toolUsePromptTokenCount"))
    candidates = int_or_none(meta.get("candidatesTokenCount"))
    thoughts = int_or_none(meta.get("thoughtsTokenCount"))
    total = int_or_none(meta.get("totalTokenCount"))
    input_tokens = prompt + (tool_prompt or 0) if prompt is not None else None
    output_tokens = (candidates or 0) + (thoughts or 0)
    if total is None and input_tokens is not None:
        total = input_tokens + output_tokens
    return make_usage(  # every field, in Usage's order
        input_tokens,
        output_tokens,
        total,  # total_tokens
        int_or_none(meta.get("cachedContentTokenCount")),  # cached_input_tokens
        None,  # cache_write_tokens
        thoughts,  # reasoning_tokens
        None,  # cache_write_1h_tokens
        None,  # reported_cost_nano
    )


def first_candidate(candidates: list[Any]) -> Any:
    """The candidate with index 0 (the only one unless candidateCount > 1)."""
    first = candidates[0]
    if isinstance(first, dict) and first.get("index", 0) != 0:
        for cand in candidates:
            if isinstance(cand, dict) and cand.get("index", 0) == 0:
                return cand
    return first


def id_stem(data: dict[str, Any]) -> str:
    """What synthesized tool-call ids are built from: the response id, so chat() and
    stream() of the same answer agree and ids stay unique across turns."""
    rid = data.get("responseId")
    if isinstance(rid, str) and rid:
        return _UNSAFE_ID_CHARS.sub("_", rid)
    return uuid.uuid4().hex


def synthetic_id(stem: str, ordinal: int) -> str:
    return f"{SYNTHETIC_ID_PREFIX}{stem}_{ordinal}"


def blocked_prompt(request: ChatRequest, data: dict[str, Any], body: bytes) -> ProviderError:
    """No candidates: the prompt itself was blocked (``promptFeedback.blockReason``), or the
    body is not a response at all."""
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if not isinstance(reason, str):
        return malformed(request, "response has no candidates", body)
    detail = feedback.get("blockReasonMessage") if isinstance(feedback, dict) else None
    message = f"Gemini blocked the prompt ({reason})"
    if isinstance(detail, str) and detail:
        message += f": {detail}"
    return ContentFilterError(
        message, provider=request.provider, model=request.model, body=body, code=reason
    )


def parse_response(request: ChatRequest, response: HttpResponse) -> ChatResponse:
    body = response.body
    data = load_json(body, malformed, request, "body is not JSON")
    if not isinstance(data, dict):
        raise malformed(request, "expected a GenerateContentResponse object", body)
    if "error" in data:
        raise error_from_payload(request, data["error"], body)
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise blocked_prompt(request, data, body)
    try:
        return _parse(request, data, candidates, body)
    except SHAPE_ERRORS as exc:
        raise malformed(request, shape_problem(exc), body) from None


def _parse(
    request: ChatRequest, data: dict[str, Any], candidates: list[Any], body: bytes
) -> ChatResponse:
    texts: list[str] = []
    thoughts: list[list[str]] = []  # one list per reasoning block
    in_thought = False
    calls: list[ToolCall] = []
    stem: str | None = None
    cand = first_candidate(candidates)
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts or ():
        text = part.get("text")
        if text is not None:
            if not text_of(text):
                continue  # e.g. a part that only carries a thoughtSignature
            if part.get("thought"):
                if not in_thought:
                    thoughts.append([])
                    in_thought = True
                thoughts[-1].append(text)
            else:
                in_thought = False
                texts.append(text)
            continue
        fc = part.get("functionCall")
        if fc is None:
            continue
        in_thought = False
        args = fc.get("args")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise malformed(request, "functionCall args is not an object", body)
        call_id = fc.get("id")
        if not isinstance(call_id, str) or not call_id:
            if stem is None:
                stem = id_stem(data)
            call_id = synthetic_id(stem, len(calls))
        calls.append(
            ToolCall(
                id=call_id,
                name=text_of(fc["name"]),
                arguments=args,
                signature=opt_str(part.get("thoughtSignature")) or None,
            )
        )
    raw_finish = opt_str(cand.get("finishReason")) or None
    blocks = tuple(ReasoningBlock(text="".join(t)) for t in thoughts)
    model = data.get("modelVersion")
    return build_response(
        provider=request.provider,
        id=opt_str(data.get("responseId")),
        model=model if isinstance(model, str) and model else request.model,
        text="".join(texts),
        tool_calls=tuple(calls),
        reasoning="".join(b.text for b in blocks) or None,
        reasoning_blocks=blocks,
        refusal=None,
        finish_reason=finish_reason(raw_finish, bool(calls)),
        raw_finish_reason=raw_finish,
        usage=parse_usage(data.get("usageMetadata")),
        raw=data,
    )


# --------------------------------------------------------------------------- models


def _display(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_models(endpoint: Endpoint, response: HttpResponse) -> tuple[list[ModelInfo], str | None]:
    """One page of ``GET /v1beta/models``; the cursor is ``nextPageToken``."""
    data = load_json(response.body, malformed, None, "model list is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise malformed(None, "expected a model list", response.body)
    out: list[ModelInfo] = []
    try:
        for item in data.get("models", []):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            name: str = item["name"]
            model_id = name.removeprefix("models/")
            spec = catalog.lookup(endpoint.provider, model_id) or catalog.lookup("gemini", model_id)
            methods = item.get("supportedGenerationMethods")
            methods = methods if isinstance(methods, list) else []
            thinking = item.get("thinking")
            out.append(
                ModelInfo(
                    id=model_id,
                    provider=endpoint.provider,
                    display_name=_display(item.get("displayName")),
                    context_window=int_or_none(item.get("inputTokenLimit"))
                    or (spec.context_window if spec else None),
                    max_output_tokens=int_or_none(item.get("outputTokenLimit"))
                    or (spec.max_output_tokens if spec else None),
                    supports_tools=spec.supports_tools if spec else None,
                    supports_vision=spec.supports_vision if spec else None,
                    supports_reasoning=thinking
                    if isinstance(thinking, bool)
                    else (spec.supports_reasoning if spec else None),
                    supports_embeddings="embedContent" in methods
                    or "batchEmbedContents" in methods,
                    raw=item,
                )
            )
    except SHAPE_ERRORS as exc:
        raise malformed(None, shape_problem(exc), response.body) from None
    cursor = data.get("nextPageToken")
    return out, cursor if isinstance(cursor, str) and cursor else None


# --------------------------------------------------------------------------- embeddings


def parse_embed_response(request: EmbedRequest, response: HttpResponse) -> EmbeddingResponse:
    """``{"embeddings": [{"values": [...]}, ...]}``, one per input of the batch, in order.
    ``request`` may hold more inputs than this batch (the provider layer splits them), so
    the count is not checked here. Gemini reports no token usage for embeddings;
    ``usageMetadata`` is read if it ever appears."""
    data = load_json(response.body, malformed, None, "embeddings body is not JSON")
    embeddings = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(embeddings, list) or not embeddings:
        raise malformed(None, "no 'embeddings' list", response.body)
    vectors: list[list[float]] = []
    try:
        for item in embeddings:
            values = item["values"]
            if not isinstance(values, list) or not values:
                raise TypeError
            # proto3 JSON writes 0.0 as 0: keep the vector all floats
            vectors.append(list(map(float, values)))
    except (KeyError, TypeError, ValueError):
        raise malformed(None, "an embedding has no values", response.body) from None
    meta = data.get("usageMetadata")
    tokens = int_or_none(meta.get("promptTokenCount")) if isinstance(meta, dict) else None
    return embedding_response(request, vectors, data, tokens)


def parse_count_tokens(response: HttpResponse) -> int:
    """``{"totalTokens": N, ...}``. Proto3 omits a zero, so an empty object means 0."""
    data = load_json(response.body, malformed, None, "countTokens body is not JSON")
    if not isinstance(data, dict):
        raise malformed(None, "expected a countTokens object", response.body)
    total = data.get("totalTokens", 0)
    if not isinstance(total, int) or isinstance(total, bool):
        raise malformed(None, "totalTokens is not an integer", response.body)
    return total
