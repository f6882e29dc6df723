"""The Google Gemini API adapter (generativelanguage ``v1beta``; mappings: docs/providers.md).

Sans-I/O: :class:`GeminiAdapter` turns a :class:`~llmswitch.ChatRequest` into
``POST /v1beta/models/{model}:generateContent`` (or ``:streamGenerateContent?alt=sse``)
and Gemini's bytes back into llmswitch types. It also embeds (``batchEmbedContents``),
counts tokens (``countTokens``) and lists models. ``_spec.py`` declares the provider
(its environment variables and endpoint).
"""

from __future__ import annotations

from ...messages import ChatRequest, EmbeddingResponse, EmbedRequest
from ...wire import HttpRequest, HttpResponse
from .._hints import expect_field, gemini_hint
from ..base import AdapterBase, ChatWire, Endpoint
from . import _errors, _request, _response
from ._request import SYNTHETIC_ID_PREFIX
from ._stream import GeminiStreamParser

__all__ = [
    "GEMINI_BASE_URL",
    "SYNTHETIC_ID_PREFIX",
    "GeminiAdapter",
    "GeminiStreamParser",
]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiAdapter(AdapterBase):
    """Stateless; one instance serves every request and thread."""

    __slots__ = ()

    wire = ChatWire.of(_request, _response, _errors, GeminiStreamParser)

    # batchEmbedContents accepts at most 100 requests per call.
    embed_batch_size = 100

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.embed_request(request, endpoint)

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse:
        return _response.parse_embed_response(request, response)

    def count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.count_tokens_request(request, endpoint)

    def parse_count_tokens(self, response: HttpResponse) -> int:
        return _response.parse_count_tokens(response)

    def health_request(self, endpoint: Endpoint) -> HttpRequest:
        return _request.health_request(endpoint)  # the API reports no server version

    def check_health(self, response: HttpResponse) -> None:
        """The one-model page must be a models list (``{"models": [...]}``)."""
        expect_field(response, "models", list, "a Gemini models list")

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        return gemini_hint(endpoint.provider, endpoint.base_url, status, body)
