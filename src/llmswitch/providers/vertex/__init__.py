"""The Google Vertex AI adapter: Gemini and Claude models served by Vertex.

Sans-I/O: :class:`VertexAdapter` routes each request by its model name (``claude-*`` to
the Anthropic publisher, the rest to Google's; see :mod:`._request`) and reuses the
Gemini and Anthropic adapters' bodies, response and stream parsers; only the URLs, the
Claude body's ``anthropic_version`` and the error-shape choice are Vertex's own.
:class:`VertexEndpoint` adds the OAuth bearer token of a :class:`TokenSource`
(google-auth) to each attempt; :class:`~._provider.VertexProvider` mints it off the event
loop and retries once on a 401. ``_spec.py`` configures all of it.
"""

from __future__ import annotations

from ...errors import ProviderError
from ...messages import ChatRequest, ChatResponse, ModelInfo
from ...wire import HttpRequest, HttpResponse
from .._hints import expect_field
from ..anthropic import AnthropicAdapter
from ..base import AdapterBase, Endpoint, StreamParser
from ..gemini import GeminiAdapter
from . import _request, _response
from ._auth import TokenSource
from ._endpoint import VertexEndpoint
from ._request import ANTHROPIC_VERSION, route

__all__ = ["ANTHROPIC_VERSION", "TokenSource", "VertexAdapter", "VertexEndpoint", "route"]

_GEMINI = GeminiAdapter()
_ANTHROPIC = AnthropicAdapter()


def _vertex(endpoint: Endpoint) -> VertexEndpoint:
    if not isinstance(endpoint, VertexEndpoint):  # a wiring bug, not a user's mistake
        raise TypeError(f"VertexAdapter needs a VertexEndpoint, got {type(endpoint).__name__}")
    return endpoint


class VertexAdapter(AdapterBase):
    """Stateless; one instance serves every request and thread. No embeddings (Vertex
    embeds through ``:predict`` with its own body)."""

    __slots__ = ()

    def _of(self, request: ChatRequest | None) -> AdapterBase:
        if request is not None and route(request.model)[0] == "anthropic":
            return _ANTHROPIC
        return _GEMINI

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        return _request.build_request(request, _vertex(endpoint), stream=stream)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        return self._of(request).parse_response(_request.for_adapter(request), response)

    def stream_parser(self, request: ChatRequest) -> StreamParser:
        return self._of(request).stream_parser(_request.for_adapter(request))

    def map_error(self, request: ChatRequest | None, response: HttpResponse) -> ProviderError:
        return _response.map_error(request, response)

    def models_request(self, endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
        return _request.models_request(_vertex(endpoint), cursor)

    def parse_models(
        self, endpoint: Endpoint, response: HttpResponse
    ) -> tuple[list[ModelInfo], str | None]:
        return _response.parse_models(endpoint, response, None)

    def parse_models_page(
        self, endpoint: Endpoint, response: HttpResponse, cursor: str | None
    ) -> tuple[list[ModelInfo], str | None]:
        return _response.parse_models(endpoint, response, cursor)

    def health_request(self, endpoint: Endpoint) -> HttpRequest:
        return _request.health_request(_vertex(endpoint))

    def check_health(self, response: HttpResponse) -> None:
        expect_field(response, "publisherModels", list, "a Vertex AI publisher model list")

    def count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.count_tokens_request(request, _vertex(endpoint))

    def parse_count_tokens(self, response: HttpResponse) -> int:
        return _response.parse_count_tokens(response)
