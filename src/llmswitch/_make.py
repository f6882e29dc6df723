"""The core value types' makers (:func:`llmswitch._frozen.maker`) for the paths that
build one on every call: the usage's takes the class call's keywords, the request's
and the response's every field positionally, in order (see positional_maker); about
half the class call's cost, a third for the wide ones. (The Message maker is in
:mod:`llmswitch.messages`, which uses it itself.)"""

from __future__ import annotations

from dataclasses import fields

from ._frozen import maker, positional_maker
from .messages import ChatRequest, ChatResponse, Usage

__all__ = ["make_request", "make_response", "make_usage"]

make_request = positional_maker(ChatRequest)
make_response = positional_maker(ChatResponse)
make_usage = maker(Usage)

# The call sites (_core.request, events.build_response) pass the fields in this order:
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
}  # fmt: skip
for _cls, _names in _ORDER.items():
    if tuple(f.name for f in fields(_cls)) != _names:
        raise TypeError(f"{_cls.__name__}'s fields changed: update its positional call sites")
del _cls, _names
