"""Converse JSON -> ChatResponse; usage, stop reasons and the foundation-model list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import catalog
from ...events import build_response
from ...messages import ModelInfo, ReasoningBlock, ToolCall, Usage
from ...wire import HttpResponse
from .._claude import CLAUDE_FINISH, claude_usage
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
]

# docs/providers.md §1; anything else (a future value) is "other", with the raw value kept.
_FINISH: dict[str, FinishReason] = {
    **CLAUDE_FINISH,  # every model on Converse reports these
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "error",
    "malformed_tool_use": "error",
}


def finish_reason(raw: str | None) -> FinishReason:
    return _FINISH.get(raw, "other") if raw is not None else "other"


def parse_usage(usage: Any) -> Usage:
    """docs/providers.md §1: ``inputTokens`` is the uncached input only; ours adds cache reads and
    writes. ``totalTokens`` already includes them. No reasoning breakdown is given."""
    if not isinstance(usage, dict):
        return Usage()
    return claude_usage(
        int_or_none(usage.get("inputTokens")),
        int_or_none(usage.get("cacheReadInputTokens")),
        int_or_none(usage.get("cacheWriteInputTokens")),
        int_or_none(usage.get("outputTokens")),
        total=int_or_none(usage.get("totalTokens")),
        written_1h=_written_1h(usage.get("cacheDetails")),
    )


def _written_1h(details: Any) -> int | None:
    """``cacheDetails``: the cache writes by TTL, ``[{"ttl": "1h", "inputTokens": N}, ...]``
    (botocore's CacheDetail); the 1-hour part, or None when not split."""
    if not isinstance(details, list):
        return None
    hour = 0
    for item in details:
        if isinstance(item, dict) and item.get("ttl") == "1h":
            hour += int_or_none(item.get("inputTokens")) or 0
    return hour


def parse_content(
    request: ChatRequest | None, content: Any, body: bytes
) -> tuple[str, list[ToolCall], list[ReasoningBlock]]:
    """Text, client tool calls and reasoning blocks of a Converse message's content."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    blocks: list[ReasoningBlock] = []
    try:
        for block in content:
            piece = block.get("text")
            if piece is not None:
                texts.append(text(piece))
            elif "toolUse" in block:
                use = block["toolUse"]
                if use.get("type") == "server_tool_use":
                    continue  # run by Bedrock, not ours to call; stays in raw
                arguments = use.get("input")
                if arguments is None:
                    arguments = {}
                if not isinstance(arguments, dict):
                    raise malformed(request, "toolUse input is not an object", body)
                call_id, name = text(use["toolUseId"]), text(use["name"])
                calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
            elif "reasoningContent" in block:
                reasoning = block["reasoningContent"]
                if "redactedContent" in reasoning:
                    blocks.append(ReasoningBlock(redacted_data=text(reasoning["redactedContent"])))
                else:
                    rt = reasoning.get("reasoningText") or {}
                    thought, signature = opt_str(rt.get("text")), opt_str(rt.get("signature"))
                    blocks.append(ReasoningBlock(text=thought or "", signature=signature))
            # images, citations, documents ... stay in raw only
    except SHAPE_ERRORS as exc:
        raise malformed(request, shape_problem(exc), body) from None
    return "".join(texts), calls, blocks


def parse_response(request: ChatRequest, response: HttpResponse) -> ChatResponse:
    data = load_json(response.body, malformed, request, "body is not JSON")
    output = data.get("output") if isinstance(data, dict) else None
    message = output.get("message") if isinstance(output, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise malformed(request, "expected output.message with a content list", response.body)
    text, calls, blocks = parse_content(request, message["content"], response.body)
    try:
        raw_stop = opt_str(data.get("stopReason"))
    except TypeError as exc:
        raise malformed(request, shape_problem(exc), response.body) from None
    return build_response(
        provider=request.provider,
        id=None,  # Converse has no response id (x-amzn-RequestId identifies the call)
        model=request.model,
        text=text,
        tool_calls=tuple(calls),
        reasoning="".join(b.text for b in blocks) or None,
        reasoning_blocks=tuple(blocks),
        refusal=None,
        finish_reason=finish_reason(raw_stop),
        raw_finish_reason=raw_stop,
        usage=parse_usage(data.get("usage")),
        raw=data,
    )


def parse_count_tokens(response: HttpResponse) -> int:
    """``{"inputTokens": N}`` from CountTokens."""
    data = load_json(response.body, malformed, None, "count-tokens body is not JSON")
    tokens = int_or_none(data.get("inputTokens")) if isinstance(data, dict) else None
    if tokens is None:
        raise malformed(None, "expected inputTokens", response.body)
    return tokens


# --------------------------------------------------------------------------- models


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def parse_models(endpoint: Endpoint, response: HttpResponse) -> tuple[list[ModelInfo], str | None]:
    """``GET /foundation-models``: one unpaginated list. Context windows are not in it
    (docs/providers.md §7); they come from the catalog."""
    data = load_json(response.body, malformed, None, "model list is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("modelSummaries"), list):
        raise malformed(None, "expected modelSummaries", response.body)
    out: list[ModelInfo] = []
    for item in data["modelSummaries"]:
        if not isinstance(item, dict) or not isinstance(item.get("modelId"), str):
            continue
        model_id = item["modelId"]
        spec = catalog.lookup(endpoint.provider, model_id)
        inputs = _strings(item.get("inputModalities"))
        outputs = _strings(item.get("outputModalities"))
        embeds = "EMBEDDING" in outputs
        out.append(
            ModelInfo(
                id=model_id,
                provider=endpoint.provider,
                display_name=item.get("modelName") if isinstance(item.get("modelName"), str)
                else None,
                context_window=spec.context_window if spec else None,
                max_output_tokens=spec.max_output_tokens if spec else None,
                supports_tools=spec.supports_tools if spec else (False if embeds else None),
                supports_vision="IMAGE" in inputs if inputs else None,
                supports_reasoning=spec.supports_reasoning if spec else None,
                supports_embeddings=embeds if outputs else None,
                raw=item,
            )
        )  # fmt: skip
    return out, None
