"""Token counts offline: OpenAI's tokenizers, and the input tokens of a chat request.

``get_encoding("o200k_base").count(text)`` counts text exactly as tiktoken does
(:mod:`llmswitch.catalog._tokens`); :func:`count_request` counts a whole request as the
API bills it, and labels what it returns (:class:`~llmswitch.catalog.TokenCount`).

The chat framing follows OpenAI's cookbook (``num_tokens_from_messages`` in "How to count
tokens with tiktoken"), which matches the API's ``prompt_tokens`` for text messages:

- each message costs 3 tokens of framing (``<|start|>{role}<|message|>...<|end|>``)
  plus its role and content; a ``name`` adds its tokens + 1;
- the reply is primed with 3 more (``<|start|>assistant<|message|>``);
- ``gpt-3.5-turbo-0301`` alone used 4 per message and -1 per name.

So a request of text messages (and ``system``) is counted exactly. What the cookbook
does not pin down is approximated, and the count then says ``exact=False``:

- tools: the cookbook's ``num_tokens_for_tools`` (per function 7 tokens on o200k models,
  10 on cl100k ones, ``name:description``, 3 for the properties and 3 + ``name:type:
  description`` per property, enums 3 per item - 3, 12 at the end); nested schemas,
  ``required`` and ``strict`` are not counted;
- images: 85 tokens at ``detail="low"``, else 765 (a 1024x1024 image at high detail:
  85 + 4 tiles of 170), whatever their real size;
- assistant tool calls: the name and the JSON arguments plus 3; tool results, several
  content parts and a JSON schema response format: their text as counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._json import dumps_str
from ..messages import ChatRequest, ImagePart, Message
from ._estimate import TokenCount
from ._tokens import (
    ENCODINGS,
    Encoding,
    EncodingName,
    encoding_name_for_model,
    get_encoding,
    is_loaded,
)

__all__ = [
    "ENCODINGS",
    "Encoding",
    "EncodingName",
    "TokenCount",
    "count_chat",
    "count_request",
    "encoding_for_request",
    "encoding_name_for_model",
    "get_encoding",
    "is_loaded",
]

# What a count of a model no OpenAI tokenizer covers is estimated with: o200k_base is
# within ~10-20 % of Llama 3, Mistral, Qwen, Claude and Gemini counts on English and
# code, far closer than characters / 4 on other scripts.
ESTIMATE_ENCODING: EncodingName = "o200k_base"

_REPLY_PRIMING = 3
_IMAGE_LOW, _IMAGE_HIGH = 85, 765
_TOOL_CALL = 3
# num_tokens_for_tools: per function start, per properties block, per property,
# enum start (negative), per enum item, end of the tools block.
_FUNC_INIT = {"o200k_base": 7, "cl100k_base": 10}
_PROP_INIT, _PROP_KEY, _ENUM_INIT, _ENUM_ITEM, _FUNC_END = 3, 3, -3, 3, 12


def count_request(request: ChatRequest, *, openai_wire: bool = True) -> TokenCount:
    """Input tokens of ``request``, offline. An OpenAI model (``gpt-4o``, ``o3``,
    ``gpt-4``... by :func:`encoding_name_for_model`) sent over OpenAI's wire
    (``openai_wire``: OpenAI, Azure, OpenAI-compatible servers) is counted with its
    tokenizer (``method="tokenizer"``; ``exact`` unless tools, images or tool calls needed
    the approximations above); any other model is estimated with o200k_base
    (``method="estimate"``, ``exact=False``)."""
    name = encoding_name_for_model(request.model) if openai_wire else None
    if name is None:
        tokens, _ = count_chat(request, get_encoding(ESTIMATE_ENCODING))
        return TokenCount(tokens, method="estimate", exact=False)
    tokens, exact = count_chat(request, get_encoding(name))
    return TokenCount(tokens, method="tokenizer", exact=exact)


def encoding_for_request(request: ChatRequest, *, openai_wire: bool = True) -> EncodingName:
    """The encoding :func:`count_request` uses for ``request``."""
    name = encoding_name_for_model(request.model) if openai_wire else None
    return ESTIMATE_ENCODING if name is None else name


def count_chat(request: ChatRequest, encoding: Encoding) -> tuple[int, bool]:
    """``(tokens, exact)`` of ``request``'s input on ``encoding``: messages, system,
    tools and a response schema. ``exact`` is False when an approximation was used."""
    legacy = request.model.startswith("gpt-3.5-turbo-0301")
    per_message, per_name = (4, -1) if legacy else (3, 1)
    count = encoding.count
    total, exact = _REPLY_PRIMING, True
    if request.system:
        total += per_message + count("system") + count(request.system)
    for message in request.messages:
        tokens, plain = _message(message, encoding, per_message, per_name)
        total += tokens
        exact = exact and plain
    if request.tools:
        total += _tools(request, encoding)
        exact = False
    schema = request.response_format.schema if request.response_format is not None else None
    if schema is not None:
        total += count(dumps_str(schema))
        exact = False
    return total, exact


def _message(
    message: Message, encoding: Encoding, per_message: int, per_name: int
) -> tuple[int, bool]:
    count = encoding.count
    total = per_message + count(message.role)
    exact = message.role != "tool" and not message.tool_calls
    content = message.content
    if isinstance(content, str):
        total += count(content)
    elif content:
        exact = exact and len(content) == 1
        for part in content:
            if isinstance(part, ImagePart):
                total += _IMAGE_LOW if part.detail == "low" else _IMAGE_HIGH
                exact = False
            else:
                total += count(part.text)
    if message.name is not None:
        total += count(message.name) + per_name
    for call in message.tool_calls:
        total += _TOOL_CALL + count(call.name) + count(dumps_str(call.arguments))
    return total, exact


def _tools(request: ChatRequest, encoding: Encoding) -> int:
    count = encoding.count
    total = _FUNC_END
    for tool in request.tools:
        total += _FUNC_INIT.get(encoding.name, 7)
        total += count(f"{tool.name}:{(tool.description or '').removesuffix('.')}")
        properties = tool.parameters.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            continue
        total += _PROP_INIT
        for key, spec in properties.items():
            total += _PROP_KEY
            spec = spec if isinstance(spec, Mapping) else {}
            enum: Any = spec.get("enum")
            if isinstance(enum, list):
                total += _ENUM_INIT + sum(_ENUM_ITEM + count(str(item)) for item in enum)
            description = str(spec.get("description", "")).removesuffix(".")
            total += count(f"{key}:{spec.get('type', '')}:{description}")
    return total
