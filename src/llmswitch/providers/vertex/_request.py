"""ChatRequest -> Vertex AI HTTP requests, for the two publishers Vertex serves here.

Routing by model name (:func:`route`): ``claude-*`` goes to the ``anthropic`` publisher,
everything else (``gemini-*``) to ``google``; ``anthropic/<model>`` and ``google/<model>``
name the publisher explicitly (``vertex/anthropic/claude-sonnet-4-5@20250929``).

- Google (Gemini): the Gemini adapter's body unchanged, ``POST .../publishers/google/
  models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``; ``:countTokens``
  with ``contents``/``systemInstruction``/``tools`` at the top level (Vertex's
  CountTokensRequest has no ``generateContentRequest`` wrapper).
- Anthropic (Claude): the Anthropic adapter's Messages body without ``model`` (it is in
  the URL) and with ``anthropic_version: "vertex-2023-10-16"`` (Vertex's Claude API
  version; ``extra_body`` may override it), ``POST .../publishers/anthropic/models/
  {model}:rawPredict`` or ``:streamRawPredict`` (the body keeps ``"stream": true``);
  token counting is ``.../models/count-tokens:rawPredict`` with ``model`` in the body.
  Beta features go in ``extra_headers={"anthropic-beta": ...}`` as on Anthropic's API.

The adapters see the model without the publisher prefix and, for their catalog
lookups (default ``max_tokens``), without Vertex's ``@version`` suffix.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal
from urllib.parse import quote

from ...messages import ChatRequest
from ...wire import HttpRequest
from .._common import http_get, http_post
from ..anthropic import _request as anthropic_request
from ..gemini import _request as gemini_request
from ._endpoint import VertexEndpoint

__all__ = [
    "ANTHROPIC_VERSION",
    "Publisher",
    "build_request",
    "count_tokens_request",
    "health_request",
    "models_request",
    "route",
]

Publisher = Literal["google", "anthropic"]
ANTHROPIC_VERSION = "vertex-2023-10-16"
PUBLISHERS: tuple[Publisher, ...] = ("google", "anthropic")
MODELS_PAGE_SIZE = 100  # publisher models per listing page


def route(model: str) -> tuple[Publisher, str]:
    """``(publisher, model id on Vertex)`` for a model name."""
    head, sep, rest = model.partition("/")
    if sep and head in PUBLISHERS and rest:
        return head, rest  # type: ignore[return-value]  # checked against PUBLISHERS
    return ("anthropic" if model.startswith("claude") else "google"), model


def for_adapter(request: ChatRequest) -> ChatRequest:
    """``request`` with the model the wrapped adapter expects: no publisher prefix."""
    _publisher, model = route(request.model)
    return request if model == request.model else dataclasses.replace(request, model=model)


def _catalog_model(request: ChatRequest) -> ChatRequest:
    """Without ``@20250929``: the adapters look defaults up by the family's id."""
    base = request.model.partition("@")[0]
    return request if base == request.model else dataclasses.replace(request, model=base)


def _anthropic_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body = anthropic_request.build_body(_catalog_model(request), stream=stream)
    body.pop("model", None)
    # The caller's extra_body (already merged) wins over our version, as on other keys.
    return {"anthropic_version": ANTHROPIC_VERSION, **body}


def build_request(request: ChatRequest, endpoint: VertexEndpoint, *, stream: bool) -> HttpRequest:
    publisher, model = route(request.model)
    adapted = for_adapter(request)
    if publisher == "anthropic":
        method = "streamRawPredict" if stream else "rawPredict"
        body: dict[str, Any] = _anthropic_body(adapted, stream=stream)
    else:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        body = gemini_request.build_body(adapted)
    return http_post(request, endpoint, endpoint.model_url(publisher, model, method), body)


def count_tokens_request(request: ChatRequest, endpoint: VertexEndpoint) -> HttpRequest:
    publisher, model = route(request.model)
    adapted = for_adapter(request)
    if publisher == "anthropic":
        full = _anthropic_body(adapted, stream=False)
        kept = ("anthropic_version", "messages", "system", "tools")
        body: dict[str, Any] = {k: full[k] for k in kept if k in full}
        body["model"] = model
        url = endpoint.model_url("anthropic", "count-tokens", "rawPredict")
    else:
        full = gemini_request.build_body(adapted)
        # What counts toward the prompt; Vertex refuses the other generateContent fields here.
        body = {k: full[k] for k in ("contents", "systemInstruction", "tools") if k in full}
        url = endpoint.model_url("google", model, "countTokens")
    return http_post(request, endpoint, url, body)


def models_request(endpoint: VertexEndpoint, cursor: str | None = None) -> HttpRequest:
    """One page of Model Garden's listing: Google's models, then Anthropic's. The cursor
    is ``"{publisher}:{pageToken}"`` (``"anthropic:"``: the first Anthropic page)."""
    publisher, token = _cursor(cursor)
    query = f"pageSize={MODELS_PAGE_SIZE}"
    if token:
        query += f"&pageToken={quote(token, safe='')}"
    return http_get(endpoint, endpoint.listing_url(publisher, query))


def _cursor(cursor: str | None) -> tuple[Publisher, str]:
    if not cursor:
        return "google", ""
    head, _, token = cursor.partition(":")
    publisher: Publisher = "anthropic" if head == "anthropic" else "google"
    return publisher, token


def health_request(endpoint: VertexEndpoint) -> HttpRequest:
    """The smallest authenticated call: one of Google's publisher models."""
    return http_get(endpoint, endpoint.listing_url("google", "pageSize=1"))
