"""The OpenAI Chat Completions wire format.

One adapter serves OpenAI, Azure OpenAI (an :class:`~llmswitch.providers.base.AzureEndpoint`
supplies the deployment URL and ``api-key``/Entra auth) and OpenAI-compatible servers
(vLLM, llama.cpp, LM Studio, Ollama's ``/v1``). ``flavor`` only changes what differs in
the body: compatible servers get ``max_tokens`` instead of ``max_completion_tokens``, and
embeddings as ``"float"`` instead of ``"base64"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from ...errors import ConfigurationError, ProviderError
from ...messages import ChatRequest, ChatResponse, EmbeddingResponse, EmbedRequest, ModelInfo
from ...wire import HttpRequest, HttpResponse
from .._common import http_get
from .._hints import expect_field, openai_hint
from ..base import AdapterBase, Endpoint, FimRoute, _BuildRequest
from ._completions import TextCompletions
from ._embed import EMBED_BATCH_SIZE, build_embed_request, parse_embed_response
from ._errors import map_error
from ._infill import LlamaInfill
from ._request import Flavor, build_request
from ._response import RAW_ARGUMENTS_KEY, parse_models, parse_response
from ._stream import OpenAIStreamParser

__all__ = [
    "RAW_ARGUMENTS_KEY",
    "DeepSeekAdapter",
    "Flavor",
    "OpenAIAdapter",
    "OpenAIStreamParser",
    "deepseek_fim_url",
]


class OpenAIAdapter(AdapterBase):
    """Sans-I/O translator between llmswitch types and Chat Completions HTTP (and
    ``/embeddings``). Its chat core depends on ``flavor``, so it overrides the methods
    rather than naming a :class:`~llmswitch.providers.base.ChatWire`."""

    __slots__ = ("fim", "flavor")

    embed_batch_size = EMBED_BATCH_SIZE

    def __init__(self, flavor: Flavor = "openai", fim: str | None = None) -> None:
        if flavor not in get_args(Flavor):
            raise ConfigurationError(
                f"unknown OpenAI adapter flavor {flavor!r} (expected openai, azure or compatible)"
            )
        self.flavor: Flavor = flavor
        # Code completion on a compatible server (fim = ... in llmswitch.toml):
        # "completions" (the default), "infill" (llama.cpp) or "chat" (the fallback).
        self.fim = fim or ("completions" if flavor == "compatible" else "chat")

    def __repr__(self) -> str:
        return f"OpenAIAdapter(flavor={self.flavor!r})"

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        return build_request(request, endpoint, stream=stream, flavor=self.flavor)

    # The module function itself (no bound method, no call in between): on every chat.
    parse_response = staticmethod(parse_response)

    def chat_functions(
        self,
    ) -> tuple[_BuildRequest, Callable[[ChatRequest, HttpResponse], ChatResponse]]:
        # OpenAI's own flavor is build_request's default: the function itself
        build = build_request if self.flavor == "openai" else self.build_request
        return build, parse_response

    def stream_parser(self, request: ChatRequest) -> OpenAIStreamParser:
        return OpenAIStreamParser(request)

    def map_error(self, request: ChatRequest | None, response: HttpResponse) -> ProviderError:
        return map_error(request, response)

    def models_request(self, endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
        return http_get(endpoint, endpoint.url("/models"))

    def parse_models(
        self, endpoint: Endpoint, response: HttpResponse
    ) -> tuple[list[ModelInfo], str | None]:
        return parse_models(endpoint, response)

    def check_models_answer(self, endpoint: Endpoint, response: HttpResponse) -> None:
        """Health: the 200 must be a models list (``{"object": "list", "data": [...]}``)."""
        expect_field(response, "data", list, "an OpenAI models list")

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        if self.flavor == "azure":  # deployment URLs are built per request: no /v1 rule
            return None
        return openai_hint(endpoint.provider, endpoint.base_url, status, body)

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
        return build_embed_request(request, endpoint, flavor=self.flavor)

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse:
        return parse_embed_response(request, response)

    def fim_route(self, endpoint: Endpoint, model: str) -> FimRoute | None:
        """OpenAI-compatible servers: ``/completions`` with ``suffix``, llama.cpp's
        ``/infill`` with ``fim = "infill"``, the chat fallback with ``fim = "chat"`` (vLLM
        takes no suffix). OpenAI's and Azure's own models: the chat fallback (their one
        Completions model, gpt-3.5-turbo-instruct, takes no suffix)."""
        if self.fim == "completions":
            return TextCompletions()
        return LlamaInfill() if self.fim == "infill" else None


def deepseek_fim_url(base_url: str) -> str:
    """DeepSeek's FIM route is ``/beta/completions`` at the API's root, whatever path
    (``/v1``, ``/beta``) the chat base URL carries."""
    root = base_url.rstrip("/")
    for tail in ("/v1", "/beta"):
        if root.endswith(tail):
            root = root[: -len(tail)]
    return root + "/beta/completions"


class DeepSeekAdapter(OpenAIAdapter):
    """DeepSeek: Chat Completions as compatible servers speak it (``max_tokens``,
    ``reasoning_content``), and FIM at ``/beta/completions``."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(flavor="compatible")

    def __repr__(self) -> str:
        return "DeepSeekAdapter()"

    def fim_route(self, endpoint: Endpoint, model: str) -> FimRoute | None:
        return TextCompletions(deepseek_fim_url(endpoint.base_url))
