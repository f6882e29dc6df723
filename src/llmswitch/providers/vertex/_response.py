"""Vertex AI answers that are not the wrapped adapters': Model Garden's publisher-model
listing, Claude's token count, and error bodies of either shape.

Errors: the Vertex front end answers with a google.rpc Status (``{"error": {"code",
"message", "status", "details"}}``: a refused token, a quota, a model not enabled in
the project) for both publishers; a Claude model's own refusals are Anthropic's shape
(``{"type": "error", "error": {"type", "message"}}``). Each is mapped by its adapter's
error table (the shared ladder of ``providers/_errors.py``).
"""

from __future__ import annotations

from typing import Any

from ... import catalog
from ...errors import ProviderError
from ...messages import ChatRequest, ModelInfo
from ...wire import HttpResponse
from .._errors import decode_json, malformed_error
from .._shape import SHAPE_ERRORS, load_json, shape_problem
from ..anthropic import _errors as anthropic_errors
from ..base import Endpoint
from ..gemini import _errors as gemini_errors
from ..gemini import _response as gemini_response
from ._request import Publisher, _cursor

__all__ = ["malformed", "map_error", "parse_count_tokens", "parse_models"]

# Catalog entries are filed under the model's own vendor.
_CATALOG = {"google": "gemini", "anthropic": "anthropic"}


def malformed(request: ChatRequest | None, what: str, data: bytes | str) -> ProviderError:
    return malformed_error(request, "Vertex AI", what, data)


def map_error(request: ChatRequest | None, response: HttpResponse) -> ProviderError:
    data = decode_json(response.body)
    if isinstance(data, dict) and data.get("type") == "error":
        exc = anthropic_errors.map_error(request, response)
    else:
        exc = gemini_errors.map_error(request, response)
    if request is None:
        exc.provider = None  # not "gemini": the provider layer names its own id
    return exc


def parse_models(
    endpoint: Endpoint, response: HttpResponse, cursor: str | None
) -> tuple[list[ModelInfo], str | None]:
    """One page of ``GET /v1beta1/publishers/{publisher}/models``; after Google's last
    page the cursor moves on to Anthropic's first (``"anthropic:"``)."""
    publisher, _token = _cursor(cursor)
    data = load_json(response.body, malformed, None, "model list is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("publisherModels", []), list):
        raise malformed(None, "expected a publisher model list", response.body)
    try:
        out = [
            _model(endpoint, publisher, item)
            for item in data.get("publisherModels", [])
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]
    except SHAPE_ERRORS as exc:
        raise malformed(None, shape_problem(exc), response.body) from None
    token = data.get("nextPageToken")
    if isinstance(token, str) and token:
        return out, f"{publisher}:{token}"
    return out, "anthropic:" if publisher == "google" else None


def _model(endpoint: Endpoint, publisher: Publisher, item: dict[str, Any]) -> ModelInfo:
    model_id = str(item["name"]).rpartition("/")[2]
    spec = catalog.lookup(endpoint.provider, model_id) or catalog.lookup(
        _CATALOG[publisher], model_id.partition("@")[0]
    )
    return ModelInfo(
        id=model_id,
        provider=endpoint.provider,
        context_window=spec.context_window if spec else None,
        max_output_tokens=spec.max_output_tokens if spec else None,
        supports_tools=spec.supports_tools if spec else None,
        supports_vision=spec.supports_vision if spec else None,
        supports_reasoning=spec.supports_reasoning if spec else None,
        raw=item,
    )


def parse_count_tokens(response: HttpResponse) -> int:
    """Gemini's ``{"totalTokens": N}`` or Claude's ``{"input_tokens": N}``: the answer
    does not say which publisher it is from, its shape does."""
    data = load_json(response.body, malformed, None, "count-tokens body is not JSON")
    if not (isinstance(data, dict) and "input_tokens" in data):
        return gemini_response.parse_count_tokens(response)
    count = data["input_tokens"]
    if not isinstance(count, int) or isinstance(count, bool):
        raise malformed(None, "input_tokens is not an integer", response.body)
    return count
