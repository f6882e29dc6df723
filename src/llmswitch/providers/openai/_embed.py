"""Embeddings over ``POST /embeddings`` for OpenAI, Azure and compatible servers
(docs/providers.md §7).

OpenAI and Azure are asked for ``encoding_format: "base64"`` (little-endian float32), as
the official SDK does by default: the body is about a quarter of the size of a JSON float
array and decoding it is a C loop instead of a float parse per number. Compatible servers
get ``"float"``: base64 came late or not at all there (vLLM mid-2024, llama.cpp Dec 2024,
Ollama's ``/v1`` only in recent releases; LM Studio, SGLang and older Ollama ignore the
field, a few servers reject it with a 400), while all of them speak ``"float"``. The parser
reads either form whatever was asked: a server that ignores the field answers in floats.
"""

from __future__ import annotations

import binascii
import sys
from array import array
from collections.abc import Mapping
from typing import Any

from ... import _json
from ...errors import ProviderError
from ...messages import EmbeddingResponse, EmbedRequest
from ...wire import HttpRequest, HttpResponse
from .._common import int_or_none, merge_extra_body
from .._shape import embedding_response
from ..base import Endpoint
from ._errors import error_from_payload, malformed, map_error
from ._request import Flavor

__all__ = [
    "EMBED_BATCH_SIZE",
    "build_embed_body",
    "build_embed_request",
    "decode_base64_vector",
    "embedding_support",
    "parse_embed_response",
]

# OpenAI rejects more than 2048 inputs in one request (so do current Azure API versions).
EMBED_BATCH_SIZE = 2048

_BIG_ENDIAN = sys.byteorder == "big"


def build_embed_body(request: EmbedRequest, *, flavor: Flavor) -> dict[str, Any]:
    # ``input_type`` has no OpenAI equivalent and is not sent; extra_body can add fields.
    body: dict[str, Any] = {"model": request.model, "input": request.inputs}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if request.user is not None:
        body["user"] = request.user
    body["encoding_format"] = "float" if flavor == "compatible" else "base64"
    # The caller's escape hatch wins; None removes a field we would have sent.
    return merge_extra_body(body, request.extra_body)


def build_embed_request(
    request: EmbedRequest, endpoint: Endpoint, *, flavor: Flavor
) -> HttpRequest:
    headers = endpoint.request_headers()
    if request.extra_headers:
        headers.update(request.extra_headers)
    return HttpRequest(
        method="POST",
        # Azure classic: /openai/deployments/{model}/embeddings?api-version=...
        url=endpoint.url("/embeddings", request.model),
        headers=headers,
        body=_json.dumps(build_embed_body(request, flavor=flavor)),
    )


def decode_base64_vector(data: str) -> list[float]:
    """Base64 of little-endian float32 values -> Python floats (what the SDK decodes to)."""
    raw = binascii.a2b_base64(data)
    if len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    values = array("f", raw)
    if _BIG_ENDIAN:  # array uses the machine's byte order; the wire is little-endian
        values.byteswap()
    return values.tolist()


def _named(request: EmbedRequest, exc: ProviderError) -> ProviderError:
    exc.provider = request.provider
    exc.model = request.model
    return exc


def _malformed(request: EmbedRequest, what: str, response: HttpResponse) -> ProviderError:
    return _named(request, malformed(None, what, response.body, response.status))


def parse_embed_response(request: EmbedRequest, response: HttpResponse) -> EmbeddingResponse:
    """The vectors in ``index`` order. ``request`` may hold more inputs than this response
    answers (the provider layer sends them in batches), so the count is not checked here;
    the indices must be exactly ``0..n-1``."""
    if response.status >= 300:
        raise _named(request, map_error(None, response))
    try:
        data = _json.loads(response.body)
    except ValueError:
        raise _malformed(request, "body is not valid JSON", response) from None
    if not isinstance(data, dict):
        raise _malformed(request, "body is not a JSON object", response)
    if data.get("error"):  # an error inside a 200
        err = error_from_payload(
            None, data["error"], status=None, headers=response.headers, body=response.body
        )
        raise _named(request, err)
    items = data.get("data")
    if not isinstance(items, list) or not items:
        raise _malformed(request, "no 'data' array of embeddings", response)

    vectors: list[list[float]] = []
    indices: list[int] = []
    try:
        for position, item in enumerate(items):
            embedding = item["embedding"]
            if isinstance(embedding, str):
                vector = decode_base64_vector(embedding)
            elif isinstance(embedding, list):
                # float() also turns the integers some servers write (Go prints 0.0 as 0).
                vector = list(map(float, embedding))
            else:
                raise TypeError("embedding is neither a list nor a base64 string")
            if not vector:  # also what non-alphabet base64 decodes to
                raise ValueError("empty embedding")
            vectors.append(vector)
            index = int_or_none(item.get("index"))
            indices.append(position if index is None else index)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # binascii.Error too
        raise _malformed(request, f"bad embedding in 'data': {exc}", response) from None
    expected = list(range(len(indices)))
    if indices != expected:
        # Servers may answer out of order; each item says where it belongs.
        order = sorted(expected, key=indices.__getitem__)
        if [indices[i] for i in order] != expected:
            raise _malformed(request, f"embedding indices {indices[:20]} are not 0..n-1", response)
        vectors = [vectors[i] for i in order]

    usage = data.get("usage")
    prompt = total = None
    if isinstance(usage, Mapping):
        prompt = int_or_none(usage.get("prompt_tokens"))
        total = int_or_none(usage.get("total_tokens"))
    model = data.get("model")
    model = model if isinstance(model, str) else None
    return embedding_response(request, vectors, data, prompt, total=total, model=model)


def embedding_support(item: Mapping[str, Any], model_id: str, known: bool) -> bool | None:
    """Whether a listed model embeds: Azure's ``capabilities.embeddings`` when given, else
    the ``embed`` in the names of OpenAI's and the common open embedding models
    (``text-embedding-3-small``, ``nomic-embed-text``, ``mxbai-embed-large``). A model the
    catalog knows (a chat model) does not; anything else is unknown."""
    caps = item.get("capabilities")
    if isinstance(caps, Mapping) and isinstance(caps.get("embeddings"), bool):
        return bool(caps["embeddings"])
    if "embed" in model_id.lower():
        return True
    return False if known else None
