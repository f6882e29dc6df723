"""The types of the options ``chat``, ``stream``, ``count_tokens``, ``estimate_cost``,
``embed``, ``complete_code`` and ``stream_code`` declare as keyword parameters, so an IDE
completes them and mypy catches a misspelt or mistyped option.

The values are still checked at run time (by ``_core._Core.request`` and the
converters in :mod:`llmswitch.messages`), with a :class:`ConfigurationError` naming the
field, exactly as before: these aliases say what is accepted, they do not replace
the checks.

Adding an option:

- one that shapes the request (``seed=``, ``parallel_tool_calls=``...): add the keyword
  parameter to ``_Core.request`` (after the others, before ``**unknown``: the clients
  pass the chat options by position, in the order of :data:`CHAT_OPTIONS`), append its
  name to :data:`CHAT_OPTIONS`, and declare it with the same type on ``Client`` and
  ``AsyncClient``'s methods that take the chat options (``chat``, ``stream``, and in
  ``_client_tokens.py`` ``count_tokens``, ``estimate_cost``);
- one about how the client makes the call (``cache=``, ``resume=``): declare it on the
  client methods it applies to, on both clients, and handle it there.

Never ``**options``: ``tests/test_typed_options.py`` fails until every option is a typed
keyword parameter and the sync and async signatures agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from .messages import Message, ReasoningConfig, ResponseFormat, Tool, ToolChoice
from .wire import Timeout

__all__ = [
    "CHAT_OPTIONS",
    "MessagesInput",
    "ReasoningInput",
    "ResponseFormatInput",
    "StopInput",
    "TimeoutInput",
    "ToolChoiceInput",
    "ToolsInput",
]

# The chat options in the order ``_Core.request`` takes them after (model, messages).
CHAT_OPTIONS = (
    "system", "tools", "tool_choice", "temperature", "max_tokens", "top_p", "stop",
    "response_format", "reasoning", "user", "metadata", "timeout", "extra_body", "extra_headers",
)  # fmt: skip

MessagesInput: TypeAlias = Sequence[Mapping[str, Any] | Message]
"""OpenAI-style message dicts or :class:`Message` objects."""

ToolsInput: TypeAlias = Sequence[Mapping[str, Any] | Tool]
"""OpenAI function-tool dicts, ``{"name", "description", "parameters"}`` or :class:`Tool`."""

ToolChoiceInput: TypeAlias = (
    Literal["auto", "none", "required", "any"] | Mapping[str, Any] | ToolChoice
)
"""``"auto"``/``"none"``/``"required"``, or ``{"function": {"name": ...}}`` to force one."""

StopInput: TypeAlias = str | Sequence[str]

ResponseFormatInput: TypeAlias = (
    Literal["text", "json", "json_object"] | Mapping[str, Any] | ResponseFormat | type[Any]
)
"""``"json"``, an OpenAI ``response_format`` dict (``json_schema`` included), or a type:
a pydantic model, a dataclass or a TypedDict, whose validated instance is
``resp.parsed`` (see :mod:`llmswitch._structured`)."""

ReasoningInput: TypeAlias = bool | str | int | Mapping[str, Any] | ReasoningConfig
"""An effort (``"low"``...), a thinking token budget, ``True``, or a dict of both."""

TimeoutInput: TypeAlias = float | Timeout | Mapping[str, float | None]
"""Seconds (total), a :class:`Timeout`, or a dict of ``connect``/``first_token``/``total``."""
