"""An Anthropic Messages request body -> the arguments of ``AsyncClient.chat``/``stream``.

Built as the library's typed objects (``Message``, parts, ``Tool``...), which the
client takes without re-normalizing dicts. Mapping decisions:

- ``system`` (string or text blocks with ``cache_control``) and the ``role: "system"``
  turns *before* the conversation become leading system messages; a system turn
  *inside* the conversation (Claude Code sends them) becomes a user turn with its text,
  so the cached prefix before it stays the same from one request to the next (the
  library accepts system messages only before the conversation); one between tool calls
  and their results joins the results' turn, after them (OpenAI wants the results
  right after the calls).
- A user turn's ``tool_result`` blocks become ``role: "tool"`` messages, first, then
  the rest of the turn as a user message. ``is_error: true`` prefixes the result with
  ``Error:`` (the library's tool messages have no error flag).
- ``thinking`` blocks keep their signature (the Anthropic adapter sends signed blocks
  back unmodified; others drop them); ``redacted_thinking`` keeps its data.
- A ``document`` block is a plain-text document (its text, after its title) or a 400:
  the library has no PDF part.
- ``thinking`` / ``output_config.effort`` -> ``reasoning`` (for an Anthropic target the
  client's own ``thinking`` and ``effort`` go through as sent); dropped for a model
  known not to reason. ``metadata.user_id`` -> ``user`` (the route then binds a
  tenant's calls to its key's user). ``max_tokens`` is clamped to the model's output
  limit.
- Fields only Anthropic has (``top_k``, ``context_management``, ``service_tier``...),
  ``disable_parallel_tool_use``, server tools, and the ``anthropic-version`` /
  ``anthropic-beta`` headers reach Anthropic-format targets only; elsewhere they are
  mapped where an equivalent exists (``parallel_tool_calls`` on OpenAI) and otherwise
  dropped, except server tools, which no other provider can run (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...messages import ReasoningConfig, ResponseFormat, Tool, ToolChoice
from ._blocks_in import _bad, _cache, _int, _list, _number, _obj, _str, messages_of
from ._target import Target

__all__ = ["MessagesCall", "model_of", "parse_count_tokens", "parse_messages"]

# Top-level fields only the Anthropic API knows: sent raw to Anthropic-format targets.
_ANTHROPIC_ONLY = (
    "top_k", "context_management", "service_tier", "speed", "inference_geo", "container",
    "diagnostics", "cache_control", "mcp_servers",
)  # fmt: skip
# Headers the upstream may see (Anthropic-format targets only); x-stainless-*, x-app,
# session ids and the caller's credentials never leave the gateway.
_FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
_MAX_TOKENS_LIMIT = 10_000_000


@dataclass(slots=True)
class MessagesCall:
    """The model, whether to stream, and the keyword arguments of ``chat``/``stream``."""

    model: str
    stream: bool
    kwargs: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- tools


def _tools(raw: Any, target: Target, extra: dict[str, Any]) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    server = False
    for i, t in enumerate(_list(raw, "tools")):
        param = f"tools.{i}"
        t = _obj(t, param)
        kind = t.get("type")
        if kind not in (None, "custom"):
            if not target.anthropic:
                raise _bad(
                    f"{param}.type",
                    f"server tool {str(kind)[:60]!r} runs only on Anthropic models",
                )
            server = True
            continue
        schema = _obj(t.get("input_schema"), f"{param}.input_schema")
        if schema.get("type") != "object":
            raise _bad(f"{param}.input_schema.type", "must be 'object'")
        description = t.get("description")
        if description is not None and not isinstance(description, str):
            raise _bad(f"{param}.description", "must be a string")
        strict = t.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise _bad(f"{param}.strict", "must be a boolean")
        tools.append(
            Tool(
                name=_str(t.get("name"), f"{param}.name"),
                description=description,
                parameters=dict(schema),
                strict=strict,
                cache_control=_cache(t, param),
            )
        )
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise _bad("tools", "tool names must be unique")
    if server:  # the adapter builds custom tools only: the client's list goes as sent
        extra["tools"] = raw
    return tuple(tools)


def _tool_choice(raw: Any, target: Target, extra: dict[str, Any]) -> ToolChoice:
    raw = _obj(raw, "tool_choice")
    kind = raw.get("type")
    parallel = raw.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("tool_choice.disable_parallel_tool_use", "must be a boolean")
    if parallel:
        if target.anthropic:
            extra["tool_choice"] = {"disable_parallel_tool_use": True}
        elif target.openai:
            extra["parallel_tool_calls"] = False
    if kind == "auto":
        return ToolChoice(mode="auto")
    if kind == "any":
        return ToolChoice(mode="required")
    if kind == "none":
        return ToolChoice(mode="none")
    if kind == "tool":
        return ToolChoice(mode="tool", name=_str(raw.get("name"), "tool_choice.name"))
    raise _bad("tool_choice.type", "must be 'auto', 'any', 'tool' or 'none'")


# --------------------------------------------------------------------------- options


def _reasoning(body: Mapping[str, Any], target: Target, extra: dict[str, Any]) -> Any:
    thinking = body.get("thinking")
    output = body.get("output_config")
    effort = None
    if output is not None:
        output = _obj(output, "output_config")
        effort = output.get("effort")
        if effort is not None and effort not in _EFFORTS:
            raise _bad("output_config.effort", "must be low, medium, high, xhigh or max")
    kind = budget = None
    if thinking is not None:
        thinking = _obj(thinking, "thinking")
        kind = thinking.get("type")
        if kind == "enabled":
            budget = _int(thinking.get("budget_tokens"), "thinking.budget_tokens", 1024)
        elif kind not in ("adaptive", "disabled", "between_tools"):
            raise _bad("thinking.type", "must be 'enabled', 'adaptive' or 'disabled'")
        display = thinking.get("display")
        if display is not None and display not in ("summarized", "omitted"):
            raise _bad("thinking.display", "must be 'summarized' or 'omitted'")
    if target.anthropic:
        # The client's own settings, as sent: the adapter would turn an effort into a
        # budget, and knows no adaptive thinking.
        if thinking is not None and kind != "enabled":
            extra["thinking"] = dict(thinking)
        elif thinking is not None and len(thinking) > 2:
            extra["thinking"] = {k: v for k, v in thinking.items() if k == "display"}
        if effort is not None:
            extra["output_config"] = {"effort": effort}
        return ReasoningConfig(budget_tokens=budget) if budget is not None else None
    if target.reasoning is False or kind == "disabled":
        return None  # a model that does not reason: dropped, not a 400
    if budget is None and effort is None and kind is None:
        return None
    if budget is None and effort is None:
        effort = "medium"  # adaptive: the model decides; medium is every provider's default
    return ReasoningConfig(effort=effort, budget_tokens=budget)


def _response_format(body: Mapping[str, Any]) -> ResponseFormat | None:
    output = body.get("output_config")
    fmt = output.get("format") if isinstance(output, dict) else None
    if fmt is None:
        return None
    fmt = _obj(fmt, "output_config.format")
    if fmt.get("type") != "json_schema":
        raise _bad("output_config.format.type", "must be 'json_schema'")
    schema = _obj(fmt.get("schema"), "output_config.format.schema")
    return ResponseFormat(type="json_schema", schema=dict(schema), name="response")


def model_of(body: Any) -> str:
    """The ``model`` of a request body (checked first: the caller's key must allow it
    before anything else is looked at)."""
    return _str(_obj(body, "body").get("model"), "model")


def _common(
    body: Any, headers: Mapping[str, str], target: Target
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """What Messages and count_tokens share: model, messages, system, tools, tool
    choice, reasoning, output format; and the Anthropic-only extras."""
    body = _obj(body, "body")
    model = _str(body.get("model"), "model")
    extra: dict[str, Any] = {}
    kwargs: dict[str, Any] = {"messages": messages_of(body)}
    tools = body.get("tools")
    if tools is not None:
        kwargs["tools"] = _tools(tools, target, extra)
    choice = body.get("tool_choice")
    if choice is not None:
        tc = _tool_choice(choice, target, extra)
        if kwargs.get("tools"):
            kwargs["tool_choice"] = tc
        elif tc.mode in ("required", "tool") and "tools" not in extra:
            raise _bad("tool_choice.type", f"{choice['type']!r} needs tools")
    reasoning = _reasoning(body, target, extra)
    if reasoning is not None:
        kwargs["reasoning"] = reasoning
    fmt = _response_format(body)
    if fmt is not None:
        kwargs["response_format"] = fmt
    if target.anthropic:
        for key in _ANTHROPIC_ONLY:
            if body.get(key) is not None:
                extra[key] = body[key]
        sent = {h: headers[h] for h in _FORWARDED_HEADERS if h in headers}
        if sent:
            kwargs["extra_headers"] = sent
    return model, kwargs, extra


def parse_messages(body: Any, headers: Mapping[str, str], target: Target) -> MessagesCall:
    """``POST /v1/messages`` body -> :class:`MessagesCall`; ``HttpError(400)`` naming
    the field (``messages.2.content.0.type``) for what the format does not allow."""
    model, kwargs, extra = _common(body, headers, target)
    max_tokens = _int(body.get("max_tokens"), "max_tokens", 1)
    if max_tokens > _MAX_TOKENS_LIMIT:
        raise _bad("max_tokens", f"must be at most {_MAX_TOKENS_LIMIT}")
    limit = target.max_output_tokens
    kwargs["max_tokens"] = min(max_tokens, limit) if limit else max_tokens
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "must be a boolean")
    if body.get("temperature") is not None:
        kwargs["temperature"] = _number(body["temperature"], "temperature", 0, 1)
    if body.get("top_p") is not None:
        kwargs["top_p"] = _number(body["top_p"], "top_p", 0, 1)
    if body.get("top_k") is not None:
        _int(body["top_k"], "top_k", 0)
    stop = body.get("stop_sequences")
    if stop is not None:
        stops = _list(stop, "stop_sequences")
        kwargs["stop"] = [_str(s, f"stop_sequences.{i}") for i, s in enumerate(stops)]
    metadata = body.get("metadata")
    if metadata is not None:
        user = _obj(metadata, "metadata").get("user_id")
        if user is not None:
            # Bounded: it is sent on as the provider's end-user field and kept in ledger
            # rows; Claude Code's ids are ~150 characters.
            user = _str(user, "metadata.user_id", empty=True)[:256]
            if user:
                kwargs["user"] = user
    if extra:
        kwargs["extra_body"] = extra
    return MessagesCall(model=model, stream=stream, kwargs=kwargs)


def parse_count_tokens(body: Any, headers: Mapping[str, str], target: Target) -> MessagesCall:
    """``POST /v1/messages/count_tokens`` body (a Messages body without ``max_tokens``)
    -> the arguments of ``client.count_tokens``."""
    model, kwargs, extra = _common(body, headers, target)
    for key in ("top_k", "service_tier", "speed", "inference_geo", "container", "diagnostics"):
        extra.pop(key, None)  # count_tokens refuses what does not change the count
    if extra:
        kwargs["extra_body"] = extra
    return MessagesCall(model=model, stream=False, kwargs=kwargs)
