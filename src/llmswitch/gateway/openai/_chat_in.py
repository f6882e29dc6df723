"""An OpenAI Chat Completions request body -> the arguments of ``AsyncClient.chat``/``stream``.

Typed ``Message``/``Tool``/... objects are built directly (the library then only checks
them, it does not re-normalize dicts). Bad input raises :class:`ConfigurationError` whose
``field`` is the OpenAI parameter path (``messages[2].content``): the route answers 400
with it as ``param``. What the target cannot take is dropped, never passed raw: the
OpenAI-only sampling knobs go as ``extra_body`` only to OpenAI-format targets.
The body is decoded JSON, so its objects are checked as ``dict`` (a C type check, not
the ``Mapping`` ABC's Python-level one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigurationError
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

__all__ = ["SIGNATURE_SEP", "ChatCall", "Target", "join_signature", "parse_chat", "split_signature"]

# A Gemini thought signature rides inside the tool call id the client sees (the OpenAI
# format has no field for it), so the next turn can send it back; the same separator
# LiteLLM uses, so clients that learned it keep working.
SIGNATURE_SEP = "__thought__"

# Fields only OpenAI-format targets understand: passed through extra_body to those, dropped
# for the others (an Anthropic or Gemini upstream rejects unknown fields).
_OPENAI_ONLY = (
    "seed", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "parallel_tool_calls", "service_tier", "store", "prompt_cache_key", "safety_identifier",
    "verbosity", "prediction", "web_search_options",
)  # fmt: skip
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# A body of only these keys needs none of the optional checks below (most requests):
# parse_chat then skips some fifty lookups of fields that are not there.
_PLAIN_KEYS = frozenset(
    ("model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options")
)


@dataclass(frozen=True, slots=True)
class Target:
    """What the route knows about the model before the call."""

    openai_format: bool = False  # every deployment speaks OpenAI's chat format
    max_output_tokens: int | None = None  # the catalog's output limit, when known
    signatures: bool = False  # tool calls carry thought signatures (Gemini, Vertex)


@dataclass(slots=True)
class ChatCall:
    """A parsed request: ``options`` are the keyword arguments of ``chat``/``stream``."""

    model: str
    stream: bool
    include_usage: bool
    target: Target
    options: dict[str, Any] = field(default_factory=dict)


def _bad(param: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"{param}: {problem}", field=param)


def join_signature(call_id: str, signature: str | None) -> str:
    return call_id if not signature else f"{call_id}{SIGNATURE_SEP}{signature}"


def split_signature(call_id: str) -> tuple[str, str | None]:
    head, sep, tail = call_id.partition(SIGNATURE_SEP)
    return (head, tail) if sep and tail else (call_id, None)


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _bad(param, "must be a string")
    return value


def _number(body: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _bad(name, f"must be a number between {lo:g} and {hi:g}")
    return float(value)


def _text_parts(content: Any, param: str, *, refusal: bool = False) -> str | tuple[Part, ...]:
    """Content of a system/developer/tool/assistant message: a string or text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(param, "must be a string or a list of content parts")
    parts: list[Part] = []
    for j, p in enumerate(content):
        where = f"{param}[{j}]"
        kind = p.get("type") if isinstance(p, dict) else None
        if kind == "text":
            parts.append(TextPart(text=_string(p.get("text"), f"{where}.text")))
        elif kind == "refusal" and refusal:
            parts.append(TextPart(text=_string(p.get("refusal"), f"{where}.refusal")))
        elif not isinstance(p, dict):
            raise _bad(where, "a content part must be an object")
        else:
            raise _bad(f"{where}.type", f"only text parts are allowed here, got {kind!r}")
    return tuple(parts)


def _user_parts(content: Any, param: str) -> str | tuple[Part, ...]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(param, "must be a string or a list of content parts")
    parts: list[Part] = []
    for j, p in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(p, dict):
            raise _bad(where, "a content part must be an object")
        kind = p.get("type")
        if kind == "text":
            parts.append(TextPart(text=_string(p.get("text"), f"{where}.text")))
        elif kind == "image_url":
            image = p.get("image_url")
            if isinstance(image, str):
                image = {"url": image}
            if not isinstance(image, dict):
                raise _bad(f"{where}.image_url", "must be an object with a url")
            url = image.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
                raise _bad(f"{where}.image_url.url", "must be an http(s):// or data: URL")
            detail = image.get("detail")
            if detail is not None and detail not in ("auto", "low", "high"):
                raise _bad(f"{where}.image_url.detail", "must be auto, low or high")
            parts.append(ImagePart(url=url, detail=detail))
        elif kind in ("input_audio", "file"):
            raise _bad(
                f"{where}.type",
                f"{kind} content parts are not supported by this gateway (text and images are)",
            )
        else:
            raise _bad(f"{where}.type", f"unknown content part type {kind!r}")
    return tuple(parts)


def _tool_calls(raw: Any, param: str) -> tuple[ToolCall, ...]:
    from ..._json import loads

    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad(param, "must be a list of tool calls")
    calls = []
    for j, c in enumerate(raw):
        where = f"{param}[{j}]"
        if not isinstance(c, dict):
            raise _bad(where, "a tool call must be an object")
        fn = c.get("function")
        if not isinstance(fn, dict):
            raise _bad(f"{where}.function", "must be an object with name and arguments")
        call_id = c.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{where}.id", "must be a non-empty string")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"{where}.function.name", "must be a non-empty string")
        args = fn.get("arguments")
        if args is None or args == "":
            parsed: Any = {}
        elif isinstance(args, str):
            try:
                parsed = loads(args)
            except ValueError:
                raise _bad(f"{where}.function.arguments", "is not valid JSON") from None
        else:
            parsed = args
        if not isinstance(parsed, dict):
            raise _bad(f"{where}.function.arguments", "must be a JSON object")
        real_id, signature = split_signature(call_id)
        calls.append(ToolCall(id=real_id, name=name, arguments=parsed, signature=signature))
    return tuple(calls)


def _reasoning_blocks(m: Mapping[str, Any], param: str) -> tuple[ReasoningBlock, ...]:
    blocks = m.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:  # signed blocks (LiteLLM's field) win
        out = []
        for j, b in enumerate(blocks):
            if not isinstance(b, dict):
                raise _bad(f"{param}.thinking_blocks[{j}]", "must be an object")
            if b.get("type") == "redacted_thinking":
                data = _string(b.get("data"), f"{param}.thinking_blocks[{j}].data")
                out.append(ReasoningBlock(redacted_data=data))
            else:
                text = b.get("thinking") or ""
                sig = b.get("signature")
                if not isinstance(text, str) or not (sig is None or isinstance(sig, str)):
                    raise _bad(f"{param}.thinking_blocks[{j}]", "thinking and signature: strings")
                out.append(ReasoningBlock(text=text, signature=sig))
        return tuple(out)
    text = m.get("reasoning_content")
    if text is None or text == "":
        return ()
    return (ReasoningBlock(text=_string(text, f"{param}.reasoning_content")),)


def _message(m: Any, i: int, talk: bool) -> Message:
    if not isinstance(m, dict):
        raise _bad(f"messages[{i}]", "must be an object")
    role = m.get("role")
    name = m.get("name")
    content = m.get("content")
    if role == "user" and type(content) is str and name is None:
        return Message(role="user", content=content)  # the common turn: nothing to check
    param = f"messages[{i}]"
    if name is not None and not isinstance(name, str):
        raise _bad(f"{param}.name", "must be a string")
    where = f"{param}.content"
    if role in ("system", "developer"):
        if content is None:
            raise _bad(where, f"a {role} message needs content")
        text = _text_parts(content, where)
        # A system turn after the conversation started is kept where it is, as a user turn:
        # most providers take system text only at the top.
        return Message(role="user" if talk else "system", content=text, name=name)
    if role == "user":
        if content is None:
            raise _bad(where, "a user message needs content")
        return Message(role="user", content=_user_parts(content, where), name=name)
    if role == "assistant":
        if m.get("function_call") is not None:
            raise _bad(f"{param}.function_call", "the deprecated function_call: use tool_calls")
        return Message(
            role="assistant",
            content=None if content is None else _text_parts(content, where, refusal=True),
            tool_calls=_tool_calls(m.get("tool_calls"), f"{param}.tool_calls"),
            name=name,
            reasoning=_reasoning_blocks(m, param),
        )
    if role == "tool":
        call_id = m.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{param}.tool_call_id", "a tool message needs tool_call_id")
        return Message(
            role="tool",
            content="" if content is None else _text_parts(content, where),
            tool_call_id=split_signature(call_id)[0],
        )
    if role == "function":
        raise _bad(f"{param}.role", "the deprecated 'function' role: use 'tool' messages")
    raise _bad(f"{param}.role", "must be system, developer, user, assistant or tool")


def _messages(raw: Any) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise _bad("messages", "must be a non-empty list of messages")
    out = []
    talk = False
    for i, m in enumerate(raw):
        msg = _message(m, i, talk)
        talk = talk or msg.role != "system"
        out.append(msg)
    return tuple(out)


def _tools(raw: Any) -> tuple[Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad("tools", "must be a list of tools")
    out = []
    for i, t in enumerate(raw):
        param = f"tools[{i}]"
        if not isinstance(t, dict):
            raise _bad(param, "must be an object")
        if t.get("type", "function") != "function":
            raise _bad(f"{param}.type", f"only function tools are supported, got {t.get('type')!r}")
        fn = t.get("function")
        if not isinstance(fn, dict):
            raise _bad(f"{param}.function", "must be an object")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"{param}.function.name", "must be a non-empty string")
        desc = fn.get("description")
        if desc is not None and not isinstance(desc, str):
            raise _bad(f"{param}.function.description", "must be a string")
        params = fn.get("parameters")
        if params is None:
            params = {"type": "object", "properties": {}}
        if not isinstance(params, dict) or params.get("type") != "object":
            raise _bad(f"{param}.function.parameters", 'must be a JSON schema {"type": "object"}')
        strict = fn.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise _bad(f"{param}.function.strict", "must be a boolean")
        out.append(Tool(name=name, description=desc, parameters=params, strict=strict))
    return tuple(out)


def _tool_choice(raw: Any, tools: tuple[Tool, ...]) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        if raw == "required" and not tools:
            raise _bad("tool_choice", "'required' needs tools")
        return ToolChoice(mode=raw)
    fn = raw.get("function") if isinstance(raw, dict) else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str):
        raise _bad("tool_choice", 'must be auto, none, required or {"type": "function", ...}')
    if name not in {t.name for t in tools}:
        raise _bad("tool_choice", f"names tool {name!r} which is not in tools")
    return ToolChoice(mode="tool", name=name)


def _response_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)
    if kind != "json_schema":
        raise _bad("response_format.type", "must be text, json_object or json_schema")
    spec = raw.get("json_schema")
    if not isinstance(spec, dict):
        raise _bad("response_format.json_schema", "must be an object")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise _bad("response_format.json_schema.name", "must be a non-empty string")
    schema = spec.get("schema")
    if schema is None:
        schema = {"type": "object"}
    if not isinstance(schema, dict):
        raise _bad("response_format.json_schema.schema", "must be a JSON schema object")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _bad("response_format.json_schema.strict", "must be a boolean")
    return ResponseFormat(type="json_schema", schema=schema, name=name, strict=strict)


def _effort(value: Any, param: str) -> str:
    if value not in _EFFORTS:
        raise _bad(param, f"must be one of {', '.join(_EFFORTS)}")
    return str(value)


def _reasoning(body: Mapping[str, Any]) -> ReasoningConfig | None:
    effort = body.get("reasoning_effort")
    if effort is not None:
        return ReasoningConfig(effort=_effort(effort, "reasoning_effort"))
    raw = body.get("reasoning")  # OpenRouter/LiteLLM style: {"effort", "max_tokens"}
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _bad("reasoning", "must be an object with effort and/or max_tokens")
    out_effort = None if raw.get("effort") is None else _effort(raw["effort"], "reasoning.effort")
    budget = raw.get("max_tokens", raw.get("budget_tokens"))
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget < 0
    ):
        raise _bad("reasoning.max_tokens", "must be a non-negative integer")
    if out_effort is None and budget is None:
        return None if raw.get("enabled") is not True else ReasoningConfig(effort="medium")
    return ReasoningConfig(effort=out_effort, budget_tokens=budget)


def _max_tokens(body: Mapping[str, Any], limit: int | None) -> int | None:
    name = (
        "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    )
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(name, "must be a positive integer")
    return min(value, limit) if limit else value


def _stop(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw) and len(raw) <= 4:
        return list(raw)
    raise _bad("stop", "must be a string or a list of up to 4 strings")


def _check_unsupported(body: Mapping[str, Any]) -> None:
    """The parameters the gateway refuses rather than ignore."""
    n = body.get("n")
    if n is not None and n != 1:
        raise _bad("n", "only n=1 is supported")
    if body.get("functions") is not None or body.get("function_call") is not None:
        raise _bad("functions", "the deprecated functions/function_call: use tools/tool_choice")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise _bad("modalities", "only text output is supported")
    if body.get("audio") is not None:
        raise _bad("audio", "audio output is not supported")


def parse_chat(body: Any, target_of: Callable[[str], Target]) -> ChatCall:
    """Check ``body`` and build the call; ``target_of(model)`` says what the target takes."""
    if not isinstance(body, dict):
        raise _bad("body", "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "must be a non-empty string")
    plain = body.keys() <= _PLAIN_KEYS
    if not plain:
        _check_unsupported(body)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream", "must be a boolean")
    stream_options = body.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise _bad("stream_options", "must be an object")
        include_usage = stream_options.get("include_usage") is True
    if plain:
        target = target_of(model)
        options: dict[str, Any] = {"messages": _messages(body.get("messages"))}
        max_tokens = _max_tokens(body, target.max_output_tokens)
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        return ChatCall(model=model, stream=bool(stream), include_usage=include_usage,
                        target=target, options=options)  # fmt: skip
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "must be a string")
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise _bad("metadata", "must be an object of string values")
    target = target_of(model)
    messages = _messages(body.get("messages"))
    tools = _tools(body.get("tools"))
    options = {"messages": messages}
    if tools:
        options["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"), tools)
    if choice is not None:
        options["tool_choice"] = choice
    for name, value in (
        ("temperature", _number(body, "temperature", 0, 2)),
        ("top_p", _number(body, "top_p", 0, 1)),
        ("max_tokens", _max_tokens(body, target.max_output_tokens)),
        ("stop", _stop(body.get("stop"))),
        ("response_format", _response_format(body.get("response_format"))),
        ("reasoning", _reasoning(body)),
        ("user", user),
        ("metadata", dict(metadata) if metadata else None),
    ):
        if value is not None:
            options[name] = value
    if target.openai_format:
        extra = {k: body[k] for k in _OPENAI_ONLY if body.get(k) is not None}
        if extra:
            options["extra_body"] = extra
    return ChatCall(
        model=model, stream=bool(stream), include_usage=include_usage, target=target,
        options=options,
    )  # fmt: skip
