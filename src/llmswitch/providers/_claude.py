"""Rules of Claude models that hold wherever they are served (Anthropic's API, Bedrock)."""

from __future__ import annotations

from ..messages import ChatRequest
from ._common import request_error

__all__ = ["check_thinking_options"]


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
