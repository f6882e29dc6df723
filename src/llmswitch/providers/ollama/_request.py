"""ChatRequest/EmbedRequest -> Ollama native HTTP requests (docs/providers.md §2, §7)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import _json
from ...errors import ConfigurationError
from ...messages import ChatRequest, EmbedRequest, ImagePart, Message, ReasoningConfig, TextPart
from ...wire import HttpRequest
from .._common import (
    add_sampling,
    function_spec,
    http_get,
    http_post,
    merge_extra_body,
    request_headers,
)
from ..base import Endpoint

__all__ = [
    "build_body",
    "build_embed_request",
    "build_request",
    "get_request",
    "pull_request",
    "show_request",
]

# Ollama's think levels are low/medium/high (newer servers add more); other efforts map
# to the nearest. "medium" goes as ``true``: the same thing on gpt-oss (its default
# level), and the only form servers from before think levels accept.
_THINK: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": True,
    "high": "high",
    "xhigh": "high",
    "max": "high",
}


def _think(reasoning: ReasoningConfig) -> bool | str | None:
    if reasoning.effort is not None:
        return _THINK.get(reasoning.effort, True)
    if reasoning.budget_tokens is not None:
        return reasoning.budget_tokens > 0  # Ollama takes no budget: on or off
    return None


def _text(m: Message, where: str) -> str:
    """A message's content as the one string Ollama takes; images are not allowed here."""
    content = m.content
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, p in enumerate(content):
        if not isinstance(p, TextPart):
            raise ConfigurationError(
                f"{where}.content[{j}]: images are only allowed in user messages",
                field=f"{where}.content[{j}]",
            )
        texts.append(p.text)
    return "\n".join(texts)


def _user(m: Message, where: str) -> dict[str, Any]:
    content = m.content
    if content is None or isinstance(content, str):
        return {"role": "user", "content": content or ""}
    texts: list[str] = []
    images: list[str] = []
    for j, p in enumerate(content):
        if isinstance(p, ImagePart):
            data = p.data
            if data is None:
                field = f"{where}.content[{j}].image_url.url"
                raise ConfigurationError(
                    f"{field}: Ollama needs the image bytes, not a URL: download it and pass "
                    "a data: URL (data:image/png;base64,...)",
                    field=field,
                )
            images.append(data)  # raw base64, without the data: prefix
        else:
            texts.append(p.text)
    out: dict[str, Any] = {"role": "user", "content": "\n".join(texts)}
    if images:
        out["images"] = images
    return out


def _messages(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    # Tool results carry the tool's name, which only the earlier call knows. Later calls
    # win: servers that send no ids get call ids from us, fresh per answer.
    names: dict[str, str] = {}
    for i, m in enumerate(request.messages):
        where = f"messages[{i}]"
        role = m.role
        if role == "user":
            out.append(_user(m, where))
        elif role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": _text(m, where)}
            thinking = "".join(b.text for b in m.reasoning)
            if thinking:
                msg["thinking"] = thinking
            if m.tool_calls:
                calls = []
                for c in m.tool_calls:
                    names[c.id] = c.name
                    calls.append(
                        {"id": c.id, "function": {"name": c.name, "arguments": c.arguments}}
                    )
                msg["tool_calls"] = calls
            out.append(msg)
        elif role == "tool":
            msg = {"role": "tool", "content": _text(m, where)}
            name = names.get(m.tool_call_id or "") or m.name
            if name:
                msg["tool_name"] = name
            if m.tool_call_id:
                msg["tool_call_id"] = m.tool_call_id
            out.append(msg)
        else:
            out.append({"role": "system", "content": _text(m, where)})
    return out


def _tools(request: ChatRequest) -> list[dict[str, Any]] | None:
    choice = request.tool_choice
    if choice is not None and choice.mode in ("required", "tool"):
        wanted = f"tool {choice.name!r}" if choice.mode == "tool" else "a tool call"
        raise ConfigurationError(
            f"tool_choice: Ollama cannot force {wanted} (it has no tool_choice); use "
            "tool_choice='auto' and ask for the tool in the prompt",
            field="tool_choice",
            provider=request.provider,
            model=request.model,
        )
    if not request.tools or (choice is not None and choice.mode == "none"):
        return None  # "none": the model cannot call what it is not offered
    return [{"type": "function", "function": function_spec(t)} for t in request.tools]


def _split_extra(extra: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``extra_body`` -> (top-level fields, Ollama ``options``). ``options`` is merged key
    by key, not replaced; a top-level ``seed`` (OpenAI's place for it) goes to options."""
    if not extra:
        return {}, {}
    top = dict(extra)
    if "options" in top and top["options"] is None:
        return top, {}  # None removes the whole field, as for any other key
    options = top.pop("options", None) or {}
    if not isinstance(options, Mapping):
        raise ConfigurationError(
            "extra_body.options must be a dict of Ollama options", field="extra_body.options"
        )
    options = dict(options)
    if "seed" in top:
        options.setdefault("seed", top.pop("seed"))
    return top, options


def build_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request)}
    tools = _tools(request)
    if tools:
        body["tools"] = tools
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        body["format"] = "json" if fmt.type == "json_object" else dict(fmt.schema or {})
    if request.reasoning is not None:
        think = _think(request.reasoning)
        if think is not None:
            body["think"] = think
    options: dict[str, Any] = {}
    add_sampling(options, request, top_p="top_p", max_tokens="num_predict", stop="stop")
    top, extra_options = _split_extra(request.extra_body)
    merge_extra_body(options, extra_options)
    if options:
        body["options"] = options
    body["stream"] = stream  # Ollama streams unless told otherwise
    merge_extra_body(body, top)
    return body


def build_request(request: ChatRequest, endpoint: Endpoint, *, stream: bool) -> HttpRequest:
    headers = request_headers(endpoint, request.extra_headers)
    if stream:
        headers["accept"] = "application/x-ndjson"
    # (method, url, headers, body) positionally: see openai/_request.py's build_request.
    body = _json.dumps(build_body(request, stream=stream))
    return HttpRequest("POST", endpoint.url("/api/chat"), headers, body)


def build_embed_request(request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
    # No input_type: Ollama has no retrieval hint (models that want a prefix such as
    # nomic-embed-text's "search_query: " take it in the text itself).
    body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    top, options = _split_extra(request.extra_body)
    if options:
        body["options"] = options
    merge_extra_body(body, top)  # truncate, keep_alive
    return http_post(request, endpoint, endpoint.url("/api/embed"), body)


def get_request(endpoint: Endpoint, path: str) -> HttpRequest:
    return http_get(endpoint, endpoint.url(path))


def show_request(endpoint: Endpoint, model: str) -> HttpRequest:
    return HttpRequest(
        method="POST",
        url=endpoint.url("/api/show"),
        headers=endpoint.request_headers(),
        body=_json.dumps({"model": model}),
    )


def pull_request(endpoint: Endpoint, model: str, *, insecure: bool = False) -> HttpRequest:
    body: dict[str, Any] = {"model": model, "stream": True}
    if insecure:
        body["insecure"] = True
    headers = endpoint.request_headers()
    headers["accept"] = "application/x-ndjson"
    return HttpRequest(
        method="POST", url=endpoint.url("/api/pull"), headers=headers, body=_json.dumps(body)
    )
