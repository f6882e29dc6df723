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

from ...messages import (
    ImagePart,
    Message,
    Part,
    ReasoningBlock,
    ReasoningConfig,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from .._errors import HttpError
from ._ids import split_id
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
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_MAX_TOKENS_LIMIT = 10_000_000


@dataclass(slots=True)
class MessagesCall:
    """The model, whether to stream, and the keyword arguments of ``chat``/``stream``."""

    model: str
    stream: bool
    kwargs: dict[str, Any] = field(default_factory=dict)


def _bad(param: str, problem: str) -> HttpError:
    return HttpError(400, f"{param}: {problem}", code="invalid_request", param=param)


def _str(value: Any, param: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise _bad(param, "must be a non-empty string" if not empty else "must be a string")
    return value


def _obj(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(param, "must be an object")
    return value


def _list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(param, "must be an array")
    return value


def _int(value: Any, param: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise _bad(param, f"must be an integer >= {lo}")
    return value


def _number(value: Any, param: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _bad(param, f"must be a number from {lo:g} to {hi:g}")
    return float(value)


def _cache(block: Mapping[str, Any], param: str) -> Mapping[str, Any] | None:
    cc = block.get("cache_control")
    if cc is None:
        return None
    cc = _obj(cc, f"{param}.cache_control")
    if cc.get("type") != "ephemeral":
        raise _bad(f"{param}.cache_control.type", "must be 'ephemeral'")
    ttl = cc.get("ttl")
    if ttl is not None and ttl not in ("5m", "1h"):
        raise _bad(f"{param}.cache_control.ttl", "must be '5m' or '1h'")
    return dict(cc)


# --------------------------------------------------------------------------- blocks


def _text(block: Mapping[str, Any], param: str) -> TextPart:
    return TextPart(text=_str(block.get("text"), f"{param}.text", empty=True),
                    cache_control=_cache(block, param))  # fmt: skip


def _image(block: Mapping[str, Any], param: str) -> ImagePart:
    source = _obj(block.get("source"), f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media = _str(source.get("media_type"), f"{param}.source.media_type")
        if media not in _IMAGE_TYPES:
            raise _bad(f"{param}.source.media_type", f"unsupported image type {media[:40]!r}")
        data = _str(source.get("data"), f"{param}.source.data")
        url = f"data:{media};base64,{data}"
    elif kind == "url":
        url = _str(source.get("url"), f"{param}.source.url")
        if not url.startswith(("http://", "https://")):
            raise _bad(f"{param}.source.url", "must be an http(s) URL")
    else:
        raise _bad(f"{param}.source.type", "must be 'base64' or 'url' (files are not supported)")
    return ImagePart(url=url, cache_control=_cache(block, param))


def _document(block: Mapping[str, Any], param: str) -> TextPart:
    source = _obj(block.get("source"), f"{param}.source")
    if source.get("type") != "text":
        raise _bad(
            f"{param}.source.type",
            "only plain-text documents are supported by the gateway (no PDF, URL or file)",
        )
    text = _str(source.get("data"), f"{param}.source.data", empty=True)
    title = block.get("title")
    if isinstance(title, str) and title:
        text = f"{title}\n\n{text}"
    return TextPart(text=text, cache_control=_cache(block, param))


def _part(block: Mapping[str, Any], kind: Any, param: str) -> Part:
    if kind == "text":
        return _text(block, param)
    if kind == "image":
        return _image(block, param)
    if kind == "document":
        return _document(block, param)
    raise _bad(f"{param}.type", f"unsupported content block type {str(kind)[:40]!r}")


def _result_content(raw: Any, param: str, is_error: bool) -> str | tuple[Part, ...]:
    if raw is None:
        text = ""
    elif isinstance(raw, str):
        text = raw
    else:
        parts = []
        for j, b in enumerate(_list(raw, param)):
            b = _obj(b, f"{param}.{j}")
            parts.append(_part(b, b.get("type"), f"{param}.{j}"))
        if is_error:
            parts.insert(0, TextPart(text="Error:"))
        if parts:
            return tuple(parts)
        text = ""
    if is_error:
        return f"Error: {text}" if text else "Error"
    return text


def _user(raw: Any, param: str, out: list[Message], lead: list[Part]) -> None:
    """One user turn: its tool results as tool messages, then ``lead`` (system text
    that came between the calls and their results), then the rest."""
    if isinstance(raw, str):
        if lead:
            out.append(Message(role="user", content=(*lead, TextPart(text=raw))))
        else:
            out.append(Message(role="user", content=raw))
        return
    parts: list[Part] = list(lead)
    results: list[Message] = []
    for j, b in enumerate(_list(raw, param)):
        where = f"{param}.{j}"
        b = _obj(b, where)
        kind = b.get("type")
        if kind == "tool_result":
            is_error = b.get("is_error")
            if is_error is not None and not isinstance(is_error, bool):
                raise _bad(f"{where}.is_error", "must be a boolean")
            results.append(
                Message(
                    role="tool",
                    tool_call_id=split_id(_str(b.get("tool_use_id"), f"{where}.tool_use_id"))[0],
                    content=_result_content(b.get("content"), f"{where}.content", bool(is_error)),
                    cache_control=_cache(b, where),
                )
            )
        else:
            parts.append(_part(b, kind, where))
    out.extend(results)
    if parts or not results:
        out.append(Message(role="user", content=tuple(parts)))


def _assistant(raw: Any, param: str) -> Message:
    if isinstance(raw, str):
        return Message(role="assistant", content=raw)
    parts: list[Part] = []
    calls: list[ToolCall] = []
    thinking: list[ReasoningBlock] = []
    cache: Mapping[str, Any] | None = None
    for j, b in enumerate(_list(raw, param)):
        where = f"{param}.{j}"
        b = _obj(b, where)
        kind = b.get("type")
        cache = None
        if kind == "tool_use":
            tool_input = b.get("input", {})
            call_id, signature = split_id(_str(b.get("id"), f"{where}.id"))
            calls.append(
                ToolCall(
                    id=call_id,
                    name=_str(b.get("name"), f"{where}.name"),
                    arguments=dict(_obj(tool_input, f"{where}.input")),
                    signature=signature,
                )
            )
            cache = _cache(b, where)
        elif kind == "thinking":
            signature = b.get("signature")
            if signature is not None and not isinstance(signature, str):
                raise _bad(f"{where}.signature", "must be a string")
            thinking.append(
                ReasoningBlock(
                    text=_str(b.get("thinking"), f"{where}.thinking", empty=True),
                    signature=signature or None,
                )
            )
        elif kind == "redacted_thinking":
            thinking.append(ReasoningBlock(redacted_data=_str(b.get("data"), f"{where}.data")))
        elif kind in ("text", "image"):
            parts.append(_part(b, kind, where))
        else:
            raise _bad(f"{where}.type", f"unsupported assistant content block {str(kind)[:40]!r}")
    content: tuple[Part, ...] | None = tuple(parts) if parts else None
    return Message(
        role="assistant",
        content=content,
        tool_calls=tuple(calls),
        reasoning=tuple(thinking),
        cache_control=cache,
    )


def _system_parts(raw: Any, param: str) -> tuple[TextPart, ...]:
    if isinstance(raw, str):
        return (TextPart(text=raw),)
    out = []
    for j, b in enumerate(_list(raw, param)):
        b = _obj(b, f"{param}.{j}")
        if b.get("type") != "text":
            raise _bad(f"{param}.{j}.type", "system blocks must be text")
        out.append(_text(b, f"{param}.{j}"))
    return tuple(out)


def _messages(body: Mapping[str, Any]) -> list[Message]:
    out: list[Message] = []
    if "system" in body and body["system"] is not None:
        parts = _system_parts(body["system"], "system")
        if any(p.text for p in parts):
            out.append(Message(role="system", content=parts))
    raw = _list(body.get("messages"), "messages")
    if not raw:
        raise _bad("messages", "at least one message is required")
    conversation = False
    pending: list[Part] = []  # mid-conversation system text waiting for tool results
    for i, m in enumerate(raw):
        param = f"messages.{i}"
        m = _obj(m, param)
        role = m.get("role")
        if "content" not in m:
            raise _bad(f"{param}.content", "is required")
        content = m["content"]
        if role == "user":
            _user(content, f"{param}.content", out, pending)
            pending = []
            conversation = True
        elif role == "assistant":
            if pending:
                out.append(Message(role="user", content=tuple(pending)))
                pending = []
            out.append(_assistant(content, f"{param}.content"))
            conversation = True
        elif role == "system":
            parts = _system_parts(content, f"{param}.content")
            if not conversation:
                out.append(Message(role="system", content=parts))
            elif pending or (out[-1].role == "assistant" and out[-1].tool_calls):
                pending.extend(parts)  # tool results must follow their calls: after them
            else:  # mid-conversation: a user turn (see the module docstring)
                out.append(Message(role="user", content=parts))
        else:
            raise _bad(f"{param}.role", "must be 'user', 'assistant' or 'system'")
    if pending:
        out.append(Message(role="user", content=tuple(pending)))
    return out


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
    fmt = output.get("format") if isinstance(output, Mapping) else None
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
    kwargs: dict[str, Any] = {"messages": _messages(body)}
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
            kwargs["user"] = _str(user, "metadata.user_id", empty=True)[:256] or None
            if kwargs["user"] is None:
                del kwargs["user"]
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
