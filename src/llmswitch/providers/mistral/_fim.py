"""Codestral's fill-in-the-middle route, ``POST /v1/fim/completions``: ``model``,
``prompt`` (the prefix), ``suffix`` (left out when empty), ``max_tokens``,
``temperature``, ``top_p``, ``stop``, ``stream``. The answer and the stream chunks are
chat completions (``choices[].message.content``, ``choices[].delta.content``)."""

from __future__ import annotations

from ...messages import ChatRequest, ChatResponse
from ...wire import HttpRequest, HttpResponse
from .._fim import post, prompt_body
from .._streams import StreamParser
from ..base import Endpoint
from ..openai import OpenAIStreamParser
from ._response import parse_response

__all__ = ["MistralFim", "is_fim_model"]


def is_fim_model(model: str) -> bool:
    """Mistral serves fill-in-the-middle for its Codestral family only."""
    return "codestral" in model.lower()


class MistralFim:
    __slots__ = ("url",)

    def __init__(self, url: str) -> None:
        self.url = url

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        body = prompt_body(request, stream=stream)
        return post(request, endpoint, self.url, body, stream)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        return parse_response(request, response)

    def stream_parser(self, request: ChatRequest) -> StreamParser:
        return OpenAIStreamParser(request)
