"""The AWS Bedrock Converse / ConverseStream adapter (mappings: docs/providers.md).

Sans-I/O: :class:`BedrockAdapter` turns a :class:`~llmswitch.ChatRequest` into a
``POST /model/{modelId}/converse`` (or ``converse-stream``, binary event-stream frames)
and Bedrock's bytes back into llmswitch types; embeddings go through ``InvokeModel``
(Titan, Cohere) and model discovery through the control plane's ``ListFoundationModels``.
:class:`BedrockEndpoint` holds the region and URLs and signs each attempt (SigV4) unless
a Bedrock API key is used. ``_spec.py`` configures all of it from the environment.
"""

from __future__ import annotations

from ...messages import ChatRequest, EmbeddingResponse, EmbedRequest
from ...wire import HttpRequest, HttpResponse
from .._hints import expect_field
from ..base import AdapterBase, ChatWire, Endpoint
from . import _embed, _errors, _request, _response
from ._endpoint import BedrockEndpoint
from ._stream import BedrockStreamParser

__all__ = ["BedrockAdapter", "BedrockEndpoint", "BedrockStreamParser"]


class BedrockAdapter(AdapterBase):
    """Stateless; one instance serves every request and thread."""

    __slots__ = ()

    wire = ChatWire.of(_request, _response, _errors, BedrockStreamParser)

    # Titan embeds one text per request, Cohere 96: see embed_batch_size_for().
    embed_batch_size = 1

    def health_request(self, endpoint: Endpoint) -> HttpRequest:
        return _request.health_request(endpoint)  # Bedrock reports no version

    def check_health(self, response: HttpResponse) -> None:
        """ListFoundationModels must answer ``{"modelSummaries": [...]}``."""
        expect_field(response, "modelSummaries", list, "a Bedrock foundation-models list")

    def count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.count_tokens_request(request, endpoint)

    def parse_count_tokens(self, response: HttpResponse) -> int:
        return _response.parse_count_tokens(response)

    def embed_batch_size_for(self, model: str) -> int:
        return _embed.batch_size(model)

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
        return _embed.build_embed_request(request, endpoint)

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse:
        return _embed.parse_embed_response(request, response)
