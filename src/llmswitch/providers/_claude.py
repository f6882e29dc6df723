"""Rules of Claude models that hold wherever they are served (Anthropic's API, Bedrock)."""

from __future__ import annotations

from .._make import make_usage
from ..errors import ConfigurationError
from ..messages import ChatRequest, FinishReason, Usage
from ._common import request_error

__all__ = [
    "CLAUDE_FINISH",
    "EFFORT_BUDGETS",
    "JSON_OBJECT_INSTRUCTION",
    "MIN_THINKING_BUDGET",
    "TRUNCATING_STOP_REASONS",
    "budget_too_large",
    "check_max_tokens",
    "check_thinking_options",
    "claude_usage",
    "thinking_budget",
]

MIN_THINKING_BUDGET = 1024
# Claude has no schema-free JSON mode (a format needs a closed schema), so json_object is
# asked for by this system instruction.
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
# A tool call cut off by the output limit has unparseable input; that is the documented
# outcome of these stop reasons, not a malformed stream.
TRUNCATING_STOP_REASONS = frozenset({"max_tokens", "model_context_window_exceeded"})
# The stop reasons of Claude models wherever they are served; each API adds its own.
CLAUDE_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}
# Reasoning efforts as thinking budgets: budgets work on every Claude model that thinks.
EFFORT_BUDGETS = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
    "max": 32768,
}


def thinking_budget(request: ChatRequest) -> int | None:
    """The thinking budget asked for, in tokens: 0 when explicitly turned off, ``None``
    when reasoning was not asked for. Rejects budgets Claude would refuse."""
    r = request.reasoning
    if r is None:
        return None
    if r.budget_tokens is not None:
        budget = r.budget_tokens
        if 0 < budget < MIN_THINKING_BUDGET:
            raise request_error(
                request,
                "reasoning.budget_tokens",
                f"Claude needs a thinking budget of at least {MIN_THINKING_BUDGET} tokens, "
                f"got {budget}",
            )
        return budget
    if r.effort is None:
        return None
    if r.effort == "none":
        return 0
    by_effort = EFFORT_BUDGETS.get(r.effort)
    if by_effort is None:
        raise request_error(request, "reasoning.effort", f"unknown effort {r.effort!r}")
    return by_effort


def check_max_tokens(request: ChatRequest, budget: int | None) -> None:
    """The thinking budget counts toward ``max_tokens``, so a caller's ``max_tokens``
    must exceed it."""
    if budget and request.max_tokens is not None and request.max_tokens <= budget:
        raise request_error(
            request,
            "max_tokens",
            f"must be greater than the thinking budget ({budget} tokens), which counts "
            f"toward it; got {request.max_tokens}",
        )


def budget_too_large(request: ChatRequest, budget: int, model_max: int) -> ConfigurationError:
    """A thinking budget that fills the model's whole output limit."""
    return request_error(
        request,
        "reasoning.budget_tokens",
        f"a thinking budget of {budget} tokens leaves no room for an answer within "
        f"this model's {model_max} output tokens",
    )


def check_thinking_options(request: ChatRequest) -> None:
    """Claude answers 400 for these with extended thinking on; say which field before
    any network call."""
    if request.temperature is not None and request.temperature != 1:
        raise request_error(
            request, "temperature", "must be unset or 1 when extended thinking is on"
        )
    if request.top_p is not None and not 0.95 <= request.top_p <= 1:
        raise request_error(
            request, "top_p", "must be unset or between 0.95 and 1 with extended thinking"
        )
    choice = request.tool_choice
    if choice is not None and choice.mode in ("required", "tool"):
        raise request_error(
            request,
            "tool_choice",
            f"{choice.mode!r} forces tool use, which Claude does not allow with extended "
            "thinking; use 'auto' or 'none', or turn reasoning off",
        )


def claude_usage(
    fresh: int | None,
    read: int | None,
    written: int | None,
    output: int | None,
    *,
    total: int | None = None,
    reasoning: int | None = None,
    written_1h: int | None = None,
) -> Usage:
    """Claude counts only the uncached input as input; ours adds cache reads and writes.
    Its output already includes thinking. ``total`` when the API gives one; ``written_1h``
    the part of the cache writes made with a 1-hour TTL (priced apart)."""
    total_in = None if fresh is None else fresh + (read or 0) + (written or 0)
    if total is None and total_in is not None and output is not None:
        total = total_in + output
    return make_usage(  # every field, in Usage's order
        total_in,  # input_tokens
        output,  # output_tokens
        total,  # total_tokens
        read,  # cached_input_tokens
        written,  # cache_write_tokens
        reasoning,  # reasoning_tokens
        written_1h,  # cache_write_1h_tokens
        None,  # reported_cost_nano
    )
