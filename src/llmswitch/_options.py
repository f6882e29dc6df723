"""The types of the options ``chat``, ``stream``, ``count_tokens``, ``estimate_cost``,
``embed``, ``complete_code`` and ``stream_code`` declare as keyword parameters, so an IDE
completes them and mypy catches a misspelt or mistyped option.

The values are still checked at run time (by ``_core._Core.request`` and the
converters in :mod:`llmswitch.messages`), with a :class:`ConfigurationError` naming the
field, exactly as before: these aliases say what is accepted, they do not replace
the checks.

Adding an option:

- one that shapes the request (``seed=``, ``parallel_tool_calls=``...): add the keyword
  parameter to ``_Core.request`` (after the others, before ``**unknown``), and the key
  with its type to :class:`ChatOptions` in the same place (:data:`CHAT_OPTIONS` is its
  keys): ``chat``, ``stream``, ``count_tokens`` and ``estimate_cost`` of both clients
  take it from there;
- one about how the client makes the call (``cache=``, ``resume=``): add it to the
  options class of the methods it applies to (:class:`CallOptions`,
  :class:`StreamOptions`) and handle it in the client.

Each method declares its options once, as ``**options: Unpack[SomeOptions]`` (PEP 692:
typed for mypy and IDEs, a misspelt one refused), and :func:`keywords` gives it the
expanded signature ``help()`` and :mod:`inspect` show: every option a typed
keyword-only parameter (``tests/test_typed_options.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ForwardRef, Literal, TypeAlias, TypedDict, TypeVar

from .messages import Message, ReasoningConfig, ResponseFormat, Tool, ToolChoice
from .wire import Timeout

__all__ = [
    "CHAT_OPTIONS",
    "CallOptions",
    "ChatOptions",
    "CodeOptions",
    "EmbedOptions",
    "EstimateOptions",
    "MessagesInput",
    "ReasoningInput",
    "ResponseFormatInput",
    "StopInput",
    "StreamOptions",
    "TimeoutInput",
    "ToolChoiceInput",
    "ToolsInput",
    "keywords",
    "unexpected_keyword",
]

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


class ChatOptions(TypedDict, total=False):
    """The chat options, in the order ``_Core.request`` takes them after (model, messages)."""

    system: str | None
    tools: ToolsInput | None
    tool_choice: ToolChoiceInput | None
    temperature: float | None
    max_tokens: int | None
    top_p: float | None
    stop: StopInput | None
    response_format: ResponseFormatInput | None
    reasoning: ReasoningInput | None
    user: str | None
    metadata: Mapping[str, Any] | None
    timeout: TimeoutInput | None
    extra_body: Mapping[str, Any] | None
    extra_headers: Mapping[str, str] | None


CHAT_OPTIONS = tuple(ChatOptions.__annotations__)


class _Cached(ChatOptions, total=False):
    cache: bool | Mapping[str, Any] | None


class CallOptions(_Cached, total=False):
    """``chat``'s options: the chat options, ``cache=`` and a stored ``prompt=``."""

    prompt: str | None
    variables: Mapping[str, Any] | None


class StreamOptions(_Cached, total=False):
    """``stream``'s options: ``chat``'s and ``resume=``."""

    resume: bool
    prompt: str | None
    variables: Mapping[str, Any] | None


class EstimateOptions(ChatOptions, total=False):
    """``estimate_cost``'s options: the chat options and ``exact=``."""

    exact: bool


class EmbedOptions(TypedDict, total=False):
    """``embed``'s options."""

    dimensions: int | None
    input_type: str | None
    user: str | None
    timeout: TimeoutInput | None
    extra_body: Mapping[str, Any] | None
    extra_headers: Mapping[str, str] | None


class CodeOptions(TypedDict, total=False):
    """``complete_code``'s and ``stream_code``'s options."""

    language: str | None
    max_tokens: int | None
    stop: str | Sequence[str] | None
    temperature: float | None
    top_p: float | None
    user: str | None
    metadata: Mapping[str, Any] | None
    timeout: TimeoutInput | None
    extra_body: Mapping[str, Any] | None
    extra_headers: Mapping[str, str] | None


# Options whose default is not None.
_DEFAULTS: dict[str, Any] = {"resume": False, "exact": False}

_F = TypeVar("_F", bound=Callable[..., Any])


def keywords(options: type) -> Callable[[_F], _F]:
    """Give a ``**options: Unpack[options]`` method the signature ``help()`` and
    :func:`inspect.signature` show: its own parameters, then each option a keyword-only
    parameter with its annotation (the text, resolved in the method's module) and default.
    Only the signature is set: the call itself runs the method as written."""

    def apply(fn: _F) -> _F:
        own = inspect.signature(fn).parameters.values()
        params = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
        for name, annotation in options.__annotations__.items():
            text = annotation.__forward_arg__ if isinstance(annotation, ForwardRef) else annotation
            kind = inspect.Parameter.KEYWORD_ONLY
            default = _DEFAULTS.get(name)
            params.append(inspect.Parameter(name, kind, default=default, annotation=text))
        fn.__signature__ = inspect.signature(fn).replace(parameters=params)  # type: ignore[attr-defined]
        return fn

    return apply


def unexpected_keyword(method: str, given: Mapping[str, Any], known: frozenset[str]) -> TypeError:
    """What Python raises for a misspelt keyword, for a method taking ``**options``."""
    name = next(k for k in given if k not in known)
    return TypeError(f"{method}() got an unexpected keyword argument {name!r}")
