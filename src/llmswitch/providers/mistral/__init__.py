"""Mistral AI (La Plateforme): the chat API, an OpenAI Chat Completions dialect, and
Codestral's native fill-in-the-middle route ``/v1/fim/completions``.

What differs from OpenAI (``_request``): ``tool_choice: "required"`` is ``"any"``; tool
call ids must be nine letters or digits (ids from other providers are mapped, the
same way for a call and its result); fields Mistral rejects (``stream_options``,
``user``, ``reasoning_effort``) are not sent; ``random_seed`` and ``safe_prompt`` go
through ``extra_body``. Answers and streams are OpenAI-shaped, with Magistral's
``thinking`` content chunks read as reasoning (``_response``); error bodies are
``{"object": "error", "message": ...}`` or a validation ``detail`` list (``_errors``).
"""

from __future__ import annotations

from ...errors import ProviderError
from ...messages import ChatRequest, ChatResponse
from ...wire import HttpRequest, HttpResponse
from ..base import Endpoint, FimRoute
from ..openai import OpenAIAdapter
from ._errors import map_error
from ._fim import MistralFim, is_fim_model
from ._request import build_request
from ._response import parse_response

__all__ = ["MistralAdapter"]


class MistralAdapter(OpenAIAdapter):
    """The OpenAI adapter with Mistral's request rules, answers and errors."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(flavor="compatible")  # max_tokens, float embeddings

    def __repr__(self) -> str:
        return "MistralAdapter()"

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        return build_request(request, endpoint, stream=stream)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        return parse_response(request, response)

    def map_error(self, request: ChatRequest | None, response: HttpResponse) -> ProviderError:
        return map_error(request, response)

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        return None  # the builder already puts /v1 on the base URL

    def fim_route(self, endpoint: Endpoint, model: str) -> FimRoute | None:
        """Codestral models have ``/v1/fim/completions``; other models: the chat fallback."""
        return MistralFim(endpoint.url("/fim/completions")) if is_fim_model(model) else None
