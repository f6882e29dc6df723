"""ChatRequest -> a Chat Completions HTTP request (docs/providers.md §2)."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from ... import _json
from ...errors import ConfigurationError
from ...messages import ChatRequest, ImagePart, Message, Part, ReasoningConfig, TextPart, ToolCall
from ...wire import HttpRequest
from .._common import add_sampling, function_spec, merge_extra_body, request_headers
from .._schema import adapted, openai_strict
from .._shape import RAW_ARGUMENTS_KEY
from ..base import Endpoint

__all__ = ["Flavor", "build_body", "build_request"]

Flavor: TypeAlias = Literal["openai", "azure", "compatible"]

_STREAM_OPTIONS = {"include_usage": True}


def _effort(reasoning: ReasoningConfig) -> str | None:
    if reasoning.effort is not None:
        return reasoning.effort
    budget = reasoning.budget_tokens
    if budget is None:
        return None
    # A budget of 0 asks for no thinking at all; models that cannot switch it off
    # reject "none" with a clear error instead of silently thinking anyway.
    if budget == 0:
        return "none"
    if budget <= 1024:
        return "low"
    return "medium" if budget <= 8192 else "high"


def _text_only(parts: tuple[Part, ...], where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, p in enumerate(parts):
        if not isinstance(p, TextPart):
            raise ConfigurationError(
                f"{where}.content[{j}]: only text parts are allowed in this message",
                field=f"{where}.content[{j}]",
            )
        out.append({"type": "text", "text": p.text})
    return out


def _user_parts(parts: tuple[Part, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, ImagePart):
            image: dict[str, Any] = {"url": p.url}
            if p.detail:
                image["detail"] = p.detail
            out.append({"type": "image_url", "image_url": image})
        else:
            out.append({"type": "text", "text": p.text})
    return out


def _arguments(call: ToolCall) -> str:
    args = call.arguments
    # A call whose arguments the model got wrong goes back exactly as it came.
    if len(args) == 1 and isinstance(args.get(RAW_ARGUMENTS_KEY), str):
        return args[RAW_ARGUMENTS_KEY]  # type: ignore[no-any-return]
    return _json.dumps_str(args)


def _message(m: Message, where: str) -> dict[str, Any]:
    role = m.role
    content = m.content
    out: dict[str, Any]
    if role == "user":
        out = {
            "role": "user",
            "content": content if isinstance(content, str) else _user_parts(content or ()),
        }
    elif role == "assistant":
        # Reasoning blocks are dropped: Chat Completions takes no thinking back.
        if isinstance(content, tuple):
            text: str | None = "".join(p["text"] for p in _text_only(content, where))
        else:
            text = content
        out = {"role": "assistant", "content": text if text or not m.tool_calls else None}
        if m.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": _arguments(c)},
                }
                for c in m.tool_calls
            ]
    elif role == "tool":
        # An empty result goes as "": the API rejects an empty content array.
        parts = None if isinstance(content, str) else _text_only(content or (), where)
        out = {"role": "tool", "tool_call_id": m.tool_call_id, "content": parts or content or ""}
    else:
        out = {
            "role": "system",
            "content": content if isinstance(content, str) else _text_only(content or (), where),
        }
    if m.name is not None and role != "tool":
        out["name"] = m.name
    return out


def build_body(request: ChatRequest, *, stream: bool, flavor: Flavor) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        # "system", not "developer": every model and every compatible server takes it.
        messages.append({"role": "system", "content": request.system})
    for i, m in enumerate(request.messages):
        if m.role == "user" and type(m.content) is str and m.name is None:
            messages.append({"role": "user", "content": m.content})  # the common turn
        else:
            messages.append(_message(m, f"messages[{i}]"))
    body: dict[str, Any] = {"model": request.model, "messages": messages}

    if request.tools:
        tools = []
        for t in request.tools:
            fn = function_spec(t)
            if t.strict is not None:
                fn["strict"] = t.strict
            tools.append({"type": "function", "function": fn})
        body["tools"] = tools
    choice = request.tool_choice
    if choice is not None:
        if choice.mode == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        else:
            body["tool_choice"] = choice.mode
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            schema = fmt.schema or {}
            if fmt.from_type:  # a Python type's schema: strict mode's rules (_schema.py)
                schema = adapted(openai_strict, schema)
            spec: dict[str, Any] = {"name": fmt.name or "response", "schema": dict(schema)}
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        else:
            body["response_format"] = {"type": fmt.type}
    if request.max_tokens is not None:
        # Reasoning models reject max_tokens; Ollama's /v1 ignores max_completion_tokens.
        body["max_tokens" if flavor == "compatible" else "max_completion_tokens"] = (
            request.max_tokens
        )
    if request.reasoning is not None:
        effort = _effort(request.reasoning)
        if effort is not None:
            body["reasoning_effort"] = effort
    if request.temperature is not None or request.top_p is not None or request.stop:
        add_sampling(body, request, top_p="top_p", stop="stop")
    if request.user is not None:
        body["user"] = request.user
    extra = request.extra_body
    # OpenAI rejects ``metadata`` unless ``store`` is on, and turning storage on behind
    # the caller's back would keep their conversations at the provider. So metadata
    # (which llmswitch also uses locally for usage tags) goes out only when the caller
    # opted into stored completions with extra_body={"store": True}.
    if request.metadata is not None and extra is not None and extra.get("store"):
        body["metadata"] = dict(request.metadata)
    if stream:
        body["stream"] = True
        body["stream_options"] = _STREAM_OPTIONS
    return merge_extra_body(body, extra) if extra else body


def build_request(
    request: ChatRequest, endpoint: Endpoint, *, stream: bool, flavor: Flavor = "openai"
) -> HttpRequest:
    extra = request.extra_headers
    headers = request_headers(endpoint, extra) if extra else endpoint.request_headers()
    if stream:
        headers.setdefault("accept", "text/event-stream")
    body = build_body(request, stream=stream, flavor=flavor)
    # (method, url, headers, body) positionally: every chat builds one, and a class call
    # with keywords packs them into a dict first (llmswitch._frozen's module docstring).
    return HttpRequest(
        "POST", endpoint.url("/chat/completions", request.model), headers, _json.dumps(body)
    )
