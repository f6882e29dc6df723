"""The Anthropic Messages API adapter (WIRE.md section 2).

Sans-I/O: :class:`AnthropicAdapter` turns a :class:`~llmswitch.ChatRequest` into a
``POST /v1/messages`` and Anthropic's bytes back into llmswitch types. The endpoint
(base URL without ``/v1``, ``x-api-key``, ``anthropic-version``) comes from the registry.
"""

from __future__ import annotations

from ...errors import ProviderError
from ...messages import ChatRequest, ChatResponse, ModelInfo
from ...wire import HttpRequest, HttpResponse
from .._hints import anthropic_hint, expect_field
from ..base import Endpoint
from . import _errors, _request, _response
from ._stream import AnthropicStreamParser

__all__ = ["AnthropicAdapter", "AnthropicStreamParser"]


class AnthropicAdapter:
    """Stateless; one instance serves every request and thread."""

    __slots__ = ()

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        return _request.build_request(request, endpoint, stream=stream)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        return _response.parse_response(request, response)

    def stream_parser(self, request: ChatRequest) -> AnthropicStreamParser:
        return AnthropicStreamParser(request)

    def map_error(self, request: ChatRequest | None, response: HttpResponse) -> ProviderError:
        return _errors.map_error(request, response)

    def models_request(self, endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
        return _request.models_request(endpoint, cursor)

    def parse_models(
        self, endpoint: Endpoint, response: HttpResponse
    ) -> tuple[list[ModelInfo], str | None]:
        return _response.parse_models(endpoint, response)

    def check_models_answer(self, response: HttpResponse) -> None:
        """Health: the 200 must be a models list (``{"data": [...], "has_more": ...}``)."""
        expect_field(response, "data", list, "an Anthropic models list")

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        return anthropic_hint(endpoint.provider, endpoint.base_url, status, body)
