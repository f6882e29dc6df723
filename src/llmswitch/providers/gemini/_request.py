"""ChatRequest -> ``POST /v1beta/models/{model}:generateContent`` body (docs/providers.md
§2), and the requests for streaming, countTokens, batchEmbedContents and the model list.

Mapping decisions worth knowing:

- **System**: ``request.system`` then every system-role message, in order, become the
  parts of ``systemInstruction`` (text only).
- **Turns**: roles ``user``/``model``; tool results are ``functionResponse`` parts of a
  user turn; consecutive same-role turns are merged (Gemini expects alternation) and
  function responses go first in their user turn.
- **Tool calls** go back as ``functionCall`` parts with their ``thoughtSignature``
  (``ToolCall.signature``) exactly as received: Gemini 3 rejects function-calling history
  without them. Ids we synthesized (:data:`SYNTHETIC_ID_PREFIX`) are not Gemini's and are
  omitted, in the call and in its ``functionResponse``.
- **Tool results**: the function ``name`` is that of the earlier call with the same id;
  a JSON-object string is sent as the object, anything else as ``{"result": <text>}``
  (``response`` must be an object).
- **Thinking text** from earlier turns is not sent back (Gemini does not need it), and
  neither are signatures of reasoning blocks: they may come from another provider.
- **Images**: ``data:`` URLs -> ``inlineData``; http(s) URLs -> ``fileData`` with the
  MIME type guessed from the file extension (:data:`IMAGE_MIME_BY_EXTENSION`).
- **Thinking config**: ``budget_tokens`` -> ``thinkingBudget``; an effort -> ``thinkingLevel``
  on Gemini 3+ models, else a budget (:data:`EFFORT_BUDGETS`); ``includeThoughts`` is on
  whenever reasoning is requested (off for ``"none"``/0).
- ``extra_body`` is merged last; a dict value is merged one level deep into ours
  (``{"generationConfig": {"topK": 40}}`` keeps the mapped temperature).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from ..._json import loads
from ...errors import ConfigurationError
from ...messages import ChatRequest, EmbedRequest, ImagePart, Message, TextPart
from ...wire import HttpRequest
from .._common import (
    add_sampling,
    collect_turns,
    content_blocks,
    http_get,
    http_post,
    merge_extra_body,
    request_error,
)
from .._schema import adapted, gemini_subset
from ..base import Endpoint

__all__ = [
    "EFFORT_BUDGETS",
    "EFFORT_LEVELS",
    "IMAGE_MIME_BY_EXTENSION",
    "MODELS_PAGE_SIZE",
    "SYNTHETIC_ID_PREFIX",
    "TASK_TYPES",
    "build_body",
    "build_request",
    "count_tokens_request",
    "embed_request",
    "health_request",
    "model_resource",
    "models_request",
    "resource_name",
    "task_type",
]

# Ids we make up for function calls Gemini sent without one. They must never reach
# Gemini: it would look for a call with that id.
SYNTHETIC_ID_PREFIX = "llmswitch_"
MODELS_PAGE_SIZE = 1000

IMAGE_MIME_BY_EXTENSION = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "gif": "image/gif",
}

# Gemini 3+ takes a thinking level; older models a token budget.
EFFORT_LEVELS = {
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "XHIGH",
    "max": "XHIGH",
}
# Within every Gemini 2.5 model's range (Flash-Lite 512..24576, Flash 0..24576,
# Pro 128..32768); Pro gets its larger maximum for xhigh/max.
EFFORT_BUDGETS = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 24576,
    "max": 24576,
}
_PRO_MAX_BUDGET = 32768

# embedContent task types (docs/providers.md §7); other upper-case values pass through unchanged.
TASK_TYPES = frozenset(
    {"RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY", "CLASSIFICATION",
     "CLUSTERING", "CODE_RETRIEVAL_QUERY", "QUESTION_ANSWERING", "FACT_VERIFICATION"}
)  # fmt: skip
_TASK_ALIASES = {
    "query": "RETRIEVAL_QUERY",
    "search_query": "RETRIEVAL_QUERY",
    "document": "RETRIEVAL_DOCUMENT",
    "search_document": "RETRIEVAL_DOCUMENT",
}

_MAJOR_VERSION = re.compile(r"gemini-(\d+)")

Block = dict[str, Any]


def resource_name(model: str) -> str:
    """``gemini-2.5-flash`` -> ``models/gemini-2.5-flash``; ``tunedModels/...`` stays."""
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


@lru_cache(maxsize=256)  # on every request; quote() costs ~2.5 us, a hit ~0.1
def model_resource(model: str) -> str:
    """The resource name URL-quoted for a path (a ``:`` in a model name must not turn
    into a method)."""
    return quote(resource_name(model), safe="/")


# --------------------------------------------------------------------------- content


def _image(request: ChatRequest, part: ImagePart, where: str) -> Block:
    if part.is_data_url:
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    path = urlsplit(part.url).path
    ext = path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
    mime = IMAGE_MIME_BY_EXTENSION.get(ext)
    if mime is None:
        raise request_error(
            request,
            f"{where}.image_url.url",
            "cannot tell the image type from the URL (Gemini needs it): use a URL ending in "
            f"{', '.join('.' + e for e in IMAGE_MIME_BY_EXTENSION)}, or a data: URL",
        )
    return {"fileData": {"mimeType": mime, "fileUri": part.url}}


def _user(request: ChatRequest, message: Message, where: str) -> list[Block]:
    return content_blocks(request, message.content, where, _image)


def _text_only(request: ChatRequest, message: Message, where: str, what: str) -> str:
    if isinstance(message.content, tuple):
        for j, part in enumerate(message.content):
            if not isinstance(part, TextPart):
                raise request_error(
                    request, f"{where}.content[{j}]", f"Gemini {what} take text only"
                )
    return message.text


def _assistant(request: ChatRequest, message: Message, where: str) -> list[Block]:
    out: list[Block] = []
    if isinstance(message.content, str):
        if message.content:
            out.append({"text": message.content})
    elif message.content:
        # Model turns carry text only (images are never model output): an image here is
        # an error, as on OpenAI and Ollama, not something to drop.
        _text_only(request, message, where, "model turns")
        out.extend({"text": p.text} for p in message.content if isinstance(p, TextPart) and p.text)
    for call in message.tool_calls:
        fc: Block = {"name": call.name, "args": call.arguments}
        if not call.id.startswith(SYNTHETIC_ID_PREFIX):
            fc["id"] = call.id
        part: Block = {"functionCall": fc}
        if call.signature:
            part["thoughtSignature"] = call.signature
        out.append(part)
    return out


def _tool_response(content: str) -> Block:
    if content.lstrip().startswith("{"):
        try:
            value = loads(content)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    return {"result": content}


def _function_response(
    request: ChatRequest, message: Message, where: str, names: Mapping[str, str]
) -> Block:
    call_id = message.tool_call_id or ""
    name = names.get(call_id) or message.name
    if not name:
        raise request_error(
            request,
            f"{where}.tool_call_id",
            f"no earlier assistant tool call has id {call_id!r} (Gemini needs the function name)",
        )
    fr: Block = {"name": name}
    if not call_id.startswith(SYNTHETIC_ID_PREFIX):
        fr["id"] = call_id
    fr["response"] = _tool_response(_text_only(request, message, where, "tool results"))
    return {"functionResponse": fr}


def _system(request: ChatRequest) -> Block | None:
    parts: list[Block] = []
    if request.system:
        parts.append({"text": request.system})
    for i, message in enumerate(request.messages):
        if message.role == "system":
            text = _text_only(request, message, f"messages[{i}]", "system instructions")
            if text:
                parts.append({"text": text})
    return {"parts": parts} if parts else None


def _contents(request: ChatRequest) -> list[Block]:
    names: dict[str, str] = {}  # tool call id -> function name, latest call wins

    def model(request: ChatRequest, message: Message, where: str) -> list[Block]:
        for call in message.tool_calls:
            names[call.id] = call.name
        return _assistant(request, message, where)

    def tool(request: ChatRequest, message: Message, where: str) -> list[Block]:
        return [_function_response(request, message, where, names)]

    turns = collect_turns(request, user=_user, assistant=model, tool=tool, assistant_role="model")
    out: list[Block] = []
    for turn_role, turn_parts in turns:
        if turn_role == "user" and len(turn_parts) > 1:
            # stable: function responses first, in their order, then the rest
            turn_parts.sort(key=lambda p: "functionResponse" not in p)
        out.append({"role": turn_role, "parts": turn_parts})
    return out


# --------------------------------------------------------------------------- options


def _uses_thinking_level(model: str) -> bool:
    match = _MAJOR_VERSION.search(model)
    return match is not None and int(match.group(1)) >= 3


def _thinking(request: ChatRequest) -> Block | None:
    r = request.reasoning
    if r is None:
        return None
    if r.budget_tokens is not None:
        budget = r.budget_tokens
        return {"thinkingBudget": budget, "includeThoughts": budget != 0}
    effort = r.effort
    if effort is None:
        return None
    level_model = _uses_thinking_level(request.model)
    if effort == "none":
        # Gemini 3 cannot switch thinking off; MINIMAL is the least it does.
        if level_model:
            return {"thinkingLevel": "MINIMAL", "includeThoughts": False}
        return {"thinkingBudget": 0, "includeThoughts": False}
    if level_model:
        level = EFFORT_LEVELS.get(effort)
        if level is None:
            raise request_error(request, "reasoning.effort", f"unknown effort {effort!r}")
        return {"thinkingLevel": level, "includeThoughts": True}
    by_effort = EFFORT_BUDGETS.get(effort)
    if by_effort is None:
        raise request_error(request, "reasoning.effort", f"unknown effort {effort!r}")
    if effort in ("xhigh", "max") and "-pro" in request.model:
        by_effort = _PRO_MAX_BUDGET
    return {"thinkingBudget": by_effort, "includeThoughts": True}


def _tool_config(request: ChatRequest) -> Block | None:
    choice = request.tool_choice
    if choice is None or not request.tools:
        return None
    if choice.mode == "tool":
        config: Block = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    else:
        config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.mode]}
    return {"functionCallingConfig": config}


def _generation_config(request: ChatRequest) -> Block:
    config: Block = {}
    add_sampling(config, request, top_p="topP", max_tokens="maxOutputTokens", stop="stopSequences")
    rf = request.response_format
    if rf is not None and rf.type != "text":
        config["responseMimeType"] = "application/json"
        if rf.type == "json_schema" and rf.schema is not None:
            # A Python type's schema: in responseJsonSchema's subset (_schema.py).
            schema = adapted(gemini_subset, rf.schema) if rf.from_type else rf.schema
            config["responseJsonSchema"] = dict(schema)
    thinking = _thinking(request)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def build_body(request: ChatRequest) -> Block:
    body: Block = {"contents": _contents(request)}
    system = _system(request)
    if system is not None:
        body["systemInstruction"] = system
    if request.tools:
        declarations = []
        for tool in request.tools:
            spec: Block = {"name": tool.name}
            if tool.description:
                spec["description"] = tool.description
            spec["parametersJsonSchema"] = dict(tool.parameters)
            declarations.append(spec)
        body["tools"] = [{"functionDeclarations": declarations}]
        tool_config = _tool_config(request)
        if tool_config is not None:
            body["toolConfig"] = tool_config
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    return merge_extra_body(body, request.extra_body)


def build_request(request: ChatRequest, endpoint: Endpoint, *, stream: bool) -> HttpRequest:
    method = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
    url = endpoint.url(f"/v1beta/{model_resource(request.model)}{method}", request.model)
    return http_post(request, endpoint, url, build_body(request))


def count_tokens_request(request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
    """``countTokens`` in its ``generateContentRequest`` form, so the system instruction and
    tool declarations are counted too (the bare ``contents`` form counts only turns)."""
    body = build_body(request)
    # Sampling and output settings do not change the prompt's size.
    body.pop("generationConfig", None)
    body["model"] = resource_name(request.model)
    url = endpoint.url(f"/v1beta/{model_resource(request.model)}:countTokens", request.model)
    return http_post(request, endpoint, url, {"generateContentRequest": body})


# --------------------------------------------------------------------------- embeddings


def task_type(value: str | None) -> str | None:
    """``input_type`` -> ``taskType``: ``query``/``document`` (and Cohere's
    ``search_query``/``search_document``), task names in any case, or an upper-case value
    passed through for task types newer than this table."""
    if value is None:
        return None
    alias = _TASK_ALIASES.get(value.lower())
    if alias is not None:
        return alias
    if value.upper() in TASK_TYPES or (value.isupper() and value.replace("_", "").isalnum()):
        return value.upper()
    raise ConfigurationError(
        f"input_type: unknown value {value!r} for Gemini (use query, document, or one of "
        f"{', '.join(sorted(TASK_TYPES))})",
        field="input_type",
    )


def embed_request(request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
    template: Block = {"model": resource_name(request.model)}
    kind = task_type(request.input_type)
    if kind is not None:
        template["taskType"] = kind
    if request.dimensions is not None:
        template["outputDimensionality"] = request.dimensions
    if request.extra_body:
        template.update(request.extra_body)  # per-request options such as "title"
    items = [{**template, "content": {"parts": [{"text": text}]}} for text in request.inputs]
    url = endpoint.url(f"/v1beta/{model_resource(request.model)}:batchEmbedContents", request.model)
    return http_post(request, endpoint, url, {"requests": items})


# --------------------------------------------------------------------------- models


def _get(endpoint: Endpoint, path: str) -> HttpRequest:
    return http_get(endpoint, endpoint.url(path))


def models_request(endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
    path = f"/v1beta/models?pageSize={MODELS_PAGE_SIZE}"
    if cursor:
        path += f"&pageToken={quote(cursor, safe='')}"
    return _get(endpoint, path)


def health_request(endpoint: Endpoint) -> HttpRequest:
    """The smallest authenticated call: one model of the list."""
    return _get(endpoint, "/v1beta/models?pageSize=1")
