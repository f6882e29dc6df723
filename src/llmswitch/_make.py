"""The core value types' makers (:func:`llmswitch._frozen.positional_maker`) for the
paths that build one on every call, each taking every field positionally, in order:
about half the class call's cost, a third for the wide ones. (The Message maker is in
:mod:`llmswitch.messages`, which uses it itself; its field order is checked here.)"""

from __future__ import annotations

from dataclasses import fields

from ._frozen import positional_maker
from .messages import ChatRequest, ChatResponse, Message, Usage

__all__ = ["make_request", "make_response", "make_usage"]

make_request = positional_maker(ChatRequest)
make_response = positional_maker(ChatResponse)
make_usage = positional_maker(Usage)

# The call sites (_core.request, events.build_response, the adapters' map_usage,
# messages.to_messages) pass the fields in this order:
# a reordered or added field must fail here, at import, not put values in wrong fields.
_ORDER = {
    ChatRequest: (
        "provider", "model", "messages", "system", "tools", "tool_choice", "temperature",
        "max_tokens", "top_p", "stop", "response_format", "reasoning", "user", "metadata",
        "extra_body", "extra_headers",
    ),
    ChatResponse: (
        "id", "model", "provider", "text", "tool_calls", "reasoning", "reasoning_blocks",
        "refusal", "finish_reason", "raw_finish_reason", "usage", "cost", "raw", "prompt",
        "request_id", "parsed", "resumed", "cached", "cache_age", "cache_similarity",
    ),
    Message: (
        "role", "content", "tool_calls", "tool_call_id", "name", "reasoning", "cache_control",
    ),
    Usage: (
        "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens",
        "cache_write_tokens", "reasoning_tokens", "cache_write_1h_tokens", "reported_cost_nano",
    ),
}  # fmt: skip
for _cls, _names in _ORDER.items():
    if tuple(f.name for f in fields(_cls)) != _names:
        raise TypeError(f"{_cls.__name__}'s fields changed: update its positional call sites")
del _cls, _names
