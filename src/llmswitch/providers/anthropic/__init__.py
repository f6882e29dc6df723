"""The Anthropic Messages API adapter (mappings: docs/providers.md).

Sans-I/O: :class:`AnthropicAdapter` turns a :class:`~llmswitch.ChatRequest` into a
``POST /v1/messages`` and Anthropic's bytes back into llmswitch types. The endpoint
(base URL without ``/v1``, ``x-api-key``, ``anthropic-version``) comes from the registry.
"""

from __future__ import annotations

from ...messages import ChatRequest
from ...wire import HttpRequest, HttpResponse
from .._hints import anthropic_hint, expect_field
from ..base import AdapterBase, ChatWire, Endpoint
from . import _errors, _request, _response
from ._stream import AnthropicStreamParser

__all__ = ["AnthropicAdapter", "AnthropicStreamParser"]


class AnthropicAdapter(AdapterBase):
    """Stateless; one instance serves every request and thread."""

    __slots__ = ()

    wire = ChatWire.of(_request, _response, _errors, AnthropicStreamParser)

    def check_models_answer(self, endpoint: Endpoint, response: HttpResponse) -> None:
        """Health: the 200 must be a models list (``{"data": [...], "has_more": ...}``)."""
        expect_field(response, "data", list, "an Anthropic models list")

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        return anthropic_hint(endpoint.provider, endpoint.base_url, status, body)

    def count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.count_tokens_request(request, endpoint)

    def parse_count_tokens(self, response: HttpResponse) -> int:
        return _response.parse_count_tokens(response)
