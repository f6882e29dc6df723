"""Embeddings through ``POST /model/{modelId}/invoke`` with each family's native body
(docs/providers.md §7; Converse has no embeddings).

- **Titan text** (``amazon.titan-embed-text-v1``, ``-v2:0``, ``amazon.titan-embed-g1-text-02``,
  and the text input of ``amazon.titan-embed-image-v1``): one text per call,
  ``{"inputText": ...}`` -> ``{"embedding": [...], "inputTextTokenCount": N}``. v2 takes
  ``dimensions`` (256, 512 or 1024) and ``normalize`` (via ``extra_body``).
- **Cohere** (``cohere.embed-english-v3``, ``-multilingual-v3``, ``cohere.embed-v4:0``): up
  to 96 texts per call, ``{"texts": [...], "input_type": ...}`` -> ``{"embeddings":
  [[...], ...]}`` (or ``{"embeddings": {"float": [...]}}`` when types are asked for). Our
  ``input_type`` "query"/"document" maps to ``search_query``/``search_document`` (the
  default); Cohere's own names pass through. v4 takes ``output_dimension``.

Batch sizes differ per family, so the adapter answers :func:`batch_size` per model.
Token counts come from the body (Titan) or the ``X-Amzn-Bedrock-Input-Token-Count``
header Bedrock adds to every InvokeModel response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._json import dumps
from ...messages import EmbeddingResponse, EmbedRequest
from ...wire import HttpRequest, HttpResponse
from .._common import int_or_none, merge_extra_body, request_error, request_headers
from .._shape import embedding_response, load_json
from ..base import Endpoint
from ._endpoint import quote_model
from ._errors import malformed
from ._request import base_model_id

__all__ = [
    "COHERE_BATCH_SIZE",
    "COHERE_INPUT_TYPES",
    "TITAN_V2_DIMENSIONS",
    "batch_size",
    "build_embed_body",
    "build_embed_request",
    "family",
    "parse_embed_response",
]

COHERE_BATCH_SIZE = 96
TITAN_V2_DIMENSIONS = (256, 512, 1024)
COHERE_V4_DIMENSIONS = (256, 512, 1024, 1536)
COHERE_INPUT_TYPES = {
    None: "search_document",
    "document": "search_document",
    "query": "search_query",
    "search_document": "search_document",
    "search_query": "search_query",
    "classification": "classification",
    "clustering": "clustering",
}


def family(model: str) -> str | None:
    """``"titan"``, ``"cohere"`` or ``None`` for a model we do not know how to embed with."""
    base = base_model_id(model)
    if base.startswith("amazon.titan-embed"):
        return "titan"
    if base.startswith("cohere.embed"):
        return "cohere"
    return None


def batch_size(model: str) -> int:
    return COHERE_BATCH_SIZE if family(model) == "cohere" else 1


def _check_dimensions(
    request: EmbedRequest, marker: str, name: str, allowed: tuple[int, ...]
) -> None:
    """Only the model generation whose id holds ``marker`` takes ``dimensions``, and
    only the sizes ``allowed``."""
    if marker not in base_model_id(request.model):
        raise request_error(request, "dimensions", f"only {name} takes dimensions")
    if request.dimensions not in allowed:
        sizes = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
        raise request_error(
            request, "dimensions", f"{name} takes {sizes}, got {request.dimensions}"
        )


def _titan(request: EmbedRequest) -> dict[str, Any]:
    if len(request.inputs) != 1:  # the provider layer batches by batch_size(): 1
        raise request_error(request, "input", "Titan embeds one text per request")
    body: dict[str, Any] = {"inputText": request.inputs[0]}
    if request.dimensions is not None:
        _check_dimensions(request, "text-v2", "Titan Text Embeddings V2", TITAN_V2_DIMENSIONS)
        body["dimensions"] = request.dimensions
    return body


def _cohere(request: EmbedRequest) -> dict[str, Any]:
    input_type = COHERE_INPUT_TYPES.get(request.input_type)
    if input_type is None:
        raise request_error(
            request,
            "input_type",
            f"Cohere on Bedrock takes query or document (or search_query, search_document, "
            f"classification, clustering), got {request.input_type!r}",
        )
    body: dict[str, Any] = {"texts": list(request.inputs), "input_type": input_type}
    if request.dimensions is not None:
        _check_dimensions(request, "embed-v4", "Cohere Embed v4", COHERE_V4_DIMENSIONS)
        body["output_dimension"] = request.dimensions
    return body


def build_embed_body(request: EmbedRequest) -> dict[str, Any]:
    kind = family(request.model)
    if kind == "titan":
        body = _titan(request)
    elif kind == "cohere":
        body = _cohere(request)
    else:
        raise request_error(
            request,
            "model",
            "llmswitch embeds on Bedrock with Amazon Titan text (amazon.titan-embed-*) and "
            "Cohere (cohere.embed-*) models",
        )
    return merge_extra_body(body, request.extra_body)


def build_embed_request(request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
    headers = request_headers(endpoint, request.extra_headers)
    headers.setdefault("accept", "application/json")
    return HttpRequest(
        method="POST",
        url=endpoint.url(f"/model/{quote_model(request.model)}/invoke"),
        headers=headers,
        body=dumps(build_embed_body(request)),
    )


def _vectors(data: Mapping[str, Any]) -> Any:
    if "embedding" in data:  # Titan
        return [data["embedding"]]
    embeddings = data.get("embeddings")
    if isinstance(embeddings, Mapping):  # Cohere with embedding_types
        embeddings = embeddings.get("float")
    return embeddings


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def parse_embed_response(request: EmbedRequest, response: HttpResponse) -> EmbeddingResponse:
    data = load_json(response.body, malformed, None, "embedding body is not JSON")
    raw = _vectors(data) if isinstance(data, dict) else None
    try:
        if not isinstance(raw, list) or not all(isinstance(v, list) and v for v in raw):
            raise TypeError("not a list of vectors")
        # float() also turns the integers a JSON writer may print for whole numbers.
        vectors = [list(map(float, v)) for v in raw]
    except (TypeError, ValueError):
        raise malformed(None, "expected float embeddings", response.body) from None
    tokens = int_or_none(data.get("inputTextTokenCount"))
    if tokens is None:
        tokens = _header_int(response.headers, "x-amzn-bedrock-input-token-count")
    return embedding_response(request, vectors, data, tokens)
